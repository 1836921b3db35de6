#!/usr/bin/env python
"""``bioplausible bench rate`` (:mod:`bridges.commands.bench_rate`); ``--help`` lists the options."""

import sys

from bridges.commands.bench_rate import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/bench_rate.py"))
