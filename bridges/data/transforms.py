"""Per-channel statistics and normalisation, and the seeded random-crop + flip augmentation of image sets.

Images are NCHW arrays in ``[0, 1]`` (the :class:`~bridges.data.Dataset` convention), numpy or torch.
Nothing here changes a :class:`~bridges.data.Dataset`: the loaders of CIFAR-10 and SVHN record the
training split's per-channel ``mean`` / ``std`` and the set's augmentation convention in the data
set's metadata, and a training loop applies :func:`normalise` and :class:`Augmentation` to its
batches (augment first, in ``[0, 1]``; then normalise).

The augmentation is that of He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition"
(arXiv:1512.03385, Sec. 4.2): each image is padded with ``pad`` pixels of ``fill`` (zeros: black)
on every side, a crop of the original size is taken at a uniformly drawn offset, and (where the
set allows it) the crop is mirrored left-right with probability 1/2. Draws come from a numpy
``Generator``, so the same seed gives the same crops and flips on the CPU and on any torch device.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)
>>> aug = Augmentation(pad=4, flip=True)
>>> a, b = aug(x, rng=5), aug(x, rng=5)
>>> a.shape, a.dtype, bool(np.array_equal(a, b))
((8, 3, 32, 32), dtype('float32'), True)
>>> mean, std = channel_stats(x)
>>> z = normalise(x, mean, std)
>>> bool(np.allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)), bool(np.allclose(z.std(axis=(0, 2, 3)), 1.0, atol=1e-4))
(True, True)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Augmentation", "CropFlip", "channel_stats", "crop_flip", "normalise"]

# Items per chunk when float statistics are accumulated (bounds the float64 temporaries).
_STATS_CHUNK = 1024


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _check_nchw(x: Any, what: str) -> None:
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 4:
        raise ValueError(f"{what}: expected images of shape (N, C, H, W), got shape {shape}; reshape flat inputs first")


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of NCHW images, in ``[0, 1]`` units.

    The standard deviation is the population one (``ddof=0``) over every pixel of every image of
    the channel, the convention of the usual CIFAR-10 constants. ``uint8`` images (0..255) are
    read as ``x / 255`` and their statistics are exact (integer sums of values and squares, in
    chunks: no float copy of the images); float images are accumulated in float64 in chunks
    (two passes).

    Parameters
    ----------
    x : numpy.ndarray
        Shape ``(N, C, H, W)``; ``uint8`` (0..255) or float (already in ``[0, 1]``).

    Returns
    -------
    mean, std : tuple of float
        One value per channel.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 3, 1, 2), np.uint8)
    >>> x[0, 0] = 255  # channel 0: half the pixels are 1.0
    >>> channel_stats(x)
    ((0.5, 0.0, 0.0), (0.5, 0.0, 0.0))
    """
    _check_nchw(x, "channel_stats")
    x = np.asarray(x)
    if x.shape[0] == 0:
        raise ValueError("channel_stats: no images (N = 0)")
    n_channels = x.shape[1]
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if x.dtype == np.uint8:
        s1 = np.zeros(n_channels, np.uint64)
        s2 = np.zeros(n_channels, np.uint64)
        for i in range(0, x.shape[0], _STATS_CHUNK):
            block = x[i : i + _STATS_CHUNK].astype(np.uint32)
            s1 += block.sum(axis=(0, 2, 3), dtype=np.uint64)
            s2 += (block * block).sum(axis=(0, 2, 3), dtype=np.uint64)
        # Exact integers: mean = s1 / (255 n), var = (n s2 - s1^2) / (255 n)^2, one rounding each.
        sums = [(int(a), int(b)) for a, b in zip(s1, s2)]
        mean = tuple(a / (255 * count) for a, _ in sums)
        std = tuple(float(np.sqrt((count * b - a * a) / (255 * count) ** 2)) for a, b in sums)
        return mean, std
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"channel_stats: expected uint8 (0..255) or float images, got dtype {x.dtype}")
    total = np.zeros(n_channels, np.float64)
    for i in range(0, x.shape[0], _STATS_CHUNK):
        total += x[i : i + _STATS_CHUNK].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    sq = np.zeros(n_channels, np.float64)
    for i in range(0, x.shape[0], _STATS_CHUNK):
        d = x[i : i + _STATS_CHUNK].astype(np.float64) - mean[None, :, None, None]
        sq += (d * d).sum(axis=(0, 2, 3))
    return tuple(float(v) for v in mean), tuple(float(v) for v in np.sqrt(sq / count))


