"""CIFAR-10 (python pickle batches) and SVHN (cropped digits, MATLAB .mat) on disk: reading, searching, downloading.

Both are 32x32 RGB sets of 10 classes, loaded in the :class:`~bridges.data.Dataset` convention:
``float32`` NCHW in ``[0, 1]`` (``uint8 / 255``), labels ``int64`` ``0..9``. The images stay
``uint8`` until the last step, and the training split's per-channel ``mean`` / ``std``
(:func:`~bridges.data.transforms.channel_stats`, exact) and the set's augmentation convention are
recorded in ``metadata`` for :func:`~bridges.data.transforms.normalise` and
:class:`~bridges.data.transforms.Augmentation`.

* **CIFAR-10** -- Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", tech.
  report, University of Toronto, 2009. Files (the official ``cifar-10-python.tar.gz`` extracts
  them into ``cifar-10-batches-py/``): ``data_batch_1`` .. ``data_batch_5`` (training, 50000),
  ``test_batch`` (10000), ``batches.meta``. Each batch is a pickled dict with the keys
  ``b"data"`` (``uint8`` array ``(N, 3072)``: 1024 red, 1024 green, 1024 blue values, each
  32x32 row-major), ``b"labels"`` (N ints), ``b"batch_label"``, ``b"filenames"``. The
  pickles are read by an unpickler that builds only numpy arrays (nothing else is imported).
* **SVHN** -- Netzer, Wang, Coates, Bissacco, Wu, Ng, "Reading Digits in Natural Images with
  Unsupervised Feature Learning", NIPS Workshop on Deep Learning and Unsupervised Feature
  Learning, 2011 (non-commercial use). Files ``train_32x32.mat`` (73257) and ``test_32x32.mat``
  (26032), MATLAB v5, read with :func:`scipy.io.loadmat`: ``X`` ``uint8`` ``(32, 32, 3, N)``,
  ``y`` ``(N, 1)`` in ``1..10`` where 10 is the digit 0 (mapped to label 0). ``extra_32x32.mat``
  is not used.

Search order: that of the IDX sets (:mod:`bridges.data.locate`): ``root`` only when given
(``root`` or ``root/<name>``), else ``$BIOPLAUSIBLE_DATA/<name>``, ``./data/<name>``,
``/usr/share/datasets/<name>``; for CIFAR-10 each of these directories may also hold the
extracted ``cifar-10-batches-py/``. The first directory holding every file wins.

Download (``load_dataset(..., download=True)``, :func:`~bridges.data.download`): CIFAR-10 fetches
the official archive, checks its MD5 before extracting anything and extracts only the seven
files (each checked against its own MD5) into ``<target>/cifar-10-batches-py/``; SVHN fetches
each missing ``.mat`` file, MD5-checked while streaming. Nothing is written unless it passes.

A corrupt or truncated file raises ``ValueError`` with one line naming it and the fix.

Examples
--------
>>> import pickle, tempfile, pathlib, numpy as np
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> batch = {b"batch_label": b"x", b"labels": [3, 8], b"data": np.zeros((2, 3072), np.uint8),
...          b"filenames": [b"a.png", b"b.png"]}
>>> _ = (d / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
>>> x, y = read_cifar10_batch(d / "data_batch_1")
>>> x.shape, x.dtype, y.tolist()
((2, 3, 32, 32), dtype('uint8'), [3, 8])
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import http.client
import io
import logging
import os
import pickle
import tarfile
import tempfile
import types
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bridges.data import locate
from bridges.data.dataset import Dataset
from bridges.data.idx import FileChecksum
from bridges.data.transforms import channel_stats
from bridges.io import _atomic_target, atomic_write_bytes

if TYPE_CHECKING:  # annotations only: the catalogue imports this module
    from bridges.data.catalog import DatasetSpec

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_FILES",
    "SVHN_FILES",
    "RawImages",
    "read_cifar10_batch",
    "read_cifar10_meta",
    "read_svhn_mat",
]

logger = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR10_TRAIN = tuple(f"data_batch_{k}" for k in range(1, 6))
#: The seven files of ``cifar-10-batches-py/``: five training batches, the test batch, the label names.
CIFAR10_FILES = (*_CIFAR10_TRAIN, "test_batch", "batches.meta")
#: The two SVHN files read (``extra_32x32.mat`` is not).
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
_CHUNK = 1 << 20
_FIX = "Delete it and fetch a fresh copy (load_dataset(..., download=True) / --download)."


# ---- MD5 of files on disk (the digests are registered in bridges.data.catalog) --------------
def _md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _verify_file(path: Path, checksum: FileChecksum | None) -> bool:
    """Compare ``path``'s MD5 with ``checksum.raw``; a ValueError on mismatch, a warning if none is known."""
    if checksum is None or checksum.raw is None:
        warnings.warn(f"{path}: no MD5 known for this file; only its structure was checked", stacklevel=3)
        return False
    got = _md5_file(path)
    if got != checksum.raw.lower():
        raise ValueError(
            f"{path}: MD5 is {got}, expected {checksum.raw}; the file is corrupt or a different version. {_FIX}"
        )
    return True


