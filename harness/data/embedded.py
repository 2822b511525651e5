"""Embedded datasets: shipped with installed packages or generated, identical on every machine."""

from __future__ import annotations

import numpy as np

from harness.data.arrays import ArrayDataset


def load_digits() -> ArrayDataset:
    """scikit-learn's 1,797 8x8 handwritten digits as (N, 1, 8, 8) images in [0, 1]."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return ArrayDataset(images, bunch.target.astype(np.int64))


def make_gaussian_inputs(n_samples: int, n_features: int, num_classes: int, seed: int) -> ArrayDataset:
    """Standard-normal inputs x ~ N(0, I_d) with labels drawn uniformly from ``num_classes`` (independent
    of x): nothing to learn, everything to memorize. Deterministic given ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    return ArrayDataset(x, rng.integers(0, num_classes, n_samples).astype(np.int64))


def make_gaussian_images(n_samples: int, shape: list[int], num_classes: int, seed: int) -> ArrayDataset:
    """``make_gaussian_inputs`` with every sample shaped as a (C, H, W) image: random-label data that image
    networks take at its own resolution (GENESIS's convolutional and transformer sweeps on a CPU)."""
    flat = make_gaussian_inputs(n_samples, int(np.prod(shape)), num_classes, seed)
    return ArrayDataset(flat.inputs.reshape(n_samples, *shape), flat.targets)


def make_gaussian_blobs(
    n_samples: int, n_features: int, centers: int, cluster_std: float, random_state: int
) -> ArrayDataset:
    """Isotropic Gaussian blobs (scikit-learn ``make_blobs``), one class per centre.

    Centres are drawn uniformly in [-10, 10]^d; ``cluster_std`` sets the overlap (and so the
    Bayes error). Deterministic given ``random_state``.
    """
    from sklearn.datasets import make_blobs

    x, y = make_blobs(
        n_samples=n_samples,
        n_features=n_features,
        centers=centers,
        cluster_std=cluster_std,
        random_state=random_state,
    )
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return ArrayDataset(x.astype(np.float32), y.astype(np.int64))


SHAPES = (
    "square",
    "square_outline",
    "disc",
    "ring",
    "horizontal_bar",
    "vertical_bar",
    "diagonal",
    "antidiagonal",
    "plus",
    "cross",
)
"""Class names of ``make_shapes``, in label order."""


def shape_mask(name: str, size: int) -> np.ndarray:
    """Boolean (size, size) mask of one of ``SHAPES`` drawn in a size × size box; size odd and ≥ 5 (lines
    one pixel wide through the centre; at 3 a disc is a plus, at 4 too).

    Raises:
        ValueError: an unknown name, or a size that is even or below 5.
    """
    if size < 5 or size % 2 == 0:
        raise ValueError(f"shape_mask: size must be odd and at least 5, got {size}")
    i, j = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    r = np.hypot(i - c, j - c)
    mid, mid_j = i == c, j == c
    masks = {
        "square": np.ones((size, size), bool),
        "square_outline": (i == 0) | (j == 0) | (i == size - 1) | (j == size - 1),
        "disc": r <= c + 0.25,
        "ring": (r <= c + 0.25) & (r >= c - 0.75),
        "horizontal_bar": mid,
        "vertical_bar": mid_j,
        "diagonal": i == j,
        "antidiagonal": i + j == size - 1,
        "plus": mid | mid_j,
        "cross": (i == j) | (i + j == size - 1),
    }
    if name not in masks:
        raise ValueError(f"shape_mask: unknown shape {name!r}; expected one of {', '.join(SHAPES)}")
    return masks[name]


def make_shapes(n_samples: int, image_size: int, noise: float, seed: int) -> ArrayDataset:
    """Procedurally drawn shapes: (N, 3, image_size, image_size) images in [0, 1], 10 classes (``SHAPES``).

    Each sample draws its class uniformly, an odd box size from 5 to min(7, image_size), a position where the
    box fits, a foreground colour (each RGB channel uniform in [0.5, 1]) and a background colour
    (uniform in [0, 0.3]); the shape's mask is painted with the foreground, and Gaussian pixel noise of
    standard deviation ``noise`` is added before clipping to [0, 1]. Colour, size and position carry no
    class information: only the shape does. A synthetic-shapes set in the spirit of dSprites
    (Matthey et al. 2017), drawn here so that the embedded survey has a second image dataset whose
    classes share strokes across the two task halves (bars and diagonals in both). Deterministic given
    ``seed``.

    Raises:
        ValueError: ``image_size`` below 5, ``n_samples`` below 1 or a negative ``noise``.
    """
    if image_size < 5 or n_samples < 1 or noise < 0:
        raise ValueError(
            f"make_shapes: expected image_size >= 5, n_samples >= 1 and noise >= 0; got {image_size}, "
            f"{n_samples}, {noise}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES), n_samples)
    images = np.empty((n_samples, 3, image_size, image_size), np.float32)
    sizes = np.arange(5, min(7, image_size) + 1, 2)
    for n, label in enumerate(labels):
        size = int(rng.choice(sizes))
        top, left = rng.integers(0, image_size - size + 1, 2)
        canvas = np.broadcast_to(rng.uniform(0.0, 0.3, (3, 1, 1)), images.shape[1:]).copy()
        mask = shape_mask(SHAPES[label], size)
        box = canvas[:, top : top + size, left : left + size]
        box[:, mask] = rng.uniform(0.5, 1.0, (3, 1))
        canvas += rng.normal(0.0, noise, canvas.shape)
        images[n] = np.clip(canvas, 0.0, 1.0)
    return ArrayDataset(images, labels.astype(np.int64))
