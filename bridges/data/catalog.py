"""The catalogue of data sets: :class:`DatasetSpec`, the registry and :func:`load_dataset`.

Each data set is registered once, below, next to what is particular to it: the MNIST-family
sets share one IDX loader and differ only in mirrors, checksums and class names (a new variant
is one :func:`_idx_set` call); CIFAR-10 and SVHN bring their own format, search and download
(:mod:`bridges.data.cifar_svhn`, the spec's ``loader``, ``find`` and ``fetch``); the
scikit-learn sets share one loader and differ in how they are fetched and scaled.
:data:`DATASET_SPECS` is a :class:`ratebased.registry.Registry`, so an unknown name raises a
``ValueError`` listing the valid ones.

Examples
--------
>>> DATASET_SPECS.get("Fashion-MNIST").class_names[:3]
('T-shirt/top', 'Trouser', 'Pullover')
>>> load_dataset("cifar100")
Traceback (most recent call last):
...
ValueError: unknown data set 'cifar100'; valid names: mnist, fashion-mnist, kmnist, iris, digits, cifar10, svhn
"""

from __future__ import annotations

import functools
import os
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bridges.data import cifar_svhn
from bridges.data.dataset import Dataset, _check_seed, train_val_split
from bridges.data.idx import FileChecksum
from bridges.data.locate import (
    _DOWNLOAD_TIMEOUT_S,
    _download_target,
    _fetch,
    _load_idx_set,
    _missing_message,
    _search,
)
from ratebased.registry import Registry

__all__ = [
    "DATASETS",
    "DATASET_SPECS",
    "DEFAULT_TEST_FRACTION",
    "DatasetSpec",
    "load_dataset",
    "find_data_dir",
    "download",
]


