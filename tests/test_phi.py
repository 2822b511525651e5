"""PHI modules, PCA, PCI on networks, trajectory shapes and the survey statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data.adapt import adapt_inputs
from harness.data.load import load_dataset
from harness.measurements.modules import (
    SCHEMES,
    SchemeNotApplicable,
    capture_modules,
    fit_pca,
    layer_responses,
    project,
)
from harness.measurements.perturbation import perturbational_complexity
from harness.models.build import bind_to_data, build_architecture
from harness.models.mlp import build_mlp
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import compatible
from harness.stages.phi.common import checkpoint_name
from harness.statistics.phi_survey import classify_trajectory, phi_statistics
from tests.test_registry import _REG

PHI_ARCHS = [k for k, a in _REG.architectures.items() if "phi" in a.experiments]
EMBEDDED = ("digits", "char_corpus", "sbm_graph")
# schemes that must apply to each family (the others must raise SchemeNotApplicable)
APPLIES = {
    "mlp": {"layer"},
    "resnet": {"layer", "channel_groups"},
    "transformer": {"layer", "positions", "attention_heads"},
    "vit": {"layer", "positions", "attention_heads"},
    "rnn": {"layer", "positions"},
    "gnn": {"layer"},
}


def _tiny(key: str):
    arch = _REG.architectures[key]
    dataset = next(d for d in EMBEDDED if compatible(arch, _REG.datasets[d]))
    data = load_dataset(dataset, _REG.datasets[dataset], "data")
    torch.manual_seed(0)
    model = build_architecture(arch, _REG.datasets[dataset], "tiny")
    model, samples = bind_to_data(
        model, data, adapt_inputs(data.inputs, plan_adaptation(_REG.datasets[dataset], arch, "tiny"))
    )
    return arch, model.eval(), torch.from_numpy(samples[:40])


@pytest.mark.parametrize("key", PHI_ARCHS)
def test_every_phi_architecture_has_its_family_schemes(key):
    arch, model, inputs = _tiny(key)
    applied = set()
    for scheme in SCHEMES:
        try:
            modules = capture_modules(model, inputs, scheme)
        except SchemeNotApplicable:
            continue
        applied.add(scheme)
        assert len(modules) >= 2
        assert all(
            v.shape[0] == len(inputs) and v.dim() == 2 and torch.isfinite(v).all() for v in modules.values()
        )
    assert applied == APPLIES[arch.family]


def test_layer_modules_of_an_mlp_are_its_hidden_relus():
    torch.manual_seed(0)
    model = build_mlp(in_features=5, num_classes=3, depth=3, width=7)
    x = torch.randn(11, 5)
    modules = capture_modules(model, x, "layer")
    assert list(modules) == ["1", "3", "5"]
    expected = torch.relu(model[0](x))
    assert torch.allclose(modules["1"], expected)


def test_recurrent_layers_rerun_one_at_a_time_equal_the_stacked_rnn():
    _, model, tokens = _tiny("lstm_2")
    modules = capture_modules(model, tokens, "layer")
    out, _ = model.rnn(model.embedding(tokens))
    assert torch.allclose(modules["rnn.layer1"], out[:, -1], atol=1e-6)


def test_attention_heads_concatenate_to_the_projection_input():
    _, model, inputs = _tiny("vit_small")
    heads = capture_modules(model, inputs, "attention_heads")
    assert len(heads) == model.blocks[-1].attn.num_heads


def test_pca_keeps_the_requested_components_and_reports_explained_variance():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((300, 2))
    x = torch.from_numpy(latent @ rng.standard_normal((2, 10)) + 0.01 * rng.standard_normal((300, 10)))
    pca = fit_pca(x, 2)
    assert pca.components.shape == (10, 2)
    assert pca.explained_variance_ratio > 0.999
    z = project(pca, x)
    assert z.shape == (300, 2) and abs(z.mean()) < 1e-9


def test_pci_is_seeded_and_zero_noise_gives_no_response():
    torch.manual_seed(0)
    model = build_mlp(in_features=6, num_classes=3, depth=4, width=16).eval()
    inputs = torch.randn(60, 6)
    pcas = [fit_pca(m, 4) for m in layer_responses(model, torch.randn(200, 6), None)]
    a = perturbational_complexity(model, inputs, pcas, noise_scale=1.0, components=4, seed=3)
    b = perturbational_complexity(model, inputs, pcas, noise_scale=1.0, components=4, seed=3)
    assert a == b
    assert a["rows"] == 3 * 4 and a["trials"] == 60 and 0 < a["p1"] < 1 and a["pci"] > 0
    silent = perturbational_complexity(model, inputs, pcas, noise_scale=1e-12, components=4, seed=3)
    assert silent["p1"] == 0.0 and silent["pci"] == 0.0


@pytest.mark.parametrize(
    ("values", "shape"),
    [
        ([1, 2, 3, 4, 5], "monotonic"),
        ([5, 4, 4, 2, 1], "monotonic"),
        ([1, 3, 5, 3, 1], "peaked"),
        ([1, 3, 1, 3, 1], "oscillating"),
        ([2, 2, 2], "flat"),
        ([1, 2, 2.001, 3, 4], "monotonic"),
        ([1, 2, 1.999, 3, 4], "monotonic"),  # the dip is under 5% of the range
    ],
)
def test_trajectory_classification_rule(values, shape):
    assert classify_trajectory(values, 0.05) == shape


def _record(arch, phi_values, gap, pci, modules=3):
    cut_pairs = (modules // 2) * (modules - modules // 2)
    checkpoints = [
        {
            "fraction": f,
            "gap": gap,
            "test_accuracy": 0.9,
            "pci": {"pci": pci, "p1": 0.3, "lz_normalized": 0.8 * pci},
            "schemes": {
                "phi_layer": {
                    "phi": v,
                    "mean_cut_mi": v / cut_pairs,
                    "dims": [8] * modules,
                    "ci": [v - 0.1, v + 0.1],
                    "modules": [f"m{i}" for i in range(modules)],
                    "phi_gaussian": 2 * v,
                    "exhaustive_gap": 0.0,
                }
            },
        }
        for f, v in zip((0.0, 0.5, 1.0), phi_values, strict=True)
    ]
    calibration = [{"estimator": "ksg1", "recovered": 0.5}, {"estimator": "gaussian", "recovered": 1.0}]
    return {
        "architecture": arch,
        "dataset": "digits",
        "family": "mlp",
        "status": "ok",
        "n_probe": 100,
        "checkpoints": checkpoints,
        "calibration": calibration,
        "layer_scheme": "phi_layer",
    }


def test_phi_statistics_correlations_and_bonferroni():
    records = [_record(f"net{i}", [1.0, 1.5 + i, 2.0 + i], gap=0.01 * i, pci=0.1 * i) for i in range(6)]
    transfers = [{"status": "ok", "source_phi_pair": float(i), "delta": 0.1 * i} for i in range(6)]
    stats = phi_statistics(records, level=0.05, tolerance=0.05, transfers=transfers, n_boot=20)
    tests = {t["test"] + t["method"]: t for t in stats["tests"]}
    gap = tests["Φ_pair per cut pair[phi_layer] vs generalization gapspearman"]
    assert gap["n"] == 6 and gap["statistic"] == pytest.approx(1.0) and gap["p_method"] == "exact"
    assert gap["modules"] == [3] * 6 and gap["probe_n"] == [100] * 6 and gap["dims"] == [[8]] * 6
    primary = [t for t in stats["tests"] if t["family"] == "primary" and t["statistic"] is not None]
    assert (
        gap["family"] == "primary" and gap["family_size"] == len(primary) == 3
    )  # gap, PCI, transfer (no PGD)
    assert gap["p_bonferroni"] == pytest.approx(min(1.0, gap["p_value"] * 3))
    assert tests["Φ_pair (raw)[phi_layer] vs generalization gapspearman"]["family"] == "secondary"
    undefined = tests["Φ_pair per cut pair[layer] vs PGD success ratespearman"]
    assert undefined["n"] == 0 and undefined["p_bonferroni"] is None and not undefined["significant"]
    pci = tests["PCI vs Φ_pair per cut pair[layer]kendall"]
    assert pci["n"] == 6 and pci["statistic"] == pytest.approx(1.0)
    assert stats["trajectory_shapes"]["phi_layer"] == {"monotonic": 6}
    assert stats["calibration_recovered"]["ksg1"]["median"] == 0.5


def test_a_diverged_network_is_listed_but_not_tested():
    # issue 18: a network that diverged keeps the checkpoints it reached before diverging (here 0 and 0.5);
    # an earlier checkpoint must not stand in for its end-of-training Φ in the cross-architecture tests
    records = [_record(f"net{i}", [1.0, 1.5 + i, 2.0 + i], gap=0.01 * i, pci=0.1 * i) for i in range(5)]
    diverged = _record("blown", [1.0, 9.0, 9.0], gap=0.5, pci=0.9)
    diverged["status"] = "diverged"
    diverged["checkpoints"][-1] = {"fraction": 1.0, "status": "diverged", "schemes": {}, "pci": None}
    stats = phi_statistics([*records, diverged], level=0.05, tolerance=0.05, n_boot=20)
    row = next(r for r in stats["rows"] if r["architecture"] == "blown")
    assert row["status"] == "diverged" and row["gap"] is None and row["layer_phi"] is None
    tests = {t["test"] + t["method"]: t for t in stats["tests"]}
    assert tests["Φ_pair per cut pair[phi_layer] vs generalization gapspearman"]["n"] == 5
    assert tests["PCI vs Φ_pair per cut pair[layer]spearman"]["n"] == 5


def test_primary_tests_do_not_rank_module_counts():
    # issue 17: a complete graph with pairwise MI 1 nat has Φ_pair = 1, 4, 9, 16 for 2, 4, 6, 8 modules while
    # the MI of a cut pair stays 1; with gap = 0.01 x module count raw Φ_pair gave "ρ = 1.0, exact p = 0.0028"
    from harness.measurements.integration import pairwise_phi

    records = []
    for i, modules in enumerate((2, 4, 6, 8, 10, 12)):
        w = np.ones((modules, modules))
        mip = pairwise_phi(w)
        assert mip["phi"] == (modules // 2) ** 2 and mip["mean_cut_mi"] == 1.0
        record = _record(f"net{i}", [mip["phi"]] * 3, gap=0.01 * modules, pci=0.5, modules=modules)
        for c in record["checkpoints"]:
            c["schemes"]["phi_layer"]["mean_cut_mi"] = mip["mean_cut_mi"]
        records.append(record)
    stats = phi_statistics(records, level=0.05, tolerance=0.05, n_boot=20)
    tests = {t["test"] + t["method"]: t for t in stats["tests"]}
    raw = tests["Φ_pair (raw)[phi_layer] vs generalization gapspearman"]
    assert raw["statistic"] == pytest.approx(1.0) and raw["p_value"] == pytest.approx(0.0028, abs=1e-4)
    assert raw["family"] == "secondary" and raw["modules"] == [2, 4, 6, 8, 10, 12]
    primary = tests["Φ_pair per cut pair[phi_layer] vs generalization gapspearman"]
    assert primary["family"] == "primary" and primary["statistic"] is None and not primary["significant"]


def test_checkpoint_names_sort_by_fraction():
    names = [checkpoint_name(f) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert names == sorted(names) == ["p000", "p025", "p050", "p075", "p100"]


def test_pgd_flips_exactly_the_points_within_the_linear_margin():
    """A linear 2-class model: the L∞ attack of radius ε flips x iff |w·x + b| < ε‖w‖₁."""
    from harness.measurements.robustness import pgd_success_rate

    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 2)
    w, b = torch.randn(5), torch.tensor(0.1)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[1], linear.bias[1] = w, b
    x = torch.randn(2000, 5)
    score = x @ w + b
    result = pgd_success_rate(linear, x, (score > 0).long(), epsilon=0.2, steps=20, step_size=0.05, clip=None)
    assert result["clean_accuracy"] == 1.0
    assert result["success_rate"] == pytest.approx(float((score.abs() < 0.2 * w.abs().sum()).double().mean()))
    assert all(p.requires_grad for p in linear.parameters())  # restored


def test_threshold_regression_finds_a_planted_breakpoint_and_prefers_a_line_for_a_line():
    from harness.statistics.threshold import threshold_regression

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 4, 30)
    hinge = 0.1 + 0.5 * np.maximum(0, x - 2) + 0.05 * rng.standard_normal(30)
    fit = threshold_regression(x, hinge, n_boot=200)
    assert fit["verdict"] == "threshold preferred"
    low, high = fit["threshold"]["breakpoint_interval"]
    assert low < 2.0 < high + 0.2 and abs(fit["threshold"]["breakpoint"] - 2.0) < 0.3
    line = threshold_regression(x, 0.3 * x + 0.05 * rng.standard_normal(30), n_boot=50)
    assert line["verdict"] == "linear preferred" and line["linear"]["slope"] == pytest.approx(0.3, abs=0.02)
    assert threshold_regression(x[:4], hinge[:4])["verdict"].startswith("too few points")


def test_gaussian_dynamics_of_an_rnn_positions_scheme():
    from harness.measurements.integration import GAUSSIAN_MEASURES
    from harness.stages.phi.analysis import gaussian_dynamics

    _, model, _ = _tiny("gru_2")
    data = load_dataset("char_corpus", _REG.datasets["char_corpus"], "data")
    probe = torch.from_numpy(data.inputs[:300])
    fit = capture_modules(model, torch.from_numpy(data.inputs[300:500]), "positions")
    result = gaussian_dynamics(fit, capture_modules(model, probe, "positions"), dims=4, seed=0)
    assert result["components"] == 4 and result["pairs"] == 7 * 300
    mip = result["mip"]
    assert set(mip) == set(GAUSSIAN_MEASURES)
    assert all(len(v["partition"]) == 4 and set(v["partition"]) == {1, 2} for v in mip.values())
    assert -1e-9 <= mip["phi_g"]["value"] <= result["mutual_information"] + 1e-9
    assert mip["phi_star"]["value"] <= result["mutual_information"] + 1e-9


def test_pca_drops_axes_without_variance():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((200, 3)) @ rng.standard_normal((3, 12)))  # rank 3 in 12-d
    pca = fit_pca(x, 8)
    assert pca.components.shape == (12, 3) and pca.explained_variance_ratio == pytest.approx(1.0)
    assert fit_pca(torch.zeros(50, 4), 3).components.shape == (4, 1)  # a dead module keeps one (zero) axis


def test_measure_scheme_records_a_singular_gaussian_pair_instead_of_failing():
    from harness.params import MutualInformationConfig, ProbeConfig
    from harness.stages.phi.analysis import measure_scheme

    torch.manual_seed(0)
    x = torch.randn(300, 4)

    def capture(inputs):  # module b is a linear copy of module a: joint covariance singular
        return {"a": inputs[:, :2], "b": 2 * inputs[:, :2], "c": inputs[:, 2:]}

    probe = ProbeConfig(probe_samples=300, pca_samples=300, pca_dims=2, batch_size=300, gaussian_dims=2)
    mi = MutualInformationConfig(bootstrap=20, mine_steps=10)
    result, _, _ = measure_scheme(None, x, x, capture, probe, mi)
    assert result["mi_gaussian"][0][1] is None and result["phi_gaussian"] is None
    # KSG's Φ_pair is still measured: the copy pair is strongly coupled, c independent of both
    assert result["mi_ksg"][0][1] > 2.0 and result["partition"] == [1, 1, 2] and abs(result["phi"]) < 0.1
