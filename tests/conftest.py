"""Shared fixtures: the repository root, the real registries, and a scratch copy of the registry folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


VENV_BIN = Path(sys.executable).parent
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run a command the way a user would in an activated venv; keep its output for assertions."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env = {
        **inherited,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "PYTHONHASHSEED": "0",
        **GIT_IDENTITY,
        **(env or {}),
    }
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def ran_stages(proc: subprocess.CompletedProcess) -> list[str]:
    """Stage names `dvc repro` actually ran, from its output."""
    return re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr)


def micro_repo_copy(dst: Path, edit=None) -> Path:
    """A committed copy of the working tree synced to the micro profile (``edit(repo)`` first, if given)."""
    repo = copy_repo(dst, keep_lock=False)
    if edit is not None:
        edit(repo)
    run(["harness", "sync", "--profile", "micro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "micro"], repo)
    return repo


def copy_repo(dst: Path, keep_lock: bool = True) -> Path:
    """The working tree (tracked and untracked-not-ignored files) as a fresh git repository.

    ``keep_lock=False`` deletes the copy's dvc.lock (left uncommitted): a test that switches to another
    profile runs every stage anyway, and DVC re-reads the whole lock (about 0.7 MB of embedded entries)
    at every stage it runs."""
    from harness.pipeline.workspace import copy_working_tree

    repo = copy_working_tree(REPO, dst, env={**os.environ, **GIT_IDENTITY})
    if not keep_lock:
        (repo / "dvc.lock").unlink(missing_ok=True)
    return repo


def kill_repro_when(
    repo: Path, stage: str, cache: Path, ready, timeout: float = 180.0, poll: float = 0.05
) -> None:
    """Run ``dvc repro stage`` (harness cache at ``cache``) and SIGKILL its whole process group as soon as
    ``ready()`` is true (polled every ``poll`` seconds), or after ``timeout`` seconds."""
    import signal
    import time

    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HARNESS_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        ["dvc", "repro", stage],
        cwd=repo,
        start_new_session=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        time.sleep(poll)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
