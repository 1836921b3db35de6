"""Which messages a run shows: Brian2's expected ones are hidden, ``--verbose`` shows everything.

Brian2 logs some messages on normal runs of this project's networks that a user cannot act on.
:func:`quiet_expected_warnings` hides exactly those (:data:`EXPECTED_BRIAN2_MESSAGES`, matched by
logger name and the start of the message; each entry says why it is expected); every other
message is untouched. ``verbose=True`` removes the filters and lets this project's own loggers
(``ratebased``, ``spiking``, ``bridges``) show their INFO and DEBUG records too.

The choice is also written to the environment variable :data:`VERBOSE_ENV`, so that worker
processes (a process pool, a local Ray cluster) make the same choice by calling
``quiet_expected_warnings()`` with no argument when they start.

Brian2 is not imported here (a pure-torch run never imports it): Brian2 logs each of these
messages on a ``logging`` logger of a fixed name, and the filters sit on those loggers.

Examples
--------
>>> import logging
>>> def record(name, message):
...     return logging.LogRecord(name, logging.WARNING, __file__, 0, message, None, None)
>>> text = "Came across an abstract code block that may not be well-defined: ..."
>>> expected(record("brian2.codegen.generators.base", text)), expected(record("brian2.core.network", text))
(True, False)
"""

from __future__ import annotations

import logging
import os

__all__ = ["EXPECTED_BRIAN2_MESSAGES", "VERBOSE_ENV", "expected", "quiet_expected_warnings"]

#: ``"1"`` when the user asked for ``--verbose``, ``"0"`` otherwise (read by worker processes)
VERBOSE_ENV = "BIOPLAUSIBLE_VERBOSE"

#: ``(logger name, message start, why it is expected)`` of every Brian2 message hidden by default
EXPECTED_BRIAN2_MESSAGES = (
    (
        "brian2.codegen.generators.base",
        "Came across an abstract code block that may not be well-defined",
        "the STDP synapses add to v_post and read it in one pre-spike code block, so simultaneous spikes "
        "act one after another in Brian2's synapse order: that order is the model (the twin sums in it too)",
    ),
    (
        "brian2.codegen.generators.numpy_generator",
        "Failed to vectorise code",
        "the numpy target runs updates on repeated indices (lateral inhibition) as Python loops; "
        "it is the slow fallback, cpp_standalone is the default",
    ),
    (
        "brian2.core.base.unused_brian_object",
        "The object",
        "Brian2 objects deleted before any run: a network whose build stopped at a bad setting, "
        "or one replaced by the next build; nothing is lost",
    ),
)

_PACKAGES = ("ratebased", "spiking", "bridges")


def expected(record: logging.LogRecord) -> bool:
    """True if ``record`` is one of :data:`EXPECTED_BRIAN2_MESSAGES`."""
    message = str(record.msg)
    return any(record.name == name and message.startswith(start) for name, start, _ in EXPECTED_BRIAN2_MESSAGES)


class _HideExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not expected(record)


_FILTER = _HideExpected()
_RAISED: list[str] = []  # package loggers set to DEBUG by verbose=True (put back by verbose=False)


def quiet_expected_warnings(verbose: bool | None = None) -> None:
    """Hide Brian2's expected messages (``verbose=False``) or show everything (``verbose=True``).

    A command calls it once, after ``logging.basicConfig``, with the value of its ``--verbose``
    flag; worker processes call it with no argument to follow the choice recorded in
    :data:`VERBOSE_ENV` (quiet when unset). Calling it again switches; nothing is added twice.
    """
    if verbose is None:
        verbose = os.environ.get(VERBOSE_ENV, "0") == "1"
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    for name, _, _ in EXPECTED_BRIAN2_MESSAGES:
        # Brian2 logs each of these directly on a logger of exactly this name (which passes it on to
        # Brian2's console handler and log file): a filter there drops it without importing Brian2
        log = logging.getLogger(name)
        log.removeFilter(_FILTER)
        if not verbose:
            log.addFilter(_FILTER)
    if verbose:
        for package in _PACKAGES:
            log = logging.getLogger(package)
            if log.level == logging.NOTSET:
                log.setLevel(logging.DEBUG)
                _RAISED.append(package)
    else:
        while _RAISED:
            logging.getLogger(_RAISED.pop()).setLevel(logging.NOTSET)
