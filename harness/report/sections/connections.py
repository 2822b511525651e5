"""Cross-experiment section: the experiments joined by architecture key (``harness.statistics.connections``)."""

from __future__ import annotations

import html
from typing import Any

from harness.report.page import Section, Table
from harness.statistics.connections import cross_experiment


def connections_section(
    measures: dict[str, dict[str, float]], sources: dict[str, str], level: float
) -> Section:
    """``measures``: measure → architecture → value; ``sources``: measure → how it was taken (one line)."""
    section = Section("Cross-experiment connections", "connections")
    result = cross_experiment(measures, level)
    section.paragraphs.append(
        "Architectures measured by more than one experiment, joined by registry key (one value per "
        "architecture: the median over its datasets). "
        + " ".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}." for k, v in sources.items())
    )
    if not result["table"]:
        section.paragraphs.append("No architecture is measured by two experiments in this profile.")
    else:
        section.tables.append(
            Table(
                "connections",
                ["architecture", *measures],
                result["table"],
                f"Architectures in at least two experiments (n = {len(result['table'])})",
            )
        )
    rows: list[dict[str, Any]] = [
        {k: lk.get(k) for k in ("link", "n", "rho", "p_value", "p_bonferroni")}
        | {"architectures": ", ".join(lk["architectures"])}
        for lk in result["links"]
    ]
    section.tables.append(
        Table(
            "connection_links",
            ["link", "n", "rho", "p_value", "p_bonferroni", "architectures"],
            rows,
            f"Spearman ρ with exact p, Bonferroni over the {result['n_tested']} computable links; "
            "a link with fewer than 3 shared architectures has no statistic",
        )
    )
    small = [lk for lk in result["links"] if 0 < lk["n"] < 10]
    if small:
        section.paragraphs.append(
            "At n below 10 only a very strong monotone relation (|ρ| near 0.65 at n = 10, 1 at n = 4) can reach "
            "p &lt; 0.05, so a non-significant link here says the survey has not tested it, not that there is none."
        )
    return section
