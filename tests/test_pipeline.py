"""The generated pipeline: in sync with the registries, complete deps, and `dvc repro` end to end."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from harness.params import read_params
from harness.pipeline.generate import render_pipeline
from harness.stages.phi.common import checkpoint_name
from tests.conftest import REPO, VENV_BIN, copy_repo, micro_repo_copy, ran_stages, run
from tests.test_report import render_in_chromium


def test_committed_dvc_yaml_is_in_sync_with_registries(registries):
    params = read_params(REPO / "params.yaml")
    assert params.survey.profile == "embedded", "the committed pipeline is the default (embedded) profile's"
    expected = render_pipeline(registries, params, REPO)
    assert (REPO / "dvc.yaml").read_text() == expected, "dvc.yaml is stale: run `harness sync`"


def test_committed_dvc_lock_is_whole():
    """A repro killed while DVC rewrites dvc.lock leaves it truncated; DVC then refuses every command."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    assert lock["schema"] == "2.0" and lock["stages"]
    for name, stage in lock["stages"].items():
        assert isinstance(stage["cmd"], str), name
        for entry in stage.get("deps", []) + stage.get("outs", []):
            assert isinstance(entry["path"], str) and "md5" in entry, (name, entry)


def test_committed_params_equal_the_embedded_preset(registries):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert raw == registries.profiles["embedded"].params


def test_stage_names_carry_registry_keys():
    listed = run(["dvc", "stage", "list", "--name-only"], REPO).stdout.split()
    assert {
        "check",
        "data@digits",
        "data@blobs",
        "train@mlp_2-digits",
        "train@cnn_small-digits",
        "train@mlp_8-blobs",
        "report",
    } <= set(listed)
    assert "train@cnn_small-blobs" not in listed  # image network, vector data: no declared rule


PERSIST_PARTS = ("task_a", "landscape", "topology", "curvature", "forgetting")


def _trim_to_mlp_2(repo: Path) -> None:
    """Speed: the micro profile trains every vector network on blobs; keep mlp_2 as the only one."""
    path = repo / "registry" / "architectures.yaml"
    path.write_text(re.sub(r"  mlp_[48]:\n(    .*\n)+", "", path.read_text()))
    surveys = repo / "registry" / "surveys.yaml"
    text = surveys.read_text().replace("[mlp_2, mlp_4, mlp_8, cnn_small]", "[mlp_2, cnn_small]")
    surveys.write_text(text.replace("[mlp_2, mlp_4, mlp_8, resnet18,", "[mlp_2, resnet18,"))


@pytest.fixture(scope="module")
def micro_repo(tmp_path_factory) -> Path:
    return micro_repo_copy(tmp_path_factory.mktemp("repo"), _trim_to_mlp_2)


SERIAL_CHECKED = (
    "train@mlp_2-blobs",
    "persist_landscape@cnn_small-digits-s0",
    "phi_measure@mlp_2-blobs",
    "report",
)
"""Stages re-run serially by `dvc repro` after `harness run`: metrics and checkpoints, loss grids, Φ
measures and the report."""


TIMINGS = {"seconds", "wall_time_s"}
"""Keys of stage outputs that hold wall times (a landscape slice's ``seconds``): not expected to repeat."""


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _output_files(repo: Path, lock: dict, stages) -> dict[str, bytes]:
    """Every file the stages output, by path; provenance (timings, hosts) left out, and the wall times
    inside other JSON files."""
    files = {}
    for stage in stages:
        for out in lock[stage]["outs"]:
            root = repo / out["path"]
            for f in sorted([root] if root.is_file() else root.rglob("*")):
                if f.is_file() and f.name != "provenance.json" and "results/runs/" not in out["path"]:
                    data = f.read_bytes()
                    if f.suffix == ".json":
                        data = json.dumps(_without_timings(json.loads(data)), sort_keys=True).encode()
                    files[str(f.relative_to(repo))] = data
    return files


