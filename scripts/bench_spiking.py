#!/usr/bin/env python
"""``bioplausible bench spiking`` (:mod:`bridges.commands.bench_spiking`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("bench spiking", prog="scripts/bench_spiking.py"))
