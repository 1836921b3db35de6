#!/usr/bin/env python
"""``bioplausible bench spiking`` (:mod:`bridges.commands.bench_spiking`); ``--help`` lists the options."""

import sys

from bridges.commands.bench_spiking import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/bench_spiking.py"))
