"""Splits, real loaders on fake files in their on-disk format, the missing-data error, manifests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from harness.data.arrays import ArrayDataset, split_dataset
from harness.data.cifar import load_cifar10, load_cifar100
from harness.data.errors import MissingDataError
from harness.data.load import load_dataset, require_dataset
from harness.data.manifest import array_fingerprint, file_manifest


def _toy(n: int = 200, classes: int = 4) -> ArrayDataset:
    rng = np.random.default_rng(0)
    return ArrayDataset(rng.normal(size=(n, 3)).astype(np.float32), np.arange(n) % classes)


def test_split_is_disjoint_complete_stratified_and_seeded():
    data = _toy()
    a = split_dataset(data, 0.15, 0.2, seed=1)
    b = split_dataset(data, 0.15, 0.2, seed=1)
    c = split_dataset(data, 0.15, 0.2, seed=2)
    allidx = np.concatenate([a.train, a.val, a.test])
    assert len(allidx) == 200 and len(np.unique(allidx)) == 200
    # test: 4 classes x round(0.2*50) = 40; val: 15% of 200 of the 160 left = 0.1875 -> round(7.5) = 8 per class
    assert len(a.test) == 40 and len(a.val) == 32
    for part in a:
        counts = np.bincount(data.targets[part], minlength=4)
        assert counts.max() - counts.min() == 0
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a.test, c.test)


def test_official_test_split_is_used_when_no_fraction():
    data = _toy()
    mask = np.zeros(200, bool)
    mask[150:] = True
    s = split_dataset(ArrayDataset(data.inputs, data.targets, mask), 0.1, None, seed=0)
    assert np.array_equal(s.test, np.arange(150, 200))
    assert len(s.val) == 20 and set(s.train).isdisjoint(s.test)
    with pytest.raises(ValueError, match="no official test split"):
        split_dataset(data, 0.1, None, seed=0)


def _write_cifar(folder: Path, files: dict[str, int], label_key: bytes, classes: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in files.items():
        batch = {
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            label_key: list(rng.integers(0, classes, size=n)),
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)


def test_cifar10_reads_the_python_pickles(tmp_path: Path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder, {**{f"data_batch_{i}": 5 for i in range(1, 6)}, "test_batch": 4}, b"labels", 10)
    data = load_cifar10(folder)
    assert data.inputs.shape == (29, 3, 32, 32) and data.inputs.max() <= 1.0
    assert data.official_test.sum() == 4 and data.official_test[-4:].all()
    with open(folder / "data_batch_1", "rb") as fh:
        first = pickle.load(fh, encoding="bytes")
    np.testing.assert_allclose(data.inputs[0].reshape(-1), first[b"data"][0] / 255.0, rtol=1e-6)


class _RunsCode:
    """Pickles to a call of os.system, as a crafted batch file would."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batches_load_through_a_restricted_unpickler(tmp_path: Path, protocol: int):
    from harness.data.cifar import UnsafePickleError, read_batch

    rng = np.random.default_rng(0)
    batch = {
        b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8),
        b"labels": list(rng.integers(0, 10, 3)),
    }
    (tmp_path / "ok").write_bytes(pickle.dumps(batch, protocol=protocol))
    read = read_batch(tmp_path / "ok")
    assert np.array_equal(read[b"data"], batch[b"data"]) and read[b"labels"] == batch[b"labels"]
    # a crafted file: plain pickle.load would run the command
    marker = tmp_path / "ran"
    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": _RunsCode(marker)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"evil: refers to (posix|os)\.system"):
        read_batch(tmp_path / "evil")
    assert not marker.exists()
    (tmp_path / "objects").write_bytes(
        pickle.dumps({b"data": np.array([1, "a"], dtype=object)}, protocol=protocol)
    )
    with pytest.raises(UnsafePickleError, match="object array"):
        read_batch(tmp_path / "objects")
    (tmp_path / "short").write_bytes(pickle.dumps(batch, protocol=protocol)[:50])
    with pytest.raises(ValueError, match="short: not a readable CIFAR batch"):
        read_batch(tmp_path / "short")


