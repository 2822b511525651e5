"""A dvc.lock left empty or half-written by an interrupted `dvc repro` (issue 18, item 2).

DVC rewrites dvc.lock in place after every stage (open with truncation, then emit the YAML: about 0.4 s
for the micro profile's lock, 2 s for the embedded one's). A SIGINT, SIGTERM or SIGKILL in that window
leaves an empty or truncated file, and every `dvc repro` / `dvc status` after it stops with "validation
failed". The harness's own writes (``parallel.LockWriter``) go to a temporary file renamed over dvc.lock,
so they cannot do this; `dvc repro`'s can.

Nothing computed is lost when it happens: a finished stage's outputs are in DVC's cache and its run in
the run-cache, so once dvc.lock is readable again the next run restores those stages without running
them. :func:`recover_lock` makes it readable: the broken file is moved to ``.dvc/tmp/`` and dvc.lock is
restored from the last commit (or removed when no commit has one). ``harness run`` does that by itself;
``harness status`` and ``harness check`` stop with :class:`BrokenLockError`, which names the recovery.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BrokenLockError(RuntimeError):
    """dvc.lock is empty or unreadable; the message says why and how to recover."""


@contextmanager
def dvc_idle(lock: Path = Path("dvc.lock")) -> Iterator[bool]:
    """Hold DVC's repository lock (``.dvc/tmp/lock``, the zc.lockfile every ``dvc`` command takes for
    its whole run) and yield True; yield False, holding nothing, when a running ``dvc`` command has it.

    DVC empties dvc.lock at the start of each of its writes, so while `dvc repro` runs the file is
    briefly empty many times: only with the lock held is an empty file a broken one."""
    import zc.lockfile

    dvc_dir = lock.resolve().parent / ".dvc"
    if not dvc_dir.is_dir():
        yield True
        return
    path = dvc_dir / "tmp" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        held = zc.lockfile.LockFile(str(path))
    except zc.lockfile.LockError:
        yield False
        return
    try:
        yield True
    finally:
        held.close()


def parse_lock(text: str):
    """dvc.lock's text parsed with libyaml when available (the embedded lock is 0.9 MB: PyYAML's pure
    Python loader takes seconds). Raises yaml.YAMLError."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def lock_problem(lock: Path = Path("dvc.lock")) -> str | None:
    """Why ``lock`` cannot be read by DVC (empty, YAML error, fails DVC's lockfile schema), or None when
    it is readable or absent (an absent dvc.lock is a pipeline that has not run)."""
    import yaml
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA
    from voluptuous import Invalid

    if not lock.exists():
        return None
    text = lock.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return f"{lock} is empty ({lock.stat().st_size} bytes)"
    try:
        data = parse_lock(text)
    except yaml.YAMLError as err:
        return f"{lock} is not valid YAML (cut off mid-write?): {str(err).splitlines()[0]}"
    try:
        COMPILED_LOCKFILE_SCHEMA(data)
    except Invalid as err:
        return f"{lock} does not match DVC's lockfile schema (cut off mid-write?): {err}"
    return None


def _committed_lock(repo: Path, rel: str) -> bytes | None:
    # ./ : relative to the DVC project, which need not be the git root (`dvc init --subdir`)
    proc = subprocess.run(["git", "show", f"HEAD:./{rel}"], cwd=repo, capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def recovery_hint(lock: Path = Path("dvc.lock")) -> str:
    """The one command that recovers a broken ``lock``, and what it does."""
    return (
        "`harness run` recovers it (the broken file is kept under .dvc/tmp/, dvc.lock restored from the last "
        "commit; stages finished since are restored from DVC's run-cache without running); with plain DVC: "
        f"`git checkout HEAD -- {lock}` (or `rm {lock}` if no commit has one), then `dvc repro`"
    )


def check_lock(lock: Path = Path("dvc.lock")) -> None:
    """Raise :class:`BrokenLockError` (reason and recovery) when ``lock`` is broken. Nothing is judged
    while a ``dvc`` command runs (:func:`dvc_idle`): it may be mid-write."""
    with dvc_idle(lock) as idle:
        problem = lock_problem(lock) if idle else None
    if problem is not None:
        raise BrokenLockError(f"{problem}; an interrupted `dvc repro` leaves it so. {recovery_hint(lock)}")


def recover_lock(lock: Path = Path("dvc.lock")) -> str | None:
    """Make a broken ``lock`` readable again; return what was done (None when it was not broken).

    The broken file is moved to ``.dvc/tmp/<name>.broken-<unix time>`` beside the repository's other DVC
    scratch files; the last commit's version (``git show HEAD:<path>``) is written in its place when
    it is readable, else dvc.lock is left absent. Either way DVC then sees every stage recorded since that
    commit as changed and restores it from the run-cache on the next run. Done only while no ``dvc``
    command runs (:func:`dvc_idle`); otherwise nothing is touched and None returned."""
    with dvc_idle(lock) as idle:
        return _recover(lock) if idle else None


def _recover(lock: Path) -> str | None:
    problem = lock_problem(lock)
    if problem is None:
        return None
    repo = lock.resolve().parent
    keep = repo / ".dvc" / "tmp" / f"{lock.name}.broken-{int(time.time())}"
    keep.parent.mkdir(parents=True, exist_ok=True)
    lock.replace(keep)
    committed = _committed_lock(repo, lock.name)
    if committed is not None:
        lock.write_bytes(committed)
        if lock_problem(lock) is None:
            return f"{problem}: moved to {keep}, restored the last commit's {lock.name}"
        lock.unlink()
    return f"{problem}: moved to {keep}; no readable committed {lock.name}, so none for now"
