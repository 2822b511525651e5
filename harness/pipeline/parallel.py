"""`harness run`: the DVC graph run in parallel on a Dask cluster, with DVC kept as the record.

DVC decides what is stale and records what ran; Dask places the commands on workers. The coordinator
(this process) holds DVC's repository in memory and does, for each stage, what ``dvc repro
--keep-going`` does around its command (dvc/stage/__init__.py ``Stage.run``, dvc 3.x), one stage at a
time under the repository lock:

1. when every upstream stage of the target set has finished: ``stage.changed()`` (or ``--force``);
   unchanged stages are up to date;
2. ``remove_outs`` (persistent outputs are kept), then try DVC's run-cache (``stage_cache.restore``:
   the outputs of an identical earlier run are checked out and the command is not run); otherwise
   ``save_deps`` and the stage's ``cmd`` is submitted to a Dask worker (``executors.execute_stage``);
3. when the command has finished: ``save`` (which also fills the run-cache), ``commit`` (outputs into
   .dvc/cache) and ``dump`` (its dvc.lock entry), exactly as `dvc repro` would write them.

A stage starts as soon as its own upstream stages are recorded, not in waves. A failed stage's
descendants are skipped; independent stages finish; the exit status is non-zero. Afterwards `dvc status`
is clean and `dvc repro` runs nothing. The DVC calls are internal Python APIs of the dvc version pinned
in requirements.lock; tests/test_run.py checks the lock entries against a serial `dvc repro`.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import logging
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.pipeline.cluster import ClusterConfig, ClusterConfigError, usable_cores, visible_gpus
from harness.pipeline.executors import (
    DASK_WORKER_ENVIRONMENT,
    JobSize,
    StageJob,
    StageOutcome,
    execute_stage,
    local_cluster,
    slurm_cluster,
)

LOG_TAIL_LINES = 20
WORKER_CONFIG = {
    # a worker's statistical profiler samples its threads every 10 ms: measurable on a 2-core machine,
    # and of no use here (the work happens in the stage's own process)
    "distributed.worker.profile.enabled": False,
    # no MALLOC_TRIM_THRESHOLD_ for local workers (see executors.DASK_WORKER_ENVIRONMENT)
    "distributed.nanny.pre-spawn-environ": {},
    # a daemonic worker may not have children: its forkserver runs the stages (executors docstring)
    "distributed.worker.daemon": False,
}


@dataclass
class RunSummary:
    """What happened to each stage of the target set."""

    ran: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    """Outputs checked out from DVC's run-cache instead of running the command."""
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Stage → why (the exit status and log file, or the exception)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Stage → the failed upstream stage it depended on."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def log_tail(path: str | Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(f"    | {line}" for line in text[-lines:])


