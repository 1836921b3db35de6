"""Data sets for every experiment: IDX image sets (MNIST family) and scikit-learn's embedded sets.

One entry point, :func:`load_dataset`, returns a frozen :class:`Dataset` with numpy arrays in a
fixed convention, whatever the source:

* images are ``float32`` in ``[0, 1]``, shape ``(N, 1, H, W)`` (28x28 for IDX sets, 8x8 for digits);
* tabular features (iris) are ``float32`` in ``[0, 1]``, shape ``(N, D)``;
* labels are ``int64`` in ``0 .. n_classes-1``.

Registered data sets (:data:`DATASETS`):

==============  ==========================================================================
name            source
==============  ==========================================================================
mnist           IDX files. LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied
                to document recognition", Proc. IEEE 86(11), 1998. CC BY-SA 3.0.
fashion-mnist   IDX files. Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
                Benchmarking Machine Learning Algorithms", arXiv:1708.07747. MIT licence.
kmnist          IDX files. Clanuwat et al., "Deep Learning for Classical Japanese
                Literature", arXiv:1812.01718. CC BY-SA 4.0.
iris            scikit-learn (embedded). Fisher, "The use of multiple measurements in
                taxonomic problems", Annals of Eugenics 7(2), 1936.
digits          scikit-learn (embedded): UCI optical recognition of handwritten digits,
                8x8, values 0..16 (Alpaydin & Kaynak, 1998).
==============  ==========================================================================

Where IDX files are looked for, in order (the first directory holding all four files wins;
files are never mixed across directories):

1. ``root`` when given -- and then *only* ``root``: an explicit path that lacks the files is an
   error, not a silent fallback. ``root`` may be the data set's own directory
   (``.../mnist``) or a parent holding ``<name>/`` (``root/mnist``);
2. ``$BIOPLAUSIBLE_DATA/<name>``;
3. ``./data/<name>`` (relative to the current working directory);
4. ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist`` installs there).

Each of the four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` may be gzip-compressed (``.gz``) or not.
Every read checks the IDX structure (magic, dtype code, dimensions, exact payload length); a
corrupt or truncated file raises ``ValueError`` naming it. ``verify=True`` additionally checks
MD5 checksums (of the uncompressed content where known, so a re-compressed ``.gz`` still passes).

Examples
--------
>>> from bridges.data import load_dataset, subset, limit
>>> ds = load_dataset("iris", seed=0)
>>> ds.x_train.shape, ds.n_classes
((112, 4), 3)
>>> pair = subset(ds, ("versicolor", "virginica"))
>>> pair.class_names, sorted(set(pair.y_train.tolist()))
(('versicolor', 'virginica'), [0, 1])
>>> small = limit(load_dataset("digits"), n_train=100, n_test=50, seed=0)
>>> small.x_train.shape
(100, 1, 8, 8)
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.client
import logging
import math
import numbers
import os
import types
import urllib.request
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from bridges.io import atomic_write_bytes

__all__ = [
    "DATASETS",
    "REGISTRY",
    "ENV_VAR",
    "SYSTEM_DATA_DIR",
    "IDX_FILES",
    "Dataset",
    "DatasetSpec",
    "FileChecksum",
    "Split",
    "load_dataset",
    "find_data_dir",
    "download",
    "read_idx",
    "write_idx",
    "verify_md5",
    "subset",
    "limit",
    "train_val_split",
    "to_torch",
]

logger = logging.getLogger(__name__)

#: Environment variable naming a directory that holds one ``<name>/`` folder per data set.
ENV_VAR = "BIOPLAUSIBLE_DATA"
#: Last place searched; Debian's ``dataset-fashion-mnist`` package installs here.
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
#: The four IDX file stems, by role; each may carry a ``.gz`` suffix on disk.
IDX_FILES: Mapping[str, str] = types.MappingProxyType(
    {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
)

# IDX dtype codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES: Mapping[int, np.dtype] = types.MappingProxyType(
    {
        0x08: np.dtype(">u1"),
        0x09: np.dtype(">i1"),
        0x0B: np.dtype(">i2"),
        0x0C: np.dtype(">i4"),
        0x0D: np.dtype(">f4"),
        0x0E: np.dtype(">f8"),
    }
)
_GZIP_MAGIC = b"\x1f\x8b"


# --------------------------------------------------------------------------------------------
# IDX reading and writing
# --------------------------------------------------------------------------------------------
def _decompressed_bytes(path: Path) -> bytes:
    """Whole file content, gunzipped if it starts with the gzip magic; errors name the file."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError as exc:
        raise ValueError(f"{path} is a directory, not an IDX file") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    return _gunzip(raw, path)


def _gunzip(data: bytes, name: Path | str) -> bytes:
    """Decompress every gzip member of ``data``; truncation or trailing garbage is a ValueError."""
    fix = "Delete the file and fetch a fresh copy (load_dataset(..., download=True) / --download)."
    chunks = []
    while True:
        d = zlib.decompressobj(wbits=31)  # gzip container
        try:
            chunks.append(d.decompress(data))
        except zlib.error as exc:
            raise ValueError(f"{name}: corrupt gzip stream ({exc}). {fix}") from exc
        if not d.eof:
            raise ValueError(f"{name}: truncated gzip stream (ends before its end marker). {fix}")
        data = d.unused_data
        if not data.strip(b"\x00"):  # end of file, or the zero padding gzip allows
            return b"".join(chunks)
        if not data.startswith(_GZIP_MAGIC):
            raise ValueError(f"{name}: {len(data)} bytes of garbage after the gzip stream. {fix}")


