"""Registry validation: every entry builds and runs; every kind of bad input gets one clear message."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data.adapt import adapt_inputs
from harness.data.load import load_dataset
from harness.models.build import bind_to_data, build_architecture, trainable_parameter_count
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import RegistryError, compatible, load_registries
from harness.yaml_strict import DuplicateKeyError, load_yaml_strict
from tests.conftest import REPO

_REG = load_registries(REPO / "registry", check_code=False)
EMBEDDED = [k for k, d in _REG.datasets.items() if d.embedded and not d.extends]
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
    torch.manual_seed(0)
    model, samples = bind_to_data(
        build_architecture(a, d, "tiny"), data, adapt_inputs(data.inputs, plan_adaptation(d, a, "tiny"))
    )
    x = torch.from_numpy(samples[:16])
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
    assert list(data.inputs.shape[1:]) == entry.shape and data.targets.dtype == np.int64
    if entry.modality == "sequence":  # token ids; not every token need follow a window
        assert (
            data.inputs.dtype == np.int64 and data.inputs.min() >= 0 and data.inputs.max() < entry.vocab_size
        )
        assert set(np.unique(data.targets)) <= set(range(entry.num_classes))
    else:
        assert data.inputs.dtype == np.float32
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


# (file, text to replace, replacement, message that must appear) — one row per kind of bad input
BAD_INPUTS = {
    "ladder entry without a width": (
        "surveys.yaml",
        "ladder: [wrn_28_1, wrn_28_2, wrn_28_4, wrn_28_8, wrn_28_10], level: 0.05, n_permutations: 99",
        "ladder: [wrn_28_1, cnn_small], level: 0.05, n_permutations: 99",
        "entry 'micro', field 'params.persist.statistics.ladder': 'cnn_small': expected an architecture entry "
        "with a numeric kwargs.width",
    ),
    "excluded architecture that is no entry": (
        "surveys.yaml",
        "      exclude: [cnn_small]\n",
        "      exclude: [cnn_smal]\n",
        "entry 'full', field 'persist.exclude': expected keys of registry/architectures.yaml, got unknown "
        "'cnn_smal'",
    ),
    "persist dataset without tasks": (
        "surveys.yaml",
        "      architectures: [cnn_small]\n      datasets: [digits]\n",
        "      architectures: [cnn_small]\n      datasets: [sst2]\n",
        "entry 'micro', field 'persist.datasets': 'sst2' cannot be split into two tasks",
    ),
    "phi measurement that is not a partition scheme": (
        "surveys.yaml",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n",
        "      datasets: [blobs]\n      measurements: [phi_layer, test_cross_entropy]\n",
        "entry 'micro', field 'phi.measurements': 'test_cross_entropy': expected a partition scheme",
    ),
    "phi without the layer scheme": (
        "surveys.yaml",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n",
        "      datasets: [blobs]\n      measurements: [phi_positions]\n",
        "entry 'micro', field 'phi.measurements': expected a scheme with kwargs.scheme = 'layer'",
    ),
    "phi transfer target with other inputs": (
        "surveys.yaml",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n      transfer_targets: {blobs: digits}\n",
        "entry 'micro', field 'phi.transfer_targets': 'blobs' → 'digits': the target's inputs are image "
        "[1, 8, 8]; expected the source's, vector [16]",
    ),
    "phi transfer target that is no dataset": (
        "surveys.yaml",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n      transfer_targets: {blobs: blobz}\n",
        "entry 'micro', field 'phi.transfer_targets': 'blobs' → 'blobz': expected a key of "
        "registry/datasets.yaml",
    ),
    "phi transfer from a dataset phi does not select": (
        "surveys.yaml",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n      transfer_targets: {digits: blobs}\n",
        "entry 'micro', field 'phi.transfer_targets': 'digits': expected one of phi.datasets ['blobs']",
    ),
    "phi transfer to a graph": (
        "surveys.yaml",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n",
        "      datasets: [blobs]\n      measurements: [phi_layer]\n      transfer_targets: {blobs: sbm_graph}\n",
        "entry 'micro', field 'phi.transfer_targets': 'blobs' → 'sbm_graph': expected non-graph datasets",
    ),
    "double descent over an architecture without a width": (
        "surveys.yaml",
        "double_descent: {architecture: mlp_d1_w256, dataset: blobs, widths: [2, 8, 32]}",
        "double_descent: {architecture: cnn_small, dataset: blobs, widths: [2, 8, 32]}",
        "entry 'micro', field 'genesis.double_descent': 'cnn_small': expected an entry with a kwargs.width",
    ),
    "double descent widths out of order": (
        "surveys.yaml",
        "double_descent: {architecture: mlp_d1_w256, dataset: blobs, widths: [2, 8, 32]}",
        "double_descent: {architecture: mlp_d1_w256, dataset: blobs, widths: [8, 2, 32]}",
        "expected distinct increasing positive widths",
    ),
    "phi checkpoints out of order": (
        "surveys.yaml",
        "        checkpoints: [0.0, 0.5, 1.0]\n",
        "        checkpoints: [0.5, 0.0, 1.0]\n",
        "entry 'micro', field 'params': - field 'phi.checkpoints': Value error, expected at least two distinct "
        "increasing fractions",
    ),
    "unknown key": (
        "architectures.yaml",
        "    family: cnn\n",
        "    family: cnn\n    widht: 3\n",
        "architectures.yaml: entry 'cnn_small', field 'widht': unknown key",
    ),
    "missing field": (
        "architectures.yaml",
        "    family: cnn\n",
        "",
        "entry 'cnn_small', field 'family': Field required",
    ),
    "wrong type": (
        "datasets.yaml",
        "    num_classes: 4\n",
        "    num_classes: four\n",
        "datasets.yaml: entry 'blobs', field 'num_classes': Input should be a valid integer",
    ),
    "builder module does not import": (
        "architectures.yaml",
        "harness.models.cnn:build_conv_net",
        "harness.models.nope:build_conv_net",
        "entry 'cnn_small', field 'builder': cannot import 'harness.models.nope:build_conv_net'",
    ),
    "builder function does not exist": (
        "architectures.yaml",
        "harness.models.cnn:build_conv_net",
        "harness.models.cnn:build_convnet",
        "field 'builder': cannot import 'harness.models.cnn:build_convnet' (AttributeError",
    ),
    "builder argument it does not take": (
        "architectures.yaml",
        "hidden: 256}",
        "hidden: 256, dropout: 0.1}",
        "entry 'cnn_small', field 'builder': harness.models.cnn:build_conv_net does not accept argument(s) "
        "['dropout']",
    ),
    "builder argument of the wrong type (it failed later inside the builder)": (
        "architectures.yaml",
        "kwargs: {depth: 2, width: 512}",
        "kwargs: {depth: many, width: 512}",
        "entry 'mlp_2', field 'kwargs.depth': harness.models.mlp:build_mlp expects int for 'depth', got 'many'",
    ),
    "a misspelt family (the statistics group by family)": (
        "architectures.yaml",
        "    family: transformer\n",
        "    family: transfomer\n",
        "field 'family': Input should be 'mlp', 'cnn'",
    ),
    "tiny override of the wrong type": (
        "architectures.yaml",
        "tiny: {width: 64}",
        "tiny: {width: 6.5}",
        "entry 'mlp_2', field 'tiny.width': harness.models.mlp:build_mlp expects int for 'width', got 6.5",
    ),
    "a boolean where the builder takes a number": (
        "architectures.yaml",
        "kwargs: {depth: 2, width: 512}",
        "kwargs: {depth: true, width: 512}",
        "field 'kwargs.depth': harness.models.mlp:build_mlp expects int for 'depth', got True",
    ),
    "malformed code reference": (
        "architectures.yaml",
        "harness.models.cnn:build_conv_net",
        "harness.models.cnn.build_conv_net",
        "entry 'cnn_small', field 'builder': String should match pattern",
    ),
    "reference to a missing entry": (
        "architectures.yaml",
        "extends: mlp_2\n    kwargs: {depth: 4}",
        "extends: mlp_3\n    kwargs: {depth: 4}",
        "entry 'mlp_4', field 'extends': expected the key of an existing entry, got 'mlp_3'",
    ),
    "profile selects a missing dataset": (
        "surveys.yaml",
        "datasets: [digits, blobs]",
        "datasets: [digits, blobz]",
        "surveys.yaml: entry 'embedded', field 'train.datasets': expected keys of registry/datasets.yaml, "
        "got unknown 'blobz'",
    ),
    "variant of a variant": (
        "architectures.yaml",
        "extends: mlp_2\n    kwargs: {depth: 8}",
        "extends: mlp_4\n    kwargs: {depth: 8}",
        "entry 'mlp_8', field 'extends': base 'mlp_4' is itself a variant; one level deep only",
    ),
    "bad entry key": (
        "architectures.yaml",
        "  cnn_small:",
        "  CNN-small:",
        "entry 'CNN-small': entry key must match",
    ),
    "architecture that takes none of the datasets": (
        "surveys.yaml",
        "      architectures: all\n      experiments: [phi]\n      datasets: [blobs]",
        "      architectures: [cnn_small]\n      datasets: [blobs]",
        "entry 'micro', field 'train.architectures': 'cnn_small' cannot take any of ['blobs']: no declared "
        "rule adapts vector data",
    ),
    "profile params": (
        "surveys.yaml",
        "epochs: 3\n",
        "epochs: -3\n",
        "surveys.yaml: entry 'micro', field 'params': - field 'train.epochs'",
    ),
    "overlapping tasks": (
        "datasets.yaml",
        "task_b: [2, 3]}",
        "task_b: [1, 3]}",
        "entry 'blobs', field 'tasks': Value error, task_a and task_b share classes [1]",
    ),
    "task class out of range": (
        "datasets.yaml",
        "task_b: [2, 3]}",
        "task_b: [2, 7]}",
        "entry 'blobs', field 'tasks': classes [7] are not below num_classes=4",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gets_one_clear_message(case: str, registry_copy: Path):
    file, old, new, expected = BAD_INPUTS[case]
    _edit(registry_copy, file, old, new)
    assert expected in _problems(registry_copy)


def test_full_persist_is_the_plans_19_networks_on_its_3_datasets():
    from harness.pipeline.selection import persist_pairs

    pairs = persist_pairs(_REG, "full")
    archs, datasets = {p.arch for p in pairs}, {p.dataset for p in pairs}
    assert len(pairs) == 57 and len(archs) == 19 and datasets == {"cifar100", "cub200", "resisc45"}
    assert "cnn_small" not in archs  # the embedded stand-in, excluded by the selection


def test_tiny_image_size_sets_the_tiny_input_and_leaves_full_size_alone(registries):
    resnet, digits = registries.architectures["resnet18"], registries.datasets["digits"]
    assert resnet.tiny_image_size == 8 and resnet.image_size == 32
    assert plan_adaptation(digits, resnet).shape == [3, 32, 32]
    assert plan_adaptation(digits, resnet, "full").steps == ("repeat_channels", "resize")
    tiny = plan_adaptation(digits, resnet, "tiny")
    assert tiny.shape == [3, 8, 8] and tiny.steps == ("repeat_channels",)  # 8x8 digits: no resize
    from harness.models.build import builder_kwargs

    assert builder_kwargs(resnet, digits, "tiny")["image_size"] == 8
    assert builder_kwargs(resnet, digits, "full")["image_size"] == 32
    # an entry without tiny_image_size takes image_size at both sizes
    vgg = registries.architectures["vgg11_bn"]
    assert vgg.tiny_image_size is None and plan_adaptation(digits, vgg, "tiny").shape == [3, 32, 32]


def test_argument_types_resolve_one_by_one_when_one_annotation_cannot(tmp_path):
    """A builder whose annotations name a TYPE_CHECKING-only import: typing.get_type_hints fails as a whole,
    and the arguments that do resolve are still checked."""
    import types

    from harness.registry.load import _argument_types

    module = types.ModuleType("builder_module")
    exec(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from torch import nn\n"
        "def build(depth: int, width: int, act: nn.Module | None = None) -> nn.Module: ...\n",
        module.__dict__,
    )
    assert _argument_types(module.build) == {"depth": int, "width": int}
