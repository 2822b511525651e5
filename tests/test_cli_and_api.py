"""The `harness` command and the lazily exposed public API."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.cli import main
from tests.conftest import REPO, copy_repo, run


def test_describe_counts_parameters_for_the_dataset(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["describe", "arch", "mlp_2", "--dataset", "digits", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # 64 inputs (8x8 flattened) -> 512 -> 512 -> 10
    assert info["params"] == (64 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    assert info["family"] == "mlp" and info["modality"] == "vector" and info["dataset"] == "digits"
    assert main(["describe", "arch", "mlp_2", "--dataset", "blobs", "--size", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == (16 * 64 + 64) + (64 * 64 + 64) + (64 * 4 + 4)


def test_describe_conv_net_by_hand(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["describe", "arch", "cnn_small", "--dataset", "digits", "--size", "tiny", "--json"]) == 0
    convs = (1 * 8 * 9 + 2 * 8) + (8 * 16 * 9 + 2 * 16)  # conv weights (no bias) + BN scale/shift
    head = (16 * 32 + 32) + (32 * 10 + 10)
    assert json.loads(capsys.readouterr().out)["params"] == convs + head


def test_list_and_check(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["list", "architectures"]) == 0
    assert "cnn_small" in capsys.readouterr().out
    assert main(["check"]) == 0
    assert "dvc.yaml in sync" in capsys.readouterr().out


def test_unknown_names_are_one_line_errors(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["describe", "arch", "resnet9000"]) == 2
    assert "no architecture 'resnet9000'" in capsys.readouterr().err
    assert main(["sync", "--profile", "huge"]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err


def test_status_reports_stages_that_would_run(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    out = run(["harness", "status"], repo).stdout
    assert "stage(s) would run" in out and "train@mlp_2-digits" in out


def test_importing_harness_imports_nothing_heavy():
    code = "import sys, harness; print(sorted(m for m in ('torch', 'numpy', 'dvc', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves():
    import harness

    for name in harness.__all__:
        assert callable(getattr(harness, name)) or isinstance(getattr(harness, name), type), name
