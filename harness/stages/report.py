"""Stage ``report``: reports/index.html plus every table as Markdown/CSV/JSON, from stage outputs only."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from harness.integrity import read_output_json
from harness.params import read_section
from harness.pipeline.paths import (
    GENESIS_STATISTICS,
    PERSIST_STATISTICS,
    PHI_STATISTICS,
    REPORTS,
    persist_dir,
    train_dir,
)
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import genesis_pairs, persist_pairs, phi_pairs, train_pairs
from harness.registry.load import load_registries
from harness.stages.common import stage_main


@stage_main
def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    from harness.report.page import render_page, write_table
    from harness.report.sections.connections import connections_section
    from harness.report.sections.genesis import genesis_section
    from harness.report.sections.persist import persist_section
    from harness.report.sections.phi import phi_section
    from harness.report.sections.training import training_section

    reg = load_registries(check_code=False)
    survey, report, persist = read_section("survey"), read_section("report"), read_section("persist")
    phi = read_section("phi")
    prov = Provenance(
        "report",
        {},
        {s: read_section(s).model_dump() for s in ("survey", "report", "persist", "phi", "genesis")},
    )
    pairs = train_pairs(reg, survey.profile)
    out = Path(REPORTS)
    for sub in ("figures", "tables"):
        shutil.rmtree(out / sub, ignore_errors=True)
    results = [(p.arch, p.dataset, reg.architectures[p.arch].family, Path(train_dir(p.key))) for p in pairs]
    sections = [training_section(results, out / "figures")]
    persist_runs = [(p.arch, p.dataset) for p in persist_pairs(reg, survey.profile)]
    if persist_runs:
        statistics = read_output_json(Path(PERSIST_STATISTICS) / "statistics.json")
        sections.append(
            persist_section(persist_runs, persist.seeds, out / "figures", statistics, persist.statistics)
        )
    phi_runs = [(p.arch, p.dataset) for p in phi_pairs(reg, survey.profile)]
    if phi_runs:
        statistics = read_output_json(Path(PHI_STATISTICS) / "statistics.json")
        sections.append(phi_section(phi_runs, out / "figures", statistics, phi))
    genesis_runs = genesis_pairs(reg, survey.profile)
    genesis_stats = None
    if genesis_runs:
        genesis_stats = read_output_json(Path(GENESIS_STATISTICS) / "statistics.json")
        sections.append(genesis_section(out / "figures", genesis_stats))
    measures, sources = _connection_measures(persist_runs, persist, phi_runs, genesis_stats)
    if len(measures) >= 2:
        sections.append(connections_section(measures, sources, phi.statistics.level))
    for s in sections:
        for t in s.tables:
            write_table(t, out / "tables")
    git = prov.run["git"]
    header = {
        "profile": survey.profile,
        "commit": (git["commit"] or "unknown")[:12] + (" (dirty)" if git["dirty"] else ""),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "training runs": len(pairs),
        **({"PERSIST pairs": len(persist_runs)} if persist_runs else {}),
        **({"PHI pairs": len(phi_runs)} if phi_runs else {}),
        **({"GENESIS pairs": len(genesis_runs)} if genesis_runs else {}),
    }
    (out / "index.html").write_text(render_page(report.title, header, sections))
    prov.write(out / "provenance.json")
    print(f"wrote {out / 'index.html'}")


def _connection_measures(persist_runs, persist, phi_runs, genesis_stats):
    """Each experiment's per-architecture headline for the cross-experiment section (only experiments
    that ran): retention (PERSIST), Φ_pair (PHI), capacity bits per A1 (GENESIS, first optimizer)."""
    from harness.statistics.connections import per_architecture

    measures, sources = {}, {}
    if phi_runs:
        rows = read_output_json(Path(PHI_STATISTICS) / "statistics.json")["rows"]
        measures["phi_pair"] = per_architecture([(r["architecture"], r["layer_phi"]) for r in rows])
        sources["phi_pair"] = "Φ_pair of the layer scheme at the end of training (nats)"
    if persist_runs:
        variant, target = persist.statistics.variant, persist.statistics.loao_target
        values = []
        for arch, dataset in persist_runs:
            path = Path(persist_dir(f"{arch}-{dataset}", "metrics")) / "metrics.json"
            retention = read_output_json(path).get("retention", {}).get(variant, {})
            values.append((arch, retention.get(target)))
        measures["retention"] = per_architecture(values)
        sources["retention"] = f"{target} of the {variant} variant (PERSIST)"
    if genesis_stats and genesis_stats["optimizers"]:
        name, o = next(iter(genesis_stats["optimizers"].items()))
        values = [
            (r["architecture"], r["bits"] / r["A1"] if r["usable"] and r["A1"] else None) for r in o["rows"]
        ]
        measures["bits_per_boundary"] = per_architecture(values)
        sources["bits_per_boundary"] = f"memorization capacity C = N·log2 K per A1 parameter ({name} budget)"
    return measures, sources


if __name__ == "__main__":
    raise SystemExit(main())
