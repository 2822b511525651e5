"""CIFAR-10 / CIFAR-100 from the official "python version" pickles under ``data.root``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from harness.data.arrays import ArrayDataset
from harness.data.errors import require_files


def _read_batches(folder: Path, names: list[str], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        with open(folder / name, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _assemble(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> ArrayDataset:
    x = np.concatenate([train[0], test[0]]).astype(np.float32) / 255.0
    y = np.concatenate([train[1], test[1]])
    official_test = np.zeros(len(y), dtype=bool)
    official_test[len(train[1]) :] = True
    return ArrayDataset(x, y, official_test)


CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR100_FILES = ["train", "test"]


def load_cifar10(root: str | Path) -> ArrayDataset:
    """CIFAR-10: 50,000 training + 10,000 official test images, (N, 3, 32, 32) in [0, 1]."""
    folder = require_files("cifar10", Path(root), CIFAR10_FILES)
    return _assemble(
        _read_batches(folder, CIFAR10_FILES[:-1], b"labels"), _read_batches(folder, ["test_batch"], b"labels")
    )


def load_cifar100(root: str | Path) -> ArrayDataset:
    """CIFAR-100 (100 fine labels): 50,000 training + 10,000 official test images."""
    folder = require_files("cifar100", Path(root), CIFAR100_FILES)
    return _assemble(
        _read_batches(folder, ["train"], b"fine_labels"), _read_batches(folder, ["test"], b"fine_labels")
    )
