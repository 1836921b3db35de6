#!/usr/bin/env python
"""``bioplausible convert`` (:mod:`bridges.commands.convert`); ``--help`` lists the options."""

import sys

from bridges.commands.convert import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/convert.py"))