@dataclass(frozen=True)
class DatasetSpec:
    """How to obtain one registered data set.

    Attributes
    ----------
    name : str
        Lower-case registry name; also the ``<name>/`` folder searched for the files.
    class_names : tuple of str
        Label names.
    input_shape : tuple of int
        Shape of one example after loading.
    citation : str
        Where the data come from.
    loader : callable
        ``loader(spec, root, download, verify, test_fraction, seed) -> Dataset``.
    idx : bool
        True if read from files on disk (searched for in :mod:`bridges.data.locate`'s order,
        downloadable): IDX files, or the set's own format when ``find`` / ``fetch`` are given;
        False if embedded.
    mirrors : tuple of str
        Base URLs for downloads (tried in order), empty for embedded sets.
    checksums : Mapping[str, FileChecksum]
        Known digests per file (IDX: per file stem).
    hint : str
        Extra advice appended to the missing-files error.
    find : callable or None
        ``find(spec, root) -> Path``, the directory holding the set's files (FileNotFoundError
        listing the search otherwise); None: the IDX search.
    fetch : callable or None
        ``fetch(name, directory, mirrors, checksums, timeout_s) -> Path``, download what
        ``directory`` lacks, returning the directory holding the files; None: the IDX download.
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
    find: Callable[[DatasetSpec, Any], Path] | None = None
    fetch: Callable[..., Path] | None = None


#: Registered data sets by lower-case name. Add entries only through ``_register``.
DATASET_SPECS: Registry[DatasetSpec] = Registry("data set")


def _register(spec: DatasetSpec) -> None:
    if spec.name != spec.name.lower() or not spec.name:
        raise ValueError(f"data set names are lower-case and non-empty, got {spec.name!r}")
    if spec.name in DATASET_SPECS:
        raise ValueError(f"data set {spec.name!r} registered twice; registered: {', '.join(DATASET_SPECS.names())}")
    DATASET_SPECS.register(spec.name, spec)


def _spec(name: str) -> DatasetSpec:
    if name not in DATASET_SPECS:  # also an empty or non-string name
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(DATASET_SPECS.names())}")
    return DATASET_SPECS.get(name)


# ---- front doors by name: where the files are, fetching them --------------------------------
def find_data_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """Directory holding all files of data set ``name`` (the four IDX files of the MNIST family).

    Search order: ``root`` (only ``root`` and ``root/<name>`` when given), else
    ``$BIOPLAUSIBLE_DATA/<name>``, ``./data/<name>``, ``/usr/share/datasets/<name>`` (CIFAR-10:
    each also with ``cifar-10-batches-py/``).

    Raises
    ------
    FileNotFoundError
        No directory holds all four files; the message lists each directory searched with the
        files it lacks, and where to put them.
    ValueError
        Unknown name, or a data set embedded in scikit-learn (no directory needed).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from bridges.data import IDX_FILES, write_idx
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for stem in IDX_FILES.values():
    ...     write_idx(root / "mnist" / f"{stem}.gz", np.zeros(1, dtype=np.uint8))
    >>> find_data_dir("mnist", root) == root / "mnist"
    True
    >>> find_data_dir("mnist", root / "elsewhere")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: mnist: IDX files not found. Directories searched, in order:
    ...
    """
    spec = _spec(name)
    if not spec.idx:
        raise ValueError(f"{spec.name} is embedded in scikit-learn; it has no data directory")
    if spec.find is not None:
        return spec.find(spec, root)
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
    timeout_s: float = _DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download the files of ``name`` that ``directory`` lacks, checking MD5 and structure.

    IDX sets: each missing file is fetched as ``<mirror><stem>.gz`` from each mirror in turn until
    one passes the checks; it is then written atomically. Files already present are left alone.
    CIFAR-10 and SVHN: see :mod:`bridges.data.cifar_svhn` (the official archive / ``.mat`` files;
    a download that fails its checks raises ``ValueError``, nothing of it written).

    Parameters
    ----------
    name : str
        Registered data set read from files.
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
        The directory now holding all the files (CIFAR-10: ``directory/cifar-10-batches-py``).

    Raises
    ------
    FileNotFoundError
        Some file could not be fetched from any mirror; the message lists each URL tried and why.

    Examples
    --------
    A local copy serves as a mirror (``file://``); the checks are those of a real download:

    >>> import numpy as np, tempfile, pathlib
    >>> from bridges.data import IDX_FILES, write_idx
    >>> mirror, dest = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> for stem in IDX_FILES.values():
    ...     write_idx(mirror / f"{stem}.gz", np.zeros(1, dtype=np.uint8))
    >>> download("kmnist", dest, mirrors=(mirror.as_uri() + "/",), checksums={}) == dest
    True
    >>> sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in IDX_FILES.values())
    True
    """
    spec = _spec(name)
    if not spec.idx:
        raise ValueError(f"{spec.name} is embedded in scikit-learn; there is nothing to download")
    directory = Path(directory) if directory is not None else _download_target(spec.name, None)
    mirrors = tuple(spec.mirrors if mirrors is None else mirrors)
    checksums = spec.checksums if checksums is None else checksums
    fetch = _fetch if spec.fetch is None else spec.fetch
    return fetch(spec.name, directory, mirrors, checksums, timeout_s)


# ---- scikit-learn embedded data sets ---------------------------------------------------------
#: Default held-out fraction of the embedded sets' stratified train/test split.
DEFAULT_TEST_FRACTION = 0.25


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


# ---- the data sets, each registered once -----------------------------------------------------
def _idx_set(
    name: str,
    class_names: Sequence[str],
    citation: str,
    mirrors: Sequence[str],
    checksums: Mapping[str, FileChecksum],
    hint: str = "",
) -> DatasetSpec:
    """Spec of a 28x28 MNIST-family set of four IDX files; variants differ only in these fields."""
    return DatasetSpec(
        name=name,
        class_names=tuple(class_names),
        input_shape=(1, 28, 28),
        citation=citation,
        loader=_load_idx_set,
        idx=True,
        mirrors=tuple(mirrors),
        checksums=types.MappingProxyType(dict(checksums)),
        hint=hint,
    )


