"""Stage ``check``: validate every registry entry and params.yaml, and that dvc.yaml is current.

Runs first (every other stage depends on its output), so a bad registry, missing real data or a
dvc.yaml that no longer matches the registries stops ``dvc repro`` before any work is done.
Its output is constant, so re-running it never re-runs anything downstream.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.data.load import require_dataset
from harness.params import ParamsError, read_params
from harness.pipeline.generate import render_pipeline
from harness.pipeline.paths import CHECK_OUT
from harness.pipeline.selection import train_pairs
from harness.registry.load import load_registries
from harness.stages.common import stage_main, write_json


def check_pipeline(pipeline_file: str | Path = "dvc.yaml", *, in_sync: bool = True) -> list[str]:
    """Validate registries, params and real-data presence; return the selected stage keys."""
    reg = load_registries()
    params = read_params()
    pairs = train_pairs(reg, params.survey.profile)
    for d in dict.fromkeys(p.dataset for p in pairs):
        require_dataset(d, reg.datasets[d], params.data.root)
    if in_sync:
        expected = render_pipeline(reg, params)
        path = Path(pipeline_file)
        if not path.exists() or path.read_text() != expected:
            raise ParamsError(
                f"{path} is out of date with registry/ and params.yaml (profile "
                f"{params.survey.profile!r}): run `harness sync` to regenerate it, then `dvc repro`"
            )
    return [p.key for p in pairs]


@stage_main
def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    check_pipeline()
    write_json(CHECK_OUT, {"status": "ok"})


if __name__ == "__main__":
    raise SystemExit(main())
