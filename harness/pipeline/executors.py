"""Dask clusters that run stage commands, and the function a Dask worker runs for one stage.

``local``: a Dask ``SpecCluster`` of nanny-supervised worker processes on this machine, one per GPU (each
pinned with CUDA_VISIBLE_DEVICES, as dask-cuda's LocalCUDACluster does) or, without GPUs, one per core
share. ``slurm``: dask-jobqueue's ``SLURMCluster``, one worker per SLURM job, kept at a fixed count by
``adapt`` (a worker retired before its wall time is replaced). Each worker offers the Dask resource
STAGE=1 and each stage asks for it, so a worker runs one stage at a time whatever its thread count.
A worker that dies mid-stage (killed, pre-empted, out of memory) has its stage rescheduled by Dask on
another worker, up to ``distributed.scheduler.allowed-failures`` times; the stage resumes from the
harness cache.

Start-up: a stage command of the form ``python -m MODULE ARGS`` (every generated stage's), whose
``python`` is the worker's own interpreter, runs in a child forked from a per-worker
``multiprocessing`` forkserver that has imported torch once (``STAGE_PRELOAD``), instead of a fresh
interpreter that imports it again: measured on 2 cores, ``import torch`` and the inductor configuration
that ``torch.use_deterministic_algorithms`` imports cost about 5 s of every stage, a third of the
embedded survey's stage time. The child gets the stage's working directory, environment, ``sys.path[0]``
and ``sys.argv`` as ``python -m`` would, its output goes to the stage log, and it dies with its worker
(PR_SET_PDEATHSIG). Only third-party modules are preloaded: the project's own code is imported by each
stage afresh, as DVC tracks it. ``cluster.yaml``'s ``preload: false`` runs every command in a fresh shell.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.pipeline.cluster import ClusterConfig, StageResources, usable_cores, walltime_seconds

DASK_WORKER_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED", "__DASK_PARENT_PID")
"""What a Dask nanny puts into its worker's environment and a stage must not inherit: glibc trimming
freed memory back at 64 KiB (``distributed.nanny.pre-spawn-environ``) makes PyTorch on the CPU about
twice as slow (measured: a resnet18 forward 261 → 559 ms), and the nanny draws a PYTHONHASHSEED of its
own where the project pins 0. The coordinator passes its own values, if any."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
STAGE_PRELOAD = ("torch", "torch._inductor.config")
"""Imported once by each worker's forkserver: torch (about 3 s on 2 cores) and the inductor configuration
``torch.use_deterministic_algorithms`` imports (about 2 s). Neither starts a thread or touches a GPU."""
_PLAIN_COMMAND = re.compile(r"[\w.,=:/@+\- ]+")
"""A command with no shell syntax: nothing for a shell to expand, redirect or chain."""


@dataclass(frozen=True)
class StageJob:
    """What a worker needs to run one stage: its commands from dvc.yaml and where to write the log."""

    name: str
    commands: tuple[str, ...]
    wdir: str
    remove: tuple[str, ...]
    """Outputs to delete before the first command, as `dvc repro` does (persistent outputs are kept)."""
    log: str
    env: tuple[tuple[str, str], ...]
    preload: bool = True
    """Run ``python -m`` commands in a child of the worker's preloaded forkserver (``cluster.yaml``)."""


@dataclass(frozen=True)
class StageOutcome:
    name: str
    returncode: int
    seconds: float
    host: str


def kill_earlier_attempts(job: StageJob) -> int:
    """SIGKILL the processes of an earlier attempt at this stage still alive on this host (the stage's
    worker died and its grandchildren outlived it), found by the DVC_ROOT and DVC_STAGE variables every
    stage process carries. Returns how many were killed."""
    import psutil

    wanted = dict(job.env)
    killed = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            environ = proc.environ()
        except (psutil.Error, OSError):
            continue
        if environ.get("DVC_STAGE") == wanted["DVC_STAGE"] and environ.get("DVC_ROOT") == wanted["DVC_ROOT"]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
                killed += 1
    return killed


