"""Shared fixtures: the repository root, the real registries, and a scratch copy of the registry folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def registries():
    from harness.registry.load import load_registries

    return load_registries(REPO / "registry")


@pytest.fixture
def registry_copy(tmp_path: Path) -> Path:
    """A writable copy of registry/ for tests that break it on purpose."""
    dst = tmp_path / "registry"
    shutil.copytree(REPO / "registry", dst)
    return dst
