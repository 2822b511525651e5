"""Stage ``phi_statistics``: Experiment 2 statistics over every PHI (architecture, dataset) pair.

Reads each pair's ``phi_measure`` output; writes ``statistics.json`` (per-architecture Φ_pair with
intervals and trajectories, the correlations with n and Bonferroni-corrected p, scheme agreement, the
calibration summary), a DVC metrics file with the headline numbers, and provenance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.integrity import read_output_json
from harness.params import read_section
from harness.pipeline.paths import PHI_STATISTICS, phi_dir
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import phi_pairs
from harness.registry.load import load_registries
from harness.stages.common import stage_main, write_json
from harness.statistics.phi_survey import phi_statistics


@stage_main
def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    survey, cfg = read_section("survey"), read_section("phi.statistics")
    reg = load_registries(check_code=False)
    prov = Provenance("phi_statistics", {}, {"phi.statistics": cfg.model_dump()})
    pairs = phi_pairs(reg, survey.profile)
    records = [read_output_json(Path(phi_dir(p.key, "measure")) / "measures.json") for p in pairs]
    transfers = [read_output_json(Path(phi_dir(p.key, "transfer")) / "transfer.json") for p in pairs]
    stats = phi_statistics(records, cfg.level, cfg.trajectory_tolerance, transfers, cfg.n_boot, cfg.seed)
    out = Path(PHI_STATISTICS)
    write_json(out / "statistics.json", stats)
    summary = {
        "n_pairs": stats["n_pairs"],
        "tests": {
            t["test"] + f" ({t['method']})": {
                "n": t["n"],
                "statistic": t["statistic"],
                "p_bonferroni": t["p_bonferroni"],
            }
            for t in stats["tests"]
        },
        "transfer_threshold": stats["transfer_threshold"]["verdict"],
        "calibration_recovered_median": {k: v["median"] for k, v in stats["calibration_recovered"].items()},
    }
    write_json(out / "summary.json", summary)
    prov.add(pairs=[p.key for p in pairs])
    prov.write(out / "provenance.json")
    print(f"phi_statistics: {stats['n_pairs']} pairs, schemes {stats['schemes']}")


if __name__ == "__main__":
    raise SystemExit(main())
