"""The ``bioplausible`` command: the front doors of the project, one module per subcommand.

Front doors own argparse, files, progress bars and exit statuses; the library stays quiet. No
library module imports this package (``tests/test_architecture.py`` checks it); ``scripts/*.py``
are thin wrappers around these modules.

==========================  =================================================================
``bioplausible compare``    train every rule, attack every model, write a report
``bioplausible train-rate``  one rate-based (torch) training run
``bioplausible train-spiking``  one spiking (Brian2) training run
``bioplausible convert``    ANN-to-SNN conversion of a trained rate model
``bioplausible bench rate|spiking|twin|executors``  benchmarks
==========================  =================================================================

Every subcommand runs through :func:`bridges.cli.run_main`: a mistake is one ``error: ...`` line
(exit status 2), a Ctrl-C one ``interrupted: ...`` line saying how to resume (exit status 130).

Examples
--------
>>> sorted(SUBCOMMANDS)
['bench', 'compare', 'convert', 'train-rate', 'train-spiking']
>>> main(["no-such-command"])
2
"""

from __future__ import annotations

import importlib
import sys

from bridges.cli import run_main, sigint_kept

__all__ = ["SUBCOMMANDS", "BENCHMARKS", "main", "run"]

#: subcommand -> (module, one-line description)
SUBCOMMANDS = {
    "compare": ("bridges.commands.compare", "train every rule, attack every model, write a report"),
    "train-rate": ("bridges.commands.train_rate", "one rate-based (torch) training run"),
    "train-spiking": ("bridges.commands.train_spiking", "one spiking (Brian2) training run"),
    "convert": ("bridges.commands.convert", "ANN-to-SNN conversion of a trained rate model"),
    "bench": (None, "benchmarks: bench rate | bench spiking | bench twin | bench executors"),
}
#: ``bioplausible bench <name>`` -> module
BENCHMARKS = {
    "rate": ("bridges.commands.bench_rate", "epoch time of every rate rule relative to BP"),
    "spiking": ("bridges.commands.bench_spiking", "naive per-sample Brian2 loop vs the chunked standalone engine"),
    "twin": ("bridges.commands.bench_twin", "snntorch twin (compiled kernels vs step loop) vs Brian2: samples/s"),
    "executors": ("bridges.commands.bench_executors", "sequential vs process-pool wall time of the comparison"),
}


def _usage(table: dict, prog: str) -> str:
    width = max(len(k) for k in table)
    rows = "\n".join(f"  {name:<{width}}  {desc}" for name, (_, desc) in table.items())
    return (
        f"usage: {prog} <command> [options]\n\ncommands:\n{rows}\n\n"
        f"`{prog} <command> --help` lists each command's options; `--verbose` (any command) shows every "
        "warning, the expected Brian2 ones included."
    )


def _dispatch(table: dict, argv: list[str], prog: str) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(table, prog))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"error: unknown command {name!r}; valid: {', '.join(table)} (see `{prog} --help`)", file=sys.stderr)
        return 2
    module, _ = table[name]
    if module is None:  # a group: bench
        return _dispatch(BENCHMARKS, rest, f"{prog} {name}")
    return _run_module(module, rest, f"{prog} {name}")


def _run_module(module: str, argv: list[str], prog: str) -> int:
    from bridges.quiet import quiet_expected_warnings

    # --verbose (any command): show every warning and log line, the expected Brian2 ones included
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    quiet_expected_warnings(verbose)

    def load_and_run(argv):
        with sigint_kept():  # Brian2 installs a SIGINT handler at import: Ctrl-C stays KeyboardInterrupt
            mod = importlib.import_module(module)  # inside run_main: a Ctrl-C while importing is handled too
        return mod.main(argv, prog=prog)

    return run_main(load_and_run, argv)


def run(command: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run one subcommand (``"compare"``, ``"bench rate"``) as the ``bioplausible`` command does;
    ``argv`` defaults to ``sys.argv[1:]``, ``prog`` names the command in messages. The thin
    wrappers ``scripts/*.py`` call this."""
    name, *group = command.split()
    module = BENCHMARKS[group[0]][0] if name == "bench" and group else SUBCOMMANDS[name][0]
    if module is None:
        raise ValueError(f"{command!r} is a group of commands; name one, e.g. 'bench rate'")
    return _run_module(module, list(sys.argv[1:] if argv is None else argv), prog or f"bioplausible {command}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bioplausible`` command (``[project.scripts]``)."""
    return _dispatch(SUBCOMMANDS, list(sys.argv[1:] if argv is None else argv), "bioplausible")
