#!/usr/bin/env python
"""``bioplausible train-rate`` (:mod:`bridges.commands.train_rate`); ``--help`` lists the options."""

import sys

from bridges.commands.train_rate import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/train_rate.py"))
