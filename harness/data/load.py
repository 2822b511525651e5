"""Load a registry dataset: call its loader (with the data root for real datasets)."""

from __future__ import annotations

from pathlib import Path

from harness.data.arrays import ArrayDataset, randomize_labels
from harness.data.errors import MissingDataError
from harness.registry.load import Problem, RegistryError, resolve_code_ref
from harness.registry.schema import DatasetEntry


def dataset_folder(entry: DatasetEntry, data_root: str | Path) -> Path:
    """Where a real dataset's files live: ``data.root / data_dir``."""
    assert entry.data_dir is not None
    return Path(data_root) / entry.data_dir


def require_dataset(key: str, entry: DatasetEntry, data_root: str | Path) -> None:
    """Fail before any work when a real dataset's folder is absent (embedded ones always exist)."""
    if entry.embedded:
        return
    folder = dataset_folder(entry, data_root)
    if not folder.is_dir():
        raise MissingDataError(
            f"dataset '{key}': folder {folder} not found (absolute: {folder.resolve()}). "
            f"Obtain it from: {entry.source or 'see registry/datasets.yaml'}; "
            "set `data.root` in params.yaml (or `dvc exp run -S data.root=...`) to the folder holding it."
        )


def require_datasets(entries: dict[str, DatasetEntry], data_root: str | Path) -> None:
    """:func:`require_dataset` for every entry at once: one MissingDataError listing each missing dataset
    (its folder and where to obtain it), not only the first."""
    problems = []
    for key, entry in entries.items():
        try:
            require_dataset(key, entry, data_root)
        except MissingDataError as err:
            problems.append(str(err))
    if len(problems) == 1:
        raise MissingDataError(problems[0])
    if problems:
        raise MissingDataError(
            f"{len(problems)} datasets are missing (the stages that need them fail at their data@ stage; "
            "`harness run` or `dvc repro --keep-going` runs the rest):\n  - " + "\n  - ".join(problems)
        )


def _mismatch(key: str, field: str, message: str) -> None:
    raise RegistryError([Problem("registry/datasets.yaml", key, field, message)])


def load_dataset(key: str, entry: DatasetEntry, data_root: str | Path) -> ArrayDataset:
    """Call the entry's loader and check what it returns against the entry's declared shape."""
    loader = resolve_code_ref(entry.loader)
    if entry.embedded:
        data = loader(**entry.kwargs)
    else:
        require_dataset(key, entry, data_root)
        data = loader(root=dataset_folder(entry, data_root), **entry.kwargs)
    if list(data.inputs.shape[1:]) != list(entry.shape):
        _mismatch(
            key,
            "shape",
            f"declared {entry.shape}, the loader returned samples of shape {list(data.inputs.shape[1:])}",
        )
    if entry.samples is not None and len(data.targets) != entry.samples:
        _mismatch(key, "samples", f"declared {entry.samples}, the loader returned {len(data.targets)}")
    official = None if data.official_test is None else int(data.official_test.sum())
    if entry.split.official_test and official is None:
        _mismatch(key, "split.official_test", "true, but the loader returned no official test split")
    if entry.split.official_test_samples is not None and official != entry.split.official_test_samples:
        _mismatch(
            key,
            "split.official_test_samples",
            f"declared {entry.split.official_test_samples}, the loader's official test split has {official}",
        )
    if entry.random_labels is not None:
        data = randomize_labels(data, entry.num_classes, entry.random_labels)
    if int(data.targets.max()) >= entry.num_classes or int(data.targets.min()) < 0:
        _mismatch(
            key,
            "num_classes",
            f"declared {entry.num_classes}, labels span "
            f"[{int(data.targets.min())}, {int(data.targets.max())}]",
        )
    return data
