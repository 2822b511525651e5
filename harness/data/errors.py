"""The one error a stage raises when a real dataset's files are not where they should be."""

from __future__ import annotations

from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A real dataset's files are absent; the message says where to look and how to lay them out."""


def require_files(dataset: str, folder: Path, files: list[str]) -> Path:
    """Return ``folder`` if every expected file is in it, else raise ``MissingDataError``."""
    missing = [f for f in files if not (folder / f).exists()]
    if missing:
        raise MissingDataError(
            f"dataset '{dataset}': expected files {missing} in {folder} (absolute: {folder.resolve()}). "
            f"Expected layout: {folder}/{{{', '.join(files)}}}. See the entry's `source` in "
            "registry/datasets.yaml for where to obtain it, and `data.root` in params.yaml for the root."
        )
    return folder
