#!/usr/bin/env python
"""``bioplausible train-spiking`` (:mod:`bridges.commands.train_spiking`); ``--help`` lists the options."""

import sys

from bridges.commands.train_spiking import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/train_spiking.py"))
