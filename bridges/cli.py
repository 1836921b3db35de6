"""What every command-line front door shares: argument types, option parsing and error handling.

The scripts in ``scripts/`` own argparse, files and output; the library stays quiet. They share
this module so that the same argument means the same thing everywhere (``--classes 4,9``,
``--hidden 100,100``, ``KEY=VALUE`` options) and a mistake ends in one ``error: ...`` line with exit
status 2, never a traceback.

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
import json
import sys
from collections.abc import Callable, Iterable

__all__ = [
    "UsageError",
    "class_list",
    "fail",
    "float_list",
    "int_list",
    "key_value",
    "key_values",
    "name_list",
    "run_main",
]


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


def run_main(
    main: Callable[[list | None], int],
    argv: list | None = None,
    errors: tuple[type[BaseException], ...] = (UsageError,),
) -> int:
    """Run a front door's ``main``: the listed errors become one ``error:`` line and exit status 2."""
    try:
        return main(argv)
    except errors as exc:
        return fail(exc)
