"""The report page: sections of tables and figures, written as HTML plus Markdown/CSV/JSON tables."""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    """A table with a name (its file stem), columns and rows, and a caption stating n."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    caption: str


@dataclass
class Section:
    """One experiment's (or the training's) part of the page."""

    title: str
    anchor: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    """(file name under figures/, caption)."""


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (imported on first use: report figures only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_table(table: Table, folder: Path) -> None:
    """Write ``<name>.md``, ``<name>.csv`` and ``<name>.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{table.name}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=table.columns)
        writer.writeheader()
        writer.writerows({c: r.get(c) for c in table.columns} for r in table.rows)
    (folder / f"{table.name}.json").write_text(
        json.dumps({"caption": table.caption, "columns": table.columns, "rows": table.rows}, indent=2) + "\n"
    )
    lines = [
        f"{table.caption}",
        "",
        "| " + " | ".join(table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in table.columns) + " |" for r in table.rows]
    (folder / f"{table.name}.md").write_text("\n".join(lines) + "\n")


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in table.columns) + "</tr>"
        for r in table.rows
    )
    return (
        f'<figure class="table"><figcaption>{html.escape(table.caption)} '
        f'(<a href="tables/{table.name}.csv">CSV</a>, <a href="tables/{table.name}.md">Markdown</a>, '
        f'<a href="tables/{table.name}.json">JSON</a>)</figcaption>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></figure>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.meta{color:#555;font-size:.9em}.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:.5em 1em}
figure{margin:1.5em 0}
"""


def render_page(title: str, header: dict[str, Any], sections: list[Section]) -> str:
    """One self-contained HTML page (no CDN); figures are PNG files beside it."""
    meta = " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in header.items())
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{meta}</p><ul>{toc}</ul>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        parts += [f"<p>{p}</p>" for p in s.paragraphs]  # paragraphs are built from escaped values
        parts += [_table_html(t) for t in s.tables]
        parts += [
            f'<figure><img src="figures/{f}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}'
            "</figcaption></figure>"
            for f, c in s.figures
        ]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
