#!/usr/bin/env python
"""``bioplausible bench executors`` (:mod:`bridges.commands.bench_executors`); ``--help`` lists the options."""

import sys

from bridges.commands.bench_executors import main

if __name__ == "__main__":
    sys.exit(main(prog="scripts/bench_executors.py"))
