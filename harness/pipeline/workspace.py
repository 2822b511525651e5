"""A scratch copy of a checkout as a fresh git repository, for end-to-end runs (tests, benchmarks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_working_tree(src: Path, dst: Path, env: dict[str, str] | None = None) -> Path:
    """Copy tracked and untracked-not-ignored files of ``src`` into ``dst`` and commit them there."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for rel in filter(None, listed):
        if (src / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "scratch copy"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True, capture_output=True)
    return dst
