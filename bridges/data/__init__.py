"""Data sets for every experiment: IDX image sets (MNIST family), CIFAR-10, SVHN and scikit-learn's embedded sets.

One entry point, :func:`load_dataset`, returns a frozen :class:`Dataset` with numpy arrays in a
fixed convention, whatever the source:

* images are ``float32`` in ``[0, 1]``, shape ``(N, C, H, W)`` (1x28x28 for IDX sets, 1x8x8 for
  digits, 3x32x32 RGB for CIFAR-10 and SVHN);
* tabular features (iris) are ``float32`` in ``[0, 1]``, shape ``(N, D)``;
* labels are ``int64`` in ``0 .. n_classes-1``.

Registered data sets (:data:`DATASETS`; their specs in the registry :data:`DATASET_SPECS`):

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
cifar10         python pickle batches (``cifar-10-batches-py/``). Krizhevsky, "Learning
                Multiple Layers of Features from Tiny Images", tech. report, Toronto, 2009.
svhn            cropped digits, MATLAB v5 ``.mat``. Netzer et al., "Reading Digits in Natural
                Images with Unsupervised Feature Learning", NIPS workshop 2011 (non-commercial).
==============  ==========================================================================

Where the files of a set are looked for, in order (the first directory holding all of them
wins; files are never mixed across directories):

1. ``root`` when given -- and then *only* ``root``: an explicit path that lacks the files is an
   error, not a silent fallback. ``root`` may be the data set's own directory
   (``.../mnist``) or a parent holding ``<name>/`` (``root/mnist``);
2. ``$BIOPLAUSIBLE_DATA/<name>``;
3. ``./data/<name>`` (relative to the current working directory);
4. ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist`` installs there).

CIFAR-10's files may also sit in a ``cifar-10-batches-py/`` folder (as the official archive
extracts) inside any of these.

Each of the four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` may be gzip-compressed (``.gz``) or not.
Every read checks the IDX structure (magic, dtype code, dimensions, exact payload length); a
corrupt or truncated file raises ``ValueError`` naming it. ``verify=True`` additionally checks
MD5 checksums (of the uncompressed content where known, so a re-compressed ``.gz`` still passes).

CIFAR-10 (``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``) and SVHN
(``train_32x32.mat``, ``test_32x32.mat``; label 10 is the digit 0) are checked alike (a corrupt
file is a ``ValueError`` naming it); ``download=True`` fetches the official archive / files,
MD5-checked before anything is written. Their images are kept ``uint8`` until converted once;
``metadata["mean"]`` / ``metadata["std"]`` hold the training split's per-channel statistics
for :func:`normalise` (not applied to ``x``), and ``metadata["augmentation"]`` the set's
convention for :class:`Augmentation` (seeded random crop after 4-pixel padding, plus horizontal
flips for CIFAR-10 only: a mirrored digit is another glyph).

The package, one module per concern:

* :mod:`bridges.data.idx` -- the IDX format: :func:`read_idx`, :func:`write_idx`, gzip,
  :class:`FileChecksum`, :func:`verify_md5`;
* :mod:`bridges.data.locate` -- the search order above, downloading (MD5-checked), reading a
  found set of four IDX files;
* :mod:`bridges.data.dataset` -- the :class:`Dataset` record, :func:`train_val_split`,
  :func:`subset`, :func:`limit`, :func:`to_torch`;
* :mod:`bridges.data.cifar_svhn` -- the CIFAR-10 pickle and SVHN ``.mat`` formats
  (:func:`read_cifar10_batch`, :func:`read_svhn_mat`), their search and download;
* :mod:`bridges.data.transforms` -- :func:`channel_stats`, :func:`normalise`,
  :class:`Augmentation` (crop + flip, seeded);
* :mod:`bridges.data.catalog` -- :class:`DatasetSpec`, the registry :data:`DATASET_SPECS` with
  each data set registered once, :func:`load_dataset`, :func:`find_data_dir`, :func:`download`.

``REGISTRY`` (the old plain dict of specs) is deprecated: it still reads as a read-only mapping,
with a ``DeprecationWarning``; use :data:`DATASET_SPECS`.

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

import types
import warnings
from typing import Any

from .catalog import (
    DATASET_SPECS,
    DATASETS,
    DEFAULT_TEST_FRACTION,
    DatasetSpec,
    download,
    find_data_dir,
    load_dataset,
)
from .cifar_svhn import read_cifar10_batch, read_cifar10_meta, read_svhn_mat
from .dataset import Dataset, Split, limit, subset, to_torch, train_val_split
from .idx import FileChecksum, read_idx, verify_md5, write_idx
from .locate import ENV_VAR, IDX_FILES, SYSTEM_DATA_DIR
from .transforms import Augmentation, CropFlip, channel_stats, crop_flip, normalise

# Private names re-exported (outside __all__) because other files use them: tests/test_data.py.
from .catalog import _register as _register  # isort: skip
from .idx import _file_content as _file_content  # isort: skip
from .locate import _present as _present  # isort: skip

__all__ = [
    "DATASETS",
    "DATASET_SPECS",
    "DEFAULT_TEST_FRACTION",
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
    "read_cifar10_batch",
    "read_cifar10_meta",
    "read_svhn_mat",
    "channel_stats",
    "normalise",
    "crop_flip",
    "CropFlip",
    "Augmentation",
]


def __getattr__(name: str) -> Any:
    """Deprecated names: ``REGISTRY`` (use :data:`DATASET_SPECS`)."""
    if name == "REGISTRY":
        warnings.warn(
            "bridges.data.REGISTRY is deprecated; use bridges.data.DATASET_SPECS "
            "(a ratebased.registry.Registry: DATASET_SPECS.get(name), name in DATASET_SPECS)",
            DeprecationWarning,
            stacklevel=2,
        )
        # The current registry, also while a test patches bridges.data.catalog.DATASET_SPECS.
        from .catalog import DATASET_SPECS as specs

        return types.MappingProxyType(dict(specs.items()))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
