"""Stage ``genesis_double_descent``: test error vs width at a fixed N with label noise, for one family.

``python -m harness.stages.genesis.double_descent ARCH-DATASET --widths 2,4,...``: the profile's
``genesis.double_descent`` names the architecture entry (the family's base), the dataset and the widths
(each overrides the entry's ``width``, after its tiny overrides); ``harness sync`` writes them into the
stage's command. With ``genesis.double_descent``
params: ``n_train`` samples of the dataset's train split (seeded), a ``label_noise`` fraction of their
labels replaced by a different class drawn uniformly; each width is trained with ``budget`` until it fits
every (noisy) training label or the budget ends (``harness.training.memorize``), and its error on the
clean test split is recorded. The peak of test error is compared with the interpolation threshold: the
smallest width that fits all N labels, i.e. where the measured capacity reaches N.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from harness.data.adapt import adapt_inputs
from harness.data.arrays import split_dataset
from harness.data.load import load_dataset
from harness.params import read_section
from harness.pipeline.paths import GENESIS_DOUBLE_DESCENT
from harness.pipeline.provenance import Provenance, device_description
from harness.pipeline.selection import parse_pair
from harness.registry.adaptation import plan_adaptation
from harness.stages.common import checked_pair, stage_main, write_json

SECTIONS = ["genesis.double_descent", "runtime", "data"]


def noisy_labels(
    labels: np.ndarray, num_classes: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(labels with a ``fraction`` of them replaced by a different class drawn uniformly, mask of those)."""
    rng = np.random.default_rng(seed)
    flip = np.zeros(len(labels), dtype=bool)
    flip[rng.choice(len(labels), size=round(fraction * len(labels)), replace=False)] = True
    shift = rng.integers(1, num_classes, len(labels))
    return np.where(flip, (labels + shift) % num_classes, labels), flip


def peak_and_threshold(widths: list[int], test_error: list[float], fitted: list[bool]) -> dict:
    """The double-descent peak and the interpolation threshold (the smallest width that fits every label).

    The peak is the largest test error after the first rise (the bottom of the classical U): the widest
    networks before it are underfitting, not the bump. None when the error never rises (no peak)."""
    threshold = next((w for w, f in zip(widths, fitted, strict=True) if f), None)
    rise = next((i for i in range(len(test_error) - 1) if test_error[i + 1] > test_error[i]), None)
    peak = None if rise is None else widths[rise + int(np.argmax(test_error[rise:]))]
    return {
        "peak_width": peak,
        "threshold_width": threshold,
        "peak_over_threshold": peak / threshold if peak and threshold else None,
    }


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", help="ARCH-DATASET: the family's base entry and the dataset")
    parser.add_argument("--widths", required=True, help="comma-separated widths, e.g. 2,4,8")
    args = parser.parse_args(argv)
    pair = parse_pair(args.key)
    widths = [int(w) for w in args.widths.split(",")]
    reg, entries = checked_pair(pair.arch, pair.dataset)
    config = {name: read_section(name) for name in SECTIONS}
    cfg, runtime = config["genesis.double_descent"], config["runtime"]
    arch, dataset = reg.architectures[pair.arch], reg.datasets[pair.dataset]
    prov = Provenance("genesis_double_descent", entries, {n: c.model_dump() for n, c in config.items()})

    import torch

    from harness.measurements.volume_area import volume_and_area
    from harness.models.build import build_architecture
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.memorize import memorize

    device = resolve_device(runtime.device)
    data = load_dataset(pair.dataset, dataset, read_section("data").root)
    inputs = adapt_inputs(data.inputs, plan_adaptation(dataset, arch, cfg.budget.size))
    split = split_dataset(data, dataset.split.val_fraction, dataset.split.test_fraction, seed=runtime.seed)
    rng = np.random.default_rng(cfg.seed)
    train_rows = rng.choice(split.train, size=min(cfg.n_train, len(split.train)), replace=False)
    k = dataset.num_classes
    y_train, flipped = noisy_labels(data.targets[train_rows], k, cfg.label_noise, cfg.seed)
    x_train = torch.from_numpy(inputs[train_rows]).to(device)
    x_test = torch.from_numpy(inputs[split.test]).to(device)
    y_test = torch.from_numpy(data.targets[split.test]).to(device)
    rows = []
    for width in widths:
        variant = arch.model_copy(
            update={"kwargs": {**arch.kwargs, "width": width}, "tiny": {**arch.tiny, "width": width}}
        )
        make_deterministic(cfg.seed, runtime.deterministic)
        model = build_architecture(variant, dataset, cfg.budget.size).to(device)
        run = memorize(model, x_train, torch.from_numpy(y_train).to(device), cfg.budget, seed=cfg.seed)
        with torch.no_grad():
            model.eval()
            test_error = (
                float((model(x_test).argmax(1) != y_test).float().mean()) if not run.diverged else None
            )
        rows.append(
            {
                "width": width,
                **volume_and_area(model),
                "fitted": run.fitted,
                "epochs": run.epochs,
                "train_accuracy": run.train_accuracy if not run.diverged else None,
                "test_error": test_error,
                "diverged": run.diverged,
            }
        )
        print(f"genesis_double_descent: width {width}: test error {test_error}, fitted {run.fitted}")
    usable = [r for r in rows if r["test_error"] is not None]
    summary = peak_and_threshold(
        [r["width"] for r in usable], [r["test_error"] for r in usable], [r["fitted"] for r in usable]
    )
    out = Path(GENESIS_DOUBLE_DESCENT)
    write_json(
        out / "double_descent.json",
        {
            "architecture": pair.arch,
            "dataset": pair.dataset,
            "n_train": len(train_rows),
            "label_noise": cfg.label_noise,
            "noisy_labels": int(flipped.sum()),
            "n_test": len(split.test),
            "rows": rows,
            **summary,
        },
    )
    prov.add(device=device_description(device))
    prov.write(out / "provenance.json")


if __name__ == "__main__":
    raise SystemExit(main())
