"""The ``harness`` command: check, sync, run, list, describe, estimate, status."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.data.errors import MissingDataError
from harness.params import ParamsError
from harness.registry.load import RegistryError

LISTS = {"architectures", "datasets", "measurements", "profiles"}


class UsageError(ValueError):
    """A name on the command line that the registries do not have."""


def _check(args: argparse.Namespace) -> None:
    from harness.pipeline.lockfile import check_lock
    from harness.stages.check import check_pipeline

    check_lock()  # first: a broken lock is reported even when data are missing
    keys = check_pipeline(in_sync=not args.no_sync_check)
    print(
        f"ok: registries and params.yaml valid; dvc.yaml {'in sync' if not args.no_sync_check else 'not checked'};"
        f" {len(keys)} train stage(s) selected"
    )


def _guard_params_rewrite(target: str, presets: dict, force: bool) -> Any:
    """Refuse (SyncRefused) a params.yaml rewrite that loses hand edits or unsaved results; with ``force``
    copy params.yaml to ``params.yaml.<UTC time>.bak`` first and say what is replaced. Returns params.yaml
    as parsed (None when absent or unreadable)."""
    import shutil
    import time

    from harness.params import _load
    from harness.pipeline.switch import SyncRefused, refuse_unsafe_sync

    path = Path("params.yaml")
    raw, profile, unreadable = None, None, None
    if path.exists():
        try:
            raw = _load(path)
        except ParamsError as err:
            unreadable = str(err)  # a broken params.yaml is an edit too: kept as the backup
        survey = raw.get("survey") if isinstance(raw, dict) else None
        profile = survey.get("profile") if isinstance(survey, dict) else None
    try:
        refuse_unsafe_sync(Path.cwd(), target, raw, profile, presets, unreadable)
    except SyncRefused as err:
        if not force:
            raise
        backup = f"params.yaml.{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.bak"
        shutil.copy2(path, backup)
        print(
            f"warning: {str(err).splitlines()[0].replace(': refused, it would lose', ': --force, replacing')}",
            file=sys.stderr,
        )
        print("\n".join(str(err).splitlines()[1:-2]), file=sys.stderr)
        print(f"warning: the old params.yaml is kept as {backup}", file=sys.stderr)
    return raw


def _sync(args: argparse.Namespace) -> None:
    import yaml

    from harness.params import read_params, validate_params
    from harness.pipeline.generate import render_pipeline
    from harness.pipeline.switch import carry_machine_local
    from harness.registry.load import load_registries

    reg = load_registries()
    if args.profile:
        if args.profile not in reg.profiles:
            raise ParamsError(
                f"unknown profile {args.profile!r}; registry/surveys.yaml has {sorted(reg.profiles)}"
            )
        preset = reg.profiles[args.profile].params
        validate_params(preset, f"registry/surveys.yaml: profile {args.profile!r}")
        current = _guard_params_rewrite(
            args.profile, {name: entry.params for name, entry in reg.profiles.items()}, args.force
        )
        preset, carried = carry_machine_local(current, preset)
        for line in carried:
            print(f"kept the machine-local {line} from the old params.yaml")
        header = (
            f"# Written by `harness sync --profile {args.profile}` from registry/surveys.yaml.\n"
            "# Stages read their sections from here; override with `dvc exp run -S section.key=value`.\n"
        )
        Path("params.yaml").write_text(header + yaml.safe_dump(preset, sort_keys=False))
    params = read_params()
    text = render_pipeline(reg, params)
    Path("dvc.yaml").write_text(text)
    n = text.count("\n")
    print(f"wrote dvc.yaml for profile {params.survey.profile!r} ({n} lines); run `dvc repro`")
    if params.train.size == "full":
        from harness.pipeline.estimate import render_estimate

        print(render_estimate(reg, params))


def _estimate(args: argparse.Namespace) -> None:
    from harness.params import read_params
    from harness.pipeline.estimate import render_estimate
    from harness.registry.load import load_registries

    print(render_estimate(load_registries(check_code=False), read_params()))


def _warn_missing_data() -> None:
    """Every missing real dataset of the profile, listed once before a run: their data@ stages (and
    what depends on them) will fail; the rest runs."""
    from harness.params import read_params
    from harness.registry.load import load_registries
    from harness.stages.check import require_profile_data

    if not (Path("params.yaml").exists() and Path("registry").is_dir()):
        return  # a DVC project that is not the survey: the runner runs any dvc.yaml
    try:
        params = read_params()
        reg = load_registries(check_code=False)
    except (ParamsError, RegistryError):
        return  # the check stage reports these, as one error
    try:
        require_profile_data(reg, params)
    except MissingDataError as err:
        print(f"warning: {err}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from harness.pipeline.cluster import load_cluster_config
    from harness.pipeline.parallel import run_graph

    config = load_cluster_config(
        args.config,
        {
            "executor": args.executor,
            "jobs": args.jobs,
            "slurm.partition": args.partition,
            "slurm.account": args.account,
            "slurm.walltime": args.time,
            "slurm.gpus_per_job": args.gpus_per_job,
            "slurm.cpus_per_job": args.cpus_per_job,
            "slurm.memory_gb_per_job": args.mem_gb,
            "slurm.extra_sbatch": args.sbatch or None,
        },
    )
    from harness.pipeline.lockfile import check_lock, recover_lock

    if args.dry:
        check_lock()
    else:
        recovered = recover_lock()
        if recovered:
            print(f"harness run: dvc.lock recovered: {recovered}", file=sys.stderr)
        _warn_missing_data()
    try:
        summary = run_graph(
            args.targets, config, jobs=args.jobs, dry=args.dry, force=args.force, glob=args.glob
        )
    except KeyboardInterrupt:
        print(
            "harness run: interrupted; finished stages are recorded (dvc.lock or the run-cache): run the "
            "same command to go on",
            file=sys.stderr,
        )
        return 130
    if args.dry:
        return 0
    print(
        f"harness run: {len(summary.ran)} ran, {len(summary.restored)} restored from the run-cache, "
        f"{len(summary.up_to_date)} up to date, {len(summary.failed)} failed, {len(summary.skipped)} skipped "
        f"in {summary.seconds:.1f} s"
    )
    for name, why in summary.failed.items():
        print(f"  failed: {name}: {why}", file=sys.stderr)
    return 0 if summary.ok else 1


def _list(args: argparse.Namespace) -> None:
    from harness.registry.load import load_registries

    reg = load_registries(check_code=False)
    for key, entry in getattr(reg, args.registry).items():
        desc = getattr(entry, "description", "")
        print(f"{key:24s} {desc}")


def _describe(args: argparse.Namespace) -> None:
    from harness.measurements.volume_area import volume_and_area
    from harness.models.build import build_architecture, trainable_parameter_count
    from harness.registry.load import compatible, load_registries

    reg = load_registries(check_code=False)
    if args.name not in reg.architectures:
        raise UsageError(f"no architecture {args.name!r} in registry/architectures.yaml")
    arch = reg.architectures[args.name]
    dataset = args.dataset or next((k for k, d in reg.datasets.items() if compatible(arch, d)), None)
    if dataset not in reg.datasets:
        raise UsageError(f"no dataset {dataset!r} in registry/datasets.yaml")
    ds = reg.datasets[dataset]
    model = build_architecture(arch, ds, args.size)
    info = {
        "name": args.name,
        "family": arch.family,
        "modality": arch.input,
        "dataset": dataset,
        "num_classes": ds.num_classes,
        "size": args.size,
        "params": trainable_parameter_count(model),
        **volume_and_area(model),
        "builder": arch.builder,
        "extends": arch.extends,
        "experiments": arch.experiments,
        "version": arch.version,
        "description": arch.description,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:12s} {v}")


def _status(args: argparse.Namespace) -> None:
    from harness.pipeline.lockfile import check_lock

    check_lock()
    proc = subprocess.run(["dvc", "status", "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(proc.returncode)
    changed = json.loads(proc.stdout or "{}")
    listed = subprocess.run(
        ["dvc", "stage", "list", "--name-only"], capture_output=True, text=True, check=True
    )
    stages = [s for s in listed.stdout.split() if s]
    print(f"{len(changed)} of {len(stages)} stage(s) would run under `dvc repro`:")
    for name, reasons in changed.items():
        why = "; ".join(", ".join(f"{k}" for k in r) if isinstance(r, dict) else str(r) for r in reasons)
        print(f"  {name}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness", description="Registry-driven survey harness.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="validate registries, params.yaml and that dvc.yaml is in sync")
    p.add_argument("--no-sync-check", action="store_true", help="skip comparing dvc.yaml with the registries")
    p.set_defaults(fn=_check)
    p = sub.add_parser("sync", help="write dvc.yaml (and, with --profile, params.yaml) for a profile")
    p.add_argument("--profile", help="preset of registry/surveys.yaml: embedded (default), micro, full")
    p.add_argument(
        "--force",
        action="store_true",
        help="rewrite params.yaml even if it has hand edits or the results in dvc.lock are unsaved "
        "(params.yaml is kept as params.yaml.bak)",
    )
    p.set_defaults(fn=_sync)
    p = sub.add_parser(
        "run",
        help="run the stale stages of dvc.yaml in parallel on Dask workers (local or SLURM), recording "
        "each in dvc.lock as `dvc repro --keep-going` would",
    )
    p.add_argument(
        "targets", nargs="*", help="stages (default: all of dvc.yaml); their upstream stages run too"
    )
    p.add_argument("--jobs", "-j", type=int, help="workers (local: default GPUs, else cores) or SLURM jobs")
    p.add_argument("--executor", choices=["local", "slurm"], help="default: cluster.yaml's, else local")
    p.add_argument("--dry", action="store_true", help="list the stages that may run and their resources")
    p.add_argument("--force", "-f", action="store_true", help="run the targets' stages even if unchanged")
    p.add_argument("--glob", action="store_true", help="targets are shell globs of stage names")
    p.add_argument("--config", help="cluster configuration file (default: ./cluster.yaml if present)")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--time", help="SLURM wall time of a worker job, [D-]HH:MM:SS")
    p.add_argument("--gpus-per-job", type=int, help="SLURM GPUs per worker job (0: CPU only)")
    p.add_argument("--cpus-per-job", type=int, help="SLURM CPUs per worker job")
    p.add_argument("--mem-gb", type=float, help="SLURM memory per worker job, GB")
    p.add_argument("--sbatch", action="append", help="extra #SBATCH option (repeatable): --sbatch=--qos=high")
    p.set_defaults(fn=_run)
    p = sub.add_parser("list", help="list the entries of one registry")
    p.add_argument("registry", choices=sorted(LISTS))
    p.set_defaults(fn=_list)
    p = sub.add_parser("describe", help="describe one entry")
    p.add_argument("kind", choices=["arch"])
    p.add_argument("name")
    p.add_argument("--dataset", help="dataset whose input shape and classes to build for")
    p.add_argument("--size", choices=["full", "tiny"], default="full")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_describe)
    p = sub.add_parser(
        "estimate",
        help="GPU-hours per stage kind of the current profile on a measured card, and its wall-clock on "
        "8 and 64 GPUs",
    )
    p.set_defaults(fn=_estimate)
    p = sub.add_parser("status", help="which stages `dvc repro` would re-run, and why")
    p.set_defaults(fn=_status)
    args = parser.parse_args(argv)
    from harness.pipeline.cluster import ClusterConfigError
    from harness.pipeline.lockfile import BrokenLockError
    from harness.pipeline.switch import SyncRefused

    try:
        return args.fn(args) or 0
    except (
        RegistryError,
        ParamsError,
        MissingDataError,
        UsageError,
        ClusterConfigError,
        SyncRefused,
        BrokenLockError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
