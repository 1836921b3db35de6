"""The IDX file format (MNIST family): reading, writing, gzip handling and MD5 checks.

An IDX file is a 4-byte magic (two zero bytes, a dtype code, the number of dimensions), one
big-endian ``uint32`` per dimension, then the items in C order, big-endian. Files may be
gzip-compressed (detected from the content, not the name). Every read checks the structure
(magic, dtype code, dimensions, exact payload length); a corrupt or truncated file raises
``ValueError`` naming it. :func:`verify_md5` additionally checks a file against its known MD5
digests (:class:`FileChecksum`), of the uncompressed content where known, so a re-compressed
``.gz`` still passes.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "y-idx1-ubyte.gz"
>>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
>>> read_idx(p).tolist()
[3, 1, 4]
>>> verify_md5(p, FileChecksum(raw=_md5(_file_content(p))))
True
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import types
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridges.io import atomic_write_bytes

__all__ = ["FileChecksum", "read_idx", "write_idx", "verify_md5"]

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
        raise ValueError(f"{path}: bad IDX magic {content[:4].hex()} (must start with 0000); not an IDX file. {fix}")
    code, ndim = content[2], content[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02X} (valid: {valid}). {fix}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions. {fix}")
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise ValueError(
            f"{path}: truncated IDX header ({len(content)} bytes, need {header_len} for {ndim} dimensions). {fix}"
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