def execute_stage(job: StageJob) -> StageOutcome:
    """Run one stage's commands on this worker, output to ``job.log``; a non-zero exit ends the stage."""
    orphans = kill_earlier_attempts(job)
    for rel in job.remove:
        path = Path(job.wdir) / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    log = Path(job.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in DASK_WORKER_ENVIRONMENT} | dict(job.env)
    # the shell as `dvc repro` runs it (bash --noprofile --norc, zsh --no-rcs), under setpriv so that it
    # gets SIGKILL when its worker dies (Linux PR_SET_PDEATHSIG); what the shell started is found and
    # killed by kill_earlier_attempts before the stage runs again
    from dvc.stage.run import _make_cmd

    shell = os.environ.get("SHELL") or "/bin/sh"
    guard = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
    start = time.perf_counter()
    code = 0
    with log.open("w", encoding="utf-8") as out:
        out.write(f"# stage {job.name} on {socket.gethostname()}\n")
        if orphans:
            out.write(f"# killed {orphans} process(es) left by an earlier attempt\n")
        for cmd in job.commands:
            out.write(f"> {cmd}\n")
            out.flush()
            module = python_module_command(cmd, env) if job.preload and _may_fork() else None
            code = run_in_forkserver(module[0], module[1], job.wdir, env, str(log)) if module else None
            if code is not None:
                out.seek(0, os.SEEK_END)  # the child appended to the log through its own descriptor
            else:
                code = subprocess.run(
                    [*guard, *_make_cmd(shell, cmd)],
                    cwd=job.wdir,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                ).returncode
            if code != 0:
                break
    return StageOutcome(job.name, code, time.perf_counter() - start, socket.gethostname())


def _may_fork() -> bool:
    """Whether this worker may start a forkserver: ``multiprocessing`` refuses children to a daemonic
    process (a Dask worker whose ``distributed.worker.daemon`` was left true); its stages then run in a
    fresh shell."""
    import multiprocessing

    return not multiprocessing.current_process().daemon


def python_module_command(cmd: str, env: dict[str, str]) -> tuple[str, list[str]] | None:
    """(module, arguments) when ``cmd`` is ``python -m MODULE ARGS…`` with no shell syntax and its
    ``python`` (looked up on the stage's PATH) is this interpreter; None otherwise (run by a shell)."""
    if not _PLAIN_COMMAND.fullmatch(cmd):
        return None
    words = shlex.split(cmd)
    if len(words) < 3 or words[1] != "-m" or words[2].startswith("-"):
        return None
    found = shutil.which(words[0], path=env.get("PATH"))
    # the same interpreter in the same environment (venv/bin/python and venv/bin/python3.11 are one)
    if found is None or os.path.dirname(os.path.abspath(found)) != os.path.dirname(sys.executable):
        return None
    if not os.path.samefile(found, sys.executable):
        return None
    return words[2], words[3:]


def run_in_forkserver(module: str, args: list[str], wdir: str, env: dict[str, str], log: str) -> int | None:
    """Run ``python -m module args`` in a child of this worker's preloaded forkserver; its exit code, or
    None when it cannot (the caller then runs the command in a fresh shell).

    The forkserver starts on first use with ``STAGE_PRELOAD`` imported, in this worker's environment
    without the variables a Dask nanny sets for its worker (``DASK_WORKER_ENVIRONMENT``) and with the
    coordinator's own values of them from ``env``: glibc and the hash seed read them when an interpreter
    starts, and the forkserver's children inherit that start. A later job asking for other values gets
    None, since a forked child cannot change how its interpreter started."""
    import multiprocessing

    global _FORKSERVER_START
    wanted = {k: env[k] for k in DASK_WORKER_ENVIRONMENT if k in env}
    if _FORKSERVER_START is None:
        for key in DASK_WORKER_ENVIRONMENT:
            os.environ.pop(key, None)
        os.environ.update(wanted)  # kept, so that a restarted forkserver starts the same way
        _FORKSERVER_START = dict(wanted)
    elif wanted != _FORKSERVER_START:
        return None
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(STAGE_PRELOAD))
    child = ctx.Process(target=_module_main, args=(module, args, wdir, env, log), name=module)
    try:
        child.start()
    except Exception as err:  # no forkserver here (e.g. TMPDIR too long for its AF_UNIX socket): a shell
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"# forkserver unavailable ({type(err).__name__}: {err}); running in a fresh shell\n")
        return None
    child.join()
    return child.exitcode if child.exitcode is not None else 1


_FORKSERVER_START: dict[str, str] | None = None


def _module_main(module: str, args: list[str], wdir: str, env: dict[str, str], log: str) -> None:
    """In the forked child: become ``python -m module args`` run in ``wdir`` with ``env``, output to
    ``log``; exits with the module's exit status (``multiprocessing`` turns SystemExit into it)."""
    import atexit
    import runpy
    import signal
    from multiprocessing import forkserver

    if sys.platform.startswith("linux"):  # die with the forkserver, which exits with its worker
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    # a forkserver child inherits the write end of the pipe whose EOF tells the forkserver that its
    # worker is gone; holding it would keep the forkserver (and so this child) alive after the worker
    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        server._forkserver_alive_fd = None
    # the stage's own package imports afresh from its working directory, as under `python -m`: unpickling
    # this function (and multiprocessing's re-run of the worker's __main__) imported it from the worker's
    # sys.path, which may be another checkout (a scratch copy sharing the venv's editable install)
    top = module.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(wdir)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, os.getcwd())  # what `python -m` puts first
    threads = env.get("OMP_NUM_THREADS")
    if threads and threads.isdigit() and "torch" in sys.modules:  # preloaded; its pool is not started yet
        sys.modules["torch"].set_num_threads(int(threads))
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        # a forked child leaves by os._exit: no atexit handlers, no final collection, no C stdio flush
        atexit._run_exitfuncs()
        import gc

        gc.collect()
        sys.stdout.flush()
        sys.stderr.flush()
        if sys.platform.startswith("linux"):
            import ctypes

            ctypes.CDLL(None).fflush(None)


