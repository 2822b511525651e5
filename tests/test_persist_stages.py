"""The science inside the PERSIST stages, on hand-made inputs: topology summaries, retention, schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.measurements.topology import bottleneck_distance
from harness.params import ForgettingConfig, ParamsError, read_section
from harness.pipeline.selection import Run, parse_run
from harness.stages.persist.forgetting import retention_metrics
from harness.stages.persist.landscape import direction_seeds
from harness.stages.persist.topology import aggregate, slice_topology
from harness.statistics.predictors import PREDICTORS
from harness.training.config import TrainConfig
from harness.training.loop import Hooks, Split, Splits, train_classifier
from tests.conftest import REPO


def _two_basins(n: int = 41) -> np.ndarray:
    """Two Gaussian wells: depth 1 at the centre, depth 0.6 off to one side; a saddle between them."""
    a = np.linspace(-1, 1, n)
    x, y = np.meshgrid(a, a, indexing="ij")
    return 1.0 - np.exp(-(x**2 + y**2) / 0.05) - 0.6 * np.exp(-((x - 0.55) ** 2 + y**2) / 0.02)


def test_slice_topology_of_two_basins_has_one_finite_h0_bar_ending_at_the_saddle():
    grid = _two_basins()
    summary, diagrams = slice_topology(grid, np.full_like(grid, 1e-3), noise_sigmas=2.0)
    g32 = grid.astype(np.float32).astype(np.float64)
    # the shallow basin (rows over x) is born at its minimum and dies at the saddle on the line y = 0
    shallow_min = g32[28:].min()
    saddle = g32[20:32, 20].max()
    for short in ("ripser", "cubical"):
        h0 = diagrams[short][0]
        finite = h0[np.isfinite(h0[:, 1])]
        assert len(finite) == 1 and (~np.isfinite(h0[:, 1])).sum() == 1
        assert finite[0, 0] == pytest.approx(shallow_min, abs=1e-6)
        assert finite[0, 1] == pytest.approx(saddle, abs=1e-6)
        assert summary[f"h0_total_persistence_{short}"] == pytest.approx(saddle - shallow_min, abs=1e-6)
        assert summary[f"h0_n_above_threshold_{short}"] == 1 and summary[f"h1_total_persistence_{short}"] == 0
    assert summary["noise_threshold"] == pytest.approx(2e-3)
    assert summary["h0_bottleneck_ripser_vs_cubical"] == pytest.approx(0.0, abs=1e-6)
    # the centre's basin is left over the grid's edge (loss ≈ 1, above every interior point), so the
    # barrier is the lowest boundary value minus the centre's, not the lower saddle's height
    boundary = np.concatenate([g32[0], g32[-1], g32[:, 0], g32[:, -1]])
    assert summary["barrier"] == pytest.approx(boundary.min() - g32[20, 20], abs=1e-9)
    assert summary["barrier"] > saddle - g32[20, 20] + 0.1


def test_aggregate_over_slices_skips_missing_values():
    assert aggregate([1.0, 3.0, None, float("inf")]) == {
        "mean": 2.0,
        "median": 2.0,
        "std": np.sqrt(2),
        "n": 2,
    }
    assert aggregate([None]) == {"mean": None, "median": None, "std": None, "n": 0}
    assert aggregate([4.0])["std"] == 0.0


def test_bottleneck_distance_matches_finite_bars_and_essential_classes_separately():
    a = np.array([[0.0, 1.0], [0.2, np.inf]])
    assert bottleneck_distance(a, a) == 0.0
    assert bottleneck_distance(a, np.array([[0.0, 1.5], [0.2, np.inf]])) == pytest.approx(0.5)
    assert bottleneck_distance(a, np.array([[0.0, 1.0], [0.5, np.inf]])) == pytest.approx(0.3)
    assert bottleneck_distance(a, np.array([[0.0, 1.0]])) == np.inf
    # an unmatched short bar goes to the diagonal: half its length
    assert bottleneck_distance(np.zeros((0, 2)), np.array([[0.0, 0.4]])) == pytest.approx(0.2)


def test_the_stage_names_each_retention_metric_by_its_k_and_horizon():
    curve = {0: 0.8, 10: 0.6, 100: 0.4, 500: 0.2, 1000: 0.4}
    m = retention_metrics(curve, [10, 100], 500)
    assert set(m) == {"ret@10", "ret@100", "early_aurc@500", "forgetting", "max_drop"}
    assert m["ret@100"] == pytest.approx(0.5) and m["max_drop"] == pytest.approx(0.6)


def test_forgetting_schedule_must_measure_its_horizon_and_start_at_zero():
    with pytest.raises(ValueError, match=r"\[100\] are not"):
        ForgettingConfig(steps=[0, 10, 50], early_window=50, retention_steps=[10, 100])
    with pytest.raises(ValueError, match="must start at 0"):
        ForgettingConfig(steps=[5, 10], early_window=10, retention_steps=[10])


def test_a_bad_persist_param_names_the_subsection_and_field(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("noise_sigmas: 2.0", "noise_sigmas: -1")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match=r"field 'persist.topology.noise_sigmas'"):
        read_section("persist.topology", tmp_path / "params.yaml")
    assert read_section("persist.landscape", REPO / "params.yaml").slices == 3


def test_run_keys_round_trip_and_slice_seeds_are_distinct():
    run = Run("wrn_28_1", "digits", 3)
    assert run.key == "wrn_28_1-digits-s3" and parse_run(run.key) == run
    with pytest.raises(ValueError):
        parse_run("wrn_28_1-digits")
    seeds = [s for r in range(3) for k in range(5) for s in direction_seeds(r, k)]
    assert len(set(seeds)) == len(seeds)


def test_predictors_are_twelve_documented_names():
    assert len(PREDICTORS) == 12
    doc = (REPO / "docs" / "persist.md").read_text()
    for name in PREDICTORS:
        assert f"`{name}`" in doc


def test_max_steps_ends_mid_epoch_and_the_cosine_schedule_spans_exactly_those_steps():
    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    data = Splits(Split(x, y), Split(x[:8], y[:8]), Split(x[:8], y[:8]))
    model = nn.Linear(3, 2)
    cfg = TrainConfig(epochs=100, batch_size=8, lr=0.1, schedule="cosine")  # 5 steps an epoch
    seen: list[int] = []
    result = train_classifier(
        model,
        data,
        cfg,
        seed=0,
        hooks=Hooks(evaluate_at_steps=[0, 3, 12], on_evaluate=lambda step, m: seen.append(step)),
        progress=False,
        max_steps=12,
    )
    assert result.steps == 12 and seen == [0, 3, 12]
    assert [r["step"] for r in result.history] == [5, 10, 12]
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