@functools.lru_cache(maxsize=16)
def _cached_bytes(path: str, mtime_ns: int, size: int, inode: int) -> bytes:
    # Keyed by (path, mtime, size, inode): a file rewritten or replaced is read again.
    return _decompressed_bytes(Path(path))


def _file_content(path: Path) -> bytes:
    """Uncompressed content of ``path``, cached in-process while the file is unchanged."""
    path = Path(path).resolve()
    st = path.stat()
    return _cached_bytes(str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def _parse_idx(content: bytes, path: Path | str) -> np.ndarray:
    """Parse IDX ``content`` (already uncompressed); every structural error names ``path``."""
    fix = "Delete it and fetch a fresh copy (download=True / --download)."
    if len(content) < 4:
        raise ValueError(f"{path}: {len(content)} bytes, too short for an IDX header. {fix}")
    if content[0] != 0 or content[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic {content[:4].hex()} (must start with 0000); not an IDX file. {fix}"
        )
    code, ndim = content[2], content[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02X} (valid: {valid}). {fix}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions. {fix}")
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise ValueError(
            f"{path}: truncated IDX header ({len(content)} bytes, need {header_len} for "
            f"{ndim} dimensions). {fix}"
        )
    dims = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    payload = len(content) - header_len
    if payload != expected:
        kind = "truncated" if payload < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX payload {kind}: {payload} bytes after the header, dims {dims} of "
            f"{dtype.name} need exactly {expected}. {fix}"
        )
    arr = np.frombuffer(content, dtype=dtype, offset=header_len).reshape(dims)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))  # native byte order, a new array
        arr.flags.writeable = False
    return arr


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a numpy array.

    The structure is always checked: the two leading zero bytes, the dtype code, the number of
    dimensions and that the payload holds exactly ``prod(dims)`` items. Parsed content is cached
    in-process (keyed by path, mtime, size and inode), so a second read is nearly free.

    Parameters
    ----------
    path : str or os.PathLike
        IDX file. Compression is detected from the content (gzip magic), not from the name.

    Returns
    -------
    numpy.ndarray
        Read-only array of shape ``dims`` in native byte order (``uint8`` for image and label
        files). Copy it (``np.array(a)``) to write into it.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Corrupt or truncated file (also a truncated gzip stream); the message names the file.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte.gz"
    >>> write_idx(p, np.arange(5, dtype=np.uint8))
    >>> read_idx(p).tolist()
    [0, 1, 2, 3, 4]
    """
    path = Path(path)
    return _parse_idx(_file_content(path), path)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    Written atomically (temporary file + rename). The gzip header carries no timestamp, so
    equal arrays give byte-identical files.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent directories are created.
    array : numpy.ndarray
        At least 1-D, each dimension < 2**32, dtype one of uint8, int8, int16, int32, float32,
        float64 (stored big-endian as the format requires).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "img-idx3-ubyte"
    >>> write_idx(p, np.zeros((2, 3, 3), dtype=np.uint8))
    >>> read_idx(p).shape
    (2, 3, 3)
    """
    arr = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes:
        valid = ", ".join(dt.newbyteorder("=").name for dt in _IDX_DTYPES.values())
        raise ValueError(f"write_idx: dtype {arr.dtype} has no IDX code; convert to one of {valid}")
    if arr.ndim < 1 or arr.ndim > 255:
        raise ValueError(f"write_idx: array must have 1..255 dimensions, got shape {arr.shape}")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"write_idx: every dimension must be < 2**32, got shape {arr.shape}")
    code = codes[native]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    content = header + np.ascontiguousarray(arr, dtype=_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        content = gzip.compress(content, mtime=0)
    atomic_write_bytes(path, content)


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileChecksum:
    """Known MD5 digests of one IDX file.

    Attributes
    ----------
    raw : str or None
        MD5 of the uncompressed IDX content; preferred, as it survives re-compression.
    gz : str or None
        MD5 of the official ``.gz`` as distributed; used only when ``raw`` is unknown.
    """

    raw: str | None = None
    gz: str | None = None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify_md5(path: str | os.PathLike, checksum: FileChecksum) -> bool:
    """Check ``path`` against ``checksum``; raise on mismatch.

    The uncompressed content is checked when ``checksum.raw`` is known (so a re-compressed
    ``.gz`` with identical content passes); otherwise the gzip bytes against ``checksum.gz``.

    Returns
    -------
    bool
        True if a checksum was compared and matched; False (with a warning) if no applicable
        checksum is known (e.g. an uncompressed file when only the ``.gz`` digest is known).

    Raises
    ------
    ValueError
        Digest mismatch; the message names the file and both digests.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "l-idx1-ubyte"
    >>> write_idx(p, np.arange(3, dtype=np.uint8))
    >>> verify_md5(p, FileChecksum(raw=_md5(p.read_bytes())))
    True
    """
    path = Path(path)
    if checksum.raw is not None:
        got, want, what = _md5(_file_content(path)), checksum.raw, "uncompressed content"
    else:
        data = path.read_bytes()
        if checksum.gz is None or not data.startswith(_GZIP_MAGIC):
            warnings.warn(
                f"{path}: no MD5 known for this file's form (known: {checksum}); only the IDX "
                f"structure was checked. Keep the official .gz file to have it verified.",
                stacklevel=2,
            )
            return False
        got, want, what = _md5(data), checksum.gz, "gzip file"
    if got != want.lower():
        raise ValueError(
            f"{path}: MD5 of the {what} is {got}, expected {want}; the file is corrupt or a "
            f"different version. Delete it and fetch a fresh copy (download=True / --download)."
        )
    return True


# --------------------------------------------------------------------------------------------
# The Dataset record
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test data set in the project's convention (checked on construction).

    Attributes
    ----------
    name : str
        Registry name of the source data set (unchanged by :func:`subset` / :func:`limit`).
    x_train, x_test : numpy.ndarray
        float32 in ``[0, 1]``, shape ``(N, *input_shape)``.
    y_train, y_test : numpy.ndarray
        int64 labels in ``0 .. n_classes-1``, shape ``(N,)``.
    n_classes : int
        Number of classes.
    class_names : tuple of str
        Name of each label, ``class_names[k]`` for label ``k``.
    input_shape : tuple of int
        Shape of one example, e.g. ``(1, 28, 28)``, ``(1, 8, 8)`` or ``(4,)``.
    metadata : Mapping
        Read-only provenance: ``source`` (directory or package), ``split``, ``split_seed``,
        ``test_fraction``, ``scaling``, ``classes`` (original label of each current class), ...

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.input_shape, ds.flat().x_train.shape[1]
    ((1, 8, 8), 64)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "metadata", types.MappingProxyType(dict(self.metadata)))
        if len(self.class_names) != self.n_classes:
            raise ValueError(
                f"Dataset {self.name!r}: {len(self.class_names)} class_names for n_classes={self.n_classes}"
            )
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not isinstance(x, np.ndarray) or x.dtype != np.float32:
                raise ValueError(
                    f"Dataset {self.name!r}: x_{part} must be a float32 numpy array, got "
                    f"{type(x).__name__} {getattr(x, 'dtype', '')}; convert with .astype(np.float32)"
                )
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
                raise ValueError(
                    f"Dataset {self.name!r}: y_{part} must be a 1-D int64 numpy array, got "
                    f"{type(y).__name__} {getattr(y, 'dtype', '')} shape {getattr(y, 'shape', '')}"
                )
            if x.shape[1:] != self.input_shape or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"Dataset {self.name!r}: x_{part} shape {x.shape} does not match "
                    f"(len(y_{part})={y.shape[0]}, *input_shape={self.input_shape})"
                )
            if x.shape[0] == 0:
                raise ValueError(f"Dataset {self.name!r}: the {part} split is empty")
            lo, hi = float(x.min()), float(x.max())
            if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
                raise ValueError(
                    f"Dataset {self.name!r}: x_{part} values span [{lo}, {hi}]; inputs must be "
                    f"finite and in [0, 1] (scale them before building a Dataset)"
                )
            if y.min() < 0 or y.max() >= self.n_classes:
                raise ValueError(
                    f"Dataset {self.name!r}: y_{part} spans [{y.min()}, {y.max()}], outside "
                    f"0..{self.n_classes - 1}"
                )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"n_classes={self.n_classes}, class_names={self.class_names})"
        )

    @property
    def n_features(self) -> int:
        """Number of input values per example, ``prod(input_shape)``."""
        return math.prod(self.input_shape)

    def flat(self) -> "Dataset":
        """The same data with each example flattened to ``(n_features,)``.

        The arrays are views of this data set's arrays (no copy).
        """
        d = self.n_features
        return dataclasses.replace(
            self,
            x_train=self.x_train.reshape(-1, d),
            x_test=self.x_test.reshape(-1, d),
            input_shape=(d,),
        )