def thread_env(threads: int) -> dict[str, str]:
    """One thread budget for every math library a stage may use, so N workers do not oversubscribe."""
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


@dataclass(frozen=True)
class JobSize:
    """A SLURM worker job: the largest need of the stage kinds it may run, unless cluster.yaml sets it."""

    gpus: int
    cpus: int
    memory_gb: float
    walltime: str

    @classmethod
    def covering(cls, needs: list[StageResources], config: ClusterConfig) -> JobSize:
        """The default wall time is the longest stage's plus 15 minutes: a worker retires 10 minutes
        before its job's limit (Dask's --lifetime), and a stage it was running starts again elsewhere."""
        s = config.slurm
        longest_s = max((walltime_seconds(n.walltime) for n in needs), default=3600) + 15 * 60
        longest = f"{longest_s // 86400}-{longest_s % 86400 // 3600:02d}:{longest_s % 3600 // 60:02d}:00"
        return cls(
            gpus=s.gpus_per_job if s.gpus_per_job is not None else max((n.gpus for n in needs), default=0),
            cpus=s.cpus_per_job or max((n.cpus for n in needs), default=1),
            memory_gb=s.memory_gb_per_job or max((n.memory_gb for n in needs), default=4.0),
            walltime=s.walltime or longest,
        )


def local_cluster(config: ClusterConfig, jobs: int, gpus: list[int]) -> tuple[Any, int]:
    """(cluster, threads per worker) for this machine. Every worker offers the resource STAGE=1 (and
    GPU=1 when pinned to one): each task asks for STAGE=1, so a worker runs one stage at a time."""
    from dask.distributed import Nanny, Scheduler, SpecCluster

    threads = max(1, usable_cores() // jobs)
    workers = {}
    for i in range(jobs):
        env = thread_env(threads)
        resources: dict[str, float] = {"STAGE": 1}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(gpus[i % len(gpus)])
            resources["GPU"] = 1
        workers[f"local-{i}"] = {
            "cls": Nanny,
            "options": {
                "nthreads": 1,
                "env": env,
                "resources": resources,
                "memory_limit": 0,
                "silence_logs": logging.ERROR,
            },
        }
    scheduler = {
        "cls": Scheduler,
        "options": {"dashboard_address": config.dashboard, "host": "127.0.0.1"},
    }
    if config.dashboard is None:
        scheduler["options"].pop("dashboard_address")
        scheduler["options"]["dashboard"] = False
    cluster = SpecCluster(
        workers=workers, scheduler=scheduler, silence_logs=logging.ERROR, name="harness-local"
    )
    return cluster, threads


def slurm_cluster(config: ClusterConfig, jobs: int, size: JobSize) -> Any:
    """A dask-jobqueue SLURMCluster of ``jobs`` worker jobs of ``size`` (one worker, one stage at a time)."""
    from dask_jobqueue import SLURMCluster

    s = config.slurm
    directives = [f"--qos={s.qos}"] if s.qos else []
    if size.gpus:
        directives.append(f"--gres=gpu:{size.gpus}")
    directives += list(s.extra_sbatch)
    lifetime = walltime_seconds(size.walltime) - 600  # ≥ 10 minutes: cluster.py refuses shorter wall times
    offers = f"STAGE=1,GPU={size.gpus}" if size.gpus else "STAGE=1"
    worker_args = ["--lifetime", f"{lifetime}s", "--lifetime-stagger", "60s", "--resources", offers]
    Path(s.log_directory).mkdir(parents=True, exist_ok=True)
    cluster = SLURMCluster(
        queue=s.partition,
        account=s.account,
        cores=size.cpus,
        processes=1,
        memory=f"{size.memory_gb:g}GB",
        walltime=size.walltime,
        job_extra_directives=directives,
        job_script_prologue=[
            *s.prologue,
            *(f"export {k}={v}" for k, v in thread_env(size.cpus).items()),
            "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",
            # a daemonic worker may not start the forkserver that runs its stages (executors docstring)
            "export DASK_DISTRIBUTED__WORKER__DAEMON=False",
        ],
        worker_extra_args=worker_args,
        python=s.python,
        interface=s.interface,
        log_directory=s.log_directory,
        job_name="harness",
        scheduler_options={"dashboard_address": config.dashboard or ":0"},
    )
    cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)
    return cluster
