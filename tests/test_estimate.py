"""Cost estimates of a profile from measured step times."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from harness.params import validate_params
from harness.pipeline.estimate import estimate_train, render_estimate
from tests.conftest import REPO


def _write_costs(repo: Path, name: str, rows: list[dict], machine: dict) -> None:
    (repo / "docs").mkdir(parents=True, exist_ok=True)
    (repo / "docs" / name).write_text(json.dumps({"machine": machine, "steps": rows}))


def test_estimate_from_measured_step_times(tmp_path: Path, registries):
    params = validate_params(registries.profiles["full"].params, "full")
    rows = [{"architecture": "mlp_2", "size": "full", "shape": [3072], "harness_step_ms": 10.0, "batch": 64}]
    _write_costs(tmp_path, "benchmarks-cuda.json", rows, {"gpu": "Test GPU"})
    costs = {c.stage: c for c in estimate_train(registries, params, "cuda", tmp_path)}
    # CIFAR-100: 60,000 - 10,000 official test - 6,000 validation = 44,000 training images
    steps = 100 * math.ceil(44_000 / 128)
    assert costs["train@mlp_2-cifar100"].steps == steps
    assert math.isclose(costs["train@mlp_2-cifar100"].seconds, steps * 0.010 * 128 / 64)
    assert costs["train@mlp_2-cifar10"].seconds == costs["train@mlp_2-cifar100"].seconds  # same input shape
    assert costs["train@mlp_4-cifar100"].seconds is None  # unmeasured: listed, not guessed
    text = render_estimate(registries, params, tmp_path)
    assert "Test GPU" in text and "unmeasured (no docs/measurements" in text  # no card figures: no guess


def test_every_stage_kind_of_the_full_profile_has_an_estimate_or_says_why_not(registries):
    from harness.pipeline.estimate import CPU_KINDS, estimate_stages, expand_stages
    from harness.pipeline.generate import build_pipeline

    params = validate_params(registries.profiles["full"].params, "full")
    pipeline = build_pipeline(registries, params, REPO)
    kinds = {name.partition("@")[0] for name in expand_stages(pipeline)}
    rows, card = estimate_stages(registries, params, REPO, pipeline)
    assert card == "NVIDIA H200" and {r.kind for r in rows} == kinds
    for r in rows:
        if r.kind in CPU_KINDS:
            assert r.seconds == 0 and r.note == "CPU stage"
        elif r.seconds is None:
            assert r.note.startswith("unmeasured: "), r
        else:
            assert 0 < r.seconds <= r.worst_seconds, r
    measured = {r.kind for r in rows if r.seconds}
    assert kinds - CPU_KINDS <= measured  # every GPU kind has at least one measured stage
    text = render_estimate(registries, params, REPO)
    assert "on 8 GPUs:" in text and "on 64 GPUs:" in text and "critical path:" in text


def test_unit_costs_follow_the_documented_formulas(registries):
    from harness.pipeline.estimate import REFERENCE, _Model, load_card_figures

    params = validate_params(registries.profiles["full"].params, "full")
    card = load_card_figures(REPO)
    model = _Model(registries, params, card, {})
    s = card.step_s[("resnet18", "cifar100")]
    assert REFERENCE == (("resnet18", "cifar100")) and math.isclose(s, 0.095 / 4)
    t, _, _ = model.pair_stage("train", "resnet18", "cifar100")
    # 44,000 training and 6,000 validation images, 100 epochs at batch 128
    assert math.isclose(t, 100 * (math.ceil(44_000 / 128) * s + 6_000 * s / 384))
    land, _, _ = model.pair_stage("persist_landscape", "resnet18", "cifar100")
    c = params.persist.landscape
    per_point_sample = 1.0066 / (64 * 1024)  # the H200's 64-point grid over 1,024 samples
    assert c.points_per_batch == 1  # the full profile evaluates grid points one at a time: no vmap factor
    assert math.isclose(land, c.slices * c.resolution**2 * c.eval_samples * per_point_sample)
    # a network measured only on CIFAR-100 takes the same step on CIFAR-10 (same input shape)
    assert model.step("resnet18", "cifar10") == s
    assert model.step("lstm_2", "cifar10") is None


def test_dag_expansion_matches_dvc_and_the_makespan_is_list_scheduling():
    from dvc.repo import Repo

    from harness.pipeline.estimate import expand_stages, makespan, upstream_stages

    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    upstream = upstream_stages(expand_stages(pipeline))
    with Repo(str(REPO)) as repo:
        graph = repo.index.graph
        dvc_edges = {(s.addressing, u.addressing) for s in graph for u in graph.successors(s)}
    assert {(s, u) for s, ups in upstream.items() for u in ups} == dvc_edges

    # a → b (1 h + 2 h) beside c (3 h): 6 h on one GPU, 3 h on two (the critical path)
    durations, dag = {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": set(), "b": {"a"}, "c": set()}
    assert makespan(durations, dag, 1) == 6.0 and makespan(durations, dag, 2) == 3.0
    # longest chain first: on 2 GPUs, c and d (listed first) must not delay the chain a → b → e
    durations = {"c": 1.0, "d": 1.0, "a": 1.0, "b": 1.0, "e": 1.0}
    dag = {"c": set(), "d": set(), "a": set(), "b": {"a"}, "e": {"b"}}
    assert makespan(durations, dag, 2) == 3.0  # first come, first served would take 4