# ---- formats ---------------------------------------------------------------------------------
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and plain containers only (no other global is imported)."""

    _ALLOWED: Mapping[tuple[str, str], Any] = types.MappingProxyType(
        {
            **{
                (m, "_reconstruct"): np.zeros(1).__reduce_ex__(2)[0]
                for m in ("numpy.core.multiarray", "numpy._core.multiarray")
            },
            **{
                (m, "_frombuffer"): np.zeros(1).__reduce_ex__(5)[0]
                for m in ("numpy.core.numeric", "numpy._core.numeric")
            },
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): codecs.encode,  # protocol-2 bytes written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refuses global {module}.{name} (a CIFAR batch holds only arrays)") from None


def _unpickle(data: bytes, name: Path | str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # any failure to unpickle means a corrupt or foreign file
        raise ValueError(f"{name}: not a readable CIFAR pickle ({type(exc).__name__}: {exc}). {_FIX}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{name}: holds a pickled {type(obj).__name__}, not a CIFAR batch dict. {_FIX}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _parse_cifar_batch(data: bytes, name: Path | str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(data, name)
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise ValueError(f"{name}: CIFAR batch lacks the key(s) {missing} (has {sorted(batch)}). {_FIX}")
    x, labels = batch["data"], batch["labels"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{name}: b'data' must be a uint8 array of shape (N, 3072), got {got}. {_FIX}")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: b'labels' is not a list of integers ({exc}). {_FIX}") from exc
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: {y.shape[0]} labels for {x.shape[0]} images. {_FIX}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{name}: labels span [{y.min()}, {y.max()}], outside 0..9. {_FIX}")
    return x.reshape(-1, 3, 32, 32), y


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch (``data_batch_k`` or ``test_batch``).

    Parameters
    ----------
    path : str or os.PathLike
        A pickled dict with ``b"data"`` (``uint8`` ``(N, 3072)``) and ``b"labels"`` (N ints in 0..9).

    Returns
    -------
    x : numpy.ndarray
        ``uint8`` images ``(N, 3, 32, 32)`` (RGB, NCHW; a view of the file's array).
    y : numpy.ndarray
        ``int64`` labels ``(N,)``.

    Raises
    ------
    ValueError
        Truncated or corrupt pickle, a pickle that would import anything but numpy arrays, missing
        keys, wrong shapes or dtypes, labels outside 0..9; the message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "test_batch"
    >>> _ = p.write_bytes(b"\\x80\\x02}q")  # a truncated pickle
    >>> read_cifar10_batch(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../test_batch: not a readable CIFAR pickle (...). Delete it and fetch a fresh copy ...
    """
    path = Path(path)
    return _parse_cifar_batch(path.read_bytes(), path)


