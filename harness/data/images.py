"""Image-folder datasets read from their published on-disk layouts: CUB-200-2011 and NWPU-RESISC45.

Images are decoded with Pillow, converted to RGB and resized (bilinear) to ``image_size`` squares, as
float32 in [0, 1], shape (N, 3, S, S).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.arrays import ArrayDataset
from harness.data.errors import MissingDataError, require_files


def _read_image(path: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _stack(paths: list[Path], image_size: int) -> np.ndarray:
    out = np.empty((len(paths), 3, image_size, image_size), dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = _read_image(p, image_size)
    return out.astype(np.float32) / 255.0


def _pairs(path: Path) -> dict[int, str]:
    """``<id> <value>`` lines of the CUB metadata files."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, value = line.split(maxsplit=1)
            out[int(key)] = value.strip()
    return out


CUB_FILES = ["images.txt", "image_class_labels.txt", "train_test_split.txt", "images"]


def load_cub200(root: str | Path, image_size: int) -> ArrayDataset:
    """CUB-200-2011 (Wah et al. 2011): 11,788 bird images in 200 classes, with the dataset's own
    train/test split (``train_test_split.txt``: 5,994 train, 5,794 test). Labels 1..200 → 0..199."""
    folder = require_files("cub200", Path(root), CUB_FILES)
    paths = _pairs(folder / "images.txt")
    labels = _pairs(folder / "image_class_labels.txt")
    is_train = _pairs(folder / "train_test_split.txt")
    ids = sorted(paths)
    if set(ids) != set(labels) or set(ids) != set(is_train):
        raise MissingDataError(
            f"dataset 'cub200': images.txt, image_class_labels.txt and train_test_split.txt "
            f"in {folder} list different image ids"
        )
    inputs = _stack([folder / "images" / paths[i] for i in ids], image_size)
    targets = np.array([int(labels[i]) - 1 for i in ids], dtype=np.int64)
    official_test = np.array([is_train[i] == "0" for i in ids])
    return ArrayDataset(inputs, targets, official_test)


def load_resisc45(root: str | Path, image_size: int) -> ArrayDataset:
    """NWPU-RESISC45 (Cheng et al. 2017): 31,500 remote-sensing scenes, 45 classes of 700, one folder per
    class. It has no official split: the entry's ``split.test_fraction`` carves a seeded, stratified one.
    Class indices follow the sorted folder names."""
    folder = Path(root)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not classes:
        raise MissingDataError(
            f"dataset 'resisc45': no class folders in {folder} (expected {folder}/airplane/...)"
        )
    paths, targets = [], []
    for label, name in enumerate(classes):
        for img in sorted((folder / name).iterdir()):
            if img.suffix.lower() in {".jpg", ".jpeg", ".png", ".tif", ".tiff"}:
                paths.append(img)
                targets.append(label)
    return ArrayDataset(_stack(paths, image_size), np.array(targets, dtype=np.int64))
