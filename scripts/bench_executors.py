#!/usr/bin/env python
"""``bioplausible bench executors`` (:mod:`bridges.commands.bench_executors`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("bench executors", prog="scripts/bench_executors.py"))