def _parse_cifar_meta(data: bytes, name: Path | str) -> tuple[str, ...]:
    meta = _unpickle(data, name)
    names = meta.get("label_names")
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise ValueError(
            f"{name}: batches.meta must hold b'label_names', a list of 10 names (got {names!r:.80}). {_FIX}"
        )
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def read_cifar10_meta(path: str | os.PathLike) -> tuple[str, ...]:
    """The ten class names in ``batches.meta`` (``b"label_names"``), in label order."""
    path = Path(path)
    return _parse_cifar_meta(path.read_bytes(), path)


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN cropped-digits file (``train_32x32.mat`` / ``test_32x32.mat``, MATLAB v5).

    Parameters
    ----------
    path : str or os.PathLike
        A .mat file with ``X`` ``uint8`` ``(32, 32, 3, N)`` and ``y`` ``(N, 1)`` in ``1..10``.

    Returns
    -------
    x : numpy.ndarray
        ``uint8`` images ``(N, 3, 32, 32)`` (RGB, NCHW, C-contiguous copy).
    y : numpy.ndarray
        ``int64`` labels ``(N,)``, the digit shown: SVHN's label 10 (digit 0) becomes 0.

    Raises
    ------
    ValueError
        Unreadable or truncated file, missing ``X``/``y``, wrong shapes, labels outside 1..10; the
        message names the file.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, scipy.io
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "test_32x32.mat"
    >>> scipy.io.savemat(p, {"X": np.zeros((32, 32, 3, 3), np.uint8), "y": np.array([[10], [1], [9]], np.uint8)})
    >>> x, y = read_svhn_mat(p)
    >>> x.shape, y.tolist()
    ((3, 3, 32, 32), [0, 1, 9])
    """
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), variable_names=("X", "y"))
    except FileNotFoundError:
        raise
    except Exception as exc:  # scipy raises many types for a damaged file
        raise ValueError(f"{path}: not a readable MATLAB v5 file ({type(exc).__name__}: {exc}). {_FIX}") from exc
    if "X" not in mat or "y" not in mat:
        raise ValueError(
            f"{path}: SVHN .mat must hold 'X' and 'y', found {sorted(k for k in mat if not k.startswith('__'))}. {_FIX}"
        )
    x, y = mat["X"], mat["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"{path}: 'X' must be uint8 of shape (32, 32, 3, N), got {x.dtype} {x.shape}. {_FIX}")
    n = x.shape[3]
    if not np.issubdtype(y.dtype, np.number) or y.shape not in ((n, 1), (1, n)):
        raise ValueError(f"{path}: 'y' must hold {n} labels of shape ({n}, 1), got {y.dtype} {y.shape}. {_FIX}")
    y = y.reshape(-1)
    if y.size and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        raise ValueError(
            f"{path}: labels span [{y.min()}, {y.max()}]; SVHN labels are 1..10 (10 is the digit 0). {_FIX}"
        )
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), (y.astype(np.int64) % 10)


class RawImages(NamedTuple):
    """A set's official split as read from disk: ``uint8`` NCHW images, ``int64`` labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ---- the two layouts -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """What is particular to one set on disk: its files, archive and reader."""

    files: tuple[str, ...]
    read: Callable[[Path, tuple[str, ...]], RawImages]
    augmentation: Mapping[str, Any]
    folder: str | None = None  # folder the official archive extracts to
    archive: str | None = None  # official archive fetched instead of the single files


def _read_cifar10(directory: Path, class_names: tuple[str, ...]) -> RawImages:
    names = read_cifar10_meta(directory / "batches.meta")
    if names != class_names:
        raise ValueError(f"{directory / 'batches.meta'}: label names {names} are not CIFAR-10's {class_names}. {_FIX}")
    parts = [read_cifar10_batch(directory / f) for f in _CIFAR10_TRAIN]
    x_test, y_test = read_cifar10_batch(directory / "test_batch")
    return RawImages(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_test, y_test)


def _read_svhn(directory: Path, class_names: tuple[str, ...]) -> RawImages:
    del class_names  # the digits themselves
    return RawImages(*read_svhn_mat(directory / "train_32x32.mat"), *read_svhn_mat(directory / "test_32x32.mat"))


CIFAR10_LAYOUT = _Layout(
    files=CIFAR10_FILES,
    read=_read_cifar10,
    augmentation=types.MappingProxyType({"pad": 4, "flip": True}),
    folder="cifar-10-batches-py",
    archive="cifar-10-python.tar.gz",
)
# No flips for SVHN: a mirrored digit is a different glyph (or none).
SVHN_LAYOUT = _Layout(files=SVHN_FILES, read=_read_svhn, augmentation=types.MappingProxyType({"pad": 4, "flip": False}))


# ---- search ----------------------------------------------------------------------------------
def _search(spec: DatasetSpec, root: Any, layout: _Layout) -> tuple[Path | None, list[str]]:
    """First directory (locate's order; each also with ``layout.folder``) holding every file."""
    report = []
    for base, why in locate._candidates(spec.name, root):
        for directory, reason in (
            (base, why),
            *(((base / layout.folder, f"{why}, {layout.folder}/"),) if layout.folder else ()),
        ):
            if not directory.is_dir():
                report.append(f"  {directory}  ({reason}): does not exist")
                continue
            missing = [f for f in layout.files if not (directory / f).is_file()]
            if not missing:
                return directory, report
            report.append(f"  {directory}  ({reason}): missing {', '.join(missing)}")
    return None, report


