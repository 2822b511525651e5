"""PERSIST stages end to end on the micro profile: outputs, metrics, and a killed landscape that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from harness.statistics.predictors import PREDICTORS
from tests.conftest import VENV_BIN, copy_repo, micro_repo_copy, ran_stages, run

RUN = "cnn_small-digits-s0"
PAIR = "cnn_small-digits"


@pytest.fixture(scope="module")
def persist_repo(tmp_path_factory) -> Path:
    return micro_repo_copy(tmp_path_factory.mktemp("persist"))


@pytest.mark.slow
def test_persist_stages_write_every_output_and_the_twelve_predictors(persist_repo: Path):
    repo = persist_repo
    proc = run(["dvc", "repro", f"persist_metrics@{PAIR}"], repo)
    parts = ["task_a", "landscape", "topology", "curvature", "forgetting"]
    ran = ran_stages(proc)
    assert sorted(ran) == sorted(
        ["check", "data@digits", *(f"persist_{p}@{RUN}" for p in parts), f"persist_metrics@{PAIR}"]
    )
    # DVC orders independent stages as it likes; only the dependencies are fixed
    at = {name.split("@")[0]: i for i, name in enumerate(ran)}
    for before, after in [
        ("persist_task_a", "persist_landscape"),
        ("persist_landscape", "persist_topology"),
        ("persist_task_a", "persist_curvature"),
        ("persist_task_a", "persist_forgetting"),
    ]:
        assert at[before] < at[after] < at["persist_metrics"]
    root = repo / "results" / "persist"
    task_a = json.loads((root / RUN / "task_a" / "metrics.json").read_text())
    assert task_a["status"] == "ok" and task_a["classes"] == 5 and task_a["test_accuracy"] > 0.2

    meta = json.loads((root / RUN / "landscape" / "metadata.json").read_text())
    assert len(meta["slices"]) == 2 and meta["resolution"] == 7 and meta["eval_samples"] == 64
    seeds = [tuple(s["direction_seeds"]) for s in meta["slices"]]
    hashes = [h for s in meta["slices"] for h in s["direction_sha256"]]
    assert len(set(seeds)) == 2 and len(set(hashes)) == 4, "slices must use distinct directions"
    assert all(abs(s["direction_cosine"]) < 0.5 for s in meta["slices"])
    grid = np.load(root / RUN / "landscape" / "slice_0_loss.npy")
    assert grid.shape == (7, 7) and np.isfinite(grid).all()
    assert grid[3, 3] == pytest.approx(meta["slices"][0]["loss_centre"])
    assert (root / RUN / "landscape" / "slice_0.png").stat().st_size > 1000

    topo = json.loads((root / RUN / "topology" / "topology.json").read_text())
    assert topo["status"] == "ok" and len(topo["slices"]) == 2
    first = topo["slices"][0]
    assert first["h0_essential_ripser"] == 1 and first["h0_essential_cubical"] == 1  # the global minimum
    assert first["barrier"] >= 0 and first["h0_bottleneck_ripser_vs_cubical"] >= 0
    assert topo["aggregate"]["barrier"]["n"] == 2

    curv = json.loads((root / RUN / "curvature" / "curvature.json").read_text())
    assert curv["hessian_trace_stderr"] > 0 and curv["eigen_iterations"] >= 1 and curv["fisher_trace"] > 0

    forg = json.loads((root / RUN / "forgetting" / "forgetting.json").read_text())
    assert set(forg["variants"]) == {"naive", "ewc", "cosine"}
    naive = forg["variants"]["naive"]
    assert set(naive["task_a_accuracy"]) == {"0", "1", "2", "5", "10"}
    assert naive["task_a_accuracy"]["0"] == pytest.approx(task_a["test_accuracy"])
    assert set(forg["ewc_benefit"]) == {"ret@1", "ret@5", "early_aurc@5", "forgetting", "max_drop"}

    metrics = json.loads((root / PAIR / "metrics" / "metrics.json").read_text())
    assert set(metrics["predictors"]) == set(PREDICTORS) and len(PREDICTORS) == 12
    assert metrics["n_runs_ok"] == 1 and metrics["log_params"] == pytest.approx(np.log(task_a["params"]))
    assert metrics["predictors"]["basin_barrier"] == pytest.approx(topo["aggregate"]["barrier"]["mean"])
    assert metrics["retention"]["naive"]["forgetting"] == pytest.approx(naive["metrics"]["forgetting"])
    assert f"{PAIR}/metrics/metrics.json" in run(["dvc", "metrics", "show"], repo).stdout

    # a topology parameter re-runs topology and what reads it, never the landscape or training
    run(["dvc", "exp", "run", "-S", "persist.topology.noise_sigmas=5", f"persist_metrics@{PAIR}"], repo)
    topo5 = json.loads((root / RUN / "topology" / "topology.json").read_text())
    assert topo5["noise_sigmas"] == 5.0


@pytest.mark.slow
def test_a_killed_landscape_resumes_under_dvc_repro_with_identical_grids(tmp_path: Path):
    repo = copy_repo(tmp_path / "repo", keep_lock=False)
    run(["harness", "sync", "--profile", "micro"], repo)
    params = repo / "params.yaml"
    # one slice big enough that the kill lands mid-slice; partial grids saved every 0.2 s
    text = (
        params.read_text()
        .replace("slices: 2", "slices: 1")
        .replace("resolution: 7", "resolution: 33")
        .replace("save_every_seconds: 0.5", "save_every_seconds: 0.2")
    )
    params.write_text(text.replace("eval_samples: 64", "eval_samples: 256"))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "long"], repo)
    run(["dvc", "repro", f"persist_task_a@{RUN}"], repo)

    cache = tmp_path / "cache-kill"
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HARNESS_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        ["dvc", "repro", f"persist_landscape@{RUN}"],
        cwd=repo,
        start_new_session=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline, done = time.time() + 180, 0
    while time.time() < deadline and done < 200:
        partial = list(cache.glob("persist_landscape/*/slice_0.npz"))
        if partial:
            try:
                done = int(np.isfinite(np.load(partial[0])["loss"]).sum())
            except Exception:  # the glob may race the atomic rename
                done = 0
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = int(np.isfinite(np.load(partial[0])["loss"]).sum())
    assert 200 <= saved < 33 * 33, f"the kill came too late to test resumption ({saved} points)"
    out = repo / "results" / "persist" / RUN / "landscape"
    assert not (out / "metadata.json").exists()

    resumed = run(["dvc", "repro", f"persist_landscape@{RUN}"], repo, env={"HARNESS_CACHE_DIR": str(cache)})
    assert f"persist_landscape@{RUN}" in ran_stages(resumed)
    record = repo / "results" / "runs" / f"persist_landscape@{RUN}.json"
    assert json.loads(record.read_text())["slices"]["0"]["points_resumed"] >= saved
    resumed_grids = [np.load(out / f"slice_{k}_loss.npy") for k in range(1)]

    reference = run(
        ["dvc", "repro", "--force", "--single-item", f"persist_landscape@{RUN}"],
        repo,
        env={"HARNESS_CACHE_DIR": str(tmp_path / "cache-ref")},
    )
    assert f"persist_landscape@{RUN}" in ran_stages(reference)
    assert json.loads(record.read_text())["slices"]["0"]["points_resumed"] == 0
    for k in range(1):
        np.testing.assert_array_equal(np.load(out / f"slice_{k}_loss.npy"), resumed_grids[k])
