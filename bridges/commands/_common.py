"""What the subcommands share beyond :mod:`bridges.cli`: one parser, one help style, the common flags.

* :class:`Parser` - an ``argparse.ArgumentParser`` whose mistakes end in one ``error: ...`` line
  (exit status 2) instead of a usage block, and whose ``--help`` shows each default once, readably
  (``256,256``, never ``(256, 256)`` or ``None``);
* :func:`add_data_flags` - ``--dataset`` (default ``digits`` in every command), ``--classes`` and
  ``--data-root``, with the registered data set names in the help;
* :func:`device` - the ``--device`` type: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``,
  checked when the command line is read;
* :func:`check_data` - load the data set as a run will, naming the flag behind a mistake;
* :func:`one_line` - an exception's message on one line (some library messages list several
  directories or choices on separate lines).

Examples
--------
>>> from bridges.cli import int_list
>>> p = Parser(prog="demo")
>>> _ = p.add_argument("--hidden", type=int_list, default=(256, 256), help="hidden widths")
>>> _ = p.add_argument("--out", required=True, help="output folder")
>>> text = p.format_help()
>>> "hidden widths (default: 256,256)" in text, "default: None" in text
(True, False)
>>> one_line(ValueError("not found. Searched:\\n  /a: missing\\n  /b: missing"))
'not found. Searched: /a: missing; /b: missing'
"""

from __future__ import annotations

import argparse
import sys

from bridges.cli import class_list

__all__ = [
    "DEFAULT_DATASET",
    "DEVICE_HELP",
    "Parser",
    "add_data_flags",
    "check_data",
    "device",
    "one_line",
    "print_note",
    "readable",
]

#: the data set every command uses when none is named (embedded in scikit-learn: no download)
DEFAULT_DATASET = "digits"
DEVICE_HELP = "torch device: auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps"


def readable(value: object) -> str:
    """A default as a user would type it: sequences comma-separated, everything else as ``str``.

    >>> readable((0.0, 0.05, 0.1)), readable("digits"), readable(["bp", "fa"])
    ('0.0,0.05,0.1', 'digits', 'bp,fa')
    """
    if isinstance(value, (tuple, list)):
        return ",".join(readable(v) for v in value)
    return str(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: X)`` to an option's help once, in readable form, when there is a default
    worth showing (not for required options, flags, ``None`` or empty lists, and not when the help
    already says what the default is)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (
            "default" in text
            or action.required
            or d is None
            or d is False
            or d is argparse.SUPPRESS
            or (isinstance(d, (list, tuple)) and not d)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: {readable(d).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with :class:`HelpFormatter`, whose errors are one line.

    A mistake on the command line prints ``error: <what is wrong>; see `<prog> --help``` to stderr
    and exits with status 2 (the usage block is left out: ``--help`` shows it).
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # argparse's hook: must not return
        text = " ".join(str(message).split())
        self.exit(2, f"error: {text}; see `{self.prog} --help`\n")


def one_line(exc: BaseException | str) -> str:
    """The message of ``exc`` on one line: its lines joined with ``; `` (after a colon: a space)."""
    lines = [" ".join(line.split()) for line in str(exc).strip().splitlines()]
    out = ""
    for line in filter(None, lines):
        out += line if not out else (" " if out.endswith(":") else "; ") + line
    return out


def add_data_flags(p: argparse.ArgumentParser, *, default: str = DEFAULT_DATASET, download: bool = False) -> None:
    """``--dataset`` (a registered name), ``--classes`` (indices or names), ``--data-root`` and,
    with ``download=True``, ``--download``."""
    from bridges.data import DATASET_SPECS

    names = DATASET_SPECS.names()
    idx = [n for n in names if DATASET_SPECS.get(n).idx]
    embedded = [n for n in names if not DATASET_SPECS.get(n).idx]
    p.add_argument(
        "--dataset",
        default=default,
        type=str.lower,
        choices=names,
        metavar="NAME",
        help=f"data set: {', '.join(names)}",
    )
    p.add_argument(
        "--classes",
        type=class_list,
        default=None,
        metavar="A,B,...",
        help="keep only these classes, by index or name, e.g. 4,9 or versicolor,virginica (default: all)",
    )
    p.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help=f"folder holding the IDX files of {', '.join(idx)} (or a <name>/ folder of them); default: "
        f"$BIOPLAUSIBLE_DATA/<name>, then ./data/<name>; {' and '.join(embedded)} are embedded (no files)",
    )
    if download:
        p.add_argument("--download", action="store_true", help="download missing IDX files (md5-checked)")


def check_data(
    dataset: str,
    classes=None,
    data_root=None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    split_seed: int = 0,
    download: bool = False,
):
    """The data set as a run loads it (embedded sets split with ``split_seed``, ``classes`` kept,
    subsets of ``n_train``/``n_test`` drawn with ``seed``), each mistake reported as a
    ``ValueError`` or ``FileNotFoundError`` that names its flag: ``--data-root`` (files not
    found), ``--classes``, ``--n-train``/``--n-test``."""
    from bridges.data import limit, load_dataset, subset

    ds = load_dataset(dataset, data_root, download=download, seed=split_seed)  # its errors name the data root
    if classes:
        try:
            ds = subset(ds, classes)
        except ValueError as exc:
            text = one_line(exc).removeprefix("subset: ")
            hint = "; name two or more, e.g. --classes 0,1" if "at least two" in text else ""
            raise ValueError(f"--classes {readable(classes)}: {text}{hint}") from None
    if n_train or n_test:
        try:
            ds = limit(ds, n_train, n_test, seed=seed)
        except ValueError as exc:
            raise ValueError(f"--n-train/--n-test: {one_line(exc)}") from None
    return ds


def device(text: str) -> str:
    """The ``--device`` type: ``text`` if torch can use it here, else an ``ArgumentTypeError``
    naming the valid values (so a typo fails before anything runs)."""
    import torch

    from ratebased.device import resolve_device

    try:
        dev = resolve_device(text)
    except ValueError as exc:  # a CUDA device without CUDA
        raise argparse.ArgumentTypeError(str(exc)) from None
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"unknown torch device {text!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(
            f"device {text!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0 .. "
            f"cuda:{torch.cuda.device_count() - 1}, auto or cpu"
        )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise argparse.ArgumentTypeError("device 'mps' was requested but Apple MPS is not available; use cpu")
    return text


def print_note(message: str) -> None:
    """A one-line ``note: ...`` on stderr (a default the command chose for the user)."""
    print(f"note: {message}", file=sys.stderr)