class LockWriter:
    """dvc.lock entries of finished stages, written in batches.

    DVC rewrites the whole dvc.lock after every stage with its round-trip YAML parser and emitter (pure
    Python): for the embedded survey's 0.9 MB lock that is several seconds per stage, which would make
    the coordinator the bottleneck. Here each entry is DVC's own (``serialize.to_lockfile``); the lock
    file of the stage's dvc.yaml is re-read with DVC's loader, updated, written with DVC's emitter
    (``dumps_yaml``: byte-identical to what `dvc repro` writes) to a temporary file and renamed over it
    (never half-written; the old file's permissions kept). A stage that is not a dvc.yaml stage (a
    ``.dvc`` file) is dumped by DVC at once. A flush happens at the end of the run and otherwise at most
    every ``max(min_interval, 20 × last flush time)`` seconds, so flushing costs at most ~5% of a core. A
    stage recorded but not yet flushed when the coordinator is killed is not lost: its outputs are in the
    DVC cache and run-cache, so the next run restores it without running it (a stage with ``cache:
    false`` outputs has no run-cache entry and runs again)."""

    def __init__(self, repo: Any, order: list[str], min_interval: float = 60.0):
        self.repo = repo
        self.order = {name: i for i, name in enumerate(order)}
        self.min_interval = min_interval
        self.pending: dict[Path, dict[str, Any]] = {}
        self.added: dict[Path, set[str]] = {}
        self.last = time.monotonic()
        self.interval = min_interval

    def add(self, stage: Any) -> None:
        from dvc.stage import PipelineStage
        from dvc.stage.serialize import to_lockfile

        if not isinstance(stage, PipelineStage):
            stage.dump(update_pipeline=False)
            return
        lockfile = Path(stage.dvcfile.path).with_suffix(".lock")
        self.pending.setdefault(lockfile, {}).update(to_lockfile(stage))

    def flush(self, force: bool = False) -> None:
        if not self.pending or (not force and time.monotonic() - self.last < self.interval):
            return
        start = time.monotonic()
        with self.repo.lock:
            for path in list(self.pending):
                self._write(path, self.pending[path])
                del self.pending[path]
        self.last = time.monotonic()
        self.interval = max(self.min_interval, 20 * (self.last - start))

    def _write(self, path: Path, entries: dict[str, Any]) -> None:
        from dvc.utils.serialize import dumps_yaml, parse_yaml

        text = path.read_text(encoding="utf-8") if path.exists() else ""
        data = parse_yaml(text, str(path)) if text else {}
        data = data or {"schema": "2.0"}
        stages = data.setdefault("stages", {})
        added = self.added.setdefault(path, set())
        added.update(k for k in entries if k not in stages)
        stages.update(entries)
        # DVC appends a stage new to dvc.lock when it finishes; serially that is DVC's planned order, so
        # the entries this run added stay at the end in that order, whatever order they finished in (the
        # file is then byte-identical to a serial `dvc repro`'s)
        last = sorted((k for k in stages if k in added), key=lambda k: self.order.get(k, len(self.order)))
        data["stages"] = {k: v for k, v in stages.items() if k not in added} | {k: stages[k] for k in last}
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(dumps_yaml(data), encoding="utf-8")
            if path.exists():
                shutil.copymode(path, tmp)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


