"""Resumable training state, saved atomically with a checksum and loaded safely (``weights_only=True``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harness.integrity import open_sealed, write_sealed


class CheckpointStore:
    """One resumable state file in a folder that outlives ``dvc repro`` (which deletes stage outputs).

    The folder is keyed by the caller (entry, params and code version), so a state is only ever
    resumed by the same computation. The state is sealed with its sha256 (``harness.integrity``): a
    damaged state file is reported, discarded, and training starts over instead of resuming from it.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "state.pt"

    def save(self, state: dict[str, Any]) -> None:
        # atomic and sealed: a kill mid-write leaves the previous state intact
        write_sealed(self.path, lambda tmp: torch.save(state, tmp))

    def load(self) -> dict[str, Any] | None:
        checked = open_sealed(self.path)
        if checked is None:
            return None
        return torch.load(checked, map_location="cpu", weights_only=True)
