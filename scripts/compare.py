#!/usr/bin/env python
"""``bioplausible compare`` (:mod:`bridges.commands.compare`); ``--help`` lists the options."""

import sys

from bridges.commands.compare import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/compare.py"))
