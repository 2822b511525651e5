"""Resumable training state, saved atomically and loaded safely (``weights_only=True``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


class CheckpointStore:
    """One resumable state file in a folder that outlives ``dvc repro`` (which deletes stage outputs).

    The folder is keyed by the caller (entry, params and code version), so a state is only ever
    resumed by the same computation.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "state.pt"

    def save(self, state: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # atomic: a kill mid-write leaves the previous state intact

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=True)
