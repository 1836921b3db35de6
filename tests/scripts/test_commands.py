"""The ``bioplausible`` command: every subcommand answers ``--help``, mistakes exit with status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bridges.commands import BENCHMARKS, SUBCOMMANDS, main

LEAVES = [name for name, (module, _) in SUBCOMMANDS.items() if module] + [f"bench {b}" for b in BENCHMARKS]


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS) and out.startswith("usage: bioplausible <command>")


@pytest.mark.parametrize("command", LEAVES, ids=[c.replace(" ", "-") for c in LEAVES])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: bioplausible {command}")


@pytest.mark.parametrize("argv", [["frobnicate"], ["bench", "gpu"]], ids=["unknown-command", "unknown-benchmark"])
def test_unknown_commands_are_one_error_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown command") and "valid:" in err[0]


def test_module_entry_point_runs():
    """``python -m bridges.commands`` is what the installed ``bioplausible`` script calls."""
    proc = subprocess.run([sys.executable, "-m", "bridges.commands", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "train-spiking" in proc.stdout
