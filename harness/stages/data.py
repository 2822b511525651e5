"""Stage ``data@<dataset>``: load one dataset and write its content manifest.

Embedded datasets are fingerprinted by their arrays; real ones also by every file's sha256, so
replacing the data changes the manifest and re-runs the stages that depend on it.
"""

from __future__ import annotations

import argparse

from harness.data.load import dataset_folder, load_dataset
from harness.data.manifest import array_fingerprint, file_manifest
from harness.params import read_section
from harness.pipeline.paths import data_dir, data_manifest
from harness.pipeline.provenance import Provenance
from harness.registry.load import Problem, RegistryError, load_registries
from harness.stages.common import MISSING_ENTRY, stage_main, write_json


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", help="registry key of the dataset")
    args = parser.parse_args(argv)
    reg = load_registries(check_code={("datasets", args.dataset)})
    if args.dataset not in reg.datasets:
        raise RegistryError([Problem("registry/datasets.yaml", args.dataset, None, MISSING_ENTRY)])
    data_params = read_section("data")
    entry = reg.datasets[args.dataset]
    prov = Provenance(
        f"data@{args.dataset}",
        {"dataset": {args.dataset: reg.entry_hash("datasets", args.dataset)}},
        {"data": data_params.model_dump()},
    )
    data = load_dataset(args.dataset, entry, data_params.root)
    manifest = {
        "dataset": args.dataset,
        "entry_sha256": reg.entry_hash("datasets", args.dataset),
        "arrays": array_fingerprint(data),
        "files": None if entry.embedded else file_manifest(dataset_folder(entry, data_params.root)),
    }
    write_json(data_manifest(args.dataset), manifest)
    prov.write(f"{data_dir(args.dataset)}/provenance.json")


if __name__ == "__main__":
    raise SystemExit(main())
