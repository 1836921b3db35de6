"""What every command-line front door shares: argument types, option parsing and error handling.

The front doors (``bridges.commands``, wrapped by ``scripts/``) own argparse, files and output; the
library stays quiet. They share this module so that the same argument means the same thing
everywhere (``--classes 4,9``, ``--hidden 100,100``, ``KEY=VALUE`` options), a mistake ends in one
``error: ...`` line with exit status 2, never a traceback, and a Ctrl-C ends in one
``interrupted: ...`` line saying how to resume, with exit status 130 (:func:`run_main`).

Examples
--------
>>> int_list("100, 100")
(100, 100)
>>> class_list("4,9"), class_list("versicolor,virginica")
((4, 9), ('versicolor', 'virginica'))
>>> key_values(["epochs=2", "target=numpy", "hidden=[50,50]"])
{'epochs': 2, 'target': 'numpy', 'hidden': [50, 50]}
>>> int_list("4,x")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected comma-separated integers, e.g. 100,100; got '4,x'
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "INTERRUPTED",
    "UsageError",
    "class_list",
    "fail",
    "float_list",
    "int_list",
    "interrupted",
    "key_value",
    "key_values",
    "name_list",
    "resume_hint",
    "run_main",
    "sigint_kept",
]

#: exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it)
INTERRUPTED = 130


class UsageError(Exception):
    """A user's mistake that a front door reports as one ``error: ...`` line (exit status 2)."""


def int_list(text: str) -> tuple[int, ...]:
    """``"100,100"`` -> ``(100, 100)`` (an argparse type)."""
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 100,100; got {text!r}") from None


def float_list(text: str) -> tuple[float, ...]:
    """``"0,0.1"`` -> ``(0.0, 0.1)`` (an argparse type)."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0,0.1,0.3; got {text!r}") from None


def name_list(text: str) -> tuple[str, ...]:
    """``"bp, FA"`` -> ``("bp", "fa")``: comma-separated names, lower-cased (an argparse type)."""
    return tuple(v.strip().lower() for v in text.split(",") if v.strip())


def class_list(text: str) -> tuple:
    """Classes by index or name: ``"4,9"`` -> ``(4, 9)``, ``"setosa,virginica"`` -> names."""
    return tuple(int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in text.split(",") if v.strip())


def key_value(text: str) -> tuple[str, object]:
    """``"KEY=VALUE"`` -> ``(key, value)``, the value read as JSON when it parses (else a string)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. epochs=2), got {text!r}")
    key, val = text.split("=", 1)
    try:
        return key.strip(), json.loads(val)
    except json.JSONDecodeError:
        return key.strip(), val


def key_values(items: Iterable[str | tuple[str, object]]) -> dict:
    """A dict from repeated ``KEY=VALUE`` options (strings or already-parsed pairs)."""
    out = {}
    for item in items:
        key, val = key_value(item) if isinstance(item, str) else item
        out[key] = val
    return out


def fail(message: object) -> int:
    """Print ``error: <message>`` (one line) to stderr; returns exit status 2."""
    text = " ".join(str(message).split()) if "\n" not in str(message).strip() else str(message).strip()
    print(f"error: {text}", file=sys.stderr)
    return 2


_resume_hint: str | None = None


def resume_hint(text: str | None) -> None:
    """Say what an interruption from now on keeps and how to resume, e.g. ``"finished work is kept
    in runs/x; run the same command again to resume"`` (``None``: nothing is kept). A command sets
    it once it knows its output folder; :func:`run_main` prints it after ``interrupted:``."""
    global _resume_hint
    _resume_hint = text


def interrupted() -> int:
    """Print the last line of an interrupted command to stderr (``interrupted: <resume hint>``);
    returns :data:`INTERRUPTED`."""
    hint = _resume_hint or "nothing was kept; run the same command again to start over"
    sys.stdout.flush()  # what the command printed comes first, even in a shared log
    print(f"interrupted: {hint}", file=sys.stderr, flush=True)
    return INTERRUPTED


@contextlib.contextmanager
def sigint_kept() -> Iterator[None]:
    """After the block, SIGINT is handled as before it, whatever the modules imported in the block
    installed. Brian2 installs a handler at import that turns the first Ctrl-C during a runtime
    simulation into an early end of that simulation (the run would carry on with a truncated
    chunk), and that fails with ``TypeError`` when SIGINT was ignored (a background job).
    Outside the main thread (where handlers cannot be set) it does nothing."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    finally:
        if before is not None and signal.getsignal(signal.SIGINT) is not before:
            signal.signal(signal.SIGINT, before)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While the block runs, a SIGTERM (``kill PID``, a batch system's stop) ends the work like a
    Ctrl-C: as ``KeyboardInterrupt``, so the command stops its workers, keeps what finished and says
    how to resume, instead of dying and leaving its worker processes running. Only where SIGTERM
    has its default handling and in the main thread."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_main(
    main: Callable[..., int | None],
    argv: list | None = None,
    errors: tuple[type[BaseException], ...] = (UsageError,),
    **kwargs,
) -> int:
    """Run a front door's ``main(argv, **kwargs)`` and return its exit status.

    The listed errors become one ``error:`` line and exit status 2. A Ctrl-C or a SIGTERM (``KeyboardInterrupt``,
    raised once the work started was ended, e.g. by :func:`bridges.tasks.run_tasks`) becomes the
    line of :func:`interrupted` and exit status 130; the command says beforehand what is kept and
    how to resume with :func:`resume_hint`.

    Examples
    --------
    >>> def main(argv):
    ...     resume_hint("finished work is kept in runs/x; run the same command again to resume")
    ...     raise KeyboardInterrupt
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = run_main(main)
    >>> status, err.getvalue()
    (130, 'interrupted: finished work is kept in runs/x; run the same command again to resume\\n')
    """
    global _resume_hint
    saved, _resume_hint = _resume_hint, None
    try:
        try:
            with _sigterm_interrupts():
                return int(main(argv, **kwargs) or 0)
        except errors as exc:
            return fail(exc)
        except KeyboardInterrupt:
            pass  # leaving the block frees the interrupted frames and what they held
        # objects of the interrupted work may say goodbye when collected (Brian2 warns about networks
        # never run): now, so that the interrupt line stays the last one
        gc.collect()
        return interrupted()
    finally:
        _resume_hint = saved
