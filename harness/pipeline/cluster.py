"""Where `harness run` executes stages: resources per stage kind, and the local or SLURM executor's knobs.

Everything here is typed and validated before any work starts. The values come from harness's defaults
(``STAGE_RESOURCES``), then ``cluster.yaml`` in the repository root (optional; ``--config`` names another
file), then the command line, each overriding the one before. Sizes are the full survey's: the embedded
survey's stages are CPU-sized and ignore the GPU figures on a machine without GPUs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.params import format_validation_error
from harness.yaml_strict import load_yaml_strict

CONFIG_FILE = "cluster.yaml"
WALLTIME = re.compile(r"^(?:(\d+)-)?(\d{1,3}):(\d{2}):(\d{2})$")


class ClusterConfigError(ValueError):
    """cluster.yaml or a command-line option of `harness run` is invalid."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def walltime_seconds(text: str) -> int:
    """SLURM's ``[D-]HH:MM:SS`` in seconds; ValueError for any other form."""
    match = WALLTIME.match(text)
    if not match:
        raise ValueError(f"expected a wall time as [D-]HH:MM:SS, got {text!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _walltime(value: str) -> str:
    walltime_seconds(value)
    return value


class StageResources(_Config):
    """What one stage of a kind needs while it runs (one stage runs on one worker at a time)."""

    gpus: int = Field(0, ge=0)
    """GPUs the stage computes on (0: CPU only). A local worker is pinned to its GPU with
    CUDA_VISIBLE_DEVICES; on SLURM the job's allocation sets it."""
    cpus: int = Field(1, ge=1)
    """CPU cores: the thread budget (OMP_NUM_THREADS, torch's intra-op threads) on a SLURM worker."""
    memory_gb: float = Field(4.0, gt=0)
    """Host memory, GB (a SLURM job's --mem is the largest of the kinds it runs)."""
    walltime: str = "04:00:00"
    """Longest expected run of one stage, [D-]HH:MM:SS (a SLURM job's time limit is the largest)."""

    _check_walltime = field_validator("walltime")(_walltime)


_GPU_STAGE = StageResources(gpus=1, cpus=8, memory_gb=32.0, walltime="12:00:00")
_LIGHT_STAGE = StageResources(gpus=0, cpus=1, memory_gb=4.0, walltime="01:00:00")

STAGE_RESOURCES: dict[str, StageResources] = {
    "check": _LIGHT_STAGE,
    "data": StageResources(gpus=0, cpus=2, memory_gb=16.0, walltime="02:00:00"),
    "train": _GPU_STAGE,
    "persist_task_a": _GPU_STAGE,
    "persist_landscape": StageResources(gpus=1, cpus=8, memory_gb=32.0, walltime="24:00:00"),
    "persist_topology": StageResources(gpus=0, cpus=2, memory_gb=8.0, walltime="02:00:00"),
    "persist_curvature": _GPU_STAGE,
    "persist_forgetting": _GPU_STAGE,
    "persist_metrics": _LIGHT_STAGE,
    "persist_statistics": StageResources(gpus=0, cpus=2, memory_gb=8.0, walltime="02:00:00"),
    "phi_train": _GPU_STAGE,
    "phi_measure": _GPU_STAGE,
    "phi_transfer": _GPU_STAGE,
    "phi_statistics": StageResources(gpus=0, cpus=2, memory_gb=8.0, walltime="02:00:00"),
    "genesis_capacity": StageResources(gpus=1, cpus=8, memory_gb=32.0, walltime="24:00:00"),
    "genesis_information": _GPU_STAGE,
    "genesis_double_descent": _GPU_STAGE,
    "genesis_statistics": StageResources(gpus=0, cpus=2, memory_gb=8.0, walltime="02:00:00"),
    "report": StageResources(gpus=0, cpus=1, memory_gb=8.0, walltime="01:00:00"),
}
"""Resources per stage kind (the stage name before ``@``), declared once. These are starting values for
the full survey, not measurements (harness estimate gives the measured cost of each stage): override them
per kind in cluster.yaml. A kind not listed here (a stage a user added to dvc.yaml by hand) gets
``StageResources()``: one CPU core, no GPU."""


def stage_kind(name: str) -> str:
    """``train@mlp_2-digits`` → ``train``; ``report`` → ``report``."""
    return name.split("@", 1)[0]


class LocalConfig(_Config):
    """One machine: one Dask worker per GPU (or per core when it has none)."""

    gpus: list[int] | None = None
    """GPU indices to use; default: every GPU `nvidia-smi` lists (within CUDA_VISIBLE_DEVICES)."""


class SlurmConfig(_Config):
    """A SLURM cluster through dask-jobqueue: each job is one Dask worker that runs stages one at a time.

    A job's size is the largest need (GPUs, CPUs, memory, wall time) of the stage kinds it may run,
    unless set here."""

    partition: str | None = None
    """#SBATCH --partition."""
    account: str | None = None
    """#SBATCH --account."""
    qos: str | None = None
    """#SBATCH --qos."""
    walltime: str | None = None
    """#SBATCH --time of a worker job, [D-]HH:MM:SS. Workers retire 10 minutes before it (Dask's
    --lifetime) and are replaced; a stage cut off by the limit re-runs and resumes from the harness cache."""
    gpus_per_job: int | None = Field(None, ge=0)
    """#SBATCH --gres=gpu:N (0: CPU-only jobs)."""
    cpus_per_job: int | None = Field(None, ge=1)
    """#SBATCH --cpus-per-task; also the stage's thread budget."""
    memory_gb_per_job: float | None = Field(None, gt=0)
    """#SBATCH --mem, GB."""
    extra_sbatch: list[str] = []
    """More #SBATCH options, each as written after ``#SBATCH`` (``--constraint=h100``)."""
    prologue: list[str] = []
    """Shell lines a job runs before its worker starts (``module load cuda``, ``source .venv/bin/activate``)."""
    python: str | None = None
    """The worker's Python command; default: this interpreter. Under Apptainer:
    ``apptainer exec --nv survey.sif /opt/venv/bin/python``."""
    interface: str | None = None
    """Network interface the scheduler listens on for the compute nodes (``ib0``); default: the host's."""
    log_directory: str = "logs/slurm"
    """Where SLURM writes each worker job's output."""

    @field_validator("walltime")
    @classmethod
    def _job_walltime(cls, value: str | None) -> str | None:
        if value is not None and walltime_seconds(value) < 20 * 60:
            raise ValueError(
                f"a worker job needs at least 00:20:00 (it retires 10 minutes before its limit); got {value!r}"
            )
        return value


class ClusterConfig(_Config):
    """cluster.yaml: how `harness run` spreads the DVC graph."""

    executor: Literal["local", "slurm"] = "local"
    """``local``: Dask workers on this machine; ``slurm``: Dask workers in SLURM jobs."""
    jobs: int | None = Field(None, ge=1)
    """Workers (local) or SLURM jobs at most; default: local GPUs, else usable cores; SLURM: 8."""
    logs: str = "logs/stages"
    """Folder of one log file per stage (its command's stdout and stderr)."""
    dashboard: str | None = ":8787"
    """Address of Dask's live dashboard (task stream, progress; served by bokeh); null: none locally."""
    preload: bool = True
    """Run each ``python -m …`` stage command in a child forked from a per-worker server that imported
    torch once (about 5 s saved per stage on 2 cores); false: every command in a fresh shell, exactly as
    `dvc repro` starts it."""
    local: LocalConfig = LocalConfig()
    slurm: SlurmConfig = SlurmConfig()
    resources: dict[str, StageResources] = {}
    """Overrides of STAGE_RESOURCES by stage kind (``train: {gpus: 1, cpus: 16, ...}``)."""

    def stage_resources(self, name: str) -> StageResources:
        kind = stage_kind(name)
        return self.resources.get(kind) or STAGE_RESOURCES.get(kind) or StageResources()


def load_cluster_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> ClusterConfig:
    """Defaults ← ``path`` (default: ./cluster.yaml when it exists) ← ``overrides`` (dotted keys, such as
    ``slurm.partition``; None values are ignored). Raises ClusterConfigError naming the file and field."""
    file = Path(path) if path is not None else Path(CONFIG_FILE)
    raw: dict[str, Any] = {}
    if path is not None and not file.exists():
        raise ClusterConfigError(f"{file}: no such file")
    if file.exists():
        loaded = load_yaml_strict(file)
        if loaded is not None and not isinstance(loaded, dict):
            raise ClusterConfigError(f"{file}: expected a mapping at the top level")
        raw = dict(loaded or {})
    origin = str(file) if file.exists() else "defaults"
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        origin = f"{origin} + command line"
    try:
        return ClusterConfig.model_validate(raw)
    except ValidationError as err:
        raise ClusterConfigError(format_validation_error(err, origin, "cluster configuration")) from None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which SLURM and cgroups restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[int]:
    """Indices of the local GPUs, from `nvidia-smi` (no torch import), within CUDA_VISIBLE_DEVICES."""
    if shutil.which("nvidia-smi") is None:
        return []
    proc = subprocess.run(
        ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return []
    found = [int(line) for line in proc.stdout.split() if line.strip().isdigit()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return found
    wanted = [int(v) for v in visible.split(",") if v.strip().isdigit()]
    return [g for g in wanted if g in found]
