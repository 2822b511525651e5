"""CIFAR-10 / CIFAR-100 from the official "python version" pickles under ``data.root``.

The official format is a pickle, and ``pickle.load`` runs whatever a crafted file asks for. The batches
are read by :class:`BatchUnpickler`, which resolves only the globals that format contains (numpy's array
reconstruction, ``dtype``, scalars, and ``_codecs.encode`` for bytes written by Python 3) and refuses
object arrays, so a tampered file is one :class:`UnsafePickleError` naming it, never code run."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from harness.data.arrays import ArrayDataset
from harness.data.errors import require_files


class UnsafePickleError(ValueError):
    """A CIFAR batch file references something the official format does not contain."""


# (module, name) pairs found in the official batches (Python 2 cPickle) and in batches re-pickled by
# numpy 1.x / 2.x under protocols 2-5; numpy 2 moved ``numpy.core`` to ``numpy._core``.
_ALLOWED_GLOBALS = frozenset(
    [
        (core, name)
        for core in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    ]
    + [(core, "_frombuffer") for core in ("numpy.core.numeric", "numpy._core.numeric")]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
)


class BatchUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`_ALLOWED_GLOBALS`; anything else raises
    :class:`UnsafePickleError` before it is imported or called."""

    def __init__(self, fh, path: Path):
        super().__init__(fh, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self.path}: refers to {module}.{name}, which the CIFAR batch format does not contain; "
                "refusing to unpickle it (a damaged or tampered file: re-download it, see the README's data section)"
            )
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """One CIFAR batch file as the dict the official format holds (bytes keys), read with
    :class:`BatchUnpickler`. Raises UnsafePickleError for a foreign global or an object array, ValueError
    for a file that is not a pickle."""
    with open(path, "rb") as fh:
        try:
            batch = BatchUnpickler(fh, path).load()
        except UnsafePickleError:
            raise
        except Exception as exc:  # pickle raises several types for a truncated / garbled file
            raise ValueError(f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict):
        raise UnsafePickleError(
            f"{path}: holds a {type(batch).__name__}, the CIFAR batch format holds a dict"
        )
    for key, value in batch.items():
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            raise UnsafePickleError(
                f"{path}: field {key!r} is an object array; the CIFAR format holds numbers"
            )
    return batch


def _read_batches(folder: Path, names: list[str], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        batch = read_batch(folder / name)
        missing = [k.decode() for k in (b"data", label_key) if k not in batch]
        if missing:
            raise ValueError(
                f"{folder / name}: no field(s) {missing} (the CIFAR batch format has data and labels)"
            )
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