def _missing_message(spec: DatasetSpec, root: Any, report: list[str], layout: _Layout, extra: str = "") -> str:
    target = locate._download_target(spec.name, root)
    target = target / layout.folder if layout.folder else target
    source = spec.mirrors[0] if spec.mirrors else "the mirrors"
    what = (
        f"{layout.archive} extracted ({layout.folder}/: {', '.join(layout.files)})"
        if layout.archive
        else ", ".join(layout.files)
    )
    lines = [
        f"{spec.name}: files not found. Directories searched, in order:",
        *report,
        f"Put {what} into one directory and pass it as root=..., or (with root=None) into "
        f"${locate.ENV_VAR}/{spec.name}/, ./data/{spec.name}/ or {locate.SYSTEM_DATA_DIR / spec.name}/.",
        f"Or fetch them with load_dataset({spec.name!r}, download=True) (scripts: --download); they go to "
        f"{target}/ from {source}.",
    ]
    return "\n".join([*lines, *([spec.hint] if spec.hint else []), *([extra] if extra else [])])


def _find_dir(spec: DatasetSpec, root: Any, *, layout: _Layout) -> Path:
    """:attr:`DatasetSpec.find` of these sets: the directory holding every file, else FileNotFoundError."""
    found, report = _search(spec, root, layout)
    if found is None:
        raise FileNotFoundError(_missing_message(spec, root, report, layout))
    return found


# ---- download --------------------------------------------------------------------------------
_NETWORK_ERRORS = (OSError, http.client.HTTPException, EOFError)


def _stream(url: str, fh: Any, timeout_s: float) -> str:
    """Copy ``url`` into the open file ``fh`` in chunks; the MD5 of what was copied."""
    h = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310
        while chunk := resp.read(_CHUNK):
            h.update(chunk)
            fh.write(chunk)
    return h.hexdigest()


def _check_md5(got: str, checksum: str | None, what: str) -> None:
    if checksum is not None and got != checksum.lower():
        raise ValueError(f"MD5 of {what} is {got}, expected {checksum}")


def _fetch_archive(
    url: str, out: Path, layout: _Layout, checksums: Mapping[str, FileChecksum], timeout_s: float
) -> None:
    """Fetch the archive at ``url`` into a temporary file, check it, extract ``layout.files`` into ``out``."""
    assert layout.archive is not None and layout.folder is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=out.parent) as tmp:
        got = _stream(url, tmp, timeout_s)
        _check_md5(got, (checksums.get(layout.archive) or FileChecksum()).gz, layout.archive)
        tmp.seek(0)
        contents = {}
        try:
            with tarfile.open(fileobj=tmp, mode="r:gz") as tar:
                for name in layout.files:
                    member = tar.getmember(f"{layout.folder}/{name}")  # KeyError if absent
                    if not member.isfile():
                        raise ValueError(f"{layout.archive}: {member.name} is not a regular file")
                    data = tar.extractfile(member).read()
                    _check_md5(
                        hashlib.md5(data, usedforsecurity=False).hexdigest(),
                        (checksums.get(name) or FileChecksum()).raw,
                        name,
                    )
                    _parse_member(data, f"{layout.archive}:{member.name}", name)
                    contents[name] = data
        except (tarfile.TarError, KeyError, EOFError, zlib.error, OSError) as exc:  # OSError: gzip.BadGzipFile
            raise ValueError(f"{layout.archive} is not a complete CIFAR archive ({type(exc).__name__}: {exc})") from exc
    for name, data in contents.items():  # all checked: now write
        atomic_write_bytes(out / name, data)


def _parse_member(data: bytes, where: str, name: str) -> None:
    if name == "batches.meta":
        _parse_cifar_meta(data, where)
    else:
        _parse_cifar_batch(data, where)


def _fetch_file(url: str, dest: Path, checksum: FileChecksum | None, timeout_s: float) -> None:
    """Stream ``url`` into ``dest`` atomically, MD5-checked before the rename; unchecked files are parsed."""
    with _atomic_target(dest) as fh:
        _check_md5(_stream(url, fh, timeout_s), checksum.raw if checksum else None, dest.name)
    if checksum is None or checksum.raw is None:
        try:
            read_svhn_mat(dest)
        except ValueError:
            dest.unlink()
            raise


