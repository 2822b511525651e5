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


def test_check_refuses_bad_params_with_one_line_naming_file_line_and_field(capsys, monkeypatch, tmp_path):
    """Issue 18, item 8: a YAML syntax error or duplicate key in params.yaml was a traceback; `lr: .inf`
    and `epochs: true` were accepted (as inf and 1)."""
    repo = copy_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    good = (repo / "params.yaml").read_text()
    assert "  epochs: 30\n" in good and "  lr: 0.05\n" in good and "  - 0.25\n" in good
    cases = {
        "params.yaml:13:13: YAML syntax error": good.replace("  epochs: 30\n", "  epochs: [3\n", 1),
        "params.yaml:13: duplicate key 'epochs'": good.replace(
            "  epochs: 30\n", "  epochs: 30\n  epochs: 3\n", 1
        ),
        "field 'train.lr': Input should be a finite number": good.replace("  lr: 0.05\n", "  lr: .inf\n", 1),
        "field 'train.epochs': Value error, expected a number, got a boolean": good.replace(
            "  epochs: 30\n", "  epochs: true\n", 1
        ),
        "field 'phi.checkpoints': Value error, expected a number, got a boolean": good.replace(
            "  - 0.25\n", "  - true\n", 1
        ),
    }
    for expected, text in cases.items():
        (repo / "params.yaml").write_text(text)
        assert main(["check"]) == 2, expected
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, err
    (repo / "params.yaml").write_text(good)
    assert main(["check"]) == 0


def test_sync_refuses_to_drop_hand_edits_in_params_yaml(tmp_path):
    """Issue 18 item 6: `harness sync --profile X` silently put the preset's values back over hand edits.
    ``data.root`` (where the data are on this machine) is carried over instead, as the README's full-survey
    steps need."""
    repo = copy_repo(tmp_path / "repo")
    params = repo / "params.yaml"
    params.write_text(
        params.read_text().replace("  lr: 0.05\n", "  lr: 0.2\n", 1).replace("root: data", "root: /mnt/data")
    )
    edited = params.read_text()
    refused = run(["harness", "sync", "--profile", "embedded"], repo, check=False)
    assert refused.returncode == 2 and params.read_text() == edited
    assert "train.lr: 0.2 (preset: 0.05)" in refused.stderr and "data.root" not in refused.stderr
    assert "run `harness sync` without --profile" in refused.stderr and "--force" in refused.stderr
    forced = run(["harness", "sync", "--profile", "embedded", "--force"], repo)
    (backup,) = repo.glob("params.yaml.*.bak")
    assert "train.lr: 0.2" in forced.stderr and backup.name in forced.stderr and backup.read_text() == edited
    assert "kept the machine-local data.root: '/mnt/data'" in forced.stdout
    assert "  lr: 0.05\n" in params.read_text() and "root: /mnt/data\n" in params.read_text()
    # nothing edited but the data root: a switch goes through, carrying it
    switched = run(["harness", "sync", "--profile", "full"], repo)
    assert "kept the machine-local data.root" in switched.stdout and "root: /mnt/data\n" in params.read_text()
    # an unreadable params.yaml is named with its error, not as a foreign profile
    params.write_text(params.read_text() + "survey: {profile: full}\n")
    broken = run(["harness", "sync", "--profile", "embedded"], repo, check=False)
    assert (
        broken.returncode == 2
        and "params.yaml, which cannot be read" in broken.stderr
        and "duplicate" in broken.stderr
    )


def test_a_profile_switch_keeps_the_other_profiles_results(tmp_path):
    """Issue 18 item 5: every profile writes the same results/ paths. Switching while dvc.lock records
    results no commit holds is refused with the command that keeps them; after that commit the switch goes
    through, and the command it names brings the results back."""
    repo = copy_repo(tmp_path / "repo", keep_lock=False)
    run(["harness", "sync", "--profile", "micro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "micro"], repo)
    stage, out = (
        "persist_task_a@cnn_small-digits-s0",
        "results/persist/cnn_small-digits-s0/task_a/metrics.json",
    )
    run(["dvc", "repro", stage], repo)  # micro's task A (3 epochs), recorded in dvc.lock only
    micro_result = (repo / out).read_bytes()
    refused = run(["harness", "sync", "--profile", "embedded"], repo, check=False)
    assert refused.returncode == 2 and "results of profile 'micro'" in refused.stderr
    assert "git add params.yaml dvc.yaml dvc.lock && git commit" in refused.stderr
    assert "profile: micro" in (repo / "params.yaml").read_text()
    run(["git", "add", "params.yaml", "dvc.yaml", "dvc.lock"], repo)
    run(["git", "commit", "-qm", "micro results"], repo)
    run(["harness", "sync", "--profile", "embedded"], repo)
    params = repo / "params.yaml"  # embedded's task A at 1 epoch (speed), written to the same path
    params.write_text(params.read_text().replace("task_a:\n    epochs: 20", "task_a:\n    epochs: 1", 1))
    run(["dvc", "repro", stage], repo)
    assert (repo / out).read_bytes() != micro_result
    run(["git", "add", "params.yaml", "dvc.yaml", "dvc.lock"], repo)
    run(["git", "commit", "-qm", "embedded results"], repo)
    run(["git", "checkout", "HEAD~1", "--", "params.yaml", "dvc.yaml", "dvc.lock"], repo)
    run(["dvc", "checkout", stage], repo)
    assert (repo / out).read_bytes() == micro_result
    # the restored lock is held by a commit (not HEAD): switching again is not refused
    run(["harness", "sync", "--profile", "embedded"], repo)