# --------------------------------------------------------------------------------------------
# Splits and subsets
# --------------------------------------------------------------------------------------------
def _check_seed(seed: Any) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _pick(y: np.ndarray, n: int, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    """Sorted indices of ``n`` items of ``y``; per-class counts proportional when stratified.

    Per-class quotas use the largest-remainder rule on exact integers, so they sum to ``n``
    (ties go to the lower class label).
    """
    if not stratify:
        return np.sort(rng.permutation(y.shape[0])[:n])
    classes, counts = np.unique(y, return_counts=True)
    numer = n * counts.astype(np.int64)
    base, rem = numer // y.shape[0], numer % y.shape[0]
    extra = n - int(base.sum())
    order = np.lexsort((np.arange(classes.size), -rem))  # largest remainder first
    base[order[:extra]] += 1
    chosen = [
        rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, base)
    ]
    return np.sort(np.concatenate(chosen))


class Split(NamedTuple):
    """Result of :func:`train_val_split`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def train_val_split(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int = 0, stratify: bool = True
) -> Split:
    """Deterministic (seeded) split of ``(x, y)`` into training and validation parts.

    ``round(val_fraction * N)`` items (halves round up) go to validation. With ``stratify``
    each class contributes in proportion to its count (largest-remainder rounding). Both
    parts keep the original order of the items.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs, shape ``(N, ...)``.
    y : numpy.ndarray
        Integer labels, shape ``(N,)``.
    val_fraction : float
        In ``(0, 1)``; both parts must end up non-empty.
    seed : int
        Same seed, same split.
    stratify : bool
        Keep class proportions in both parts.

    Returns
    -------
    Split
        ``(x_train, y_train, x_val, y_val)``, copies.

    Examples
    --------
    >>> import numpy as np
    >>> s = train_val_split(np.arange(10.0)[:, None], np.array([0] * 5 + [1] * 5), 0.2, seed=0)
    >>> s.y_val.tolist()
    [0, 1]
    """
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"train_val_split: need x of shape (N, ...) and y of shape (N,), got {x.shape} and {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) and stratify:
        raise ValueError(f"train_val_split: stratify needs integer labels, got dtype {y.dtype}")
    if not (isinstance(val_fraction, numbers.Real) and 0.0 < float(val_fraction) < 1.0):
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
    n = y.shape[0]
    n_val = int(math.floor(float(val_fraction) * n + 0.5))
    if not 0 < n_val < n:
        raise ValueError(
            f"val_fraction={val_fraction} of {n} items gives {n_val} validation items; both parts "
            f"must be non-empty -- use more data or a different fraction"
        )
    val_idx = _pick(y, n_val, np.random.default_rng(_check_seed(seed)), stratify)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return Split(x[mask], y[mask], x[val_idx], y[val_idx])


def _resolve_classes(ds: Dataset, classes: Sequence[int | str]) -> list[int]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (Sequence, np.ndarray)):
        raise ValueError(
            f"classes must be a sequence such as (4, 9) or ('versicolor', 'virginica'), got {classes!r}"
        )
    lowered = {c.lower(): k for k, c in enumerate(ds.class_names)}
    out: list[int] = []
    for c in classes:
        if isinstance(c, str):
            k = lowered.get(c.strip().lower())
            if k is None:
                raise ValueError(
                    f"subset: unknown class name {c!r} for {ds.name}; valid names: "
                    f"{', '.join(ds.class_names)} (or labels 0..{ds.n_classes - 1})"
                )
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            k = int(c)
            if not 0 <= k < ds.n_classes:
                raise ValueError(
                    f"subset: label {k} out of range for {ds.name}; valid labels 0..{ds.n_classes - 1} "
                    f"({', '.join(ds.class_names)})"
                )
        else:
            raise ValueError(f"subset: class {c!r} is neither a label (int) nor a class name (str)")
        out.append(k)
    if len(set(out)) != len(out):
        raise ValueError(f"subset: classes {tuple(classes)} name the same class twice")
    if len(out) < 2:
        raise ValueError(f"subset: need at least two classes to classify, got {tuple(classes)}")
    return out


def subset(ds: Dataset, classes: Sequence[int | str]) -> Dataset:
    """Keep only ``classes`` and relabel them ``0..k-1`` in the given order.

    Parameters
    ----------
    ds : Dataset
        Source data set.
    classes : sequence of int or str
        At least two distinct labels or class names (names match case-insensitively), e.g.
        ``(0, 1)`` or ``(4, 9)`` for MNIST, ``(1, 2)`` or ``("versicolor", "virginica")`` for
        iris. ``classes[j]`` becomes label ``j``.

    Returns
    -------
    Dataset
        New data set (copies); ``metadata["classes"]`` holds the original label of each class,
        composed through earlier subsets.

    Examples
    --------
    >>> iris = load_dataset("iris")
    >>> subset(iris, (2, 1)).class_names
    ('virginica', 'versicolor')
    """
    keep = _resolve_classes(ds, classes)
    table = np.full(ds.n_classes, -1, dtype=np.int64)
    table[keep] = np.arange(len(keep))
    parts = {}
    for part in ("train", "test"):
        y = table[getattr(ds, f"y_{part}")]
        mask = y >= 0
        if not mask.any():
            raise ValueError(f"subset: no {part} items of classes {tuple(classes)} in {ds!r}")
        parts[f"x_{part}"] = getattr(ds, f"x_{part}")[mask]
        parts[f"y_{part}"] = y[mask]
    original = ds.metadata.get("classes", tuple(range(ds.n_classes)))
    return dataclasses.replace(
        ds,
        **parts,
        n_classes=len(keep),
        class_names=tuple(ds.class_names[k] for k in keep),
        metadata={**ds.metadata, "classes": tuple(original[k] for k in keep)},
    )


def limit(
    ds: Dataset, n_train: int | None = None, n_test: int | None = None, seed: int = 0
) -> Dataset:
    """Deterministic class-stratified subsample for quick runs.

    Per-class counts are proportional to the class frequencies (largest-remainder rounding);
    the kept items stay in their original order.

    Parameters
    ----------
    ds : Dataset
        Source data set.
    n_train, n_test : int or None
        Number of items to keep in each split; ``None`` keeps the split whole. Must be between
        1 and the split's size.
    seed : int
        Same seed, same subsample.

    Examples
    --------
    >>> ds = limit(load_dataset("digits"), n_train=100, seed=0)
    >>> len(ds.y_train), ds.metadata["limit"]
    (100, {'n_train': 100, 'n_test': None, 'seed': 0})
    """
    rng = np.random.default_rng(_check_seed(seed))
    parts = {}
    for part, n in (("train", n_train), ("test", n_test)):
        x, y = getattr(ds, f"x_{part}"), getattr(ds, f"y_{part}")
        if n is None:
            continue
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= y.shape[0]:
            raise ValueError(
                f"limit: n_{part}={n!r} must be an integer in 1..{y.shape[0]} (the size of "
                f"{ds.name}'s {part} split), or None to keep it whole"
            )
        idx = _pick(y, int(n), rng, stratify=True)
        parts[f"x_{part}"], parts[f"y_{part}"] = x[idx], y[idx]
    meta = {**ds.metadata, "limit": {"n_train": n_train, "n_test": n_test, "seed": int(seed)}}
    return dataclasses.replace(ds, **parts, metadata=meta)


def to_torch(ds: Dataset, device: Any = "cpu") -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_test, y_test)`` as torch tensors (float32 / int64) on ``device``.

    On the CPU the tensors share memory with the data set's arrays.

    Examples
    --------
    >>> xtr, ytr, xte, yte = to_torch(load_dataset("iris"))
    >>> xtr.dtype, ytr.dtype
    (torch.float32, torch.int64)
    """
    import torch

    return tuple(
        torch.from_numpy(np.ascontiguousarray(a)).to(device)
        for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    )


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    """How to obtain one registered data set.

    Attributes
    ----------
    name : str
        Lower-case registry name; also the ``<name>/`` folder searched for IDX files.
    class_names : tuple of str
        Label names.
    input_shape : tuple of int
        Shape of one example after loading.
    citation : str
        Where the data come from.
    loader : callable
        ``loader(spec, root, download, verify, test_fraction, seed) -> Dataset``.
    idx : bool
        True if read from IDX files (searched for, downloadable); False if embedded.
    mirrors : tuple of str
        Base URLs for IDX downloads (tried in order), empty for embedded sets.
    checksums : Mapping[str, FileChecksum]
        Known digests per IDX file stem.
    hint : str
        Extra advice appended to the missing-files error.
    """

    name: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    citation: str
    loader: Callable[..., Dataset]
    idx: bool = False
    mirrors: tuple[str, ...] = ()
    checksums: Mapping[str, FileChecksum] = field(default_factory=dict)
    hint: str = ""


