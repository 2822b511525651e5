"""GENESIS: the capacity search, power-law fits and their verdicts, the label-information plug-in."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness import compare_laws, fit_power_law, label_mutual_information, memorization_capacity
from harness.measurements.capacity import search_bound
from harness.statistics.power_law import depth_verdict, effective_boundary


class Planted:
    """A fake trainer: N labels fit exactly when N ≤ threshold; counts its trainings."""

    def __init__(self, threshold: int, die_after: int | None = None) -> None:
        self.threshold, self.die_after, self.calls = threshold, die_after, []

    def __call__(self, n: int) -> bool:
        if self.die_after is not None and len(self.calls) == self.die_after:
            raise KeyboardInterrupt("killed")
        self.calls.append(n)
        return n <= self.threshold


@pytest.mark.parametrize("threshold", [10, 11, 257, 999, 1000, 4095])
def test_search_finds_a_planted_threshold_exactly_within_the_bound(threshold):
    fake = Planted(threshold)
    result = memorization_capacity(fake, n_min=10, n_max=5000, precision=1)
    assert result["status"] == "ok" and result["n_max"] == threshold
    assert result["bracket"] == [threshold, threshold + 1]
    assert result["trainings"] == len(fake.calls) == len(set(fake.calls)) <= search_bound(10, 5000, 1)
    assert search_bound(10, 5000, 1) == math.ceil(math.log2(500)) + 1 + math.ceil(math.log2(2500))


def test_search_with_coarser_precision_brackets_the_threshold():
    result = memorization_capacity(Planted(777), n_min=16, n_max=4096, precision=32)
    lo, hi = result["bracket"]
    assert lo <= 777 < hi and hi - lo <= 32 and result["n_max"] == lo


def test_search_outside_its_range_says_so():
    assert memorization_capacity(Planted(5), 10, 100, 1)["status"] == "below range"
    censored = memorization_capacity(Planted(500), 10, 100, 1)
    assert censored["status"] == "at least n_max" and censored["n_max"] == 100
    with pytest.raises(ValueError, match="n_min <= n_max"):
        memorization_capacity(Planted(5), 100, 10, 1)


def test_a_killed_search_resumes_where_it_stopped():
    saved = {}

    def save(state):
        saved.clear()
        saved.update(state)

    first = Planted(613, die_after=5)
    with pytest.raises(KeyboardInterrupt):
        memorization_capacity(first, 10, 5000, 1, on_step=save)
    assert len(saved["history"]) == 5
    second = Planted(613)
    resumed = memorization_capacity(second, 10, 5000, 1, state=saved, on_step=save)
    uninterrupted = memorization_capacity(Planted(613), 10, 5000, 1)
    assert resumed["n_max"] == 613 and resumed["history"] == uninterrupted["history"]
    assert not set(second.calls) & set(first.calls)  # nothing trained twice
    assert resumed["trainings"] + 5 == uninterrupted["trainings"]


def test_power_law_recovers_a_known_exponent_under_noise():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e3, 1e7, 12)
    y = 3.0 * x**0.7 * np.exp(rng.normal(0, 0.05, len(x)))
    fit = fit_power_law(x, y)
    assert abs(fit["exponent"] - 0.7) < 0.02 and fit["ci"][0] < 0.7 < fit["ci"][1]
    assert abs(math.log(fit["prefactor"] / 3.0)) < 0.3 and fit["r2"] > 0.99
    with pytest.raises(ValueError, match="constant"):
        fit_power_law([5, 5, 5], [1, 2, 3])


@pytest.mark.parametrize("n", [5, 10])
def test_power_law_interval_covers_at_its_stated_level(n):
    # issue 17: the percentile bootstrap over points printed "95%" and covered 0.903 (n = 10), 0.880 (n = 5)
    hits, trials = 0, 2000
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        x = np.exp(rng.uniform(np.log(1e3), np.log(1e6), n))
        ci = fit_power_law(x, 3 * x**0.8 * np.exp(rng.normal(0, 0.5, n)))["ci"]
        hits += ci[0] <= 0.8 <= ci[1]
    assert abs(hits / trials - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / trials)  # ±0.015


def test_bic_picks_the_true_law_when_the_predictors_are_not_collinear():
    rng = np.random.default_rng(1)
    volume = np.geomspace(1e4, 1e7, 15)
    area = rng.permutation(np.geomspace(1e3, 1e5, 15))  # unrelated to V
    capacity = 0.5 * volume**0.8 * np.exp(rng.normal(0, 0.05, 15))
    out = compare_laws(capacity, {"V": volume, "A1": area})
    assert out["best"] == "V" and out["verdict"].startswith("V law preferred")
    assert abs(out["collinearity"]["V~A1"]) < 0.6 and out["tests"]["A1"]["p"] < 0.05
    fv, fa = out["fits"]["V"], out["fits"]["A1"]
    # with one response and two parameters each, ΔBIC is a function of the two R² alone
    assert fa["bic"] - fv["bic"] == pytest.approx(15 * math.log((1 - fa["r2"]) / (1 - fv["r2"])))


def test_equally_good_proxies_are_not_told_apart():
    # issue 17's survey: V and A1 equally good noisy proxies of one size; "ΔBIC = 3.3" named the V law
    volume = [2636, 2496, 2436, 3127, 716, 3556, 16057, 10535, 1274, 752]
    a1 = [3376, 4842, 5586, 4159, 2097, 5374, 14534, 7783, 825, 499]
    capacity = [422, 463, 1199, 895, 352, 1109, 2075, 1758, 383, 278]
    out = compare_laws(capacity, {"V": volume, "A1": a1})
    assert out["best"] is None and out["verdict"].startswith("cannot tell V from A1")
    assert out["fits"]["A1"]["bic"] - out["fits"]["V"]["bic"] == pytest.approx(3.3, abs=0.05)
    assert out["tests"]["A1"]["p"] == pytest.approx(0.62, abs=0.01)
    ci = out["tests"]["A1"]["ci"]
    assert ci[0] < 0 < ci[1]


@pytest.mark.parametrize("n", [5, 10, 20])
def test_law_comparison_names_a_law_at_its_error_rate(n):
    # 1,000 seeded surveys where V and A1 are equally good noisy proxies of one size: a law may be named
    # in at most ~5% of them (the ΔBIC > 2 rule named one in 57% at n = 10)
    named = 0
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        size = rng.uniform(np.log(500), np.log(20000), n)
        volume, area = np.exp(size + rng.normal(0, 0.4, n)), np.exp(size + rng.normal(0, 0.4, n))
        capacity = 0.15 * np.exp(size + rng.normal(0, 0.2, n))
        named += compare_laws(capacity, {"V": volume, "A1": area})["best"] is not None
    assert named / 1000 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1000)  # 0.071


def test_a_preferred_law_that_fits_poorly_says_so():
    rng = np.random.default_rng(7)
    volume = np.geomspace(1e4, 1e7, 40)
    area = rng.permutation(np.geomspace(1e3, 1e5, 40))
    capacity = volume**0.3 * np.exp(rng.normal(0, 1.0, 40))  # the V law, buried in scatter
    out = compare_laws(capacity, {"V": volume, "A1": area})
    assert out["best"] == "V" and out["fits"]["V"]["r2"] < 0.5
    assert "not a good description" in out["verdict"]
    good = compare_laws(volume**0.8 * np.exp(rng.normal(0, 0.05, 40)), {"V": volume, "A1": area})
    assert good["best"] == "V" and "not a good description" not in good["verdict"]


def test_law_statistics_refuse_bad_input_instead_of_naming_a_law():
    from harness.statistics.power_law import correlation_difference

    rng = np.random.default_rng(11)
    x = np.geomspace(1e3, 1e6, 8)
    y = 2 * x**0.5 * np.exp(rng.normal(0, 0.1, 8))
    with pytest.raises(ValueError, match="finite"):
        fit_power_law(x, np.r_[np.nan, y[1:]])
    nan_y = compare_laws(np.r_[np.nan, y[1:]], {"V": x, "A1": x[::-1]})
    assert nan_y["best"] is None and "could be fitted" in nan_y["verdict"]
    flat = compare_laws(np.full(8, 100.0), {"V": x, "A1": rng.permutation(x)})
    assert flat["best"] is None and "same at every point" in flat["verdict"]
    with pytest.raises(ValueError, match="perfectly correlated"):  # one law twice: not p = 0
        correlation_difference(np.log(y), np.log(x), 2 * np.log(x) + 1)
    exact = correlation_difference(np.arange(6.0), np.arange(6.0), np.array([1, 3, 2, 5, 4, 6.0]))
    assert -2 <= exact["ci"][0] <= exact["ci"][1] <= 2  # |r1| = 1 kept Zou's interval finite


def test_effective_boundary_far_outside_a_weak_law_is_unbounded_not_an_error():
    a = 2.0 ** np.arange(7)
    noise = np.array([0, 0.05, -0.05, 0.04, -0.04, 0.03, -0.03])
    fit = fit_power_law(a, np.exp(0.1 * np.log(a) + 2.6 * noise))
    out = effective_boundary(100.0, fit, (1.0, 64.0))
    assert out["extrapolated"] and (out["ci"] is None or out["ci"][1] == math.inf or out["ci"][1] > 64)


def test_collinear_predictors_are_reported_as_inseparable():
    rng = np.random.default_rng(2)
    volume = np.geomspace(1e4, 1e7, 10)
    area = volume**0.5 * np.exp(rng.normal(0, 0.01, 10))
    capacity = volume**0.8 * np.exp(rng.normal(0, 0.05, 10))
    out = compare_laws(capacity, {"V": volume, "A1": area})
    assert out["best"] is None and out["verdict"].startswith("cannot separate")


def _mlp_volume(depth: int, width: int = 256, inputs: int = 3072, classes: int = 10) -> int:
    return inputs * width + width + (depth - 1) * (width * width + width) + width * classes + classes


def test_depth_sweep_verdict_compares_what_each_law_predicts_for_the_sweeps_own_counts():
    depths = [1, 2, 4, 8, 16]
    volumes = [_mlp_volume(d) for d in depths]
    rng = np.random.default_rng(3)
    # issue 17: a sub-linear volume law C = 0.05 V^0.5 (3% noise) has slope 0.16 on ln depth, which the old
    # rule (a ±0.2 band on ln depth) called an area law; on ln V it is 0.5
    sublinear = [0.05 * v**0.5 * np.exp(rng.normal(0, 0.03, 3)) for v in volumes]
    out = depth_verdict(volumes, sublinear)
    assert out["verdict"] == "growth (volume law)" and out["ci"][0] < 0.5 < out["ci"][1]
    flat = [1000 * np.exp(rng.normal(0, 0.03, 5)) for _ in depths]
    assert depth_verdict(volumes, flat)["verdict"] == "saturation (area law)"
    shrinking = [1e6 / v * np.exp(rng.normal(0, 0.03, 5)) for v in volumes]
    assert depth_verdict(volumes, shrinking)["verdict"].startswith("decline")
    noisy = [1000 * v**0.2 * np.exp(rng.normal(0, 0.8, 3)) for v in volumes]
    assert depth_verdict(volumes, noisy)["verdict"] == "cannot tell"
    # the interval covers at its level over seeded sweeps (n = 5 depths, 3 seeds each)
    hits = 0
    for seed in range(2000):
        r = np.random.default_rng(seed)
        caps = [0.05 * v**0.5 * np.exp(r.normal(0, 0.1) + r.normal(0, 0.05, 3)) for v in volumes]
        lo, hi = depth_verdict(volumes, caps)["ci"]
        hits += lo <= 0.5 <= hi
    assert abs(hits / 2000 - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / 2000)


def test_effective_boundary_inverts_the_area_law_and_its_interval_covers():
    area = np.geomspace(1e3, 1e5, 8)
    capacity = 2.0 * area**0.5 * np.exp(np.random.default_rng(0).normal(0, 1e-6, 8))
    fit = fit_power_law(area, capacity)
    out = effective_boundary(2.0 * 400.0**0.5, fit, (1e3, 1e5))
    assert out["a_eff"] == pytest.approx(400.0, rel=1e-4) and out["extrapolated"]
    assert out["ci"][0] < 400.0 < out["ci"][1]
    inside = effective_boundary(2.0 * 1e4**0.5, fit, (1e3, 1e5))
    assert inside["a_eff"] == pytest.approx(1e4, rel=1e-4) and not inside["extrapolated"]
    # coverage of the true A at which the law reaches C, over seeded fits of 10 networks (σ = 0.3 in logs)
    hits = unbounded = 0
    for seed in range(2000):
        rng = np.random.default_rng(seed)
        a = np.exp(rng.uniform(np.log(1e3), np.log(1e5), 10))
        fit = fit_power_law(a, 2.0 * a**0.5 * np.exp(rng.normal(0, 0.3, 10)))
        ci = effective_boundary(2.0 * 3000.0**0.5, fit, (a.min(), a.max()))["ci"]
        unbounded += ci is None
        hits += ci is None or ci[0] <= 3000.0 <= ci[1]
    assert unbounded < 20 and abs(hits / 2000 - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / 2000)


def test_label_information_of_a_known_confusion_matrix():
    # counts [[40, 10], [10, 40]]: I = H(Y) + H(Ŷ) − H(Y, Ŷ) = 2 ln 2 + Σ p ln p over the joint
    labels = np.array([0] * 50 + [1] * 50)
    predictions = np.array([0] * 40 + [1] * 10 + [0] * 10 + [1] * 40)
    out = label_mutual_information(labels, predictions)
    joint = np.array([0.4, 0.1, 0.1, 0.4])
    expected = 2 * math.log(2) + float((joint * np.log(joint)).sum())
    assert out["plugin"] == pytest.approx(expected, abs=1e-12)
    assert out["miller_madow"] == pytest.approx(expected + (1 + 1 - 3) / 200, abs=1e-12)
    assert out["label_entropy"] == pytest.approx(math.log(2))
    # perfect memorization stores the whole label entropy; independent predictions store ≈ 0
    assert label_mutual_information(labels, labels)["plugin"] == pytest.approx(math.log(2))
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 10, 20000), rng.integers(0, 10, 20000)
    raw = label_mutual_information(y, p)
    assert raw["plugin"] > 0.001 and abs(raw["miller_madow"]) < 0.3 * raw["plugin"]


@pytest.mark.slow
def test_a_killed_capacity_search_resumes_under_dvc_repro(tmp_path):
    import json

    from tests.conftest import copy_repo, kill_repro_when, ran_stages, run

    repo = copy_repo(tmp_path / "repo", keep_lock=False)
    run(["harness", "sync", "--profile", "micro"], repo)
    params = repo / "params.yaml"
    # a longer search (about 0.5 s a training here) so that the kill lands mid-search
    values = yaml.safe_load(params.read_text())
    values["genesis"]["search"].update(n_max=4096, precision=8)
    params.write_text(yaml.safe_dump(values, sort_keys=False))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "long"], repo)
    stage = "genesis_capacity@mlp_d2_w256-gaussian_inputs"
    run(["dvc", "repro", "data@gaussian_inputs"], repo)

    cache = tmp_path / "cache-kill"

    def trained() -> int:
        for state in cache.glob("genesis_capacity/*/adam-s0.json"):
            try:
                return len(json.loads(state.read_text())["history"])
            except (OSError, ValueError):  # the glob may race the atomic rename
                return 0
        return 0

    kill_repro_when(repo, stage, cache, lambda: trained() >= 3)
    saved = trained()
    out = repo / "results" / "genesis" / "mlp_d2_w256-gaussian_inputs" / "capacity"
    assert not (out / "capacity.json").exists()

    resumed = run(["dvc", "repro", stage], repo, env={"HARNESS_CACHE_DIR": str(cache)})
    assert stage in ran_stages(resumed)
    record = repo / "results" / "runs" / f"{stage}.json"
    assert json.loads(record.read_text())["resumed_trainings"]["adam-s0"] == saved >= 3
    first = json.loads((out / "capacity.json").read_text())["optimizers"]["adam"]
    reference = run(
        ["dvc", "repro", "--force", "--single-item", stage],
        repo,
        env={"HARNESS_CACHE_DIR": str(tmp_path / "ref")},
    )
    assert stage in ran_stages(reference)
    again = json.loads((out / "capacity.json").read_text())["optimizers"]["adam"]
    keep = ("seed", "n_max", "status", "bracket", "history", "details")
    assert [{k: s[k] for k in keep} for s in again["seeds"]] == [
        {k: s[k] for k in keep} for s in first["seeds"]
    ]
    assert json.loads(record.read_text())["resumed_trainings"]["adam-s0"] == 0 and again == first
    assert first["trainings"] <= search_bound(16, 4096, 8)


def test_cross_experiment_links_join_by_architecture_key():
    from harness.statistics.connections import cross_experiment, per_architecture

    phi = per_architecture([("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0), ("a", 3.0), ("e", None)])
    assert phi == {"a": 2.0, "b": 2.0, "c": 3.0, "d": 4.0}  # median per architecture, None dropped
    measures = {
        "phi_pair": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "x": 9.0},
        "retention": {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},
        "bits_per_boundary": {"a": 5.0, "y": 1.0},
    }
    out = cross_experiment(measures, level=0.05)
    assert [r["architecture"] for r in out["table"]] == ["a", "b", "c", "d"]  # x and y are in one experiment
    phi_ret, phi_cap, cap_ret = out["links"]
    assert phi_ret["n"] == 4 and phi_ret["rho"] == pytest.approx(1.0)
    assert phi_ret["p_value"] == pytest.approx(2 / 24)  # exact: 2 of 4! orderings reach |ρ| = 1
    assert phi_ret["p_bonferroni"] == phi_ret["p_value"]  # the only computable link
    assert phi_cap["n"] == 1 and phi_cap["rho"] is None and "needs at least 3" in phi_cap["note"]
    assert cap_ret["n"] == 1 and out["n_tested"] == 1


def test_double_descent_peak_is_the_bump_after_the_first_rise():
    from harness.stages.genesis.double_descent import noisy_labels, peak_and_threshold

    widths = [2, 4, 8, 16, 32, 64, 128]
    error = [0.48, 0.30, 0.19, 0.26, 0.25, 0.23, 0.18]  # underfitting, U, bump, second descent
    fitted = [False, False, False, False, True, True, True]
    assert peak_and_threshold(widths, error, fitted) == {
        "peak_width": 16,
        "threshold_width": 32,
        "peak_over_threshold": 0.5,
    }
    assert peak_and_threshold(widths, sorted(error, reverse=True), fitted)["peak_width"] is None
    labels = np.arange(1000) % 10
    noisy, flipped = noisy_labels(labels, 10, 0.2, seed=0)
    assert (
        flipped.sum() == 200
        and np.all(noisy[flipped] != labels[flipped])
        and np.all(noisy[~flipped] == labels[~flipped])
    )


def _record(arch, family, kwargs, counts, caps, k=4):
    med = float(np.median(caps))
    bits = med * math.log2(k)
    seeds = [{"n_max": c, "details": {}, "history": [[c, True]]} for c in caps]
    return {
        "architecture": arch,
        "dataset": "d",
        "family": family,
        "builder_kwargs": kwargs,
        "optimizers": {
            "adam": {
                "counts": counts,
                "n_max_median": med,
                "n_max_range": [min(caps), max(caps)],
                "statuses": ["ok"],
                "bits": bits,
                "bits_per_parameter": bits / counts["V"],
                "plan_bits": math.log2(med * k),
                "stored_label_bits": bits,
                "trainings": 1,
                "seeds": seeds,
            }
        },
    }


def test_survey_statistics_find_sweeps_twins_and_transformer_boundaries():
    from harness.params import GenesisStatisticsConfig
    from harness.statistics.genesis_survey import genesis_statistics

    cfg = GenesisStatisticsConfig()
    records = [  # a depth sweep at width 32 whose capacity grows with depth, and a residual/plain twin
        _record(
            f"mlp_d{d}",
            "mlp",
            {"depth": d, "width": 32},
            {"V": 600 * d, "A1": 700, "A2": 550 * d},
            [100 * d, 110 * d, 90 * d],
        )
        for d in (1, 2, 4, 8)
    ]
    records += [
        _record("wrn", "resnet", {"depth": 16, "width": 1}, {"V": 5000, "A1": 900, "A2": 4800}, [900, 1000]),
        _record(
            "wrn_plain",
            "resnet",
            {"depth": 16, "width": 1, "skip": False},
            {"V": 5000, "A1": 900, "A2": 4800},
            [600, 700],
        ),
        _record("vit", "transformer", {"depth": 2}, {"V": 20000, "A1": 1500, "A2": 15000}, [2000, 2100]),
    ]
    stats = genesis_statistics(records, cfg)
    adam = stats["optimizers"]["adam"]
    (sweep,) = adam["depth_sweeps"]
    assert sweep["depths"] == [1, 2, 4, 8] and sweep["verdict"] == "growth (volume law)"
    (twin,) = adam["twins"]
    assert (twin["residual"], twin["plain"], twin["delta"]) == ("wrn", "wrn_plain", 950 - 650)
    (eff,) = adam["transformers"]["effective_boundary"]
    # the non-transformer A1 law is fitted on A1 = 700 or 900 only, its slope not significantly non-zero:
    # the inverse-regression set is unbounded, so no interval is claimed
    assert eff["architecture"] == "vit" and eff["a_eff"] > 0 and eff["ci"] is None
    assert adam["laws"]["n"] == 7 and set(adam["laws"]["fits"]) == {"V", "A1", "A2"}
    assert stats["exponents_by_optimizer"]["adam"]["V"]["exponent"] is not None


def test_survey_statistics_never_pool_datasets():
    from harness.params import GenesisStatisticsConfig
    from harness.statistics.genesis_survey import genesis_statistics

    def sweep(dataset, scale):
        out = []
        for d in (1, 2, 4):
            r = _record(
                f"mlp_d{d}",
                "mlp",
                {"depth": d, "width": 32},
                {"V": 600 * d, "A1": 700, "A2": 550 * d},
                [scale * d],
            )
            out.append({**r, "dataset": dataset})
        return out

    stats = genesis_statistics(sweep("a", 100) + sweep("b", 10), GenesisStatisticsConfig())
    assert set(stats["optimizers"]) == {"adam-a", "adam-b"}
    for scope, dataset, scale in (("adam-a", "a", 100), ("adam-b", "b", 10)):
        o = stats["optimizers"][scope]
        assert o["dataset"] == dataset and o["optimizer"] == "adam" and o["laws"]["n"] == 3
        assert [r["n_max_median"] for r in o["rows"]] == [scale, 2 * scale, 4 * scale]
    one = genesis_statistics(sweep("a", 100), GenesisStatisticsConfig())
    assert set(one["optimizers"]) == {"adam"}


def test_the_ensemble_budget_must_be_one_of_the_optimizers():
    from harness.params import ParamsError, validate_params

    raw = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    raw["genesis"]["information"]["optimizer"] = "lion"
    with pytest.raises(
        ParamsError, match=r"field 'genesis.information': .*'lion' is not a genesis.optimizers budget"
    ):
        validate_params(raw, "params.yaml")


def test_gaussian_images_are_the_gaussian_inputs_reshaped():
    from harness.data.embedded import make_gaussian_images, make_gaussian_inputs

    images = make_gaussian_images(50, [3, 4, 4], 4, seed=7)
    flat = make_gaussian_inputs(50, 48, 4, seed=7)
    assert images.inputs.shape == (50, 3, 4, 4) and images.inputs.dtype == np.float32
    np.testing.assert_array_equal(images.inputs.reshape(50, -1), flat.inputs)
    np.testing.assert_array_equal(images.targets, flat.targets)


@pytest.mark.parametrize(
    ("optimizer", "lr", "schedule"), [("adam", 0.01, "constant"), ("sgd", 0.1, "cosine")]
)
def test_a_stacked_ensemble_trains_each_member_as_memorize_would(optimizer, lr, schedule):
    import torch

    from harness.models.mlp import build_mlp
    from harness.training.config import TrainConfig
    from harness.training.ensemble import can_stack, memorize_ensemble
    from harness.training.memorize import memorize

    cfg = TrainConfig(
        epochs=60, batch_size=16, optimizer=optimizer, lr=lr, momentum=0.9, weight_decay=1e-4,
        schedule=schedule, size="tiny",
    )  # fmt: skip
    x = torch.randn(48, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (4, 48), generator=torch.Generator().manual_seed(1))

    def build(m: int) -> torch.nn.Module:
        torch.manual_seed(100 + m)
        return build_mlp(in_features=6, num_classes=3, depth=1, width=32 if m < 3 else 2)

    with pytest.raises(RuntimeError):  # members must share one architecture to be stacked
        memorize_ensemble(build, x, labels, cfg, seeds=[5, 6, 7, 8])
    same = lambda m: build(2 * (m % 2))  # noqa: E731  width 32, two initializations
    assert can_stack(same(0))
    stacked = memorize_ensemble(same, x, labels, cfg, seeds=[5, 6, 7, 8])
    one_by_one = memorize_ensemble(same, x, labels, cfg, seeds=[5, 6, 7, 8], stacked=False)
    for m, (member, sequential) in enumerate(zip(stacked, one_by_one, strict=True)):
        model = same(m)
        alone = memorize(model, x, labels[m], cfg, seed=5 + m)
        assert (member.result.fitted, member.result.epochs) == (alone.fitted, alone.epochs)
        np.testing.assert_array_equal(member.result.predictions, alone.predictions)
        weights = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
        # batched matmuls sum in another order: float32 drift over ~200 steps, far below the weights' scale
        np.testing.assert_allclose(member.weights, weights, atol=1e-3)
        np.testing.assert_array_equal(sequential.weights, weights)  # the fallback is memorize itself
        assert sequential.result.epochs == alone.epochs
    # some members stop early (fitted), others run the whole budget
    assert {m.result.fitted for m in stacked} == {True, False}


def test_a_stacked_vit_ensemble_returns_every_member():
    import torch

    from harness.models.vision import build_vit
    from harness.training.config import TrainConfig
    from harness.training.ensemble import can_stack, memorize_ensemble

    def build(m: int) -> torch.nn.Module:
        torch.manual_seed(m)
        return build_vit(3, 8, 4, patch_size=4, embed_dim=8, depth=1, num_heads=2)

    assert can_stack(build(0))  # no buffers, dropout at 0: trained stacked
    assert not can_stack(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1)))
    assert not can_stack(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)))
    cfg = TrainConfig(epochs=3, batch_size=8, optimizer="adam", lr=0.01, schedule="constant", size="tiny")
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 4, (3, 16), generator=torch.Generator().manual_seed(1))
    members = memorize_ensemble(build, x, labels, cfg, seeds=[0, 1, 2])
    size = sum(p.numel() for p in build(0).parameters())
    assert [m.weights.shape for m in members] == [(size,)] * 3
    assert all(m.result.predictions.shape == (16,) and 1 <= m.result.epochs <= 3 for m in members)


def test_the_plans_depth_width_family_is_listed_with_its_real_counts():
    """The research plan's 2×512 … 32×32 MLPs, built at full size for CIFAR-10 input: grouped as one
    depth × width = 1024 family whose V, A1, A2 are the built networks' and whose V is not constant."""
    from harness.measurements.volume_area import volume_and_area
    from harness.models.build import build_architecture
    from harness.params import GenesisStatisticsConfig
    from harness.statistics.genesis_survey import genesis_statistics
    from tests.test_registry import _REG

    plan = {"mlp_2": (2, 512), "mlp_d4_w256": (4, 256), "mlp_d8_w128": (8, 128)}
    plan |= {"mlp_d16_w64": (16, 64), "mlp_d32_w32": (32, 32)}
    records = []
    for key, (depth, width) in plan.items():
        arch = _REG.architectures[key]
        assert "genesis" in arch.experiments and (arch.kwargs["depth"], arch.kwargs["width"]) == (
            depth,
            width,
        )
        counts = volume_and_area(build_architecture(arch, _REG.datasets["cifar10"], "full"))
        records.append(_record(key, "mlp", {"depth": depth, "width": width}, counts, [1000, 1100]))
    stats = genesis_statistics(records, GenesisStatisticsConfig())
    (family,) = stats["optimizers"]["adam"]["depth_width_families"]
    assert family["depth_times_width"] == 1024
    assert [m["architecture"] for m in family["members"]] == list(plan)
    v = [m["V"] for m in family["members"]]
    assert v[0] == (3072 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)  # 2×512 at CIFAR input
    assert family["v_ratio"] == pytest.approx(max(v) / min(v)) and family["v_ratio"] > 10


