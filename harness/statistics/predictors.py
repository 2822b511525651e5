"""PERSIST's predictors: what the statistics test, the metrics stage collects and the report lists.

Data only, low in the import graph: the statistics, the report and the ``persist_metrics`` stage read it,
so the report no longer imports a stage module.
"""

from __future__ import annotations

PREDICTORS: dict[str, tuple[str, str, str]] = {
    "h0_total_persistence_ripser": (
        "topology",
        "h0_total_persistence_ripser",
        "Σ finite H0 bar lengths, Ripser",
    ),
    "h1_total_persistence_ripser": ("topology", "h1_total_persistence_ripser", "Σ H1 bar lengths, Ripser"),
    "h0_total_persistence_cubical": ("topology", "h0_total_persistence_cubical", "Σ finite H0 bars, cubical"),
    "h1_total_persistence_cubical": ("topology", "h1_total_persistence_cubical", "Σ H1 bar lengths, cubical"),
    "h0_max_persistence_ripser": ("topology", "h0_max_persistence_ripser", "longest finite H0 bar, Ripser"),
    "h1_max_persistence_ripser": ("topology", "h1_max_persistence_ripser", "longest H1 bar, Ripser"),
    "h1_features_ripser": ("topology", "h1_n_above_threshold_ripser", "H1 bars above the noise threshold"),
    "h1_entropy_ripser": ("topology", "h1_entropy_ripser", "persistence entropy of H1 (nats), Ripser"),
    "basin_barrier": ("topology", "barrier", "loss rise to leave the centre's basin (nats)"),
    "hessian_trace": ("curvature", "hessian_trace", "Hutchinson estimate of tr(H)"),
    "hessian_top_eigenvalue": ("curvature", "hessian_top_eigenvalue", "λ of largest magnitude"),
    "fisher_trace": ("curvature", "fisher_trace", "trace of the true Fisher information"),
}
"""The predictors the statistics test: name → (stage, field, meaning). Topology fields are per-slice
means; all are measured at the task-A solution on task-A training data."""


TOPOLOGY_FIELDS = tuple(
    f"h{d}_{summary}_{construction}"
    for d in (0, 1)
    for summary in ("total_persistence", "max_persistence", "n_above_threshold", "entropy")
    for construction in ("ripser", "cubical")
)
"""Every persistence summary kept per pair (slice mean) and per slice, for the statistics stage."""