class GraphRun:
    """One `harness run`: the target stages and their upstream closure, in DVC's order."""

    def __init__(self, repo: Any, targets: list[str], *, glob: bool = False, force: bool = False):
        from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

        self.repo = repo
        self.force = force
        self.candidates: set[Any] | None = None  # filled by may_run()
        # taken before any Dask nanny starts: a nanny sets its worker's variables in its own process too
        self.user_env = tuple((k, os.environ[k]) for k in DASK_WORKER_ENVIRONMENT if k in os.environ)
        with repo.lock:
            if targets:
                stages = collect_stages(repo, targets, glob=glob)
            elif os.path.isfile(os.path.join(repo.root_dir, "dvc.yaml")):
                # what collect_stages(repo, ["dvc.yaml"]) returns, without loading the file again
                project = os.path.join(repo.root_dir, "dvc.yaml")
                stages = [s for s in repo.index.stages if s.dvcfile.path == project]
            else:  # DVC's own error
                stages = collect_stages(repo, ["dvc.yaml"], glob=glob)
            self.graph = get_active_graph(repo.index.graph)
            self.order = plan_repro(self.graph, stages)
        scope = set(self.order)
        # DVC's graph points from a stage to the stages it depends on (successors are upstream)
        self.upstream = {s: [u for u in self.graph.successors(s) if u in scope] for s in self.order}
        self.downstream: dict[Any, list[Any]] = {s: [] for s in self.order}
        for s, ups in self.upstream.items():
            for u in ups:
                self.downstream[u].append(s)
        self.lock = LockWriter(repo, [s.name or self.name(s) for s in self.order])
        # Dask priority: the longest chain of stages waiting on this one (HEFT's upward rank with unit
        # costs), so the critical path is not starved by independent stages submitted earlier
        self.rank: dict[Any, int] = {}
        for s in self.order[::-1]:  # DVC's order is upstream first: descendants are ranked before
            self.rank[s] = 1 + max((self.rank[d] for d in self.downstream[s]), default=0)

    def name(self, stage: Any) -> str:
        return stage.addressing

    def descendants(self, stage: Any) -> list[Any]:
        seen: dict[Any, None] = {}
        todo = list(self.downstream[stage])
        while todo:
            s = todo.pop()
            if s not in seen:
                seen[s] = None
                todo.extend(self.downstream[s])
        return [s for s in self.order if s in seen]

    def stale_now(self) -> list[Any]:
        """Stages that are stale before anything runs (their downstream may become stale as they run)."""
        with self.repo.lock:
            return [s for s in self.order if self.force or s.changed(upstream=self.upstream[s])]

    def may_run(self) -> list[Any]:
        """Stale stages and their descendants; every other stage of the scope is up to date (and is not
        checked again)."""
        stale = self.stale_now()
        marked = set(stale)
        for s in stale:
            marked.update(self.descendants(s))
        self.candidates = marked
        return [s for s in self.order if s in marked]

    # -- the DVC side of one stage (coordinator, under the repository lock) -------------------------
    def prepare(self, stage: Any) -> str:
        """'up to date', 'restored' (from the run-cache, recorded) or 'run' (outputs removed, deps saved)."""
        from dvc.stage.cache import RunCacheNotFoundError

        if self.candidates is not None and stage not in self.candidates:
            return "up to date"
        with self.repo.lock:
            if not self.force and not stage.changed(upstream=self.upstream[stage]):
                return "up to date"
            if not stage.cmd or stage.frozen:  # a data source or frozen stage: DVC only verifies it
                stage.reproduce(upstream=self.upstream[stage], force=self.force)
                self.lock.add(stage)
                return "restored"
            stage.remove_outs(ignore_remove=False, force=False)
            if not self.force:
                try:
                    stage.repo.stage_cache.restore(stage)
                except RunCacheNotFoundError:
                    stage.save_deps()
                else:
                    self._record(stage)
                    return "restored"
            else:
                stage.save_deps()
            return "run"

    def record(self, stage: Any) -> None:
        with self.repo.lock:
            self._record(stage)

    def _record(self, stage: Any) -> None:
        """``Stage.run``'s tail: hash deps and outputs (filling the run-cache), move the outputs into the
        DVC cache, and queue the stage's dvc.lock entry (``LockWriter``)."""
        no_cache_outs = any(not o.use_cache for o in stage.outs if not (o.is_metric or o.is_plot))
        stage.save(run_cache=not no_cache_outs)
        stage.commit()
        self.lock.add(stage)

    def job(self, stage: Any, logs: Path, preload: bool = True) -> StageJob:
        commands = stage.cmd if isinstance(stage.cmd, list) else stage.cmd.splitlines()
        name = self.name(stage)
        return StageJob(
            name=name,
            commands=tuple(c for c in commands if c.strip()),
            wdir=str(stage.wdir),
            remove=tuple(str(o.fs_path) for o in stage.outs if not o.persist),
            log=str((logs / f"{name}.log").resolve()),
            env=(
                ("DVC_ROOT", str(self.repo.root_dir)),
                ("DVC_STAGE", name),
                *self.user_env,
            ),
            preload=preload,
        )