def _fetch(
    name: str,
    directory: Path,
    mirrors: Sequence[str],
    checksums: Mapping[str, FileChecksum],
    timeout_s: float,
    *,
    layout: _Layout,
) -> Path:
    """:attr:`DatasetSpec.fetch` of these sets: download what ``directory`` lacks (see module docstring).

    Returns the directory holding every file (``directory/cifar-10-batches-py`` for CIFAR-10).

    Raises
    ------
    ValueError
        Some mirror answered, but what it served failed its MD5 or structure check (nothing of
        it is written); the line names the file, the URL and the fix.
    FileNotFoundError
        No mirror could be reached; the message lists each URL tried and why.
    """
    out = Path(directory) / layout.folder if layout.folder else Path(directory)

    def complete() -> bool:
        return all((out / f).is_file() for f in layout.files)

    if complete():
        return out
    todo = [layout.archive] if layout.archive else [f for f in layout.files if not (out / f).is_file()]
    unreachable: list[str] = []
    rejected: list[str] = []
    for fname in todo:
        if not mirrors:
            unreachable.append(f"  {fname}: no mirrors configured")
        for base in mirrors:
            url = base.rstrip("/") + f"/{fname}"
            logger.info("downloading %s -> %s", url, out)
            try:
                if layout.archive:
                    _fetch_archive(url, out, layout, checksums, timeout_s)
                else:
                    _fetch_file(url, out / fname, checksums.get(fname), timeout_s)
            except ValueError as exc:
                rejected.append(f"{url}: {exc}")
                logger.warning("download rejected: %s: %s", url, exc)
                continue
            except _NETWORK_ERRORS as exc:
                unreachable.append(f"  {url}: {exc}")
                logger.warning("download failed: %s: %s", url, exc)
                continue
            break
    if complete():
        return out
    if rejected:
        raise ValueError(
            f"{name}: download rejected, nothing of it written to {out}: {'; '.join(rejected)}. "
            f"Retry later or from another mirror, or copy the official files there by hand."
        )
    raise FileNotFoundError(
        f"{name}: download into {out} failed:\n"
        + "\n".join(unreachable)
        + "\nCheck the network, or copy the files there by hand."
    )


# ---- loading ---------------------------------------------------------------------------------
def _load(
    spec: DatasetSpec,
    root: str | os.PathLike | None,
    download_: bool,
    verify: bool,
    test_fraction: float | None,
    seed: int,
    *,
    layout: _Layout,
) -> Dataset:
    """:attr:`DatasetSpec.loader` of these sets: find (or fetch) the files, check them, scale by 1/255."""
    if test_fraction is not None:
        raise ValueError(
            f"{spec.name} has a fixed official train/test split; leave test_fraction=None and "
            f"use train_val_split(...) to hold out validation data"
        )
    del seed  # the official split needs none
    directory, report = _search(spec, root, layout)
    if directory is None:
        if not download_:
            raise FileNotFoundError(_missing_message(spec, root, report, layout))
        target = locate._download_target(spec.name, root)
        try:
            directory = _fetch(
                spec.name, target, spec.mirrors, spec.checksums, locate._DOWNLOAD_TIMEOUT_S, layout=layout
            )
        except FileNotFoundError as exc:
            raise FileNotFoundError(_missing_message(spec, root, report, layout, extra=str(exc))) from exc
    if verify:
        for f in layout.files:
            _verify_file(directory / f, spec.checksums.get(f))
    raw = layout.read(directory, spec.class_names)
    mean, std = channel_stats(raw.x_train)
    out = {}
    for part in ("train", "test"):
        out[f"x_{part}"], out[f"y_{part}"] = locate.unit_scale(getattr(raw, f"x_{part}")), getattr(raw, f"y_{part}")
    return locate.official_split(
        spec,
        out,
        directory,
        layout.files,
        verify,
        layout="NCHW, RGB",
        mean=mean,
        std=std,
        normalisation="per channel (x - mean) / std with the official training split's mean/std "
        "(population std over all pixels); not applied to x: use bridges.data.normalise",
        augmentation=dict(layout.augmentation),
    )


# Hooks of the two catalogue entries (bridges.data.catalog registers them).
load_cifar10 = functools.partial(_load, layout=CIFAR10_LAYOUT)
load_svhn = functools.partial(_load, layout=SVHN_LAYOUT)
find_cifar10 = functools.partial(_find_dir, layout=CIFAR10_LAYOUT)
find_svhn = functools.partial(_find_dir, layout=SVHN_LAYOUT)
fetch_cifar10 = functools.partial(_fetch, layout=CIFAR10_LAYOUT)
fetch_svhn = functools.partial(_fetch, layout=SVHN_LAYOUT)
