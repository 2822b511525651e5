"""Registry validation: every entry builds and runs; every kind of bad input gets one clear message."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data.adapt import adapt_inputs
from harness.data.load import load_dataset
from harness.models.build import build_architecture, trainable_parameter_count
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import RegistryError, compatible, load_registries
from harness.registry.yaml_loader import DuplicateKeyError, load_yaml_strict
from tests.conftest import REPO

_REG = load_registries(REPO / "registry", check_code=False)
EMBEDDED = [k for k, d in _REG.datasets.items() if d.embedded]
ARCH_DATA = [
    (a, d)
    for a in _REG.architectures
    for d in EMBEDDED
    if compatible(_REG.architectures[a], _REG.datasets[d])
]


def test_every_registry_validates_with_its_code(registries):
    assert set(registries.architectures) >= {"mlp_2", "mlp_4", "mlp_8", "cnn_small"}
    assert set(registries.profiles) >= {"embedded", "micro", "full"}


def test_every_architecture_runs_on_some_embedded_dataset():
    covered = {a for a, _ in ARCH_DATA}
    assert covered == set(_REG.architectures)


@pytest.mark.parametrize(("arch", "dataset"), ARCH_DATA, ids=[f"{a}-{d}" for a, d in ARCH_DATA])
def test_tiny_build_forward_backward(arch: str, dataset: str):
    a, d = _REG.architectures[arch], _REG.datasets[dataset]
    data = load_dataset(dataset, d, "data")
    x = torch.from_numpy(adapt_inputs(data.inputs[:16], plan_adaptation(d, a)))
    torch.manual_seed(0)
    model = build_architecture(a, d, "tiny")
    logits = model(x)
    assert logits.shape == (16, d.num_classes)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # tiny is smaller than full whenever the entry declares tiny overrides
    if a.tiny:
        assert trainable_parameter_count(model) < trainable_parameter_count(build_architecture(a, d, "full"))


@pytest.mark.parametrize("dataset", EMBEDDED)
def test_embedded_dataset_matches_its_entry(dataset: str):
    entry = _REG.datasets[dataset]
    data = load_dataset(dataset, entry, "data")
    assert list(data.inputs.shape[1:]) == entry.shape
    assert data.inputs.dtype == np.float32 and data.targets.dtype == np.int64
    assert set(np.unique(data.targets)) == set(range(entry.num_classes))


def test_variant_inherits_base_and_overrides_kwargs():
    a = _REG.architectures["mlp_4"]
    assert a.extends == "mlp_2"
    assert a.kwargs == {"depth": 4, "width": 512} and a.tiny == {"width": 64}
    assert _REG.lineage("architectures", "mlp_4") == ["mlp_4", "mlp_2"]


# ---- bad input: one clear error naming file, entry, field and what was expected ----------------


def _edit(reg_dir: Path, name: str, old: str, new: str) -> None:
    path = reg_dir / name
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def _problems(reg_dir: Path) -> str:
    with pytest.raises(RegistryError) as info:
        load_registries(reg_dir)
    return str(info.value)


def test_unknown_key(registry_copy: Path):
    _edit(registry_copy, "architectures.yaml", "    family: cnn\n", "    family: cnn\n    widht: 3\n")
    msg = _problems(registry_copy)
    assert re.search(r"architectures\.yaml: entry 'cnn_small', field 'widht': unknown key", msg)


def test_duplicate_key_is_detected(registry_copy: Path):
    path = registry_copy / "architectures.yaml"
    text = path.read_text()
    block = text[text.index("  cnn_small:") :]
    path.write_text(text + block)
    msg = _problems(registry_copy)
    assert "architectures.yaml" in msg and "duplicate key 'cnn_small'" in msg
    assert re.search(r"first defined on line \d+", msg)


def test_duplicate_nested_key_reports_both_lines(tmp_path: Path):
    f = tmp_path / "x.yaml"
    f.write_text("a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(DuplicateKeyError) as info:
        load_yaml_strict(f)
    assert info.value.first_line == 2 and info.value.second_line == 4


def test_missing_field(registry_copy: Path):
    _edit(registry_copy, "architectures.yaml", "    family: cnn\n", "")
    assert "entry 'cnn_small', field 'family': Field required" in _problems(registry_copy)


def test_wrong_type(registry_copy: Path):
    _edit(registry_copy, "datasets.yaml", "    num_classes: 4\n", "    num_classes: four\n")
    msg = _problems(registry_copy)
    assert "datasets.yaml: entry 'blobs', field 'num_classes'" in msg and "'four'" in msg


def test_builder_module_that_does_not_import(registry_copy: Path):
    _edit(
        registry_copy,
        "architectures.yaml",
        "harness.models.cnn:build_conv_net",
        "harness.models.nope:build_conv_net",
    )
    msg = _problems(registry_copy)
    assert "entry 'cnn_small', field 'builder': cannot import 'harness.models.nope:build_conv_net'" in msg


def test_builder_function_that_does_not_exist(registry_copy: Path):
    _edit(
        registry_copy,
        "architectures.yaml",
        "harness.models.cnn:build_conv_net",
        "harness.models.cnn:build_convnet",
    )
    assert "field 'builder': cannot import 'harness.models.cnn:build_convnet' (AttributeError" in _problems(
        registry_copy
    )


def test_builder_argument_it_does_not_take(registry_copy: Path):
    _edit(
        registry_copy,
        "architectures.yaml",
        "kwargs: {channels: [32, 64, 128], hidden: 256}",
        "kwargs: {channels: [32, 64, 128], hidden: 256, dropout: 0.1}",
    )
    assert (
        "entry 'cnn_small', field 'builder': harness.models.cnn:build_conv_net does not accept argument(s) ['dropout']"
        in _problems(registry_copy)
    )


def test_malformed_code_reference(registry_copy: Path):
    _edit(
        registry_copy,
        "architectures.yaml",
        "harness.models.cnn:build_conv_net",
        "harness.models.cnn.build_conv_net",
    )
    assert "entry 'cnn_small', field 'builder': String should match pattern" in _problems(registry_copy)


def test_reference_to_missing_entry(registry_copy: Path):
    _edit(
        registry_copy,
        "architectures.yaml",
        "extends: mlp_2\n    kwargs: {depth: 4}",
        "extends: mlp_3\n    kwargs: {depth: 4}",
    )
    assert "entry 'mlp_4', field 'extends': expected the key of an existing entry, got 'mlp_3'" in _problems(
        registry_copy
    )


def test_profile_selecting_missing_dataset(registry_copy: Path):
    _edit(registry_copy, "surveys.yaml", "datasets: [digits, blobs]", "datasets: [digits, blobz]")
    assert (
        "surveys.yaml: entry 'embedded', field 'train.datasets': expected keys of "
        "registry/datasets.yaml, got unknown 'blobz'"
    ) in _problems(registry_copy)


def test_variant_of_a_variant_is_refused(registry_copy: Path):
    _edit(
        registry_copy,
        "architectures.yaml",
        "extends: mlp_2\n    kwargs: {depth: 8}",
        "extends: mlp_4\n    kwargs: {depth: 8}",
    )
    assert (
        "entry 'mlp_8', field 'extends': base 'mlp_4' is itself a variant; one level deep only"
        in _problems(registry_copy)
    )


def test_bad_entry_key(registry_copy: Path):
    _edit(registry_copy, "architectures.yaml", "  cnn_small:", "  CNN-small:")
    assert "entry 'CNN-small': entry key must match" in _problems(registry_copy)


def test_incompatible_explicit_selection(registry_copy: Path):
    _edit(
        registry_copy,
        "surveys.yaml",
        "      architectures: all\n      datasets: [blobs]",
        "      architectures: [cnn_small]\n      datasets: [blobs]",
    )
    msg = _problems(registry_copy)
    assert (
        "entry 'micro', field 'train.architectures': 'cnn_small' cannot take any of ['blobs']: no declared rule adapts vector data"
        in msg
    )


def test_profile_params_are_validated(registry_copy: Path):
    _edit(registry_copy, "surveys.yaml", "epochs: 3\n", "epochs: -3\n")
    msg = _problems(registry_copy)
    assert "surveys.yaml: entry 'micro', field 'params'" in msg and "field 'train.epochs'" in msg


def test_all_problems_reported_at_once(registry_copy: Path):
    _edit(registry_copy, "architectures.yaml", "    family: cnn\n", "")
    _edit(registry_copy, "datasets.yaml", "    num_classes: 4\n", "    num_classes: 1\n")
    msg = _problems(registry_copy)
    # the broken base also breaks its variant blobs_random, which is reported under its own name
    assert "(3 problem(s))" in msg and "entry 'blobs_random', field 'num_classes'" in msg


def test_missing_file_and_bad_yaml(registry_copy: Path):
    (registry_copy / "measurements.yaml").unlink()
    (registry_copy / "datasets.yaml").write_text("datasets: [unclosed\n")
    msg = _problems(registry_copy)
    assert "measurements.yaml: file not found" in msg and "datasets.yaml: not valid YAML" in msg


def test_overlapping_or_out_of_range_tasks(registry_copy: Path):
    _edit(
        registry_copy,
        "datasets.yaml",
        "tasks: {task_a: [0, 1], task_b: [2, 3]}",
        "tasks: {task_a: [0, 1], task_b: [1, 3]}",
    )
    assert "entry 'blobs', field 'tasks': Value error, task_a and task_b share classes [1]" in _problems(
        registry_copy
    )
    _edit(registry_copy, "datasets.yaml", "task_b: [1, 3]}", "task_b: [2, 7]}")
    assert "entry 'blobs', field 'tasks': classes [7] are not below num_classes=4" in _problems(registry_copy)