class Executor:
    """A Dask cluster started on the first submission (a run with nothing stale starts none)."""

    def __init__(self, config: ClusterConfig, jobs: int, needs: list[Any], say: Callable[[str], None]):
        self.config, self.jobs, self.say = config, jobs, say
        self.needs = needs
        self.client: Any = None
        self.cluster: Any = None
        self.completed: Any = None  # dask's as_completed over every submitted stage
        self.gpus = False

    def start(self) -> None:
        import dask
        from dask.distributed import Client, as_completed

        dask.config.set(WORKER_CONFIG)

        if self.config.executor == "slurm":
            size = JobSize.covering(self.needs, self.config)
            self.cluster = slurm_cluster(self.config, self.jobs, size)
            self.gpus = size.gpus > 0
            where = (
                f"SLURM, up to {self.jobs} job(s) of {size.gpus} GPU(s), {size.cpus} CPU(s), "
                f"{size.memory_gb:g} GB, {size.walltime}"
            )
        else:
            gpus = self.config.local.gpus if self.config.local.gpus is not None else visible_gpus()
            self.cluster, threads = local_cluster(self.config, self.jobs, gpus)
            self.gpus = bool(gpus)
            pinned = f", pinned to GPUs {gpus}" if gpus else ""
            where = f"local, {self.jobs} worker(s) × {threads} thread(s){pinned}"
        self.client = Client(self.cluster)
        self.completed = as_completed()
        link = self.client.dashboard_link if self.config.dashboard else "off"
        self.say(f"executor: {where}; Dask dashboard: {link}")

    def submit(self, job: StageJob, gpus: int, priority: int) -> Any:
        if self.client is None:
            self.start()
        resources = {"STAGE": 1}
        if self.gpus and gpus:
            resources["GPU"] = gpus
        fut = self.client.submit(
            execute_stage,
            job,
            key=f"{job.name}-{uuid.uuid4().hex[:8]}",
            resources=resources,
            priority=priority,
            pure=False,
        )
        self.completed.add(fut)
        return fut

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def default_jobs(config: ClusterConfig) -> int:
    if config.jobs:
        return config.jobs
    if config.executor == "slurm":
        return 8
    gpus = config.local.gpus if config.local.gpus is not None else visible_gpus()
    return len(gpus) or usable_cores()


def run_graph(
    targets: list[str],
    config: ClusterConfig,
    *,
    jobs: int | None = None,
    dry: bool = False,
    force: bool = False,
    glob: bool = False,
    say: Callable[[str], None] = print,
) -> RunSummary:
    """Run the stale stages of ``targets`` (default: all of dvc.yaml) and their stale upstream stages on
    the executor of ``config``; record each in dvc.lock and the DVC cache as it finishes.

    Raises ClusterConfigError (before any work) when run outside the repository root, when another
    `harness run` holds this workspace, or when a stage needs more than a worker offers."""
    from dvc.repo import Repo

    start = time.perf_counter()
    summary = RunSummary()
    logging.getLogger("dvc").setLevel(logging.WARNING)  # not "Updating lock file" at every stage
    root = Path(Repo.find_root("."))
    if root.resolve() != Path.cwd().resolve():
        raise ClusterConfigError(f"run `harness run` from the repository root ({root}), not {Path.cwd()}")
    # wait for the repository lock (a `dvc status` elsewhere holds it for seconds) instead of failing
    repo = Repo(".", _wait_for_lock=True)
    with dvc_files_read_once():
        try:
            run = GraphRun(repo, targets, glob=glob, force=force)
            may_run = run.may_run()
            jobs = jobs or default_jobs(config)
            say(
                f"harness run: {len(run.order)} stage(s) in scope; {len(may_run)} stale or downstream of a "
                f"stale one; executor {config.executor}, {jobs} job(s)"
            )
            if dry:
                for s in may_run:
                    r = config.stage_resources(run.name(s))
                    say(
                        f"  would run {run.name(s)}  ({r.gpus} GPU, {r.cpus} CPU, {r.memory_gb:g} GB, {r.walltime})"
                    )
                summary.up_to_date = [run.name(s) for s in run.order if s not in set(may_run)]
                return summary
            _check_fits(run, may_run, config)
            with workspace_lock(root):
                _run(run, may_run, config, jobs, summary, say)
        finally:
            repo.close()
    summary.seconds = time.perf_counter() - start
    return summary


