"""The PHI measurements a stage runs on one network: Φ_pair of a partition scheme (with its interval, MIP
and saturation), the Gaussian family of a scheme's step-to-step map, the information plane and the
estimator calibration. Functions of a model, inputs and the params' config models; no files.
"""

from __future__ import annotations

import numpy as np

SATURATION = 0.9
"""A pairwise KSG estimate at or above this fraction of its ceiling ψ(N) − ψ(k) counts as saturated."""


def seeded_rows(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` row indices of n (all when fewer), drawn with ``seed``, in index order."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def probe_sets(arrays: dict, probe_cfg, seed: int):
    """(PCA-fitting inputs, probe rows, probe inputs) of a network's {train, val, test} arrays: the PCA rows
    are ``probe_cfg.pca_samples`` of ``val`` drawn with ``seed``, the probes ``probe_samples`` of ``test``
    drawn with ``seed + 1`` (every PHI stage draws them so, so their Φ_pair agree)."""
    import torch

    (val_x, val_y), (test_x, test_y) = arrays["val"], arrays["test"]
    pca_inputs = torch.from_numpy(val_x[seeded_rows(len(val_y), probe_cfg.pca_samples, seed)])
    probe_rows = seeded_rows(len(test_y), probe_cfg.probe_samples, seed + 1)
    return pca_inputs, probe_rows, torch.from_numpy(test_x[probe_rows])


def gaussian_dynamics(fit: dict, probe: dict, dims: int, seed: int) -> dict:
    """Past/present Gaussian measures of the step-to-step map of a ``positions`` scheme (nats).

    One PCA basis (``dims`` components) fitted on every position's fitting activations; x_{t+1} = A·x_t + e
    fitted by least squares on the probe's consecutive positions pooled; each measure's MIP found by
    exhaustive search over the components' bipartitions (``gaussian_phi`` with the fitted past covariance).
    """
    import torch

    from harness.measurements.integration import (
        GAUSSIAN_MEASURES,
        bipartitions,
        fit_linear_gaussian,
        gaussian_phi,
    )
    from harness.measurements.modules import fit_pca, project

    names = list(fit)
    basis = fit_pca(torch.cat([fit[n] for n in names]), dims, seed=seed)
    steps = [project(basis, probe[n]) for n in names]
    system = fit_linear_gaussian(np.concatenate(steps[:-1]), np.concatenate(steps[1:]))
    q = system["a"].shape[0]
    best: dict[str, dict] = {}
    for subset in bipartitions(q):
        labels = [1 if i in subset else 2 for i in range(q)]
        values = gaussian_phi(system["a"], system["noise_cov"], labels, past_cov=system["past_cov"])
        for measure in GAUSSIAN_MEASURES:
            if measure not in best or values[measure] < best[measure]["value"]:
                best[measure] = {"value": values[measure], "partition": labels}
        information = values["mutual_information"]
    return {
        "components": q,
        "explained_variance": basis.explained_variance_ratio,
        "pairs": int(sum(len(s) for s in steps[1:])),
        "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(system["a"])))),
        "mutual_information": information,
        "mip": best,
    }


def measure_scheme(
    model, pca_inputs, probe_inputs, capture, probe_cfg, mi_cfg, dynamics: bool = False
) -> dict:
    """Φ_pair of one scheme at one checkpoint (pure: model and inputs in, numbers out); with ``dynamics``
    (a positions scheme) also the past/present Gaussian measures of its step-to-step map."""
    from harness.measurements.integration import (
        exhaustive_gap,
        leave_one_out_phi,
        pairwise_phi,
        pairwise_phi_interval,
    )
    from harness.measurements.modules import fit_pca, project
    from harness.measurements.mutual_information import gaussian_mutual_information, ksg_ceiling, pairwise_ksg

    fit, probe = capture(pca_inputs), capture(probe_inputs)
    names = list(fit)
    pcas = [fit_pca(fit[n], probe_cfg.pca_dims, seed=mi_cfg.seed) for n in names]
    reduced = [project(p, probe[n]) for p, n in zip(pcas, names, strict=True)]
    mi, local = pairwise_ksg(
        reduced,
        k=mi_cfg.k,
        algorithm=mi_cfg.algorithm,
        standardize=mi_cfg.standardize,
        noise=mi_cfg.noise,
        seed=mi_cfg.seed,
    )
    gaussian = np.zeros_like(mi)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            try:
                value = gaussian_mutual_information(reduced[i], reduced[j])
            except ValueError:  # singular joint covariance (one module a linear function of the other)
                value = float("nan")
            gaussian[i, j] = gaussian[j, i] = value
    mip = pairwise_phi(mi)  # exact up to PAIRWISE_EXACT_LIMIT modules, else a bounded heuristic
    n_probe = local.shape[-1]
    ceiling = ksg_ceiling(n_probe, mi_cfg.k, mi_cfg.algorithm)
    upper = mi[np.triu_indices(len(names), 1)]
    result = {
        "ksg_ceiling": ceiling,
        "saturated_pairs": float(np.mean(upper >= SATURATION * ceiling)),
        "n": n_probe,
        "modules": names,
        "dims": [int(r.shape[1]) for r in reduced],
        "explained_variance": [p.explained_variance_ratio for p in pcas],
        "mi_ksg": mi.tolist(),
        "mi_gaussian": [[None if np.isnan(v) else float(v) for v in row] for row in gaussian],
        "phi": mip["phi"],
        "partition": mip["partition"],
        "normalized_cut": mip["normalized_cut"],
        "mean_cut_mi": mip["mean_cut_mi"],
        "total_mi": mip["total"],
        "mip_search": mip["search"],
        "mip_gap_bound": None if np.isnan(mip["gap_bound"]) else mip["gap_bound"],  # None: no bound holds
        "ci": list(
            pairwise_phi_interval(local, n_boot=mi_cfg.bootstrap, level=mi_cfg.level, seed=mi_cfg.seed)
        ),
        "phi_gaussian": None if np.isnan(gaussian).any() else pairwise_phi(gaussian)["phi"],
        "leave_one_out": leave_one_out_phi(mi),
        "exhaustive_gap": exhaustive_gap(mi),  # what greedy search alone would miss (None above the limit)
    }
    if dynamics:
        try:
            result["gaussian"] = gaussian_dynamics(fit, probe, probe_cfg.gaussian_dims, mi_cfg.seed)
        except (ValueError, np.linalg.LinAlgError) as err:  # e.g. a singular residual covariance
            result["gaussian"] = {"status": "failed", "error": str(err)}
    return result, pcas, reduced


def information_plane(inputs, modules: list[np.ndarray], labels: np.ndarray, mi_cfg) -> list[dict]:
    """Per module (in layer order): I(X; T) by KSG between the inputs' and the module's components (None
    for token or node-id inputs) and I(T; Y) by the discrete-label kNN estimator (Ross 2014), nats.

    For a deterministic network T = f(X), I(X; T) of continuous X is infinite; a finite KSG estimate
    reflects the geometry of the map at this N and d (Saxe et al. 2018), and can sit at the ceiling.
    """
    from harness.measurements.mutual_information import (
        discrete_ksg_mutual_information,
        ksg_mutual_information,
    )

    options = {"k": mi_cfg.k, "algorithm": mi_cfg.algorithm, "standardize": mi_cfg.standardize}
    rows = []
    for t in modules:
        i_xt = (
            None
            if inputs is None
            else ksg_mutual_information(inputs, t, noise=mi_cfg.noise, seed=mi_cfg.seed, **options)
        )
        i_ty = discrete_ksg_mutual_information(t, labels, k=mi_cfg.k, noise=mi_cfg.noise, seed=mi_cfg.seed)
        rows.append({"i_xt": i_xt, "i_ty": i_ty})
    return rows


def batched_capture(model, kwargs: dict, batch_size: int, device):
    """inputs → {module: (N, features) activations on the CPU} for a scheme's registry kwargs, batched."""
    import torch

    from harness.measurements.modules import capture_modules

    options = {k: v for k, v in kwargs.items() if k != "scheme"}

    def capture(inputs):
        batches = [
            capture_modules(model, inputs[i : i + batch_size].to(device), kwargs["scheme"], **options)
            for i in range(0, len(inputs), batch_size)
        ]
        return {name: torch.cat([b[name] for b in batches]).cpu() for name in batches[0]}

    return capture


def calibration_rows(n: int, d: int, mi_cfg) -> list[dict]:
    """Every estimator on correlated Gaussians at this stage's N and d (the fraction of the truth recovered)."""
    from harness.measurements.mutual_information import (
        calibration,
        gaussian_mutual_information,
        ksg_mutual_information,
        mine_mutual_information,
    )

    def ksg(algorithm):
        return lambda x, y: ksg_mutual_information(
            x, y, k=mi_cfg.k, algorithm=algorithm, standardize=mi_cfg.standardize, noise=mi_cfg.noise
        )

    estimators = {
        "ksg1": ksg(1),
        "ksg2": ksg(2),
        "gaussian": gaussian_mutual_information,
        "mine": lambda x, y: mine_mutual_information(x, y, steps=mi_cfg.mine_steps, seed=mi_cfg.seed),
    }
    rows = calibration(estimators, n, d, mi_cfg.calibration_rho, mi_cfg.seed)
    return [{**row.__dict__, "recovered": row.recovered} for row in rows]
