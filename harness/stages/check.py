"""Stage ``check``: validate every registry entry and params.yaml, and that dvc.yaml is current.

Runs first (every other stage depends on its output), so a bad registry or params.yaml, or a dvc.yaml
that no longer matches the registries, stops ``dvc repro`` before any work is done. Missing real data
does not stop it: the stage lists every missing dataset as a warning, and only the ``data@<dataset>``
stages of those (and what depends on them) fail, each with one message naming its folder, so
``harness run`` / ``dvc repro --keep-going`` run everything else. ``harness check`` (the command) lists
all missing datasets as one error. Its output is constant, so re-running it never re-runs anything
downstream.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.data.errors import MissingDataError
from harness.data.load import require_datasets
from harness.params import ParamsError, read_params
from harness.pipeline.generate import render_pipeline
from harness.pipeline.paths import CHECK_OUT
from harness.pipeline.selection import profile_datasets, train_pairs
from harness.registry.load import load_registries
from harness.stages.common import stage_main, write_json


def check_pipeline(
    pipeline_file: str | Path = "dvc.yaml", *, in_sync: bool = True, require_data: bool = True
) -> list[str]:
    """Validate registries, params and (``require_data``) real-data presence; return the selected stage
    keys. Raises RegistryError, ParamsError, or MissingDataError listing every missing dataset."""
    reg = load_registries()
    params = read_params()
    pairs = train_pairs(reg, params.survey.profile)
    if in_sync:
        expected = render_pipeline(reg, params)
        path = Path(pipeline_file)
        if not path.exists() or path.read_text() != expected:
            raise ParamsError(
                f"{path} is out of date with registry/ and params.yaml (profile "
                f"{params.survey.profile!r}): run `harness sync` to regenerate it, then `dvc repro`"
            )
    if require_data:
        require_profile_data(reg, params)
    return [p.key for p in pairs]


def require_profile_data(reg, params) -> None:
    """MissingDataError listing every real dataset that a stage of the profile reads and that is not
    under ``data.root`` (see :func:`harness.data.load.require_datasets`)."""
    datasets = profile_datasets(reg, params.survey.profile)
    require_datasets({d: reg.datasets[d] for d in datasets}, params.data.root)


@stage_main
def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    try:
        check_pipeline()
    except MissingDataError as err:  # not fatal here: the data@ stages of the missing datasets fail
        print(f"warning: {err}", file=sys.stderr)
    write_json(CHECK_OUT, {"status": "ok"})


if __name__ == "__main__":
    raise SystemExit(main())