def _spec(name: str) -> DatasetSpec:
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in REGISTRY:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(REGISTRY)}")
    return REGISTRY[key]


# ---- IDX data sets --------------------------------------------------------------------------
def _present(directory: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``directory`` (uncompressed preferred), or None."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _candidates(name: str, root: str | os.PathLike | None) -> list[tuple[Path, str]]:
    """Directories to search, in order, each with a short reason."""
    if root is not None:
        root = Path(root).expanduser()
        return [(root, "root argument"), (root / name, "root argument, <name>/ subfolder")]
    out = []
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        out.append((Path(env).expanduser() / name, f"${ENV_VAR}/{name}"))
    out.append((Path.cwd() / "data" / name, f"./data/{name}"))
    out.append((SYSTEM_DATA_DIR / name, "system data directory"))
    return out


def _download_target(name: str, root: str | os.PathLike | None) -> Path:
    """Where ``download=True`` puts missing files."""
    if root is not None:
        root = Path(root).expanduser()
        return root if root.name == name else root / name
    env = os.environ.get(ENV_VAR, "").strip()
    return (Path(env).expanduser() if env else Path.cwd() / "data") / name


def _search(spec: DatasetSpec, root: str | os.PathLike | None) -> tuple[Path | None, list[str]]:
    """First directory holding all four files, plus a report line per directory searched."""
    report = []
    for directory, why in _candidates(spec.name, root):
        if not directory.is_dir():
            report.append(f"  {directory}  ({why}): does not exist")
            continue
        missing = [s for s in IDX_FILES.values() if _present(directory, s) is None]
        if not missing:
            return directory, report
        report.append(
            f"  {directory}  ({why}): missing {', '.join(m + '[.gz]' for m in missing)}"
        )
    return None, report


def _missing_message(spec: DatasetSpec, root: Any, report: list[str], extra: str = "") -> str:
    files = ", ".join(f"{s}.gz" for s in IDX_FILES.values())
    target = _download_target(spec.name, root)
    lines = [
        f"{spec.name}: IDX files not found. Directories searched, in order:",
        *report,
        f"Put the four files {files} (gzip or uncompressed) into one directory and pass it as "
        f"root=..., or (with root=None) into ${ENV_VAR}/{spec.name}/, ./data/{spec.name}/ or "
        f"{SYSTEM_DATA_DIR / spec.name}/.",
        f"Or fetch them with load_dataset({spec.name!r}, download=True) (scripts: --download); "
        f"they go to {target}/ from {spec.mirrors[0] if spec.mirrors else 'the mirrors'}.",
    ]
    if spec.hint:
        lines.append(spec.hint)
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def find_data_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """Directory holding all four IDX files of data set ``name``.

    Search order: ``root`` (only ``root`` and ``root/<name>`` when given), else
    ``$BIOPLAUSIBLE_DATA/<name>``, ``./data/<name>``, ``/usr/share/datasets/<name>``.

    Raises
    ------
    FileNotFoundError
        No directory holds all four files; the message lists each directory searched with the
        files it lacks, and where to put them.
    ValueError
        Unknown name, or a data set embedded in scikit-learn (no directory needed).

    Examples
    --------
    >>> find_data_dir("mnist", "/work/shared/data")  # doctest: +SKIP
    PosixPath('/work/shared/data/mnist')
    """
    spec = _spec(name)
    if not spec.idx:
        raise ValueError(f"{spec.name} is embedded in scikit-learn; it has no data directory")
    found, report = _search(spec, root)
    if found is None:
        raise FileNotFoundError(_missing_message(spec, root, report))
    return found


def download(
    name: str,
    directory: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, FileChecksum] | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Download the IDX files of ``name`` that ``directory`` lacks, checking MD5 and structure.

    Each missing file is fetched as ``<mirror><stem>.gz`` from each mirror in turn until one
    passes the checks; it is then written atomically. Files already present are left alone.

    Parameters
    ----------
    name : str
        Registered IDX data set.
    directory : path or None
        Destination; default ``$BIOPLAUSIBLE_DATA/<name>`` or ``./data/<name>``.
    mirrors : sequence of str or None
        Base URLs ending in ``/`` (any scheme urllib opens, ``file://`` included); default the
        registry's.
    checksums : Mapping[str, FileChecksum] or None
        Digests per file stem; default the registry's. A stem without an entry is only
        structurally checked.
    timeout_s : float
        Network timeout per request.

    Returns
    -------
    pathlib.Path
        The directory, now holding all four files.

    Raises
    ------
    FileNotFoundError
        Some file could not be fetched from any mirror; the message lists each URL tried and why.
    """
    spec = _spec(name)
    if not spec.idx:
        raise ValueError(f"{spec.name} is embedded in scikit-learn; there is nothing to download")
    directory = Path(directory) if directory is not None else _download_target(spec.name, None)
    mirrors = tuple(spec.mirrors if mirrors is None else mirrors)
    checksums = spec.checksums if checksums is None else checksums
    failures: list[str] = []
    for stem in IDX_FILES.values():
        if _present(directory, stem) is not None:
            continue
        dest = directory / f"{stem}.gz"
        attempts = []
        for base in mirrors:
            url = base.rstrip("/") + f"/{stem}.gz"
            try:
                logger.info("downloading %s -> %s", url, dest)
                with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310
                    data = resp.read()
                _check_download(data, url, checksums.get(stem))
            except (OSError, http.client.HTTPException, ValueError, EOFError, zlib.error) as exc:
                attempts.append(f"  {url}: {exc}")
                logger.warning("download failed: %s: %s", url, exc)
                continue
            atomic_write_bytes(dest, data)
            break
        else:
            failures.extend(attempts or [f"  {stem}.gz: no mirrors configured"])
    if failures:
        raise FileNotFoundError(
            f"{spec.name}: download into {directory} failed:\n" + "\n".join(failures)
            + "\nCheck the network, or copy the files there by hand."
        )
    return directory


def _check_download(data: bytes, url: str, checksum: FileChecksum | None) -> None:
    content = _gunzip(data, url) if data.startswith(_GZIP_MAGIC) else data
    _parse_idx(content, url)
    if checksum is None:
        return
    if checksum.raw is not None and _md5(content) != checksum.raw:
        raise ValueError(f"MD5 of the uncompressed content {_md5(content)} != expected {checksum.raw}")
    if checksum.raw is None and checksum.gz is not None and _md5(data) != checksum.gz:
        raise ValueError(f"MD5 of the gzip file {_md5(data)} != expected {checksum.gz}")


def _load_idx_set(
    spec: DatasetSpec,
    root: str | os.PathLike | None,
    download_: bool,
    verify: bool,
    test_fraction: float | None,
    seed: int,
) -> Dataset:
    if test_fraction is not None:
        raise ValueError(
            f"{spec.name} has a fixed official train/test split; leave test_fraction=None and "
            f"use train_val_split(...) to hold out validation data"
        )
    del seed  # the official split needs none
    directory, report = _search(spec, root)
    if directory is None:
        if not download_:
            raise FileNotFoundError(_missing_message(spec, root, report))
        target = _download_target(spec.name, root)
        try:
            directory = download(spec.name, target, mirrors=spec.mirrors, checksums=spec.checksums)
        except FileNotFoundError as exc:
            raise FileNotFoundError(_missing_message(spec, root, report, extra=str(exc))) from exc
    paths = {role: _present(directory, stem) for role, stem in IDX_FILES.items()}
    if verify:
        for role, path in paths.items():
            verify_md5(path, spec.checksums.get(IDX_FILES[role], FileChecksum()))
    arrays = {role: read_idx(path) for role, path in paths.items()}
    out = {}
    for part in ("train", "test"):
        xp, yp = paths[f"{part}_images"], paths[f"{part}_labels"]
        x, y = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if x.dtype != np.uint8 or x.shape[1:] != spec.input_shape[1:]:
            raise ValueError(
                f"{xp}: expected uint8 images of shape (N, {', '.join(map(str, spec.input_shape[1:]))}), "
                f"got {x.dtype} {x.shape}; this is not a {spec.name} image file"
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{yp}: expected a 1-D integer label file, got {y.dtype} {y.shape}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(
                f"{yp} holds {y.shape[0]} labels but {xp} holds {x.shape[0]} images; the two "
                f"files do not belong together -- replace both with a matching pair"
            )
        if y.size and (y.min() < 0 or y.max() >= len(spec.class_names)):
            raise ValueError(
                f"{yp}: labels span [{y.min()}, {y.max()}], outside 0..{len(spec.class_names) - 1}"
            )
        xf = x.reshape(x.shape[0], *spec.input_shape).astype(np.float32)
        xf /= np.float32(255.0)  # correctly rounded, so 255 maps to exactly 1.0
        out[f"x_{part}"], out[f"y_{part}"] = xf, y.astype(np.int64)
    return Dataset(
        name=spec.name,
        **out,
        n_classes=len(spec.class_names),
        class_names=spec.class_names,
        input_shape=spec.input_shape,
        metadata={
            "source": str(directory),
            "files": tuple(p.name for p in paths.values()),
            "split": "official",
            "split_seed": None,
            "test_fraction": None,
            "scaling": "uint8 / 255",
            "verified_md5": bool(verify),
            "citation": spec.citation,
        },
    )


# ---- scikit-learn embedded data sets ---------------------------------------------------------
#: Default held-out fraction of the embedded sets' stratified train/test split.
DEFAULT_TEST_FRACTION = 0.25


def _scale_minmax_train(xtr: np.ndarray, xte: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    lo, hi = xtr.min(axis=0), xtr.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    note = "per-feature min-max with the training split's min/max; test clipped to [0, 1]"
    return (xtr - lo) / span, np.clip((xte - lo) / span, 0.0, 1.0), note


def _scale_by_16(xtr: np.ndarray, xte: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    return xtr / 16.0, xte / 16.0, "x / 16 (pixel values 0..16)"


def _fetch_iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return bunch.data, bunch.target


def _fetch_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


def _load_embedded(
    spec: DatasetSpec,
    root: Any,
    download_: bool,
    verify: bool,
    test_fraction: float | None,
    seed: int,
    *,
    fetch: Callable[[], tuple[np.ndarray, np.ndarray]],
    scale: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, str]],
) -> Dataset:
    import sklearn

    frac = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    x, y = fetch()
    s = train_val_split(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64), frac, seed=seed)
    xtr, xte, note = scale(s.x_train, s.x_val)
    return Dataset(
        name=spec.name,
        x_train=xtr.astype(np.float32).reshape(-1, *spec.input_shape),
        y_train=s.y_train,
        x_test=xte.astype(np.float32).reshape(-1, *spec.input_shape),
        y_test=s.y_val,
        n_classes=len(spec.class_names),
        class_names=spec.class_names,
        input_shape=spec.input_shape,
        metadata={
            "source": f"scikit-learn {sklearn.__version__} (embedded)",
            "split": "stratified",
            "split_seed": int(seed),
            "test_fraction": float(frac),
            "scaling": note,
            "citation": spec.citation,
        },
    )


# ---- the registry -----------------------------------------------------------------------------
_MNIST_CHECKSUMS = {
    # raw: MD5 of the uncompressed IDX content; gz: MD5 of the original distribution's .gz.
    "train-images-idx3-ubyte": FileChecksum(raw="6bbc9ace898e44ae57da46a324031adb", gz="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte": FileChecksum(raw="a25bea736e30d166cdddb491f175f624", gz="d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte": FileChecksum(raw="2646ac647ad5339dbf082846283269ea", gz="9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte": FileChecksum(raw="27ae3e4e09519cfbb04c329615203637", gz="ec29112dd5afa0611ce80d1b7f02629c"),
}
_FASHION_CHECKSUMS = {
    "train-images-idx3-ubyte": FileChecksum(gz="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train-labels-idx1-ubyte": FileChecksum(gz="25c81989df183df01b3e8a0aad5dffbe"),
    "t10k-images-idx3-ubyte": FileChecksum(gz="bef4ecab320f06d8554ea6380940ec79"),
    "t10k-labels-idx1-ubyte": FileChecksum(gz="bb300cfdad3c16e7a12a480ee83cd310"),
}
_KMNIST_CHECKSUMS = {
    "train-images-idx3-ubyte": FileChecksum(gz="bdb82020997e1d708af4cf47b453dcf7"),
    "train-labels-idx1-ubyte": FileChecksum(gz="e144d726b3acfaa3e44228e80efcd344"),
    "t10k-images-idx3-ubyte": FileChecksum(gz="5c965bf0a639b31b8f53240b1b52f4d7"),
    "t10k-labels-idx1-ubyte": FileChecksum(gz="7320c461ea6c1c855c0b718fb2a4b134"),
}

#: Registered data sets by lower-case name. Add entries only through ``_register``.
REGISTRY: dict[str, DatasetSpec] = {}


def _register(spec: DatasetSpec) -> None:
    if spec.name != spec.name.lower() or not spec.name:
        raise ValueError(f"data set names are lower-case and non-empty, got {spec.name!r}")
    if spec.name in REGISTRY:
        raise ValueError(f"data set {spec.name!r} registered twice; registered: {', '.join(REGISTRY)}")
    REGISTRY[spec.name] = spec


_register(DatasetSpec(
    name="mnist",
    class_names=tuple(str(d) for d in range(10)),
    input_shape=(1, 28, 28),
    citation="LeCun, Bottou, Bengio, Haffner, Gradient-based learning applied to document "
             "recognition, Proc. IEEE 1998; CC BY-SA 3.0",
    loader=_load_idx_set,
    idx=True,
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    checksums=types.MappingProxyType(_MNIST_CHECKSUMS),
))
_register(DatasetSpec(
    name="fashion-mnist",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    input_shape=(1, 28, 28),
    citation="Xiao, Rasul, Vollgraf, Fashion-MNIST, arXiv:1708.07747; MIT licence",
    loader=_load_idx_set,
    idx=True,
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    checksums=types.MappingProxyType(_FASHION_CHECKSUMS),
    hint="On Debian/Ubuntu: `apt-get install dataset-fashion-mnist` installs the four files "
         "under /usr/share/datasets/fashion-mnist/, which is searched when root=None.",
))
_register(DatasetSpec(
    name="kmnist",
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    input_shape=(1, 28, 28),
    citation="Clanuwat et al., Deep Learning for Classical Japanese Literature, "
             "arXiv:1812.01718; CC BY-SA 4.0",
    loader=_load_idx_set,
    idx=True,
    mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    checksums=types.MappingProxyType(_KMNIST_CHECKSUMS),
))
_register(DatasetSpec(
    name="iris",
    class_names=("setosa", "versicolor", "virginica"),
    input_shape=(4,),
    citation="Fisher, The use of multiple measurements in taxonomic problems, 1936 "
             "(scikit-learn's copy)",
    loader=functools.partial(_load_embedded, fetch=_fetch_iris, scale=_scale_minmax_train),
))
_register(DatasetSpec(
    name="digits",
    class_names=tuple(str(d) for d in range(10)),
    input_shape=(1, 8, 8),
    citation="UCI Optical Recognition of Handwritten Digits, Alpaydin & Kaynak 1998 "
             "(scikit-learn's copy)",
    loader=functools.partial(_load_embedded, fetch=_fetch_digits, scale=_scale_by_16),
))

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = tuple(REGISTRY)


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    download: bool = False,
    verify: bool = False,
    test_fraction: float | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a registered data set in the project's convention.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (case-insensitive): ``mnist``, ``fashion-mnist``, ``kmnist``,
        ``iris``, ``digits``.
    root : path or None
        IDX sets: directory holding the files, or a parent holding ``<name>/``; when given it is
        the only place searched. ``None`` searches ``$BIOPLAUSIBLE_DATA/<name>``,
        ``./data/<name>``, ``/usr/share/datasets/<name>``. Ignored (with a warning) for
        embedded sets.
    download : bool
        Fetch missing IDX files (MD5-checked) into ``root/<name>``, ``$BIOPLAUSIBLE_DATA/<name>``
        or ``./data/<name>``.
    verify : bool
        Check MD5 of every IDX file against the known digests (~0.2 s for MNIST). The IDX
        structure is checked on every load regardless.
    test_fraction : float or None
        Embedded sets only: fraction held out for test, default 0.25 (stratified). IDX sets have
        a fixed official split and reject a value here.
    seed : int
        Seed of the embedded sets' train/test split.

    Returns
    -------
    Dataset
        MNIST family: x ``(60000, 1, 28, 28)`` / ``(10000, 1, 28, 28)`` = uint8 / 255;
        digits: ``(1348, 1, 8, 8)`` / ``(449, 1, 8, 8)`` = value / 16;
        iris: ``(112, 4)`` / ``(38, 4)`` min-max scaled with the training split's per-feature
        min and max (test values clipped to ``[0, 1]``).

    Raises
    ------
    ValueError
        Unknown name (lists the valid ones), corrupt file (names it), MD5 mismatch.
    FileNotFoundError
        Missing IDX files: lists every directory searched and where to put the files.

    Examples
    --------
    >>> ds = load_dataset("digits", seed=1)
    >>> ds.x_train.shape, ds.x_train.dtype, ds.y_train.dtype
    ((1348, 1, 8, 8), dtype('float32'), dtype('int64'))
    """
    spec = _spec(name)
    if not spec.idx and root is not None:
        warnings.warn(f"{spec.name} is embedded in scikit-learn; root={root!r} is ignored", stacklevel=2)
    return spec.loader(spec, root, download, verify, test_fraction, _check_seed(seed))
