#!/usr/bin/env python
"""``bioplausible bench twin`` (:mod:`bridges.commands.bench_twin`); ``--help`` lists the options."""

import sys

from bridges.commands import run

if __name__ == "__main__":
    sys.exit(run("bench twin", prog="scripts/bench_twin.py"))
