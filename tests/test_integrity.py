"""Checksummed harness-cache entries and the one-line error for a damaged upstream output (issue 18, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.integrity import (
    CorruptOutputError,
    load_output_array,
    load_output_weights,
    open_sealed,
    read_output_json,
    read_sealed_json,
    write_sealed_json,
)
from harness.training.checkpoint import CheckpointStore


def _garble(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at : at + 4] = bytes(255 - b for b in data[at : at + 4])
    path.write_bytes(bytes(data))


def test_a_sealed_entry_is_used_only_while_it_matches_its_seal(tmp_path: Path, capsys):
    entry = tmp_path / "state.json"
    write_sealed_json(entry, {"history": [1, 2], "details": {"8": True}})
    assert read_sealed_json(entry) == {"history": [1, 2], "details": {"8": True}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.sha256"]
    for damage in (_garble, lambda p: p.write_bytes(p.read_bytes()[:5])):
        write_sealed_json(entry, {"history": [1, 2]})
        damage(entry)
        assert read_sealed_json(entry) is None and not entry.exists()
        assert f"{entry} fails its checksum" in capsys.readouterr().err
    entry.write_text("{}")  # no seal (a kill between the rename and the seal, or an old cache)
    assert open_sealed(entry) is None and "has no checksum" in capsys.readouterr().err
    assert open_sealed(tmp_path / "absent.json") is None and capsys.readouterr().err == ""


def test_a_garbled_training_state_is_discarded_not_resumed(tmp_path: Path, capsys):
    store = CheckpointStore(tmp_path)
    state = {"epoch": 3, "weights": torch.arange(1000, dtype=torch.float32)}
    store.save(state)
    assert torch.equal(store.load()["weights"], state["weights"])
    # a few bytes inside the tensor data: torch.load alone would return wrong weights without complaint
    raw = store.path.read_bytes()
    _garble(store.path, raw.index(np.arange(1000, dtype=np.float32)[500:].tobytes()[:64]))
    assert torch.load(store.path, weights_only=True)["weights"][500] != 500.0
    assert store.load() is None and "state.pt fails its checksum" in capsys.readouterr().err


def test_a_damaged_upstream_output_is_one_error_naming_it(tmp_path: Path):
    from safetensors.torch import save_file

    js, npy, npz, st = (tmp_path / n for n in ("m.json", "a.npy", "b.npz", "w.safetensors"))
    js.write_text(json.dumps({"a": 1}))
    np.save(npy, np.arange(50.0))
    np.savez(npz, loss=np.ones((3, 3)))
    save_file({"w": torch.ones(64)}, str(st))
    assert read_output_json(js) == {"a": 1} and load_output_array(npy)[7] == 7.0
    assert load_output_array(npz)["loss"].shape == (3, 3) and load_output_weights(st)["w"].sum() == 64
    for path, read in (
        (js, read_output_json),
        (npy, load_output_array),
        (npz, load_output_array),
        (st, load_output_weights),
    ):
        path.write_bytes(path.read_bytes()[: max(3, path.stat().st_size // 3)])
        with pytest.raises(
            CorruptOutputError, match=rf"{path.name}: cannot be read .*dvc checkout --relink {path}"
        ):
            read(path)


@pytest.mark.parametrize("killed_at", ["before the rename", "after the rename"])
def test_a_kill_between_the_writes_leaves_an_entry_its_seal_accepts(tmp_path: Path, monkeypatch, killed_at):
    """The seal accepts the old and the new digest while the content is renamed: a kill in between keeps
    whichever state is on disk usable (a seal written only after the rename lost both)."""
    import harness.integrity as integrity

    entry = tmp_path / "state.json"
    write_sealed_json(entry, {"epoch": 41})
    real_replace, calls = integrity.os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if killed_at == "before the rename" and Path(dst) == entry:
            raise KeyboardInterrupt
        real_replace(src, dst)
        if killed_at == "after the rename" and Path(dst) == entry:
            raise KeyboardInterrupt

    monkeypatch.setattr(integrity.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_sealed_json(entry, {"epoch": 42})
    monkeypatch.undo()
    expected = {"epoch": 41} if killed_at == "before the rename" else {"epoch": 42}
    assert read_sealed_json(entry) == expected


def test_a_reader_never_discards_an_entry_a_writer_is_replacing(tmp_path: Path, capsys):
    import multiprocessing as mp

    entry = tmp_path / "state.json"
    write_sealed_json(entry, {"n": -1})
    writer = mp.get_context("spawn").Process(target=_rewrite_many, args=(str(entry), 400))
    writer.start()
    reads = 0
    while writer.is_alive():
        assert read_sealed_json(entry) is not None
        reads += 1
    writer.join()
    assert writer.exitcode == 0 and reads > 10
    assert "discarded" not in capsys.readouterr().err


def _rewrite_many(path: str, n: int) -> None:
    for i in range(n):
        write_sealed_json(path, {"n": i, "pad": "x" * (i % 50)})
