#!/usr/bin/env python
"""``bioplausible train-spiking`` (:mod:`bridges.commands.train_spiking`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("train-spiking", prog="scripts/train_spiking.py"))