def _per_channel(values: Sequence[float], n_channels: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != n_channels:
        raise ValueError(f"normalise: {what} has {arr.size} values for {n_channels} channels; give one per channel")
    return arr


def normalise(x: Any, mean: Sequence[float], std: Sequence[float]) -> Any:
    """``(x - mean[c]) / std[c]`` per channel of NCHW images (numpy or torch; differentiable in torch).

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        Images, shape ``(N, C, H, W)``, in ``[0, 1]``.
    mean, std : sequence of float
        One value per channel, e.g. ``ds.metadata["mean"]`` / ``ds.metadata["std"]``; every
        ``std`` must be positive.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        A new array of ``x``'s type: float32 for numpy input, ``x``'s dtype and device for torch.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.full((1, 2, 1, 1), 0.5, np.float32)
    >>> normalise(x, (0.25, 0.5), (0.5, 0.25)).ravel().tolist()
    [0.5, 0.0]
    """
    _check_nchw(x, "normalise")
    n_channels = int(x.shape[1])
    m = _per_channel(mean, n_channels, "mean")
    s = _per_channel(std, n_channels, "std")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)) or not np.all(np.isfinite(m)):
        raise ValueError(f"normalise: need finite means and positive finite stds, got mean={tuple(m)}, std={tuple(s)}")
    if _is_torch(x):
        import torch

        mt = torch.as_tensor(m, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        st = torch.as_tensor(s, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mt) / st
    m32 = m.astype(np.float32)[None, :, None, None]
    s32 = s.astype(np.float32)[None, :, None, None]
    return (np.asarray(x, dtype=np.float32) - m32) / s32


class CropFlip(NamedTuple):
    """One draw of :meth:`Augmentation.draw`: per image, crop offsets into the padded image and a flip flag."""

    dy: np.ndarray
    dx: np.ndarray
    flip: np.ndarray


def crop_flip(x: Any, draw: CropFlip, pad: int, fill: float = 0.0) -> Any:
    """Pad each image by ``pad`` pixels of ``fill``, crop it at ``(draw.dy, draw.dx)``, mirror where ``draw.flip``.

    Image ``i`` of the result is ``padded[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W]``, reversed
    along the width where ``flip[i]``; one gather on ``x``'s device, no per-image loop.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        Shape ``(N, C, H, W)``.
    draw : CropFlip
        Offsets in ``0 .. 2 * pad`` (``pad`` is the offset of the original image) and flip flags,
        each of length ``N``.
    pad : int
        Padding on each side.
    fill : float
        Value of the padding.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same type, shape, dtype (and device) as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(4.0).reshape(1, 1, 1, 4)
    >>> crop_flip(x, CropFlip(np.array([1]), np.array([2]), np.array([False])), pad=1).tolist()
    [[[[1.0, 2.0, 3.0, 0.0]]]]
    >>> crop_flip(x, CropFlip(np.array([1]), np.array([1]), np.array([True])), pad=1).tolist()
    [[[[3.0, 2.0, 1.0, 0.0]]]]
    """
    _check_nchw(x, "crop_flip")
    n, c, h, w = (int(s) for s in x.shape)
    dy, dx = np.asarray(draw.dy, np.int64), np.asarray(draw.dx, np.int64)
    flip = np.asarray(draw.flip, bool)
    if not dy.shape == dx.shape == flip.shape == (n,):
        raise ValueError(f"crop_flip: draw holds {dy.shape}/{dx.shape}/{flip.shape} values for {n} images")
    if n and (dy.min() < 0 or dx.min() < 0 or dy.max() > 2 * pad or dx.max() > 2 * pad):
        raise ValueError(f"crop_flip: offsets must lie in 0..{2 * pad} (2 * pad), got dy/dx outside")
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = np.where(flip[:, None], dx[:, None] + (w - 1) - np.arange(w)[None, :], dx[:, None] + np.arange(w)[None, :])
    if _is_torch(x):
        import torch

        # One torch.gather on the flattened padded planes (4x faster on the CPU than 4-D fancy indexing).
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=float(fill))
        flat = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).reshape(n, 1, h * w)
        index = torch.as_tensor(flat, device=x.device).expand(n, c, h * w)
        return torch.gather(padded.reshape(n, c, (h + 2 * pad) * (w + 2 * pad)), 2, index).reshape(n, c, h, w)
    padded = np.pad(np.asarray(x), ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    return padded[
        np.arange(n)[:, None, None, None],
        np.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


@dataclass(frozen=True)
class Augmentation:
    """Seeded random crop (after ``pad`` pixels of padding) and, if ``flip``, horizontal flip.

    He et al. 2016 ("Deep Residual Learning for Image Recognition", arXiv:1512.03385, Sec. 4.2):
    pad 4, crop 32x32, flip with probability 1/2 -- the CIFAR-10 convention. SVHN is augmented
    without flips (a mirrored digit is not the same digit, e.g. 2/5, 7); the loaders record each
    set's convention in ``metadata["augmentation"]`` (see :meth:`for_dataset`).

    Attributes
    ----------
    pad : int
        Padding on each side, in pixels (0: no cropping).
    flip : bool
        Mirror left-right with probability 1/2.
    fill : float
        Value of the padding, in the images' units (0.0: black in ``[0, 1]``; augment before
        normalising).

    Examples
    --------
    >>> import numpy as np
    >>> aug = Augmentation(pad=4, flip=False)
    >>> d = aug.draw(3, rng=0)
    >>> d.flip.tolist(), bool(((0 <= d.dx) & (d.dx <= 8)).all())
    ([False, False, False], True)
    """

    pad: int = 4
    flip: bool = True
    fill: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.pad, numbers.Integral) or isinstance(self.pad, bool) or self.pad < 0:
            raise ValueError(f"Augmentation: pad must be a non-negative integer (pixels), got {self.pad!r}")
        if not isinstance(self.flip, (bool, np.bool_)):
            raise ValueError(f"Augmentation: flip must be True or False, got {self.flip!r}")
        if not (isinstance(self.fill, numbers.Real) and np.isfinite(self.fill)):
            raise ValueError(f"Augmentation: fill must be a finite number, got {self.fill!r}")
        object.__setattr__(self, "pad", int(self.pad))
        object.__setattr__(self, "flip", bool(self.flip))

    @classmethod
    def for_dataset(cls, dataset: Any) -> Augmentation:
        """The convention a loader recorded in ``dataset.metadata["augmentation"]`` (CIFAR-10, SVHN)."""
        spec = getattr(dataset, "metadata", {}).get("augmentation")
        if not isinstance(spec, Mapping):
            name = getattr(dataset, "name", dataset)
            raise ValueError(
                f"{name}: no augmentation convention recorded in its metadata; build one explicitly, "
                f"e.g. Augmentation(pad=4, flip=False)"
            )
        return cls(**spec)

    def draw(self, n: int, rng: np.random.Generator | int) -> CropFlip:
        """Offsets (``dy`` then ``dx``, each uniform in ``0 .. 2 * pad``) and flips for ``n`` images.

        The flips are drawn after the offsets, so a seed gives the same crops with or without
        flips; without flips no flip is drawn.
        """
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        dy = rng.integers(0, 2 * self.pad + 1, size=n)
        dx = rng.integers(0, 2 * self.pad + 1, size=n)
        flip = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        return CropFlip(dy, dx, flip)

    def __call__(self, x: Any, rng: np.random.Generator | int) -> Any:
        """Augment a batch ``x`` (NCHW, numpy or torch); ``rng`` a ``numpy.random.Generator`` or a seed.

        A training loop keeps one ``Generator`` per run (``np.random.default_rng(seed)``) and
        passes it for every batch: the run is then reproducible from its seed.
        """
        _check_nchw(x, "Augmentation")
        return crop_flip(x, self.draw(int(x.shape[0]), rng), self.pad, self.fill)
