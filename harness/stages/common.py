"""What every stage does around its science: fail fast with one clear message, write JSON, find caches."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.data.errors import MissingDataError
from harness.integrity import CorruptOutputError, read_output_json
from harness.params import ParamsError
from harness.pipeline.deps import module_closure
from harness.pipeline.paths import data_manifest
from harness.registry.load import Problem, Registries, RegistryError, load_registries

MISSING_ENTRY = "no such entry (dvc.yaml may be out of date with the registries: run `harness sync`)"
EXPECTED_ERRORS = (RegistryError, ParamsError, MissingDataError, CorruptOutputError)


def stage_main(fn: Callable[[list[str] | None], None]) -> Callable[[list[str] | None], int]:
    """Run a stage's ``main``; expected input errors print one message (no traceback) and exit 2."""

    @functools.wraps(fn)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            fn(argv)
        except EXPECTED_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0

    return wrapper


def cache_root() -> Path:
    """Persistent state that outlives ``dvc repro`` (which deletes outputs): $HARNESS_CACHE_DIR or
    ``.harness_cache`` in the repository root."""
    return Path(os.environ.get("HARNESS_CACHE_DIR", ".harness_cache"))


def code_version(modules: list[str]) -> str:
    """sha256 over the source of ``modules`` and every harness module they import."""
    h = hashlib.sha256()
    for f in module_closure(modules, "."):
        h.update(f.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def stable_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def write_json(path: str | Path, payload: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def dataset_hashes(reg: Registries, dataset: str) -> dict[str, Any]:
    """A dataset's entry hashes (its lineage) and the content hash of its arrays (from ``data``)."""
    manifest = read_output_json(Path(data_manifest(dataset)))
    return {
        "entries": {k: reg.entry_hash("datasets", k) for k in reg.lineage("datasets", dataset)},
        "sha256": manifest["arrays"]["sha256"],
    }


def checked_pair(
    arch: str, dataset: str, also: set[tuple[str, str]] | frozenset = frozenset()
) -> tuple[Registries, dict[str, Any]]:
    """Load the registries with the pair's entries (and ``also``: (registry, key) pairs) checked, before
    any work. Returns (registries, entries): the architecture's and dataset's lineage hashes and the
    dataset's content hash, the part of a cache key every (architecture, dataset) stage shares."""
    wanted = {("architectures", arch), ("datasets", dataset)} | set(also)
    reg = load_registries(check_code=wanted)
    for registry, key in sorted(wanted):
        if key not in getattr(reg, registry):
            raise RegistryError([Problem(f"registry/{registry}.yaml", key, None, MISSING_ENTRY)])
    data = dataset_hashes(reg, dataset)
    return reg, {
        "architecture": {k: reg.entry_hash("architectures", k) for k in reg.lineage("architectures", arch)},
        "dataset": data["entries"],
        "data_sha256": data["sha256"],
    }