def test_cifar100_reads_fine_labels_and_entry_checks_the_counts(tmp_path: Path, registries):
    folder = tmp_path / "cifar-100-python"
    _write_cifar(folder, {"train": 6, "test": 3}, b"fine_labels", 100)
    data = load_cifar100(folder)
    assert data.inputs.shape == (9, 3, 32, 32) and data.official_test.sum() == 3 and data.targets.max() < 100
    # the registry entry declares 60,000 samples: a truncated copy is refused, naming entry and field
    with pytest.raises(
        ValueError, match=r"entry 'cifar100', field 'samples': declared 60000, the loader returned 9"
    ):
        load_dataset("cifar100", registries.datasets["cifar100"], tmp_path)
    entry = registries.datasets["cifar100"].model_copy(update={"samples": 9})
    with pytest.raises(ValueError, match=r"field 'split.official_test_samples': declared 10000"):
        load_dataset("cifar100", entry, tmp_path)


def test_missing_data_names_dataset_path_and_layout(tmp_path: Path, registries):
    with pytest.raises(MissingDataError) as info:
        require_dataset("cifar100", registries.datasets["cifar100"], tmp_path)
    msg = str(info.value)
    assert (
        "dataset 'cifar100'" in msg and str(tmp_path / "cifar-100-python") in msg and "cs.toronto.edu" in msg
    )
    (tmp_path / "cifar-100-python").mkdir()
    with pytest.raises(MissingDataError, match=r"expected files \['train', 'test'\]"):
        load_dataset("cifar100", registries.datasets["cifar100"], tmp_path)


def test_manifests_change_with_content(tmp_path: Path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    before = file_manifest(tmp_path)
    (tmp_path / "a.bin").write_bytes(b"abd")
    assert file_manifest(tmp_path) != before
    data = _toy()
    fp = array_fingerprint(data)
    data.inputs[0, 0] += 1
    assert array_fingerprint(data)["sha256"] != fp["sha256"] and fp["samples"] == 200


def _write_image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_cub200_reads_its_metadata_files_and_official_split(tmp_path: Path):
    from harness.data.images import load_cub200

    folder = tmp_path / "CUB_200_2011"
    rows = [(1, "001.Albatross/a.jpg", 1, 1), (2, "001.Albatross/b.jpg", 1, 0), (3, "002.Auklet/c.jpg", 2, 1)]
    for _, rel, label, _ in rows:
        _write_image(folder / "images" / rel, (255, 0, 0) if label == 1 else (0, 0, 255))
    (folder / "images.txt").write_text("".join(f"{i} {rel}\n" for i, rel, _, _ in rows))
    (folder / "image_class_labels.txt").write_text("".join(f"{i} {lab}\n" for i, _, lab, _ in rows))
    (folder / "train_test_split.txt").write_text("".join(f"{i} {tr}\n" for i, _, _, tr in rows))
    data = load_cub200(folder, image_size=8)
    assert data.inputs.shape == (3, 3, 8, 8) and data.inputs.dtype == np.float32
    assert data.targets.tolist() == [0, 0, 1] and data.official_test.tolist() == [False, True, False]
    np.testing.assert_allclose(data.inputs[0, :, 4, 4], [1.0, 0.0, 0.0], atol=0.02)  # red stays red
    np.testing.assert_allclose(data.inputs[2, :, 4, 4], [0.0, 0.0, 1.0], atol=0.02)
    (folder / "train_test_split.txt").write_text("1 1\n2 0\n")
    with pytest.raises(MissingDataError, match="different image ids"):
        load_cub200(folder, image_size=8)


def test_resisc45_reads_class_folders_in_sorted_order(tmp_path: Path):
    from harness.data.images import load_resisc45

    folder = tmp_path / "NWPU-RESISC45"
    for name, color in (("beach", (0, 255, 0)), ("airplane", (255, 255, 255))):
        for i in (1, 2):
            _write_image(folder / name / f"{name}_{i:03d}.jpg", color, size=(256, 256))
    data = load_resisc45(folder, image_size=16)
    assert data.inputs.shape == (4, 3, 16, 16) and data.official_test is None
    assert data.targets.tolist() == [0, 0, 1, 1]  # airplane < beach
    assert data.inputs[0].min() > 0.95 and data.inputs[2, 1].mean() > 0.95
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingDataError, match="no class folders"):
        load_resisc45(empty, image_size=16)