def test_weight_label_information_is_tested_against_a_label_permutation_null():
    # issue 17: MINE's null is negatively biased at the ensemble's settings (mean −0.043 on independent
    # data), so "no dependence detected" needs a test, not a small estimate
    from harness.measurements.weight_information import weight_label_information

    rng = np.random.default_rng(0)
    m, n, k = 64, 1, 2  # one binary label per member: both random projections see it
    labels = rng.integers(0, k, (m, n))
    independent = rng.standard_normal((m, 40))
    onehot = np.eye(k)[labels].reshape(m, -1)
    dependent = onehot @ rng.standard_normal((n * k, 40)) + 0.1 * rng.standard_normal((m, 40))
    kwargs = {"num_classes": k, "dims": 2, "steps": 40, "hidden": 16, "permutations": 19}
    dep = weight_label_information(dependent, labels, **kwargs)
    assert dep["null"]["p_value"] == pytest.approx(1 / 20) and dep["mine"] > dep["null"]["mean"]
    # size: across 30 seeded independent (small, fast) ensembles the test rejects at about its level
    small = {"num_classes": k, "dims": 2, "steps": 10, "hidden": 8, "permutations": 9}
    rejections = 0
    for seed in range(30):
        r = np.random.default_rng(100 + seed)
        out = weight_label_information(
            r.standard_normal((16, 40)), r.integers(0, k, (16, n)), **small, seed=seed
        )
        rejections += out["null"]["p_value"] <= 0.1
    assert rejections <= 8  # expected 3 of 30 at level 0.1; P(≥ 9) ≈ 0.003 under a valid test
    assert weight_label_information(independent, labels, **kwargs)["null"]["permutations"] == 19


