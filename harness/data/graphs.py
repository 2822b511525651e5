"""Graph datasets for node classification: a generated stochastic block model and Planetoid citation graphs.

Samples are nodes: ``inputs`` are node features (N, F) float32, ``targets`` node classes and
``edge_index`` the directed edges (2, E), both directions of every undirected edge.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np

from harness.data.arrays import ArrayDataset
from harness.data.errors import require_files


def make_sbm_graph(
    nodes: int,
    blocks: int,
    p_in: float,
    p_out: float,
    feature_dim: int,
    feature_noise: float,
    seed: int,
    sha256: str,
) -> ArrayDataset:
    """Stochastic block model (Holland et al. 1983): ``blocks`` equal communities, edge probability
    ``p_in`` within and ``p_out`` across; features are the block's random centre plus Gaussian noise, so
    both structure and features carry the class. Pinned by the sha256 of the generated arrays."""
    rng = np.random.default_rng(seed)
    labels = np.arange(nodes) % blocks
    same = labels[:, None] == labels[None, :]
    upper = np.triu(rng.random((nodes, nodes)) < np.where(same, p_in, p_out), k=1)
    src, dst = np.nonzero(upper)
    edge_index = np.stack([np.r_[src, dst], np.r_[dst, src]]).astype(np.int64)
    centres = rng.normal(size=(blocks, feature_dim))
    features = (centres[labels] + feature_noise * rng.normal(size=(nodes, feature_dim))).astype(np.float32)
    h = hashlib.sha256()
    for a in (features, labels.astype(np.int64), edge_index):
        h.update(np.ascontiguousarray(a).tobytes())
    if h.hexdigest() != sha256:
        raise ValueError(
            f"generated graph sha256 {h.hexdigest()} differs from the registry's pinned {sha256} "
            "(numpy's generator stream changed?)"
        )
    return ArrayDataset(features, labels.astype(np.int64), None, edge_index)


PLANETOID_SUFFIXES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]


def load_planetoid(root: str | Path, name: str) -> ArrayDataset:
    """Cora / CiteSeer / PubMed from the Planetoid raw files (Yang et al. 2016), read by torch-geometric.
    The 1,000 test nodes of the standard split are the official test split. torch-geometric writes its
    processed cache beside the raw files, so they are processed in a scratch copy: the data folder (which
    the data stage hashes) is never modified."""
    from torch_geometric.datasets import Planetoid

    lower = name.lower()
    folder = require_files(lower, Path(root), [f"ind.{lower}.{s}" for s in PLANETOID_SUFFIXES])
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / name / "raw"
        shutil.copytree(folder, raw)
        graph = Planetoid(tmp, name)[0]
    return ArrayDataset(
        graph.x.numpy().astype(np.float32),
        graph.y.numpy().astype(np.int64),
        graph.test_mask.numpy().astype(bool),
        graph.edge_index.numpy().astype(np.int64),
    )
