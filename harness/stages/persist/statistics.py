"""Stage ``persist_statistics``: Experiment 1 statistics over every (architecture, dataset) pair.

Reads each pair's ``persist_metrics`` output and the ladder widths from the architecture registry;
writes ``statistics.json`` (every table, the permutation null, per-fold predictions), a DVC metrics
file with the headline numbers, and provenance. The science is in ``harness.statistics``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.integrity import read_output_json
from harness.params import ParamsError, read_section
from harness.pipeline.paths import PERSIST_STATISTICS, persist_dir
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import persist_pairs
from harness.registry.load import load_registries
from harness.stages.common import stage_main, write_json
from harness.statistics.persist_survey import PairRecord, survey_statistics
from harness.statistics.predictors import PREDICTORS


def ladder_widths(reg, ladder: list[str]) -> dict[str, float]:
    """``kwargs.width`` of each ladder architecture; one clear error for a name or width that is missing."""
    widths = {}
    for name in ladder:
        if name not in reg.architectures:
            raise ParamsError(
                f"params.yaml [persist.statistics] field 'ladder': no architecture entry {name!r}"
            )
        width = reg.architectures[name].kwargs.get("width")
        if not isinstance(width, (int, float)):
            raise ParamsError(
                f"params.yaml [persist.statistics] field 'ladder': entry {name!r} has no numeric kwargs.width"
            )
        widths[name] = float(width)
    return widths


def headline(stats: dict) -> dict:
    """The numbers ``dvc metrics show`` lists: per scope, LOAO MAE per model and the permutation p."""
    out = {"n_pairs": stats["n_pairs"], "n_ok": stats["n_ok"]}
    for scope, s in stats["scopes"].items():
        loao = s["loao"]
        if "mae" in loao:
            out[scope] = {
                "n": loao["n"],
                "loao_mae": loao["mae"],
                "incremental_p": loao["incremental_value"]["p_value"],
                "b_beats_a2": loao["incremental_value"]["b_beats_a2"],
            }
    return out


@stage_main
def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    survey, cfg = read_section("survey"), read_section("persist.statistics")
    reg = load_registries(check_code=False)
    widths = ladder_widths(reg, cfg.ladder)
    prov = Provenance("persist_statistics", {}, {"persist.statistics": cfg.model_dump()})
    records = []
    for pair in persist_pairs(reg, survey.profile):
        metrics = read_output_json(Path(persist_dir(pair.key, "metrics")) / "metrics.json")
        records.append(PairRecord(pair.arch, pair.dataset, metrics, widths.get(pair.arch)))
    stats = survey_statistics(records, list(PREDICTORS), cfg)
    out = Path(PERSIST_STATISTICS)
    write_json(out / "statistics.json", stats)
    write_json(out / "summary.json", headline(stats))
    prov.add(pairs=[f"{r.architecture}-{r.dataset}" for r in records])
    prov.write(out / "provenance.json")
    print(f"persist_statistics: {stats['n_ok']}/{stats['n_pairs']} pairs, scopes {list(stats['scopes'])}")


if __name__ == "__main__":
    raise SystemExit(main())
