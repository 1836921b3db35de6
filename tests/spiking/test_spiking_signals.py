"""Importing the spiking package leaves SIGINT as it found it (Brian2's own handler is removed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import signal
{setup}
before = signal.getsignal(signal.SIGINT)
import spiking
after = signal.getsignal(signal.SIGINT)
print(before is after, after)
"""


@pytest.mark.parametrize(
    "setup", ["pass", "signal.signal(signal.SIGINT, signal.SIG_IGN)"], ids=["default-handler", "ignored-by-parent"]
)
def test_import_keeps_the_sigint_handler(setup):
    proc = subprocess.run([sys.executable, "-c", CODE.format(setup=setup)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "True", proc.stdout
