"""In-memory datasets as numpy arrays, and their seeded train/validation/test split."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ArrayDataset(NamedTuple):
    """A classification dataset held in memory.

    ``inputs``: float32, shape (N, *sample_shape); ``targets``: int64, shape (N,).
    ``official_test``: bool mask (N,) of the dataset's own test split, or None when it has none.
    ``edge_index``: graphs only, int64 (2, E) directed edges between samples (nodes); ``inputs`` are
    then the node features.
    """

    inputs: np.ndarray
    targets: np.ndarray
    official_test: np.ndarray | None = None
    edge_index: np.ndarray | None = None


class SplitIndices(NamedTuple):
    """Row indices of each split (disjoint, sorted)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _stratified_take(indices: np.ndarray, targets: np.ndarray, fraction: float, rng: np.random.Generator):
    """Take ``fraction`` of ``indices`` per class (at least one per class that has two or more)."""
    taken, kept = [], []
    for cls in np.unique(targets[indices]):
        members = indices[targets[indices] == cls]
        members = members[rng.permutation(len(members))]
        # at least one per class on each side when the class has two or more members
        n = min(max(round(fraction * len(members)), 1), len(members) - 1) if len(members) >= 2 else 0
        taken.append(members[:n])
        kept.append(members[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(taken))


def split_dataset(
    data: ArrayDataset, val_fraction: float, test_fraction: float | None, seed: int
) -> SplitIndices:
    """Seeded, stratified split.

    With ``test_fraction`` None the dataset's official test split is the test set and the
    validation set is carved from its training part; otherwise test and validation are both
    carved, per class, from the whole set.
    """
    rng = np.random.default_rng(seed)
    all_idx = np.arange(len(data.targets))
    if test_fraction is None:
        if data.official_test is None:
            raise ValueError("this dataset has no official test split: give split.test_fraction")
        rest, test = all_idx[~data.official_test], all_idx[data.official_test]
    else:
        rest, test = _stratified_take(all_idx, data.targets, test_fraction, rng)
    # the validation fraction is of the whole dataset, so it is rescaled to what remains
    val_share = val_fraction * len(all_idx) / len(rest)
    train, val = _stratified_take(rest, data.targets, min(val_share, 0.9), rng)
    return SplitIndices(train, val, np.sort(test))


def class_subset(data: ArrayDataset, classes: list[int]) -> ArrayDataset:
    """Samples of ``classes`` only, relabelled 0..len(classes)-1 in the listed order (a continual task)."""
    mapping = np.full(int(data.targets.max()) + 1, -1, dtype=np.int64)
    mapping[np.asarray(classes)] = np.arange(len(classes))
    keep = np.isin(data.targets, classes)
    official = None if data.official_test is None else data.official_test[keep]
    if data.edge_index is not None:
        raise ValueError(
            "class subsets of a graph would cut its edges: split graph tasks by node masks instead"
        )
    return ArrayDataset(data.inputs[keep], mapping[data.targets[keep]], official)


def randomize_labels(data: ArrayDataset, num_classes: int, seed: int) -> ArrayDataset:
    """Every label replaced by one drawn uniformly from ``num_classes`` (seeded): memorization data."""
    labels = np.random.default_rng(seed).integers(0, num_classes, size=len(data.targets), dtype=np.int64)
    return data._replace(targets=labels)
