"""IDX data sets on disk: locating their four files, downloading missing ones (MD5-checked), loading.

Where the four IDX files of a data set ``<name>`` are looked for, in order (the first directory
holding all four files wins; files are never mixed across directories):

1. ``root`` when given -- and then *only* ``root``: an explicit path that lacks the files is an
   error, not a silent fallback. ``root`` may be the data set's own directory
   (``.../mnist``) or a parent holding ``<name>/`` (``root/mnist``);
2. ``$BIOPLAUSIBLE_DATA/<name>`` (:data:`ENV_VAR`);
3. ``./data/<name>`` (relative to the current working directory);
4. ``/usr/share/datasets/<name>`` (:data:`SYSTEM_DATA_DIR`; Debian's ``dataset-fashion-mnist``
   installs there).

Each of the four files (:data:`IDX_FILES`) may be gzip-compressed (``.gz``) or not. Downloads
fetch ``<mirror><stem>.gz`` from each mirror in turn, check the IDX structure and the MD5
digest before writing anything, and write atomically.

The functions here work on a :class:`~bridges.data.catalog.DatasetSpec`; the front doors that
take a registered name, :func:`~bridges.data.find_data_dir` and :func:`~bridges.data.download`,
live in :mod:`bridges.data.catalog` next to the registry. :func:`_load_idx_set` is the loader of
every MNIST-family entry there: it finds (or fetches) the files, checks them and scales the
images to the :class:`~bridges.data.Dataset` convention.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> (d / "t10k-labels-idx1-ubyte.gz").touch()
>>> _present(d, "t10k-labels-idx1-ubyte").name
't10k-labels-idx1-ubyte.gz'
>>> _download_target("mnist", d) == d / "mnist"
True
"""

from __future__ import annotations

import http.client
import logging
import os
import types
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridges.data.dataset import Dataset
from bridges.data.idx import (
    _GZIP_MAGIC,
    FileChecksum,
    _gunzip,
    _md5,
    _parse_idx,
    read_idx,
    verify_md5,
)
from bridges.io import atomic_write_bytes

if TYPE_CHECKING:  # annotations only: the catalogue imports this module
    from bridges.data.catalog import DatasetSpec

__all__ = ["ENV_VAR", "SYSTEM_DATA_DIR", "IDX_FILES"]

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
# Network timeout per request of a download, in seconds (``download``'s default).
_DOWNLOAD_TIMEOUT_S = 30.0


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
        report.append(f"  {directory}  ({why}): missing {', '.join(m + '[.gz]' for m in missing)}")
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


def _fetch(
    name: str,
    directory: Path,
    mirrors: Sequence[str],
    checksums: Mapping[str, FileChecksum],
    timeout_s: float,
) -> Path:
    """Fetch the IDX files of data set ``name`` that ``directory`` lacks (see ``download``).

    Each missing file is fetched as ``<mirror><stem>.gz`` from each mirror in turn until one
    passes :func:`_check_download`; it is then written atomically. Files already present are
    left alone. A stem without an entry in ``checksums`` is only structurally checked.

    Raises
    ------
    FileNotFoundError
        Some file could not be fetched from any mirror; the message lists each URL tried and why.
    """
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
            f"{name}: download into {directory} failed:\n"
            + "\n".join(failures)
            + "\nCheck the network, or copy the files there by hand."
        )
    return directory


def _check_download(data: bytes, url: str, checksum: FileChecksum | None) -> None:
    """Raise ``ValueError`` unless ``data`` (fetched from ``url``) is a sound IDX file matching ``checksum``."""
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
    """Loader of the MNIST-family sets: find (or fetch) the four files, check them, scale by 1/255.

    The signature is :attr:`DatasetSpec.loader`'s; ``seed`` is unused (the split is official).
    """
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
            directory = _fetch(spec.name, target, tuple(spec.mirrors), spec.checksums, _DOWNLOAD_TIMEOUT_S)
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
            raise ValueError(f"{yp}: labels span [{y.min()}, {y.max()}], outside 0..{len(spec.class_names) - 1}")
        out[f"x_{part}"] = unit_scale(x.reshape(x.shape[0], *spec.input_shape))
        out[f"y_{part}"] = y.astype(np.int64)
    return official_split(spec, out, directory, tuple(p.name for p in paths.values()), verify)


def unit_scale(x: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1] (``x / 255``, correctly rounded: 255 maps to exactly 1.0)."""
    xf = np.asarray(x).astype(np.float32)
    xf /= np.float32(255.0)
    return xf


def official_split(
    spec: DatasetSpec, arrays: dict, directory: Path, files: Sequence[str], verify: bool, **metadata: Any
) -> Dataset:
    """A data set read from its official train/test files (``arrays``: ``x_train``, ``y_train``,
    ``x_test``, ``y_test``, pixels scaled by :func:`unit_scale`); ``metadata`` adds to the common
    record (source, files, split, scaling, md5 check, citation)."""
    return Dataset(
        name=spec.name,
        **arrays,
        n_classes=len(spec.class_names),
        class_names=spec.class_names,
        input_shape=spec.input_shape,
        metadata={
            "source": str(directory),
            "files": tuple(files),
            "split": "official",
            "split_seed": None,
            "test_fraction": None,
            "scaling": "uint8 / 255",
            **metadata,
            "verified_md5": bool(verify),
            "citation": spec.citation,
        },
    )


# ---- scikit-learn embedded data sets ---------------------------------------------------------