@contextlib.contextmanager
def dvc_files_read_once() -> Iterator[None]:
    """While a run lasts, DVC parses each params file, dvc.yaml and dvc.lock once per version.

    DVC reads a stage's params dependencies by parsing their file anew and looking each key up with
    dpath (``dvc.dependency.param.read_param_file``), and its index and target collection each parse
    dvc.lock (``dvc.utils.strictyaml.load``): for the embedded survey's 141 stages that was 430 YAML
    parses, 1,139 dpath walks and two parses of a 31,000-line lock, 20 of the 26 seconds of a no-op run
    on 2 cores. Here each parse (and each key list's values) is kept by the file's (path, size, mtime,
    ctime, inode), so an edited file is read again; a file changed in the last two seconds is not kept
    (git's racy-entry rule: a same-size rewrite within one timestamp tick would look unchanged); every
    caller gets its own deep copy. DVC still decides what changed; only the reading is shared."""
    import copy

    from dvc.dependency import param
    from dvc.utils import strictyaml

    originals = (param.load_path, param.read_param_file, strictyaml.load)
    kept: dict[tuple, Any] = {}

    def version(fs: Any, path: str) -> tuple | None:
        if getattr(fs, "protocol", None) != "local":
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if time.time() - st.st_mtime < 2.0:  # may still change within its timestamp's tick: not kept
            return None
        return (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)

    def once(key: tuple, read: Callable[[], Any]) -> Any:
        if key not in kept:
            kept[key] = read()
        return copy.deepcopy(kept[key])

    def load_path(fs_path: str, fs: Any, **kw: Any) -> Any:
        stamp = version(fs, fs_path)
        if stamp is None or kw:
            return originals[0](fs_path, fs, **kw)
        return once(("parse", stamp), lambda: originals[0](fs_path, fs))

    def read_param_file(fs: Any, path: str, key_paths: Any = None, flatten: bool = False, **kw: Any) -> Any:
        stamp = version(fs, path)
        if stamp is None or kw:
            return originals[1](fs, path, key_paths, flatten=flatten, **kw)
        key = ("keys", stamp, tuple(key_paths) if key_paths else None, flatten)
        return once(key, lambda: originals[1](fs, path, key_paths, flatten=flatten))

    def load(
        path: str, schema: Any = None, fs: Any = None, encoding: str = "utf-8", round_trip: bool = False
    ):
        stamp = version(fs, path)
        if stamp is None or round_trip:  # round-trip documents are edited in place by their caller
            return originals[2](path, schema, fs, encoding, round_trip)
        return once(
            ("dvcfile", stamp, id(schema), encoding), lambda: originals[2](path, schema, fs, encoding)
        )

    param.load_path, param.read_param_file, strictyaml.load = load_path, read_param_file, load
    try:
        yield
    finally:
        param.load_path, param.read_param_file, strictyaml.load = originals


