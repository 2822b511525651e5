"""Content manifests: what exactly a stage trained on, hashed so that new data re-runs it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from harness.data.arrays import ArrayDataset


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_manifest(folder: Path) -> dict[str, dict[str, object]]:
    """sha256 and size of every file under ``folder`` (relative paths, sorted)."""
    return {
        str(p.relative_to(folder)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def array_fingerprint(data: ArrayDataset) -> dict[str, object]:
    """sha256 over the arrays' bytes, dtypes and shapes: the identity of a loaded dataset."""
    h = hashlib.sha256()
    for arr in (data.inputs, data.targets, data.official_test):
        if arr is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return {
        "sha256": h.hexdigest(),
        "samples": len(data.targets),
        "sample_shape": list(data.inputs.shape[1:]),
        "classes": len(np.unique(data.targets)),
    }