_register(
    _idx_set(
        "mnist",
        class_names=tuple(str(d) for d in range(10)),
        citation="LeCun, Bottou, Bengio, Haffner, Gradient-based learning applied to document "
        "recognition, Proc. IEEE 1998; CC BY-SA 3.0",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        checksums={
            # raw: MD5 of the uncompressed IDX content; gz: MD5 of the original distribution's .gz.
            "train-images-idx3-ubyte": FileChecksum(
                raw="6bbc9ace898e44ae57da46a324031adb", gz="f68b3c2dcbeaaa9fbdd348bbdeb94873"
            ),
            "train-labels-idx1-ubyte": FileChecksum(
                raw="a25bea736e30d166cdddb491f175f624", gz="d53e105ee54ea40749a09fcbcd1e9432"
            ),
            "t10k-images-idx3-ubyte": FileChecksum(
                raw="2646ac647ad5339dbf082846283269ea", gz="9fb629c4189551a2d022fa330f9573f3"
            ),
            "t10k-labels-idx1-ubyte": FileChecksum(
                raw="27ae3e4e09519cfbb04c329615203637", gz="ec29112dd5afa0611ce80d1b7f02629c"
            ),
        },
    )
)
_register(
    _idx_set(
        "fashion-mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        citation="Xiao, Rasul, Vollgraf, Fashion-MNIST, arXiv:1708.07747; MIT licence",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        checksums={
            "train-images-idx3-ubyte": FileChecksum(gz="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte": FileChecksum(gz="25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte": FileChecksum(gz="bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte": FileChecksum(gz="bb300cfdad3c16e7a12a480ee83cd310"),
        },
        hint="On Debian/Ubuntu: `apt-get install dataset-fashion-mnist` installs the four files "
        "under /usr/share/datasets/fashion-mnist/, which is searched when root=None.",
    )
)
_register(
    _idx_set(
        "kmnist",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        citation="Clanuwat et al., Deep Learning for Classical Japanese Literature, arXiv:1812.01718; CC BY-SA 4.0",
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        checksums={
            "train-images-idx3-ubyte": FileChecksum(gz="bdb82020997e1d708af4cf47b453dcf7"),
            "train-labels-idx1-ubyte": FileChecksum(gz="e144d726b3acfaa3e44228e80efcd344"),
            "t10k-images-idx3-ubyte": FileChecksum(gz="5c965bf0a639b31b8f53240b1b52f4d7"),
            "t10k-labels-idx1-ubyte": FileChecksum(gz="7320c461ea6c1c855c0b718fb2a4b134"),
        },
    )
)


def _fetch_iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return bunch.data, bunch.target


def _scale_minmax_train(xtr: np.ndarray, xte: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    lo, hi = xtr.min(axis=0), xtr.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    note = "per-feature min-max with the training split's min/max; test clipped to [0, 1]"
    return (xtr - lo) / span, np.clip((xte - lo) / span, 0.0, 1.0), note


_register(
    DatasetSpec(
        name="iris",
        class_names=("setosa", "versicolor", "virginica"),
        input_shape=(4,),
        citation="Fisher, The use of multiple measurements in taxonomic problems, 1936 (scikit-learn's copy)",
        loader=functools.partial(_load_embedded, fetch=_fetch_iris, scale=_scale_minmax_train),
    )
)


def _fetch_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


def _scale_by_16(xtr: np.ndarray, xte: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    return xtr / 16.0, xte / 16.0, "x / 16 (pixel values 0..16)"


_register(
    DatasetSpec(
        name="digits",
        class_names=tuple(str(d) for d in range(10)),
        input_shape=(1, 8, 8),
        citation="UCI Optical Recognition of Handwritten Digits, Alpaydin & Kaynak 1998 (scikit-learn's copy)",
        loader=functools.partial(_load_embedded, fetch=_fetch_digits, scale=_scale_by_16),
    )
)

# CIFAR-10 and SVHN: their own formats, search and download (bridges.data.cifar_svhn).
_register(
    DatasetSpec(
        name="cifar10",
        class_names=cifar_svhn.CIFAR10_CLASSES,
        input_shape=(3, 32, 32),
        citation="Krizhevsky, Learning Multiple Layers of Features from Tiny Images, tech. report, "
        "University of Toronto, 2009",
        loader=cifar_svhn.load_cifar10,
        idx=True,
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        checksums=types.MappingProxyType(
            {
                # gz: MD5 of the official archive; raw: MD5 of each extracted file.
                "cifar-10-python.tar.gz": FileChecksum(gz="c58f30108f718f92721af3b95e74349a"),
                "data_batch_1": FileChecksum(raw="c99cafc152244af753f735de768cd75f"),
                "data_batch_2": FileChecksum(raw="d4bba439e000b95fd0a9bffe97cbabec"),
                "data_batch_3": FileChecksum(raw="54ebc095f3ab1f0389bbae665268c751"),
                "data_batch_4": FileChecksum(raw="634d18415352ddfa80567beed471001a"),
                "data_batch_5": FileChecksum(raw="482c414d41f54cd18b22e5b47cb7c3cb"),
                "test_batch": FileChecksum(raw="40351d587109b95175f43aff81a1287e"),
                "batches.meta": FileChecksum(raw="5ff9c542aee3614f3951f8cda6e48888"),
            }
        ),
        hint="The official archive is cifar-10-python.tar.gz (170498071 bytes); extract it and pass the "
        "folder holding cifar-10-batches-py/ (or that folder itself).",
        find=cifar_svhn.find_cifar10,
        fetch=cifar_svhn.fetch_cifar10,
    )
)
_register(
    DatasetSpec(
        name="svhn",
        class_names=tuple(str(d) for d in range(10)),
        input_shape=(3, 32, 32),
        citation="Netzer, Wang, Coates, Bissacco, Wu, Ng, Reading Digits in Natural Images with Unsupervised "
        "Feature Learning, NIPS Workshop on Deep Learning and Unsupervised Feature Learning 2011; "
        "non-commercial use only",
        loader=cifar_svhn.load_svhn,
        idx=True,
        mirrors=("http://ufldl.stanford.edu/housenumbers/",),
        checksums=types.MappingProxyType(
            {
                "train_32x32.mat": FileChecksum(raw="e26dedcc434d2e4c54c9b2d4a06d8373"),
                "test_32x32.mat": FileChecksum(raw="eb5a983be6a315427106f1b164d9cef3"),
            }
        ),
        find=cifar_svhn.find_svhn,
        fetch=cifar_svhn.fetch_svhn,
    )
)

#: Names accepted by :func:`load_dataset`, in registration order.
DATASETS: tuple[str, ...] = DATASET_SPECS.names()


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
        ``iris``, ``digits``, ``cifar10``, ``svhn``.
    root : path or None
        Sets read from files: directory holding the files, or a parent holding ``<name>/``
        (CIFAR-10: either may also hold ``cifar-10-batches-py/``); when given it is the only
        place searched. ``None`` searches ``$BIOPLAUSIBLE_DATA/<name>``, ``./data/<name>``,
        ``/usr/share/datasets/<name>``. Ignored (with a warning) for embedded sets.
    download : bool
        Fetch missing files (MD5-checked) into ``root/<name>``, ``$BIOPLAUSIBLE_DATA/<name>``
        or ``./data/<name>``.
    verify : bool
        Check MD5 of every file against the known digests (~0.2 s for MNIST). The file
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
        CIFAR-10: ``(50000, 3, 32, 32)`` / ``(10000, 3, 32, 32)``, SVHN: ``(73257, 3, 32, 32)`` /
        ``(26032, 3, 32, 32)``, both ``uint8 / 255`` (RGB), with the training split's per-channel
        ``mean`` / ``std`` and the augmentation convention in ``metadata`` (not applied).

    Raises
    ------
    ValueError
        Unknown name (lists the valid ones), corrupt file (names it), MD5 mismatch (also of a
        CIFAR-10 / SVHN download: nothing written).
    FileNotFoundError
        Missing files: lists every directory searched and where to put the files.

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