@contextlib.contextmanager
def workspace_lock(root: Path) -> Iterator[None]:
    """One `harness run` per workspace: a second one would see the first one's running stages as stale
    (their outputs removed) and start them again."""
    path = root / ".dvc" / "tmp" / "harness-run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise ClusterConfigError(
                f"another `harness run` is running in this workspace ({handle.read().strip() or path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(
    run: GraphRun, may_run: list[Any], config: ClusterConfig, jobs: int, summary: RunSummary, say: Callable
) -> None:
    """The event loop: stages whose upstream stages are recorded wait in a heap by rank; at most ``slots``
    are submitted at once (one per worker), so the longest chains start first across the whole cluster
    (Dask assigns a task with resource restrictions to a worker at once: its priority would only order
    that worker's queue)."""
    slots = min(jobs, max(1, len(may_run)))
    needs = [config.stage_resources(run.name(s)) for s in may_run]
    executor = Executor(config, slots, needs, say)
    logs = Path(config.logs)
    pending = list(run.order)
    done: set[Any] = set()
    running: dict[Any, Any] = {}
    ready: list[tuple[int, int, Any]] = []  # (−rank, position in DVC's order, stage)
    position = {s: i for i, s in enumerate(run.order)}

    def progress(event: str) -> None:
        left = len(pending) + len(ready) + len(running)
        say(
            f"[{len(done)}/{len(run.order)} done · {len(running)} running · {len(summary.failed)} failed · "
            f"{len(summary.skipped)} skipped · {left} left] {event}"
        )

    def skip_downstream(stage: Any) -> None:
        for d in run.descendants(stage):
            if d in pending:
                pending.remove(d)
                summary.skipped[run.name(d)] = run.name(stage)

    def promote() -> None:
        """Stages whose upstream stages are all recorded: up to date, restored, or ready to run."""
        while found := [s for s in pending if all(u in done for u in run.upstream[s])]:
            for stage in found:
                pending.remove(stage)
                name = run.name(stage)
                try:
                    what = run.prepare(stage)
                except Exception as err:  # a DVC error for this stage: recorded, not fatal
                    summary.failed[name] = f"{type(err).__name__}: {err}"
                    skip_downstream(stage)
                    progress(f"FAILED {name} before it started: {err}")
                    continue
                if what == "run":
                    heapq.heappush(ready, (-run.rank[stage], position[stage], stage))
                else:
                    done.add(stage)
                    (summary.restored if what == "restored" else summary.up_to_date).append(name)
                    if what == "restored":
                        progress(f"restored {name} from the run-cache")

    def submit() -> None:
        while ready and len(running) < slots:
            _, _, stage = heapq.heappop(ready)
            name = run.name(stage)
            job = run.job(stage, logs, config.preload)
            running[executor.submit(job, config.stage_resources(name).gpus, run.rank[stage])] = stage
            say(f"Running stage '{name}' (log: {_relative(job.log)})")

    def finished(fut: Any) -> None:
        stage = running.pop(fut)
        name = run.name(stage)
        outcome, why = _outcome(fut)
        log = str((logs / f"{name}.log").resolve())
        if why is None:
            try:
                run.record(stage)
            except Exception as err:  # outputs missing, say: the stage failed, the run goes on
                why = f"recording it in DVC failed: {type(err).__name__}: {err}"
        if why is None:
            done.add(stage)
            summary.ran.append(name)
            progress(f"ran {name} in {outcome.seconds:.1f} s on {outcome.host}")  # type: ignore[union-attr]
        else:
            summary.failed[name] = why
            before = len(summary.skipped)
            skip_downstream(stage)
            progress(
                f"FAILED {name} ({why}); log: {_relative(log)}; "
                f"{len(summary.skipped) - before} downstream stage(s) skipped\n{log_tail(log)}"
            )

    previous = signal.signal(signal.SIGTERM, _terminate)  # scancel, a dropped ssh: flush, then stop
    try:
        promote()
        submit()
        while running:
            finished(next(executor.completed))
            promote()
            submit()
            try:
                run.lock.flush()
            except Exception as err:  # dvc.lock unwritable for now: the entries stay queued
                say(f"warning: dvc.lock not written yet ({type(err).__name__}: {err}); will retry")
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            run.lock.flush(force=True)
        finally:
            executor.close()


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _outcome(fut: Any) -> tuple[StageOutcome | None, str | None]:
    """(the worker's result, None) for a stage whose commands succeeded, else (result or None, why):
    a non-zero exit, an error in ``execute_stage`` itself, or Dask's KilledWorker when the stage's
    worker died more often than ``distributed.scheduler.allowed-failures`` allows."""
    try:
        outcome = fut.result()
    except Exception as err:
        return None, f"{type(err).__name__}: {err}"
    return outcome, None if outcome.returncode == 0 else f"exit status {outcome.returncode}"


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _check_fits(run: GraphRun, stages: list[Any], config: ClusterConfig) -> None:
    """Refuse, before any work, a stage that needs more than a worker offers (a SLURM job's GPUs, CPUs
    and memory; one GPU per local worker): Dask would otherwise hold it forever as unrunnable."""
    needs = {run.name(s): config.stage_resources(run.name(s)) for s in stages}
    if config.executor == "slurm":
        size = JobSize.covering(list(needs.values()), config)
        offer = f"a SLURM worker job ({size.gpus} GPU(s), {size.cpus} CPU(s), {size.memory_gb:g} GB)"
        too_big = [
            f"{name} needs {r.gpus} GPU(s), {r.cpus} CPU(s), {r.memory_gb:g} GB"
            for name, r in needs.items()
            if (size.gpus and r.gpus > size.gpus) or r.cpus > size.cpus or r.memory_gb > size.memory_gb
        ]
    else:
        offer = "a local worker (one GPU each)"
        too_big = [f"{name} needs {r.gpus} GPUs" for name, r in needs.items() if r.gpus > 1]
    if too_big:
        raise ClusterConfigError(f"more than {offer} offers: " + "; ".join(too_big))
