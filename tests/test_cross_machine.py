"""Results do not depend on which BLAS kernels the CPU gets (issue 18, item 11).

OpenBLAS picks its kernels when it loads (``OPENBLAS_CORETYPE``: Haswell on a Zen 2/3 EPYC, SkylakeX on
an AVX-512 one), and each sums in its own order. Forcing an older core type in a subprocess stands in
for "another machine of the same kind": the Experiment 1 statistics (``persist_statistics``) must come
out bit-identical, the power-law fits of ``genesis_statistics`` (still LAPACK) within
``CROSS_MACHINE_RTOL``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys

import pytest

from tests.conftest import REPO

CROSS_MACHINE_RTOL = 1e-9
"""Relative tolerance between machines for statistics that still call LAPACK (README, Reproducibility)."""
CROSS_MACHINE_ATOL = 1e-12
"""Absolute floor of that tolerance, for values that are zero up to rounding."""

# an older core type every CPU of the architecture can run (forcing a newer one can SIGILL)
OTHER_CORETYPE = {"x86_64": "Prescott", "AMD64": "Prescott", "aarch64": "ARMV8", "arm64": "ARMV8"}

SURVEY = """
import json, sys, threadpoolctl, numpy as np
from harness.params import StatisticsConfig
from harness.statistics.persist_survey import PairRecord, survey_statistics
from tests.test_statistics import _metrics

rng = np.random.default_rng(18)
widths = {"net0": 1.0, "net1": 2.0, "net2": 4.0}
pairs = [
    PairRecord(f"net{i}", d, _metrics(rng, 8.0 + 0.7 * i + (0.1 if d == "b" else 0)), widths.get(f"net{i}"))
    for i in range(6)
    for d in ("a", "b")
]
cfg = StatisticsConfig(
    retention_metrics=["ret@10", "ret@100"],
    loao_target="ret@100",
    ladder=list(widths),
    topology_summaries=["h0_total_persistence", "h1_total_persistence", "h0_max_persistence",
                        "h1_max_persistence"],
    n_permutations=99,
)
out = survey_statistics(pairs, ["a", "b", "c"], cfg)
"""

POWER_LAWS = """
import json, sys, threadpoolctl, numpy as np
from harness.statistics.power_law import compare_laws

rng = np.random.default_rng(18)
params = np.geomspace(1e3, 1e6, 12)
volume = params * rng.lognormal(0, 0.3, 12)
capacity = 0.05 * params**0.9 * rng.lognormal(0, 0.2, 12)
out = compare_laws(capacity, {"params": params, "volume": volume, "noise": rng.lognormal(8, 1, 12)})
"""

REPORT = """
blas = [i["architecture"] for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
json.dump({"blas": blas, "out": out}, sys.stdout, sort_keys=True, default=str)
"""


def _run(script: str, coretype: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["PYTHONPATH"] = str(REPO)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    proc = subprocess.run(
        [sys.executable, "-c", script + REPORT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _under_two_core_types(script: str) -> tuple[dict, dict]:
    """The script's ``out`` under the CPU's own BLAS core type and under an older one."""
    other = OTHER_CORETYPE.get(platform.machine())
    if other is None:
        pytest.skip(f"no known baseline OpenBLAS core type for {platform.machine()}")
    native, forced = _run(script, None), _run(script, other)
    if not native["blas"] or native["blas"] == forced["blas"]:
        pytest.skip(f"OpenBLAS core type {native['blas']} cannot be told apart from {other} here")
    return native["out"], forced["out"]


def _differences(a, b, rtol: float, atol: float, path: str = "") -> list[str]:
    """Paths of the numbers in two JSON trees that differ by more than atol + rtol·|b|."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in _differences(a[k], b[k], rtol, atol, f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, rtol, atol, f"{path}[{i}]")
        ]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers and math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def test_persist_survey_statistics_are_bit_identical_under_another_blas_core_type():
    native, forced = _under_two_core_types(SURVEY)
    assert native["scopes"]["pooled"]["loao"]["n"] == 12  # the LOAO ridge and its permutation test ran
    different = _differences(native, forced, rtol=0.0, atol=0.0)
    assert not different, f"{len(different)} values differ, e.g. {different[:5]}"


def test_power_law_fits_agree_within_the_cross_machine_tolerance():
    native, forced = _under_two_core_types(POWER_LAWS)
    assert native["fits"]["params"]["exponent"] == pytest.approx(0.9, abs=0.2)
    different = _differences(native, forced, CROSS_MACHINE_RTOL, CROSS_MACHINE_ATOL)
    assert not different, different[:5]
