"""The :class:`Dataset` record and what is done with one: splits, class subsets, size limits, torch.

A :class:`Dataset` holds numpy arrays in a fixed convention, checked on construction:

* images are ``float32`` in ``[0, 1]``, shape ``(N, 1, H, W)`` (28x28 for IDX sets, 8x8 for digits);
* tabular features (iris) are ``float32`` in ``[0, 1]``, shape ``(N, D)``;
* labels are ``int64`` in ``0 .. n_classes-1``.

Every function here is deterministic in its ``seed``; stratified draws use largest-remainder
quotas per class and keep the items in their original order.

Examples
--------
>>> import numpy as np
>>> ds = Dataset(name="toy", x_train=np.zeros((4, 2), np.float32), y_train=np.array([0, 1, 0, 1]),
...              x_test=np.ones((2, 2), np.float32), y_test=np.array([1, 0]), n_classes=2,
...              class_names=("a", "b"), input_shape=(2,))
>>> ds
Dataset(name='toy', train=(4, 2), test=(2, 2), n_classes=2, class_names=('a', 'b'))
>>> limit(ds, n_train=2, seed=0).y_train.tolist()
[0, 1]
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Dataset", "Split", "train_val_split", "subset", "limit", "to_torch"]


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
    >>> from bridges.data import load_dataset
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
                    f"Dataset {self.name!r}: y_{part} spans [{y.min()}, {y.max()}], outside 0..{self.n_classes - 1}"
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

    def flat(self) -> Dataset:
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
    chosen = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, base)]
    return np.sort(np.concatenate(chosen))


class Split(NamedTuple):
    """Result of :func:`train_val_split`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def train_val_split(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int = 0, stratify: bool = True) -> Split:
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
        raise ValueError(f"train_val_split: need x of shape (N, ...) and y of shape (N,), got {x.shape} and {y.shape}")
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
        raise ValueError(f"classes must be a sequence such as (4, 9) or ('versicolor', 'virginica'), got {classes!r}")
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
    >>> from bridges.data import load_dataset
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


def limit(ds: Dataset, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
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
    >>> from bridges.data import load_dataset
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
    >>> from bridges.data import load_dataset
    >>> xtr, ytr, xte, yte = to_torch(load_dataset("iris"))
    >>> xtr.dtype, ytr.dtype
    (torch.float32, torch.int64)
    """
    import torch

    return tuple(
        torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    )