def _lock_without_dir_hashes(lock: dict, stages) -> dict:
    """Lock entries with the hashes of provenance files and of directories dropped (a directory's hash
    covers its provenance; the report's deps include the re-run stages' provenance); the files are
    compared one by one."""

    def strip(entries: list[dict]) -> list[dict]:
        timed = [
            ("nfiles" in e or e["path"].endswith("provenance.json") or e["path"].startswith("results/runs/"))
            for e in entries
        ]
        return [{"path": e["path"]} if t else e for e, t in zip(entries, timed, strict=True)]

    return {s: {**lock[s], "deps": strip(lock[s]["deps"]), "outs": strip(lock[s]["outs"])} for s in stages}


@pytest.mark.slow
def test_micro_survey_end_to_end(micro_repo: Path, tmp_path: Path):
    repo = micro_repo
    # the parallel runner on two Dask workers, as `make reproduce` runs it
    first = run(["harness", "run", "--jobs", "2"], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout
    lock_text = (repo / "dvc.lock").read_text()
    lock = yaml.safe_load(lock_text)["stages"]
    parallel = _output_files(repo, lock, SERIAL_CHECKED)
    # a serial `dvc repro` of a cross-section of the stages, from a fresh harness cache and with a worker's
    # thread budget (CPU kernels' results depend on the thread count), writes the same outputs and lock
    serial = run(
        ["dvc", "repro", "--force", "--single-item", *SERIAL_CHECKED],
        repo,
        env={"HARNESS_CACHE_DIR": str(tmp_path / "serial-cache"), "OMP_NUM_THREADS": "1"},
    )
    assert sorted(ran_stages(serial)) == sorted(SERIAL_CHECKED)
    relock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert _output_files(repo, relock, SERIAL_CHECKED).keys() == parallel.keys()
    changed = [f for f, b in _output_files(repo, relock, SERIAL_CHECKED).items() if parallel[f] != b]
    assert not changed, changed
    assert _lock_without_dir_hashes(relock, SERIAL_CHECKED) == _lock_without_dir_hashes(lock, SERIAL_CHECKED)
    assert any("landscape" in f and f.endswith(".npy") for f in parallel)  # grids compared byte for byte
    assert {k: v for k, v in relock.items() if k not in SERIAL_CHECKED} == {
        k: v for k, v in lock.items() if k not in SERIAL_CHECKED
    }
    # back to the parallel run's record (its provenance), from the DVC cache
    (repo / "dvc.lock").write_text(lock_text)
    run(["dvc", "checkout", "--force"], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout
    persist = [f"persist_{p}@cnn_small-digits-s0" for p in PERSIST_PARTS]
    assert sorted(ran_stages(first)) == sorted(
        [
            "check",
            "data@blobs",
            "data@digits",
            "train@mlp_2-blobs",
            *persist,
            "persist_metrics@cnn_small-digits",
            "persist_statistics",
            "phi_train@mlp_2-blobs",
            "phi_measure@mlp_2-blobs",
            "phi_transfer@mlp_2-blobs",
            "phi_statistics",
            "data@gaussian_inputs",
            *(
                f"genesis_{part}@mlp_d{d}_w256-gaussian_inputs"
                for d in (1, 2, 4)
                for part in ("capacity", "information")
            ),
            "genesis_double_descent",
            "genesis_statistics",
            "report",
        ]
    )
    out = repo / "results" / "train" / "mlp_2-blobs"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and 0.3 < metrics["test_accuracy"] <= 1.0
    assert metrics["measurements"]["test_cross_entropy"] > 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["packages"]["torch"] and prov["seed"] == 0 and prov["device"]["device"] == "cpu"
    record = json.loads((repo / "results" / "runs" / "train@mlp_2-blobs.json").read_text())
    assert record["git"]["commit"] and record["wall_time_s"] > 0 and record["resumed_from_epoch"] == 0
    threads = max(1, len(os.sched_getaffinity(0)) // 2)  # a worker's share of the cores
    assert prov["device"]["cpu_threads"] == threads
    assert prov["entries"]["architecture"]["mlp_2"] and prov["params"]["train"]["epochs"] == 3
    assert (out / "model.safetensors").stat().st_size > 0
    page = (repo / "reports" / "index.html").read_text()
    assert "mlp_2" in page and "n = 1 runs (0 diverged)" in page
    assert (repo / "reports" / "tables" / "training.csv").exists()
    # one PERSIST pair: the statistics say what they need instead of reporting numbers
    stats = json.loads((repo / "results" / "persist_statistics" / "statistics.json").read_text())
    assert stats["scopes"]["digits"]["loao"]["note"].startswith("LOAO needs at least 3 architectures")
    assert "LOAO (digits): LOAO needs at least 3" in page
    seen = render_in_chromium(repo / "reports" / "index.html", micro_repo.parent)
    assert seen["sections"] == ["training", "persist", "phi", "genesis", "connections"] and seen["images"]
    measures = json.loads(
        (repo / "results" / "phi" / "mlp_2-blobs" / "measure" / "measures.json").read_text()
    )
    final = measures["checkpoints"][-1]
    assert final["fraction"] == 1.0 and final["schemes"]["phi_layer"]["phi"] > 0 and final["pci"]["pci"] >= 0
    assert {c["estimator"] for c in measures["calibration"]} == {"ksg1", "ksg2", "gaussian", "mine"}
    plane = final["information_plane"]
    assert len(plane) == 2 and all(p["i_xt"] > 0 and p["i_ty"] > 0 for p in plane)  # blobs: vector inputs
    assert measures["robustness"] is None  # PGD is for image inputs
    assert "Φ_pair" in page and "phi_map_phi_layer.png" in page
    assert "p &lt; 0.05 before correction" in page  # paragraphs are HTML: a bare '<' would open a tag
    transfer = json.loads(
        (repo / "results" / "phi" / "mlp_2-blobs" / "transfer" / "transfer.json").read_text()
    )
    assert transfer["status"] == "ok" and -1 <= transfer["delta"] <= 1 and transfer["source_phi_pair"] > 0
    assert all(i["ok"] for i in seen["images"]), seen["images"]
    assert "mlp_2-blobs/metrics.json" in run(["dvc", "metrics", "show"], repo).stdout
    run(["dvc", "plots", "show", "--json"], repo)

    # a second repro with no change runs nothing
    assert ran_stages(run(["dvc", "repro"], repo)) == []

    # adding one entry (and syncing) runs only its stages and the aggregations downstream
    arch = repo / "registry" / "architectures.yaml"
    arch.write_text(arch.read_text() + "  mlp_2_narrow:\n    extends: mlp_2\n    tiny: {width: 16}\n")
    run(["harness", "sync"], repo)
    added = ran_stages(run(["dvc", "repro"], repo))
    assert sorted(added) == ["check", "report", "train@mlp_2_narrow-blobs"]

    # editing one entry re-runs only that entry's stages (and a variant of it, which depends on its base)
    arch.write_text(
        arch.read_text().replace(
            "  mlp_2_narrow:\n    extends: mlp_2\n    tiny: {width: 16}",
            "  mlp_2_narrow:\n    extends: mlp_2\n    tiny: {width: 12}",
        )
    )
    assert sorted(ran_stages(run(["dvc", "repro"], repo))) == ["check", "report", "train@mlp_2_narrow-blobs"]
    arch.write_text(arch.read_text().replace("tiny: {width: 64}", "tiny: {width: 48}"))
    edited_base = sorted(ran_stages(run(["dvc", "repro"], repo)))
    assert edited_base == [
        "check",
        "phi_measure@mlp_2-blobs",
        "phi_statistics",
        "phi_train@mlp_2-blobs",
        "phi_transfer@mlp_2-blobs",
        "report",
        "train@mlp_2-blobs",
        "train@mlp_2_narrow-blobs",
    ]

    # a transfer target (another dataset with the same inputs and 6 classes) re-runs only the stages that
    # read it: the source is phi_train's last checkpoint, its head is left at the scratch initialization
    datasets = repo / "registry" / "datasets.yaml"
    datasets.write_text(
        datasets.read_text() + "  blobs_six:\n    extends: blobs\n    num_classes: 6\n"
        "    kwargs: {centers: 6, random_state: 7}\n"
    )
    surveys = repo / "registry" / "surveys.yaml"
    phi_selection = "      datasets: [blobs]\n      measurements: [phi_layer]\n"
    assert phi_selection in surveys.read_text()
    surveys.write_text(
        surveys.read_text().replace(
            phi_selection, phi_selection + "      transfer_targets: {blobs: blobs_six}\n"
        )
    )
    run(["harness", "sync"], repo)
    assert sorted(ran_stages(run(["dvc", "repro"], repo))) == [
        "check",
        "data@blobs_six",
        "genesis_statistics",  # these read the profile entry (their pairs)
        "persist_statistics",
        "phi_statistics",
        "phi_transfer@mlp_2-blobs",
        "report",
    ]
    cross = json.loads((repo / "results" / "phi" / "mlp_2-blobs" / "transfer" / "transfer.json").read_text())
    assert cross["route"] == "blobs → blobs_six" and cross["status"] == "ok" and -1 <= cross["delta"] <= 1
    assert cross["reinitialized"] == ["4.bias", "4.weight"] and cross["copied_tensors"] == 4
    measured = json.loads(
        (repo / "results" / "phi" / "mlp_2-blobs" / "measure" / "measures.json").read_text()
    )
    assert cross["source_phi_pair"] == measured["checkpoints"][-1]["schemes"]["phi_layer"]["phi"]
    assert "blobs → blobs_six" in (repo / "reports" / "index.html").read_text()

    # a bad registry stops the pipeline at `check`, before any work, with the entry and field named
    good = arch.read_text()
    arch.write_text(good.replace("    family: mlp\n", "    family: mlp\n    widht: 3\n", 1))
    bad = run(["dvc", "repro", "--force"], repo, check=False)
    assert bad.returncode != 0
    assert "entry 'mlp_2', field 'widht': unknown key" in bad.stdout + bad.stderr
    assert ran_stages(bad) == ["check"]
    assert (out / "metrics.json").exists()  # nothing already computed was lost
    arch.write_text(good)

    # an entry added without `harness sync` is caught, not silently left out
    arch.write_text(good + "  mlp_2_wide:\n    extends: mlp_2\n    tiny: {width: 96}\n")
    stale = run(["dvc", "repro"], repo, check=False)
    assert stale.returncode != 0 and "run `harness sync`" in stale.stdout + stale.stderr
    arch.write_text(good)
    run(["harness", "sync"], repo)

    # any knob overrides the DVC way; a diverged run is recorded, not fatal, and the report shows it
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "state"], repo)
    exp = run(["dvc", "exp", "run", "-S", "train.lr=1e12", "-S", "train.weight_decay=0"], repo)
    assert "train@mlp_2-blobs" in ran_stages(exp)
    diverged = json.loads((out / "metrics.json").read_text())
    assert diverged["status"] == "diverged" and diverged["test_accuracy"] is None
    page = (repo / "reports" / "index.html").read_text()
    assert "2 diverged" in page and "mlp_2-blobs" in page


RECORDER = """
import atexit, json, runpy, sys
import harness.params as params

record, module, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sections = set()
read_section, read_params = params.read_section, params.read_params

def recording_read_section(name, *a, **k):
    sections.add(name)
    return read_section(name, *a, **k)

def recording_read_params(*a, **k):
    sections.update(n for n in params.SECTIONS if "." not in n)
    return read_params(*a, **k)

params.read_section, params.read_params = recording_read_section, recording_read_params

def dump():
    files = sorted(m.__file__ for n, m in list(sys.modules.items())
                   if n.split(".")[0] == "harness" and getattr(m, "__file__", None))
    json.dump({"modules": files, "sections": sorted(sections)}, open(record, "w"))

atexit.register(dump)
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__")
"""


@pytest.mark.slow
def test_stage_deps_and_params_are_exactly_what_each_stage_uses(micro_repo: Path, tmp_path: Path):
    """Run each stage under a recorder: every harness module it imported must be a declared dep, and
    the params.yaml sections it read must be exactly its declared params."""
    repo = micro_repo
    run(["dvc", "repro"], repo)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    # stage module -> one stage that runs it; its arguments are the ones dvc.lock recorded
    stages = {
        "check": "check",
        "data": "data@blobs",
        "train": "train@mlp_2-blobs",
        "report": "report",
        **{f"persist.{part}": f"persist_{part}@cnn_small-digits-s0" for part in PERSIST_PARTS},
        "persist.metrics": "persist_metrics@cnn_small-digits",
        "persist.statistics": "persist_statistics",
        **{f"phi.{part}": f"phi_{part}@mlp_2-blobs" for part in ("train", "measure", "transfer")},
        "phi.statistics": "phi_statistics",
        **{
            f"genesis.{part}": f"genesis_{part}@mlp_d1_w256-gaussian_inputs"
            for part in ("capacity", "information")
        },
        "genesis.double_descent": "genesis_double_descent",
        "genesis.statistics": "genesis_statistics",
    }
    commands = {}
    for kind, stage in stages.items():
        cmd = shlex.split(lock[stage]["cmd"])
        assert cmd[:3] == ["python", "-m", f"harness.stages.{kind}"], (stage, cmd)
        commands[kind] = (stage, cmd[3:])
    for kind, (stage, args) in commands.items():
        record = tmp_path / f"{kind}.json"
        # PYTHONPATH: import the copy's harness, as `python -m` in the copy does
        run(
            ["python", str(script), str(record), f"harness.stages.{kind}", *args],
            repo,
            env={"PYTHONPATH": str(repo)},
        )
        seen = json.loads(record.read_text())
        imported = {str(Path(f).resolve().relative_to(repo.resolve())) for f in seen["modules"]}
        declared = {d["path"] for d in lock[stage]["deps"]}
        assert imported <= declared, f"{stage} imports undeclared modules {sorted(imported - declared)}"
        assert set(seen["sections"]) == set(lock[stage].get("params", {}).get("params.yaml", {})), stage


@pytest.mark.slow
def test_training_is_deterministic_and_resumes_under_dvc_repro(tmp_path: Path):
    repo = copy_repo(tmp_path / "repo", keep_lock=False)
    _trim_to_mlp_2(repo)
    run(["harness", "sync", "--profile", "micro"], repo)
    params = repo / "params.yaml"
    # long enough (about 0.1 s an epoch here) that the kill lands mid-training
    params.write_text(
        params.read_text().replace("epochs: 3", "epochs: 60").replace("batch_size: 64", "batch_size: 16")
    )
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "long"], repo)
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}

    # kill the first repro mid-training, then repro again: it resumes from the last saved epoch
    cache = tmp_path / "cache-kill"
    proc = subprocess.Popen(
        ["dvc", "repro", "train@mlp_2-blobs"],
        cwd=repo,
        start_new_session=True,
        env={**env, "HARNESS_CACHE_DIR": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import torch

    deadline, state, epoch = time.time() + 180, None, 0
    while time.time() < deadline and epoch < 5:
        states = list(cache.glob("train/*/state.pt"))
        if states:
            state = states[0]
            try:
                epoch = torch.load(state, weights_only=True)["epoch"]
            except Exception:  # the glob may race the atomic rename of the first write
                epoch = 0
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state is not None, "training never saved a resumable state"
    saved_epoch = torch.load(state, weights_only=True)["epoch"]
    assert 5 <= saved_epoch < 60, f"the kill came too late to test resumption (epoch {saved_epoch})"
    out = repo / "results" / "train" / "mlp_2-blobs"
    assert not (out / "metrics.json").exists()

    resumed = run(["dvc", "repro", "train@mlp_2-blobs"], repo, env={"HARNESS_CACHE_DIR": str(cache)})
    assert "train@mlp_2-blobs" in ran_stages(resumed)
    record = repo / "results" / "runs" / "train@mlp_2-blobs.json"
    assert json.loads(record.read_text())["resumed_from_epoch"] >= saved_epoch
    resumed_metrics = (out / "metrics.json").read_text()
    resumed_model = (out / "model.safetensors").read_bytes()

    # reference: the same stage uninterrupted, from a fresh cache. Same seed, same CPU: bit-identical
    reference = run(
        ["dvc", "repro", "--force", "train@mlp_2-blobs"],
        repo,
        env={"HARNESS_CACHE_DIR": str(tmp_path / "cache-ref")},
    )
    assert "train@mlp_2-blobs" in ran_stages(reference)
    assert json.loads(record.read_text())["resumed_from_epoch"] == 0
    assert (out / "metrics.json").read_text() == resumed_metrics
    assert (out / "model.safetensors").read_bytes() == resumed_model


@pytest.mark.slow
def test_full_profile_lists_its_stages_and_stops_cleanly_without_data(tmp_path: Path):
    repo = copy_repo(tmp_path / "repo", keep_lock=False)
    run(["harness", "sync", "--profile", "full"], repo)
    listed = run(["dvc", "stage", "list", "--name-only"], repo).stdout.split()
    assert {"data@cifar10", "data@cifar100", "train@cnn_small-cifar100", "train@mlp_8-cifar10"} <= set(listed)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "full"], repo)
    # issue 18 item 7: every missing dataset in one message, not the first alone
    checked = run(["harness", "check"], repo, check=False)
    assert checked.returncode == 2 and re.search(r"\d+ datasets are missing", checked.stderr)
    for name, folder in (
        ("cifar10", "data/cifar-10-batches-py"),
        ("cifar100", "data/cifar-100-python"),
        ("cub200", "CUB_200_2011"),
    ):
        assert f"dataset '{name}'" in checked.stderr and folder in checked.stderr
    proc = run(["dvc", "repro"], repo, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "dataset 'cifar10'" in text and "data/cifar-10-batches-py" in text and "data.root" in text
    # `check` passes with a warning listing every missing dataset; DVC stops at the first data stage
    # (its data folder, a dep, is absent)
    assert (
        ran_stages(proc) == ["check"]
        and "datasets are missing" in text
        and "failed to reproduce 'data@" in text
    )
    assert not (repo / "results" / "train").exists()
    # one dataset present (a small CIFAR-10 in its real format): its stage runs while CIFAR-100's fails
    from tests.test_data import _write_cifar

    _write_cifar(
        repo / "data" / "cifar-10-batches-py",
        {**{f"data_batch_{i}": 5 for i in range(1, 6)}, "test_batch": 4},
        b"labels",
        10,
    )
    datasets = repo / "registry" / "datasets.yaml"
    text = datasets.read_text().replace("samples: 60000\n", "samples: 29\n", 1)
    datasets.write_text(text.replace("official_test_samples: 10000}", "official_test_samples: 4}", 1))
    proc = run(["harness", "run", "--jobs", "1", "data@cifar10", "data@cifar100"], repo, check=False)
    assert proc.returncode == 1 and "ran data@cifar10" in proc.stdout and "2 ran" in proc.stdout  # and check
    assert "dataset 'cifar100': folder data/cifar-100-python not found" in proc.stderr
    assert "failed: data@cifar100" in proc.stderr
    assert (
        json.loads((repo / "results" / "data" / "cifar10" / "manifest.json").read_text())["arrays"]["samples"]
        == 29
    )


def test_a_diverging_phi_network_is_recorded_and_the_phi_statistics_still_run(tmp_path: Path):
    """Issue 18, item 1: with phi.train.lr = 1e6 the network's weights become NaN during training. The
    checkpoint of the diverging epoch is recorded as "diverged" with no weights (not as reached with chance
    accuracy), phi_measure measures the checkpoints before it and exits 0 (a degenerate covariance is
    recorded, not raised), and phi_statistics lists the pair as diverged, outside every test."""

    def diverging(repo: Path) -> None:
        path = repo / "registry" / "surveys.yaml"
        old = "train: {epochs: 2, batch_size: 64, optimizer: sgd, lr: 0.05,"
        text = path.read_text()
        assert text.count(old) == 1
        path.write_text(
            text.replace(old, "train: {epochs: 2, batch_size: 64, optimizer: sgd, lr: 1000000.0,")
        )

    repo = micro_repo_copy(tmp_path / "repo", diverging)
    out = run(["harness", "run", "--jobs", "2", "phi_statistics"], repo)
    assert "0 failed" in out.stdout, out.stdout
    trained = json.loads((repo / "results/phi/mlp_2-blobs/train/metrics.json").read_text())
    assert trained["status"] == "diverged"
    statuses = [c.get("status", "reached") for c in trained["checkpoints"]]
    assert statuses[0] == "reached" and "diverged" in statuses, statuses
    for c in trained["checkpoints"]:
        weights = (
            repo
            / "results/phi/mlp_2-blobs/train/checkpoints"
            / f"{checkpoint_name(c['fraction'])}.safetensors"
        )
        assert weights.exists() == (c.get("status", "reached") == "reached")
    measures = json.loads((repo / "results/phi/mlp_2-blobs/measure/measures.json").read_text())
    assert measures["status"] == "diverged" and measures["checkpoints"][0]["schemes"]
    stats = json.loads((repo / "results/phi_statistics/statistics.json").read_text())
    assert [r["status"] for r in stats["rows"]] == ["diverged"] and stats["rows"][0]["layer_phi"] is None
    assert "up to date" in run(["dvc", "status", "phi_statistics"], repo).stdout


@pytest.mark.slow
def test_a_lock_write_cut_off_by_a_kill_is_recovered_without_losing_a_stage(tmp_path: Path):
    """Issue 18 item 2: SIGKILL to `dvc repro` while DVC rewrites dvc.lock leaves it empty or cut off, and
    DVC refuses to run after that. `harness status` names the recovery; `harness run` performs it and
    restores the finished stages from the run-cache instead of running them again."""
    from harness.pipeline.lockfile import lock_problem
    from tests.conftest import kill_repro_when

    repo = micro_repo_copy(tmp_path / "repo")
    run(["dvc", "repro", "data@blobs"], repo)
    lock = repo / "dvc.lock"
    size = lock.stat().st_size

    def truncated() -> bool:
        return lock.exists() and lock.stat().st_size < size

    # the kill lands while DVC writes the lock after the training stage
    kill_repro_when(repo, "train@mlp_2-blobs", tmp_path / "cache", truncated, poll=0.001)
    assert lock_problem(lock) is not None, lock.read_text()
    assert run(["dvc", "status"], repo, check=False).returncode != 0  # the fault: DVC stops here
    status = run(["harness", "status"], repo, check=False)
    assert status.returncode == 2 and "`harness run` recovers it" in status.stderr
    env = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    recovered = run(["harness", "run", "--jobs", "1", "train@mlp_2-blobs"], repo, env=env)
    assert "dvc.lock recovered" in recovered.stderr and list(
        (repo / ".dvc" / "tmp").glob("dvc.lock.broken-*")
    )
    # only `check` runs again (its output is not cached); the data and the trained network come back
    assert "restored train@mlp_2-blobs from the run-cache" in recovered.stdout, recovered.stdout
    assert "1 ran, 2 restored from the run-cache" in recovered.stdout
    assert "up to date" in run(["dvc", "status", "train@mlp_2-blobs"], repo).stdout


@pytest.mark.slow
def test_damaged_cache_entries_are_recomputed_and_a_damaged_output_is_named(tmp_path: Path):
    """Issue 18 item 3: a garbled task-A state and a truncated PHI checkpoint in the harness cache were used
    (exit 0, wrong weights; a 100-byte checkpoint copied into results/); a truncated upstream output was a
    raw traceback naming no file."""
    repo = micro_repo_copy(tmp_path / "repo")
    cache = tmp_path / "cache"
    env = {"HARNESS_CACHE_DIR": str(cache)}
    task_a, phi = "persist_task_a@cnn_small-digits-s0", "phi_train@mlp_2-blobs"
    run(["dvc", "repro", task_a, phi], repo, env=env)
    outs = {
        task_a: repo / "results/persist/cnn_small-digits-s0/task_a",
        phi: repo / "results/phi/mlp_2-blobs/train",
    }

    def outputs(stage: str) -> dict[str, bytes]:
        root = outs[stage]
        return {
            str(f.relative_to(root)): f.read_bytes()
            for f in sorted(root.rglob("*"))
            if f.is_file() and f.name != "provenance.json"
        }

    first = {s: outputs(s) for s in outs}
    (state,) = (cache / "persist_task_a").glob("*/state.pt")
    data = bytearray(state.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    state.write_bytes(bytes(data))
    (ckpt,) = (cache / "phi_train").glob("*/checkpoints/p050.safetensors")
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    again = run(["dvc", "repro", "--force", "--single-item", task_a, phi], repo, env=env)
    assert f"{state} fails its checksum" in again.stderr and "restarting training" in again.stderr
    assert {s: outputs(s) for s in outs} == first  # recomputed from scratch, bit for bit
    # a truncated upstream output: one line naming it, no traceback
    weights = outs[task_a] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    broken = run(
        ["dvc", "repro", "--single-item", "persist_landscape@cnn_small-digits-s0"], repo, env=env, check=False
    )
    assert broken.returncode != 0 and f"{weights.relative_to(repo)}: cannot be read" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.slow
def test_a_forced_rerun_changes_nothing_downstream_depends_on(tmp_path: Path):
    """Issue 18 item 4: wall times and resume counters inside a tracked output directory changed its hash
    on every re-run, so re-running one stage re-ran everything downstream. They now go to the stage's
    run record (results/runs/<stage>.json), which no stage depends on."""
    repo = micro_repo_copy(tmp_path / "repo")
    env = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    task_a, landscape = "persist_task_a@cnn_small-digits-s0", "persist_landscape@cnn_small-digits-s0"
    run(["dvc", "repro", landscape], repo, env=env)
    record = repo / "results" / "runs" / f"{task_a}.json"
    before = json.loads(record.read_text())
    rerun = run(
        ["dvc", "repro", "--force", "--single-item", task_a],
        repo,
        env={"HARNESS_CACHE_DIR": str(tmp_path / "fresh")},
    )
    assert ran_stages(rerun) == [task_a]
    assert json.loads(record.read_text())["started_utc"] >= before["started_utc"]
    status = run(["dvc", "status", landscape], repo).stdout
    assert "up to date" in status, status


@pytest.mark.slow
def test_a_lock_a_running_dvc_repro_is_writing_is_not_taken_for_broken(tmp_path: Path):
    """DVC empties dvc.lock at the start of every write: while `dvc repro` runs, an empty file is not a
    broken one, and neither `harness status` nor `harness run` may act on it (review of item 2)."""
    from harness.pipeline.lockfile import BrokenLockError, check_lock, lock_problem, recover_lock

    repo = micro_repo_copy(tmp_path / "repo")
    run(["dvc", "repro", "data@blobs"], repo)
    lock = repo / "dvc.lock"
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HARNESS_CACHE_DIR": str(tmp_path / "c")}
    stages = ["data@blobs", "data@digits", "data@gaussian_inputs"]
    proc = subprocess.Popen(
        ["dvc", "repro", "--force", *stages],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen_mid_write = judged_broken = recovered = 0
    while proc.poll() is None:
        seen_mid_write += lock_problem(lock) is not None
        try:
            check_lock(lock)
        except BrokenLockError:
            judged_broken += 1
        recovered += recover_lock(lock) is not None
    assert proc.returncode == 0 and seen_mid_write > 0, "the poll never saw DVC mid-write"
    assert judged_broken == 0 and recovered == 0 and lock_problem(lock) is None
