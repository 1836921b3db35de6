"""Brian2's expected messages are hidden by default and shown with --verbose (bridges.quiet)."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bridges import quiet
from bridges.quiet import EXPECTED_BRIAN2_MESSAGES, VERBOSE_ENV, quiet_expected_warnings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_logging(monkeypatch):
    """Undo what quiet_expected_warnings does to this process's loggers and environment."""
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    names = [n for n, _, _ in EXPECTED_BRIAN2_MESSAGES] + ["ratebased", "spiking", "bridges"]
    saved = {n: (list(logging.getLogger(n).filters), logging.getLogger(n).level) for n in names}
    yield
    for n, (filters, level) in saved.items():
        log = logging.getLogger(n)
        log.filters[:] = filters
        log.setLevel(level)
    quiet._RAISED.clear()


_COUNTER = [0]


def _order_dependent_network_logs() -> list[tuple[str, str, str]]:
    """Build and run (numpy target) synapses that read a post variable after adding to it, on
    repeated indices: Brian2 logs both 'order of execution' and 'failed to vectorise'."""
    import brian2 as b2
    from brian2.utils.logger import catch_logs

    from spiking.backend.device import brian_device

    _COUNTER[0] += 1  # 'failed to vectorise' is logged once per distinct code line
    with brian_device("numpy"), catch_logs(log_level=logging.INFO) as logs:
        g = b2.NeuronGroup(2, "v : 1", threshold="True")
        s = b2.Synapses(
            g,
            g,
            "w : 1",
            on_pre=f"v_post += w\nw = clip(w + v_post, 0, 1)\nv_post = clip(v_post - w, -1, {_COUNTER[0]})",
        )
        s.connect()
        b2.Network(g, s).run(2 * b2.defaultclock.dt)
    return logs


def _kinds(logs) -> set[str]:
    kinds = set()
    for _, name, message in logs:
        if name == "brian2.codegen.generators.base" and "order of execution" in message:
            kinds.add("order")
        if name == "brian2.codegen.generators.numpy_generator" and message.startswith("Failed to vectorise"):
            kinds.add("vectorise")
    return kinds


@pytest.mark.parametrize("verbose,shown", [(True, {"order", "vectorise"}), (False, set())], ids=["verbose", "quiet"])
def test_expected_brian2_messages_are_hidden_unless_verbose(restore_logging, verbose, shown):
    quiet_expected_warnings(verbose)
    assert _kinds(_order_dependent_network_logs()) == shown


def test_other_brian2_warnings_still_show(restore_logging):
    from brian2.utils.logger import catch_logs, get_logger

    quiet_expected_warnings(False)
    with catch_logs() as logs:
        get_logger("brian2.codegen.generators.base").warn("something else")
        get_logger("brian2.core.network").warn("Came across an abstract code block that may not be well-defined")
    assert [name for _, name, _ in logs] == ["brian2.codegen.generators.base", "brian2.core.network"]


def test_workers_follow_the_choice_through_the_environment(restore_logging, monkeypatch):
    quiet_expected_warnings(True)
    assert logging.getLogger("bridges").getEffectiveLevel() == logging.DEBUG
    monkeypatch.setenv(VERBOSE_ENV, "0")  # what a worker inherits from a quiet command
    quiet_expected_warnings()
    assert logging.getLogger("brian2.codegen.generators.base").filters == [quiet._FILTER]
    assert logging.getLogger("bridges").level == logging.NOTSET  # put back
    quiet_expected_warnings(False)  # twice: still one filter
    assert logging.getLogger("brian2.core.base.unused_brian_object").filters == [quiet._FILTER]


def test_quiet_does_not_import_brian2():
    code = (
        "import sys; from bridges.quiet import quiet_expected_warnings as q; q(False); print('brian2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
