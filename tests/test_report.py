"""The report page: every Experiment 1 figure and table from stage-shaped outputs, rendered in Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.params import StatisticsConfig
from harness.pipeline.paths import persist_dir
from harness.report.page import render_page, write_table
from harness.report.sections.persist import persist_section
from harness.statistics.persist_survey import PairRecord, survey_statistics
from harness.statistics.predictors import PREDICTORS, TOPOLOGY_FIELDS

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
  const sections = [...document.querySelectorAll('section')].map(s => s.id);
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({images, sections});
  document.body.appendChild(pre);
});
</script></body>"""


def chromium() -> str | None:
    """The browser, or None; under CI (``CI`` set, as .ci/run does) its absence is a failure."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.environ.get("CI"):
        pytest.fail("Chromium is not installed; .ci/run installs Debian's `chromium` before `make test`")
    if exe is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return exe


def render_in_chromium(page: Path, tmp: Path) -> dict:
    """Load ``page`` headless; return which images loaded and which sections exist, and a screenshot."""
    exe = chromium()
    probe = page.with_name("_probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE))
    common = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=15000"]
    try:
        dom = subprocess.run(
            [*common, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        shot = tmp / "screenshot.png"
        subprocess.run(
            [*common, f"--screenshot={shot}", "--window-size=1280,3000", page.as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
    finally:
        probe.unlink()
    start, end = (
        dom.index('<pre id="probe">') + len('<pre id="probe">'),
        dom.index("</pre>", dom.index('id="probe"')),
    )
    result = json.loads(dom[start:end].replace("&quot;", '"').replace("&amp;", "&"))
    result["screenshot"] = shot
    return result


def _write_pair(root: Path, rng: np.random.Generator, arch: str, log_params: float) -> None:
    slices = {f: list(rng.gamma(2.0, 0.1, 5)) for f in TOPOLOGY_FIELDS}
    retention = {
        v: {"ret@2": 1.0, "ret@20": float(rng.uniform(0.1, 0.9))} for v in ("naive", "ewc", "cosine")
    }
    metrics = {
        "n_runs": 1,
        "n_runs_ok": 1,
        "params": int(np.exp(log_params)),
        "log_params": log_params,
        "task_a_test_accuracy": 0.95,
        "predictors": {p: float(rng.normal()) for p in PREDICTORS},
        "topology": {f: float(np.mean(v)) for f, v in slices.items()},
        "topology_slices": slices,
        "retention": retention,
        "ewc_benefit": {m: retention["ewc"][m] - retention["naive"][m] for m in ("ret@2", "ret@20")},
    }
    out = root / persist_dir(f"{arch}-digits", "metrics")
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps(metrics))
    land, topo = (
        root / persist_dir(f"{arch}-digits-s0", "landscape"),
        root / persist_dir(f"{arch}-digits-s0", "topology"),
    )
    land.mkdir(parents=True)
    topo.mkdir(parents=True)
    a = np.linspace(-1, 1, 9)
    np.save(land / "slice_0_loss.npy", 0.1 + a[:, None] ** 2 + a[None, :] ** 2)
    (land / "metadata.json").write_text(json.dumps({"span": 1.0}))
    bars = np.array([[0.1, np.inf], [0.3, 0.5]])
    np.savez(
        topo / "slice_0_diagrams.npz",
        ripser_h0=bars,
        ripser_h1=np.array([[0.6, 0.7]]),
        cubical_h0=bars,
        cubical_h1=np.zeros((0, 2)),
    )


def test_experiment_1_report_renders_every_figure_and_table_in_chromium(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    archs = ["wrn_28_1", "wrn_28_2", "wrn_28_4", "cnn_small", "resnet18", "vgg11_bn"]
    for i, arch in enumerate(archs):
        _write_pair(tmp_path, rng, arch, 8.0 + i)
    cfg = StatisticsConfig(retention_metrics=["ret@2", "ret@20"], loao_target="ret@20", n_permutations=99)
    widths = {"wrn_28_1": 1.0, "wrn_28_2": 2.0, "wrn_28_4": 4.0}
    records = [
        PairRecord(
            a,
            "digits",
            json.loads((tmp_path / persist_dir(f"{a}-digits", "metrics") / "metrics.json").read_text()),
            widths.get(a),
        )
        for a in archs
    ]
    stats = survey_statistics(records, list(PREDICTORS), cfg)
    reports = tmp_path / "reports"
    section = persist_section([(a, "digits") for a in archs], [0], reports / "figures", stats, cfg)
    for t in section.tables:
        write_table(t, reports / "tables")
    page = reports / "index.html"
    page.write_text(render_page("test", {"profile": "test"}, [section]))

    names = {t.name for t in section.tables}
    for stem in (
        "correlations",
        "slice_robustness",
        "construction_agreement",
        "ewc_benefit",
        "ladder",
        "loao",
    ):
        assert f"persist_{stem}_digits" in names
        for ext in ("md", "csv", "json"):
            assert (reports / "tables" / f"persist_{stem}_digits.{ext}").exists()
    figures = {f for f, _ in section.figures}
    assert figures == {
        "persist_landscapes.png",
        "persist_correlation_matrix_digits.png",
        "persist_ewc_benefit_digits.png",
        "persist_ladder_digits.png",
        "persist_loao_digits.png",
    }
    html = page.read_text()
    assert "cannot reach significance" in html  # n = 6 with tied topology: said, not hidden
    assert "permutation p = " in html and "http" not in html.replace("http-equiv", "")  # no CDN

    seen = render_in_chromium(page, tmp_path)
    assert seen["sections"] == ["persist"]
    assert len(seen["images"]) == len(figures) and all(i["ok"] for i in seen["images"]), seen["images"]
    from PIL import Image

    shot = np.asarray(Image.open(seen["screenshot"]).convert("L"))
    assert shot.shape[1] == 1280 and shot.std() > 5  # something was drawn
