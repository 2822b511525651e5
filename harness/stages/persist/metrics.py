"""Stage ``persist_metrics@<arch>-<dataset>``: the 12 predictors and the retention outcomes of one pair.

Collects every seeded run of the pair (``--seeds``) into one DVC metrics file that the statistics
stage reads. Topological predictors are means over a run's slices; every value is then averaged over
the pair's runs that finished (``n_runs_ok`` says how many). Runs whose task-A training diverged are
listed with their status and enter no mean.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.integrity import read_output_json
from harness.pipeline.paths import persist_dir
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import Run, parse_pair
from harness.stages.common import stage_main, write_json
from harness.statistics.predictors import PREDICTORS, TOPOLOGY_FIELDS

STAGE_MODULE = "harness.stages.persist.metrics"


def _mean(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def run_record(run: Run) -> dict[str, Any]:
    """Predictors, retention metrics and status of one seeded run, from its stages' outputs."""

    def read(part: str, name: str) -> dict[str, Any]:
        return read_output_json(Path(persist_dir(run.key, part)) / name)

    task_a = read("task_a", "metrics.json")
    record: dict[str, Any] = {
        "status": task_a["status"],
        "params": task_a["params"],
        "task_a_test_accuracy": task_a["test_accuracy"],
    }
    if task_a["status"] != "ok":
        return record
    sources = {
        "topology": read("topology", "topology.json"),
        "curvature": read("curvature", "curvature.json"),
    }
    aggregate = sources["topology"].get("aggregate", {})
    record["topology"] = {f: aggregate[f]["mean"] for f in TOPOLOGY_FIELDS if f in aggregate}
    slices = sources["topology"].get("slices", [])
    record["topology_slices"] = {
        f: [s.get(f) if s.get("status", "ok") == "ok" else None for s in slices] for f in TOPOLOGY_FIELDS
    }
    predictors = {}
    for name, (stage, field, _) in PREDICTORS.items():
        if stage == "topology":
            predictors[name] = aggregate.get(field, {}).get("mean")
        else:
            predictors[name] = sources[stage].get(field)
    forgetting = read("forgetting", "forgetting.json")
    record["predictors"] = predictors
    record["retention"] = {
        v: r.get("metrics") if r["status"] == "ok" else {"status": r["status"]}
        for v, r in forgetting["variants"].items()
    }
    record["ewc_benefit"] = forgetting["ewc_benefit"]
    return record


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", help="ARCH-DATASET")
    parser.add_argument("--seeds", required=True, help="comma-separated run seeds (persist.seeds)")
    args = parser.parse_args(argv)
    pair = parse_pair(args.key)
    runs = [Run(pair.arch, pair.dataset, int(s)) for s in args.seeds.split(",")]
    records = {r.key: run_record(r) for r in runs}
    ok = [rec for rec in records.values() if rec["status"] == "ok"]
    params = next(iter(records.values()))["params"]
    metrics: dict[str, Any] = {
        "n_runs": len(runs),
        "n_runs_ok": len(ok),
        "params": params,
        "log_params": math.log(params),
        "task_a_test_accuracy": _mean([r["task_a_test_accuracy"] for r in ok]),
        "predictors": {p: _mean([r["predictors"][p] for r in ok]) for p in PREDICTORS},
        "topology": {f: _mean([r["topology"].get(f) for r in ok]) for f in TOPOLOGY_FIELDS},
        "topology_slices": {
            f: [_mean(list(v)) for v in zip(*(r["topology_slices"][f] for r in ok), strict=True)]
            for f in TOPOLOGY_FIELDS
        },
        "retention": {},
        "ewc_benefit": {},
    }
    for rec in ok:
        for variant, values in rec["retention"].items():
            for m, v in values.items():
                if m != "status":
                    metrics["retention"].setdefault(variant, {}).setdefault(m, []).append(v)
        for m, v in rec["ewc_benefit"].items():
            metrics["ewc_benefit"].setdefault(m, []).append(v)
    metrics["retention"] = {v: {m: _mean(x) for m, x in ms.items()} for v, ms in metrics["retention"].items()}
    metrics["ewc_benefit"] = {m: _mean(x) for m, x in metrics["ewc_benefit"].items()}
    out = Path(persist_dir(args.key, "metrics"))
    write_json(out / "metrics.json", metrics)
    write_json(out / "runs.json", records)
    prov = Provenance(f"persist_metrics@{args.key}", {"runs": [r.key for r in runs]}, {})
    prov.add(predictors={n: meaning for n, (_, _, meaning) in PREDICTORS.items()})
    prov.write(out / "provenance.json")
    print(f"persist_metrics@{args.key}: {len(ok)}/{len(runs)} runs ok")


if __name__ == "__main__":
    raise SystemExit(main())
