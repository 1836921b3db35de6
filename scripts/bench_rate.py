#!/usr/bin/env python
"""``bioplausible bench rate`` (:mod:`bridges.commands.bench_rate`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("bench rate", prog="scripts/bench_rate.py"))
