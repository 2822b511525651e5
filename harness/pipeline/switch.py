"""What `harness sync --profile NAME` would lose, checked before it writes anything.

Two things are at stake when params.yaml is rewritten from a profile's preset (issue 18, items 5 and 6):

* **hand edits** — keys of params.yaml that differ from the preset of the profile it names (``data.root:
  /mnt/data``, or an earlier ``dvc exp run -S``): the rewrite would silently put the preset's values back;
* **the other profile's results** — every profile writes the same ``results/`` paths, so after a switch the
  next run replaces them in the workspace. They stay in DVC's cache, but only a dvc.lock that some git
  commit or saved DVC experiment (``refs/exps``) records can bring them back (``git checkout COMMIT --
  dvc.lock … && dvc checkout``, or ``dvc exp apply``; ``dvc exp save`` needs every output present, so
  after a partial run only the commit works).

:func:`refuse_unsafe_sync` raises :class:`SyncRefused` naming what would be lost and the commands that keep
it; ``--force`` skips the refusal, and params.yaml is then first copied to ``params.yaml.bak``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

MACHINE_LOCAL = ("data.root",)
"""Keys that say where things are on this machine, not what is computed: kept across a profile rewrite
(the README's full-survey steps set ``data.root`` first, then switch profile) and never counted as edits."""


def _get(raw: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return None
        raw = raw[part]
    return raw


def carry_machine_local(current_raw: Any, preset: dict) -> tuple[dict, list[str]]:
    """``preset`` with params.yaml's :data:`MACHINE_LOCAL` values where they differ from it, and the
    ``key: value`` lines carried over."""
    import copy

    out, carried = copy.deepcopy(preset), []
    for dotted in MACHINE_LOCAL:
        value = _get(current_raw, dotted)
        if value is not None and value != _get(out, dotted):
            *parents, leaf = dotted.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
            carried.append(f"{dotted}: {value!r}")
    return out, carried


class SyncRefused(RuntimeError):
    """`harness sync --profile` would lose hand edits or unsaved results; the message says how to keep them."""


def params_edits(current: Any, preset: Any, prefix: str = "") -> list[str]:
    """Dotted keys where ``current`` (params.yaml, parsed) differs from ``preset``, as ``key: current
    (preset: value)`` lines; keys only one side has are listed too."""
    if isinstance(current, dict) and isinstance(preset, dict):
        out = []
        for key in [*preset, *(k for k in current if k not in preset)]:
            path = f"{prefix}{key}"
            if path in MACHINE_LOCAL:
                continue
            if key not in current:
                out.append(f"{path}: missing (preset: {preset[key]!r})")
            elif key not in preset:
                out.append(f"{path}: {current[key]!r} (not in the preset)")
            else:
                out.extend(params_edits(current[key], preset[key], f"{path}."))
        return out
    return [] if current == preset else [f"{prefix.rstrip('.')}: {current!r} (preset: {preset!r})"]


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def lock_is_saved(repo: Path) -> bool:
    """Whether the workspace's dvc.lock (byte for byte) is recorded by HEAD or by a saved DVC experiment
    (``dvc exp save`` / ``dvc exp run`` refs): then its outputs can be restored from DVC's cache. Without
    git (or a dvc.lock) nothing is recorded: False."""
    lock = repo / "dvc.lock"
    blob = _git(repo, "hash-object", "--", str(lock))
    if blob.returncode != 0:
        return False
    # any commit reachable from any ref (branches, tags, HEAD, DVC's refs/exps) that holds this content
    found = _git(repo, "log", "--all", "--format=%H", "-n", "1", f"--find-object={blob.stdout.strip()}")
    return bool(found.stdout.strip())


def _has_results(repo: Path) -> bool:
    import yaml

    from harness.pipeline.lockfile import parse_lock

    lock = repo / "dvc.lock"
    if not lock.exists():
        return False
    try:
        return bool((parse_lock(lock.read_text()) or {}).get("stages"))
    except yaml.YAMLError:
        return False


def refuse_unsafe_sync(
    repo: Path,
    target: str,
    current_raw: Any,
    current_profile: str | None,
    presets,
    unreadable: str | None = None,
) -> None:
    """Raise :class:`SyncRefused` when writing profile ``target``'s preset over params.yaml would drop hand
    edits (``current_raw`` differs from the preset of ``current_profile``), or when switching to another
    profile while dvc.lock records results no commit or saved experiment holds. ``presets`` maps profile
    names to their params mappings (registry/surveys.yaml)."""
    problems, keep = [], []
    if unreadable is not None:
        problems.append(f"params.yaml, which cannot be read: {unreadable}")
        keep.append("fix it and run this command again")
    elif current_raw is not None:
        preset = presets.get(current_profile)
        edits = (
            params_edits(current_raw, preset)
            if preset is not None
            else ["survey.profile: not a known profile"]
        )
        if edits:
            shown = "\n".join(f"    {e}" for e in edits[:12]) + (
                f"\n    … {len(edits) - 12} more" if len(edits) > 12 else ""
            )
            problems.append(f"params.yaml differs from profile {current_profile!r}'s preset:\n{shown}")
            keep.append(
                "to regenerate dvc.yaml from the edited params.yaml, run `harness sync` without --profile"
                if current_profile == target
                else "edit params.yaml again after the switch (or put the edit in the profile's preset in "
                "registry/surveys.yaml)"
            )
    if (
        current_profile is not None
        and current_profile != target
        and _has_results(repo)
        and not lock_is_saved(repo)
    ):
        problems.append(
            f"dvc.lock records results of profile {current_profile!r} that no git commit or saved experiment "
            f"holds; profile {target!r} writes the same results/ paths and would replace them"
        )
        keep.append(
            f"commit them first: `git add params.yaml dvc.yaml dvc.lock && git commit -m '{current_profile} "
            "results'` (back later with `git checkout COMMIT -- params.yaml dvc.yaml dvc.lock && dvc checkout`; "
            f"after a complete run `dvc exp save -n {current_profile}-results` and `dvc exp apply` do the same)"
        )
    if problems:
        raise SyncRefused(
            f"harness sync --profile {target}: refused, it would lose\n  - "
            + "\n  - ".join(problems)
            + "\nto keep them: "
            + "; ".join(keep)
            + f"\nor replace them: `harness sync --profile {target} --force` (params.yaml is kept as a "
            "timestamped params.yaml.<time>.bak)"
        )
