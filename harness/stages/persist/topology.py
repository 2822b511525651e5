"""Stage ``persist_topology@<arch>-<dataset>-s<seed>``: persistent homology of every landscape slice.

Per slice, on the grid rounded to float32 (Ripser's precision, so the two constructions differ only
by convention): H0/H1 diagrams by Ripser on the Freudenthal-triangulated grid and by the GUDHI cubical
complex with values on the vertices; per dimension, total and maximum persistence over the finite bars,
the number of bars longer than ``noise_sigmas`` × the slice's median per-point standard error, and
persistence entropy (nats); the essential bars (the global minimum's H0 class) are counted apart and
never enter a sum. The two constructions' agreement is their bottleneck distance per dimension. The
basin barrier is the lowest rise above L(centre) at which a path leaves the grid. Aggregates over the
slices: mean, median and standard deviation (ddof = 1; 0 with one slice).
"""

from __future__ import annotations

import numpy as np

from harness.integrity import load_output_array, read_output_json
from harness.measurements.topology import (
    basin_barrier,
    bottleneck_distance,
    persistence_diagrams,
    persistence_summary,
)
from harness.stages.common import stage_main, write_json
from harness.stages.persist.run import start_stage

STAGE_MODULE = "harness.stages.persist.topology"
CONSTRUCTIONS = {"ripser": "ripser-freudenthal", "cubical": "cubical-vertex"}
"""Short name used in metric names → construction of ``harness.persistence_diagrams``."""


def aggregate(values: list[float]) -> dict[str, float | None]:
    """Mean, median and sample standard deviation over slices (None when no slice was finite)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return {"mean": None, "median": None, "std": None, "n": 0}
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "median": float(np.median(v)), "std": std, "n": len(v)}


def slice_topology(loss: np.ndarray, stderr: np.ndarray, noise_sigmas: float) -> tuple[dict, dict]:
    """Summaries of one slice and its diagrams ({short name: {dim: (n, 2)}})."""
    grid = loss.astype(np.float32).astype(np.float64)
    threshold = noise_sigmas * float(np.median(stderr))
    diagrams = {short: persistence_diagrams(grid, c) for short, c in CONSTRUCTIONS.items()}
    summary: dict = {"noise_threshold": threshold, "barrier": basin_barrier(grid)}
    for short, dgms in diagrams.items():
        for dim, dgm in dgms.items():
            for stat, value in persistence_summary(dgm, threshold).items():
                summary[f"h{dim}_{stat}_{short}"] = value
    for dim in (0, 1):
        summary[f"h{dim}_bottleneck_ripser_vs_cubical"] = bottleneck_distance(
            diagrams["ripser"][dim], diagrams["cubical"][dim]
        )
    return summary, diagrams


def _plot(path, diagrams: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(diagrams), figsize=(4 * len(diagrams), 3.8), squeeze=False)
    for ax, (short, dgms) in zip(axes[0], diagrams.items(), strict=True):
        finite = [d[np.isfinite(d[:, 1])] for d in dgms.values()]
        hi = max([float(f.max()) for f in finite if len(f)] + [1e-9])
        lo = min([float(d[:, 0].min()) for d in dgms.values() if len(d)] + [0.0])
        for dim, dgm in dgms.items():
            deaths = np.where(np.isfinite(dgm[:, 1]), dgm[:, 1], hi * 1.05)
            ax.scatter(dgm[:, 0], deaths, s=12, label=f"H{dim}", marker="o" if dim == 0 else "^")
        ax.plot([lo, hi * 1.05], [lo, hi * 1.05], "k--", linewidth=0.7)
        ax.axhline(hi * 1.05, color="grey", linewidth=0.5)  # essential classes drawn on this line
        ax.set(xlabel="birth (loss)", ylabel="death (loss)", title=f"{title}: {CONSTRUCTIONS[short]}")
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


@stage_main
def main(argv: list[str] | None = None) -> None:
    start = start_stage(argv, __doc__, "topology", ["persist.topology"])
    ctx, cfg, out, prov = start.ctx, start.config["persist.topology"], start.out, start.prov
    meta = read_output_json(ctx.out("landscape") / "metadata.json")
    per_slice = []
    for s in meta["slices"]:
        k = s["index"]
        loss = load_output_array(ctx.out("landscape") / f"slice_{k}_loss.npy")
        stderr = load_output_array(ctx.out("landscape") / f"slice_{k}_stderr.npy")
        if not np.isfinite(loss).all():
            per_slice.append({"index": k, "status": "non-finite loss on the grid"})
            continue
        summary, diagrams = slice_topology(loss, stderr, cfg.noise_sigmas)
        np.savez(
            out / f"slice_{k}_diagrams.npz",
            **{f"{short}_h{dim}": d for short, dgms in diagrams.items() for dim, d in dgms.items()},
        )
        _plot(out / f"slice_{k}_diagrams.png", diagrams, f"slice {k}")
        per_slice.append({"index": k, "status": "ok", **summary})
    ok = [s for s in per_slice if s["status"] == "ok"]
    names = sorted({n for s in ok for n in s if n not in ("index", "status")})
    result = {
        "status": meta["status"] if meta["status"] != "ok" else ("ok" if ok else "no finite slice"),
        "constructions": CONSTRUCTIONS,
        "noise_sigmas": cfg.noise_sigmas,
        "infinite_bars": "excluded from every sum, maximum and entropy; counted as essential",
        "slices": per_slice,
        "aggregate": {n: aggregate([s[n] for s in ok]) for n in names},
    }
    write_json(out / "topology.json", result)
    prov.write(out / "provenance.json")
    print(f"persist_topology@{ctx.run.key}: {len(ok)}/{len(per_slice)} slices")


if __name__ == "__main__":
    raise SystemExit(main())