@pytest.mark.slow
def test_a_search_that_never_fits_is_flagged_in_results_and_report(tmp_path):
    """Issue 18 item 9: Adam at lr 1e6 stays finite and learns nothing; its "below range" capacities were
    reported as results without a word."""
    import json

    from harness.params import GenesisStatisticsConfig
    from harness.report.sections.genesis import genesis_section
    from harness.statistics.genesis_survey import genesis_statistics
    from tests.conftest import micro_repo_copy, run

    def broken_optimizer(repo):
        path = repo / "registry" / "surveys.yaml"
        text = path.read_text()
        micro = text.index("  micro:")
        at = text.index("adam: {epochs: 30, batch_size: 64, optimizer: adam, lr: 0.01", micro)
        path.write_text(text[:at] + text[at:].replace("lr: 0.01", "lr: 1000000.0", 1))

    repo = micro_repo_copy(tmp_path / "repo", broken_optimizer)
    stage = "genesis_capacity@mlp_d2_w256-gaussian_inputs"
    proc = run(["dvc", "repro", stage], repo, env={"HARNESS_CACHE_DIR": str(tmp_path / "cache")})
    record = json.loads(
        (repo / "results/genesis/mlp_d2_w256-gaussian_inputs/capacity/capacity.json").read_text()
    )
    adam = record["optimizers"]["adam"]
    assert adam["statuses"] == ["below range"] and adam["n_max_median"] is None
    assert (
        "could not fit even n_min = 16 random labels" in adam["warning"]
        and "genesis.optimizers.adam" in adam["warning"]
    )
    assert f"warning: {stage} [adam]: 1 of 1 seed(s) could not fit" in proc.stderr
    stats = genesis_statistics([record], GenesisStatisticsConfig())
    assert stats["optimizers"]["adam"]["below_range"] == ["mlp_d2_w256"]
    (warning,) = stats["warnings"]
    assert warning.startswith("mlp_d2_w256-gaussian_inputs [adam]: 1 of 1 seed(s)")
    section = genesis_section(tmp_path, stats)
    assert any(
        "Warning — searches that measured no capacity" in p and "mlp_d2_w256" in p for p in section.paragraphs
    )