def test_class_subset_relabels_in_listed_order():
    from harness.data.arrays import class_subset

    data = ArrayDataset(np.arange(6, dtype=np.float32)[:, None], np.array([0, 1, 2, 3, 2, 0]))
    task = class_subset(data, [2, 0])
    assert task.targets.tolist() == [1, 0, 0, 1] and task.inputs[:, 0].tolist() == [0, 2, 4, 5]


def test_random_label_variant_draws_uniform_seeded_labels(registries):
    entry = registries.datasets["blobs_random"]
    assert entry.extends == "blobs" and entry.kwargs == registries.datasets["blobs"].kwargs
    a = load_dataset("blobs_random", entry, "data")
    b = load_dataset("blobs_random", entry, "data")
    clean = load_dataset("blobs", registries.datasets["blobs"], "data")
    assert np.array_equal(a.targets, b.targets) and np.array_equal(a.inputs, clean.inputs)
    assert 0.15 < (a.targets == clean.targets).mean() < 0.35  # chance agreement is 1/4
    assert np.bincount(a.targets).min() > 400


def test_every_dataset_with_four_or_more_classes_declares_disjoint_tasks(registries):
    for key, entry in registries.datasets.items():
        # not byte-level language modelling, and not a random-label dataset (nothing to learn or transfer)
        if entry.num_classes >= 4 and entry.samples is not None and entry.random_labels is None:
            assert entry.tasks is not None, key
            assert not set(entry.tasks.task_a) & set(entry.tasks.task_b)


def test_char_corpus_is_pinned_and_windows_predict_the_next_character(registries):
    from harness.data.text import ALPHABET, generate_corpus

    entry = registries.datasets["char_corpus"]
    data = load_dataset("char_corpus", entry, "data")
    text = generate_corpus(entry.kwargs["n_sentences"], entry.kwargs["seed"])
    decode = "".join
    assert decode(ALPHABET[t] for t in data.inputs[0]) == text[:32]
    assert ALPHABET[data.targets[0]] == text[32] and ALPHABET[data.targets[1]] == text[48]
    bad = entry.model_copy(update={"kwargs": {**entry.kwargs, "sha256": "0" * 64}})
    with pytest.raises(ValueError, match="differs from the registry's pinned"):
        load_dataset("char_corpus", bad, "data")


def test_splitmix64_matches_the_reference_sequence():
    from harness.data.text import SplitMix64

    # first outputs for seed 0 of the reference splitmix64.c (Vigna)
    rng = SplitMix64(0)
    assert [rng.next() for _ in range(2)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


def test_wikitext_reads_raw_files_as_byte_windows(tmp_path: Path, registries):
    from harness.data.text import load_wikitext

    folder = tmp_path / "wikitext-2-raw"
    folder.mkdir()
    (folder / "wiki.train.raw").write_bytes(b"abcdefghij")
    (folder / "wiki.valid.raw").write_bytes(b"klmnop")
    (folder / "wiki.test.raw").write_bytes(b"qrstuvw")
    data = load_wikitext(folder, seq_len=4, stride=2)
    assert data.inputs[0].tolist() == list(b"abcd") and data.targets[0] == ord("e")
    assert data.official_test.sum() == 2 and data.inputs[data.official_test][0].tolist() == list(b"qrst")
    # through the registry entry: sizes come from the files (samples: null), the official test split is used
    entry = registries.datasets["wikitext2"].model_copy(
        update={"shape": [4], "kwargs": {"seq_len": 4, "stride": 2}}
    )
    via_entry = load_dataset("wikitext2", entry, tmp_path)
    assert np.array_equal(via_entry.inputs, data.inputs) and entry.samples is None


def test_sst2_reads_glue_tsv_with_dev_as_test(tmp_path: Path):
    from harness.data.text import load_sst2

    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\na fine film \t1\ndull\t0\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\nwonderful\t1\n")
    data = load_sst2(folder, seq_len=8)
    assert data.targets.tolist() == [1, 0, 1] and data.official_test.tolist() == [False, False, True]
    assert data.inputs[0].tolist() == list(b"a fine f") and data.inputs[1].tolist() == [*b"dull", 0, 0, 0, 0]
    (folder / "dev.tsv").write_text("text\tlabel\n")
    with pytest.raises(ValueError, match="GLUE SST-2 header"):
        load_sst2(folder, seq_len=8)


def test_sbm_graph_is_pinned_and_assortative(registries):
    entry = registries.datasets["sbm_graph"]
    data = load_dataset("sbm_graph", entry, "data")
    src, dst = data.edge_index
    assert data.inputs.shape == (600, 32) and data.edge_index.shape[0] == 2
    same = (data.targets[src] == data.targets[dst]).mean()
    # expected share of within-block edges: p_in*(150-1) / (p_in*149 + p_out*450) = 7.45 / 9.7
    assert abs(same - 7.45 / 9.7) < 0.05
    assert set(zip(src.tolist(), dst.tolist(), strict=True)) == set(
        zip(dst.tolist(), src.tolist(), strict=True)
    )


def _write_planetoid(folder: Path, name: str) -> None:
    """Planetoid's raw format: pickled scipy CSR features, one-hot label arrays, a dict-of-lists graph,
    and the test node ids as text. A ring of 523 nodes: 520 in the labelled pool (2 of them the
    training nodes; torch-geometric's standard split takes the next 500 for validation), 3 test nodes."""
    import scipy.sparse as sp

    folder.mkdir(parents=True)
    n, pool = 523, 520
    rng = np.random.default_rng(0)
    feats = sp.csr_matrix((rng.random((n, 5)) > 0.5).astype(np.float32))
    labels = np.eye(3)[np.arange(n) % 3]
    parts = {
        "x": feats[:2],
        "allx": feats[:pool],
        "tx": feats[pool:],
        "y": labels[:2],
        "ally": labels[:pool],
        "ty": labels[pool:],
        "graph": {i: [(i - 1) % n, (i + 1) % n] for i in range(n)},
    }
    for suffix, obj in parts.items():
        with open(folder / f"ind.{name}.{suffix}", "wb") as fh:
            pickle.dump(obj, fh)
    (folder / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in range(pool, n)))


