#!/usr/bin/env python
"""``bioplausible convert`` (:mod:`bridges.commands.convert`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("convert", prog="scripts/convert.py"))
