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
