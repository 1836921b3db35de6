#!/usr/bin/env python
"""``bioplausible train-rate`` (:mod:`bridges.commands.train_rate`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("train-rate", prog="scripts/train_rate.py"))
