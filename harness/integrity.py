"""Files the harness reads back: checksummed cache entries and one clear error for a damaged output.

Issue 18, item 3. Two kinds of file are read back by later work:

* **harness cache entries** (``.harness_cache``: training states, partial loss grids, finished forgetting
  variants, capacity-search states, PHI checkpoints): written by :func:`write_sealed` (a temporary file
  renamed over the entry, then a ``<name>.sha256`` seal beside it). :func:`open_sealed` returns an entry
  only when its seal matches; a missing seal or a mismatch (a garbled byte, a truncation, a kill between
  the rename and the seal) prints one warning naming the file, deletes the entry and returns None, so the
  caller recomputes it. A damaged entry is never used.
* **upstream stage outputs** (``results/``), tracked by DVC: :func:`read_output_json`,
  :func:`load_output_array` and :func:`load_output_weights` turn any failure to parse one into
  :class:`CorruptOutputError`, which names the file and how to get it back; stages print it as one line
  and exit 2 (``stage_main``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEAL_SUFFIX = ".sha256"


class CorruptOutputError(ValueError):
    """An upstream output could not be read (truncated, garbled, wrong format)."""


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes, read in 4 MiB chunks (so a multi-GB checkpoint is never held twice)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _seal(path: Path) -> Path:
    return path.with_name(path.name + SEAL_SUFFIX)


def _read_seal(path: Path) -> set[str]:
    """The digests a seal accepts (one per line; empty when there is no seal)."""
    seal = _seal(path)
    try:
        return set(seal.read_text().split())
    except FileNotFoundError:
        return set()


def _write_seal(path: Path, digests: set[str]) -> None:
    tmp = path.with_name(f".{path.name}{SEAL_SUFFIX}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{d}\n" for d in sorted(digests)))
    os.replace(tmp, _seal(path))


def write_sealed(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write a cache entry atomically and seal it: ``write(tmp)`` writes the content to a temporary path
    beside ``path``; the seal ``path.sha256`` first accepts both the old and the new digest, the new
    content is renamed over ``path``, and the seal is narrowed to the new digest (each step a rename).
    A kill at any point leaves an entry its seal accepts — the previous one or the new one — and a
    reader never sees a good entry its seal refuses."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    digest = file_sha256(tmp)
    _write_seal(path, _read_seal(path) | {digest})
    os.replace(tmp, path)
    _write_seal(path, {digest})


def write_sealed_json(path: str | Path, payload: Any) -> None:
    """:func:`write_sealed` for a JSON document."""
    write_sealed(path, lambda tmp: tmp.write_text(json.dumps(payload)))


def open_sealed(path: str | Path, retries: int = 3) -> Path | None:
    """``path`` if it exists and its seal accepts its sha256; None if it does not exist. An entry
    without a seal, or whose sha256 its seal refuses, is looked at again (``retries`` times, 50 ms apart:
    a writer may be between two steps); if it still fails and has not changed meanwhile, it is reported
    on stderr (file, sealed and found digests), deleted with its seal, and None returned: the caller
    recomputes it."""
    import time

    path = Path(path)
    for attempt in range(retries):
        try:
            before = path.stat()
        except FileNotFoundError:
            return None
        expected = _read_seal(path)
        found = file_sha256(path)
        if found in expected:
            return path
        after = path.stat()
        changed = (before.st_ino, before.st_size, before.st_mtime_ns) != (
            after.st_ino,
            after.st_size,
            after.st_mtime_ns,
        )
        if attempt < retries - 1 or changed:
            time.sleep(0.05)
            continue
        why = (
            "has no checksum"
            if not expected
            else f"fails its checksum (sealed {', '.join(d[:12] for d in sorted(expected))}…, found {found[:12]}…)"
        )
        print(f"warning: harness cache: {path} {why}: discarded, recomputing it", file=sys.stderr)
        path.unlink(missing_ok=True)
        _seal(path).unlink(missing_ok=True)
    return None


def read_sealed_json(path: str | Path) -> Any | None:
    """A sealed JSON cache entry, or None (absent, or damaged and discarded)."""
    checked = open_sealed(path)
    return None if checked is None else json.loads(checked.read_text())


def _corrupt(path: Path, err: Exception) -> CorruptOutputError:
    return CorruptOutputError(
        f"{path}: cannot be read ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
        f"this upstream output is damaged: restore it with `dvc checkout --relink {path}` (plain checkout "
        "trusts an unchanged size and mtime), or recompute the stage "
        "that writes it with `dvc repro --force STAGE` (`dvc stage list` names it)"
    )


def read_output_json(path: str | Path) -> Any:
    """An upstream stage's JSON output. Raises FileNotFoundError when absent, CorruptOutputError when it
    cannot be parsed."""
    path = Path(path)
    text = path.read_bytes()
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise _corrupt(path, err) from None


def load_output_array(path: str | Path):
    """An upstream ``.npy`` output (``allow_pickle=False``), or a ``.npz`` output loaded whole into a
    dict of arrays. Raises CorruptOutputError when it cannot be parsed."""
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {k: loaded[k] for k in loaded.files}
        return loaded
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise _corrupt(path, err) from None


def load_output_weights(path: str | Path) -> dict:
    """An upstream ``.safetensors`` output as a dict of CPU tensors. Raises CorruptOutputError when it
    cannot be parsed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        return load_file(str(path))
    except (SafetensorError, ValueError, OSError) as err:
        raise _corrupt(path, err) from None