def test_planetoid_reads_raw_files_without_touching_the_data_folder(tmp_path: Path):
    from harness.data.graphs import load_planetoid

    folder = tmp_path / "Planetoid" / "Cora"
    _write_planetoid(folder, "cora")
    before = file_manifest(folder)
    data = load_planetoid(folder, "Cora")
    assert data.inputs.shape == (523, 5) and data.targets.tolist() == [i % 3 for i in range(523)]
    assert data.official_test.sum() == 3 and data.official_test[-3:].all()
    assert data.edge_index.shape[1] == 2 * 523  # the ring, both directions
    assert file_manifest(folder) == before  # torch-geometric's processed cache went to a scratch copy


def test_shapes_are_seeded_distinct_and_carry_the_class_only_in_the_shape():
    import itertools

    from harness.data.embedded import SHAPES, make_shapes, shape_mask

    for size in (5, 7):  # no two classes draw the same mask at either box size
        for a, b in itertools.combinations(SHAPES, 2):
            assert not np.array_equal(shape_mask(a, size), shape_mask(b, size)), (size, a, b)
    one, two, other = make_shapes(600, 8, 0.2, 3), make_shapes(600, 8, 0.2, 3), make_shapes(600, 8, 0.2, 4)
    assert one.inputs.shape == (600, 3, 8, 8) and one.inputs.dtype == np.float32
    assert np.array_equal(one.inputs, two.inputs) and np.array_equal(one.targets, two.targets)
    assert not np.array_equal(one.inputs, other.inputs)
    assert one.inputs.min() >= 0.0 and one.inputs.max() <= 1.0
    assert set(np.unique(one.targets)) == set(range(10))
    # colour carries no class information: the brightest foreground channel of noiseless images has the
    # same mean in every class (each channel uniform in [0.5, 1]: 0.875 for the max of three)
    noiseless = make_shapes(3000, 8, 0.0, 5)
    brightest = noiseless.inputs.max(axis=(1, 2, 3))
    means = np.array([brightest[noiseless.targets == c].mean() for c in range(10)])
    assert np.all(np.abs(means - 0.875) < 0.02), means
    with pytest.raises(ValueError, match="odd and at least 5"):
        shape_mask("disc", 4)
    with pytest.raises(ValueError, match="unknown shape 'star'"):
        shape_mask("star", 5)
    with pytest.raises(ValueError, match="image_size >= 5"):
        make_shapes(10, 4, 0.1, 0)
