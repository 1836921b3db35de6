#!/usr/bin/env python
"""``bioplausible compare`` (:mod:`bridges.commands.compare`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("compare", prog="scripts/compare.py"))
