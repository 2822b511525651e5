"""Stage ``genesis_statistics``: Experiment 3 fits and verdicts over every GENESIS pair.

Reads each pair's ``capacity.json``; writes ``statistics.json`` (per optimizer: the capacity table,
power laws C ~ V^α, A1^β, A2^β with bootstrap intervals, R², BIC, collinearity and a verdict; the same
for the stored label information; constant-width depth sweeps with their rule; residual vs plain twins;
transformer exponents and effective boundaries), a DVC metrics file and provenance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.integrity import read_output_json
from harness.params import read_section
from harness.pipeline.paths import GENESIS_DOUBLE_DESCENT, GENESIS_STATISTICS, genesis_dir
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import genesis_pairs
from harness.registry.load import load_registries
from harness.stages.common import stage_main, write_json
from harness.statistics.genesis_survey import genesis_statistics


@stage_main
def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    survey, cfg = read_section("survey"), read_section("genesis.statistics")
    reg = load_registries(check_code=False)
    prov = Provenance("genesis_statistics", {}, {"genesis.statistics": cfg.model_dump()})
    pairs = genesis_pairs(reg, survey.profile)
    records = [read_output_json(Path(genesis_dir(p.key, "capacity")) / "capacity.json") for p in pairs]
    information = [
        read_output_json(Path(genesis_dir(p.key, "information")) / "information.json") for p in pairs
    ]
    has_dd = reg.profiles[survey.profile].genesis.double_descent is not None
    dd_path = Path(GENESIS_DOUBLE_DESCENT) / "double_descent.json"
    double_descent = read_output_json(dd_path) if has_dd else None
    stats = genesis_statistics(records, cfg, information, double_descent)
    out = Path(GENESIS_STATISTICS)
    write_json(out / "statistics.json", stats)
    summary = {
        name: {
            "verdict": o["laws"]["verdict"],
            "n": o["laws"]["n"],
            "exponents": stats["exponents_by_optimizer"][name],
            "depth_sweeps": [s["verdict"] for s in o["depth_sweeps"]],
            "bits_per_parameter_median": o["bits_per_parameter_median"],
        }
        for name, o in stats["optimizers"].items()
    }
    write_json(out / "summary.json", summary)
    prov.add(pairs=[p.key for p in pairs])
    prov.write(out / "provenance.json")
    for warning in stats["warnings"]:
        print(f"warning: genesis_statistics: {warning}", file=sys.stderr)
    print(
        f"genesis_statistics: {stats['n_pairs']} pairs; "
        + "; ".join(f"{k}: {v['verdict']}" for k, v in summary.items())
    )


if __name__ == "__main__":
    raise SystemExit(main())
