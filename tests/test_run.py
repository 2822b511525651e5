"""`harness run`: the DVC graph on real Dask workers (and a real single-node SLURM), DVC kept as the record.

The fault tests use a four-stage DVC project whose commands are a small script (a → b → c, and d
independent of them), so they take seconds; the micro profile runs in test_pipeline.py and, through
SLURM, here."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from harness.pipeline.cluster import (
    STAGE_RESOURCES,
    ClusterConfig,
    ClusterConfigError,
    StageResources,
    load_cluster_config,
    stage_kind,
    walltime_seconds,
)
from harness.pipeline.executors import JobSize
from tests.conftest import GIT_IDENTITY, REPO, VENV_BIN, copy_repo, micro_repo_copy, ran_stages, run

STEP = """
import os, pathlib, sys, time
name, *deps = sys.argv[1:]
print("threads", os.environ.get("OMP_NUM_THREADS"), "trim", os.environ.get("MALLOC_TRIM_THRESHOLD_"),
      "hashseed", os.environ.get("PYTHONHASHSEED"))
attempts = pathlib.Path(f".attempts-{name}")
n = int(attempts.read_text()) + 1 if attempts.exists() else 1
attempts.write_text(str(n))
mode = pathlib.Path(f"mode-{name}")
mode = mode.read_text().strip() if mode.exists() else "ok"
if mode == "fail":
    print(f"boom: stage {name} cannot go on", file=sys.stderr)
    sys.exit(3)
if mode == "hang-once" and n == 1:
    time.sleep(600)
pathlib.Path(f"{name}.txt").write_text(name + "".join(pathlib.Path(f"{d}.txt").read_text() for d in deps))
"""

PIPELINE = {
    "stages": {
        "a": {"cmd": "python step.py a", "deps": ["step.py"], "outs": ["a.txt"]},
        # two commands: the shell stays between the worker and the script (no exec), so a killed worker
        # leaves the script orphaned and the next attempt has to find and kill it
        "b": {"cmd": "python step.py b a && echo b done", "deps": ["step.py", "a.txt"], "outs": ["b.txt"]},
        "c": {"cmd": "python step.py c b", "deps": ["step.py", "b.txt"], "outs": ["c.txt"]},
        "d": {"cmd": "python step.py d", "deps": ["step.py"], "outs": ["d.txt"]},
    }
}
NO_DASHBOARD = "dashboard: null\n"


def small_project(path: Path) -> Path:
    """A git + DVC project with the four-stage pipeline above."""
    path.mkdir(parents=True)
    (path / "step.py").write_text(STEP)
    (path / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    (path / "cluster.yaml").write_text(NO_DASHBOARD)
    (path / ".gitignore").write_text(".attempts-*\nmode-*\n/logs/\n")
    run(["git", "init", "-q"], path)
    run(["dvc", "init", "-q"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "pipeline"], path)
    return path


def harness_run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["harness", "run", *args], repo, check=check)


def lock_stages(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def test_parallel_run_records_exactly_what_a_serial_dvc_repro_records(tmp_path: Path):
    parallel = small_project(tmp_path / "parallel")
    serial = small_project(tmp_path / "serial")
    out = harness_run(parallel, "--jobs", "2")
    assert sorted(ran_stages(out)) == ["a", "b", "c", "d"]
    assert "4 ran, 0 restored from the run-cache, 0 up to date, 0 failed, 0 skipped" in out.stdout
    run(["dvc", "repro"], serial)
    assert (parallel / "dvc.lock").read_text() == (serial / "dvc.lock").read_text()  # byte for byte
    assert (parallel / "c.txt").read_text() == "cba"
    # each stage has the worker's thread budget and none of Dask's worker environment
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    # (tests run commands with PYTHONHASHSEED=0, as the container does; Dask's nanny would draw its own)
    assert f"threads {threads} trim None hashseed 0" in (parallel / "logs" / "stages" / "c.log").read_text()
    assert "up to date" in run(["dvc", "status"], parallel).stdout
    assert ran_stages(run(["dvc", "repro"], parallel)) == []
    again = harness_run(parallel)
    assert ran_stages(again) == [] and "0 ran, 0 restored from the run-cache, 4 up to date" in again.stdout

    # the run-cache was filled: after a change and its revert, the outputs come back without running
    step = (parallel / "step.py").read_text()
    (parallel / "step.py").write_text(step + "# changed\n")
    assert sorted(ran_stages(harness_run(parallel))) == ["a", "b", "c", "d"]
    (parallel / "step.py").write_text(step)
    restored = harness_run(parallel)
    assert ran_stages(restored) == [] and "0 ran, 4 restored from the run-cache" in restored.stdout
    assert (parallel / "dvc.lock").read_text() == (serial / "dvc.lock").read_text()
    assert "up to date" in run(["dvc", "status"], parallel).stdout

    # a target runs with its upstream stages only; --dry lists and runs nothing
    (parallel / "step.py").write_text(step + "# again\n")
    dry = harness_run(parallel, "--dry", "b")
    assert "would run a " in dry.stdout and "would run b " in dry.stdout and "would run c" not in dry.stdout
    assert ran_stages(dry) == []
    assert sorted(ran_stages(harness_run(parallel, "b"))) == ["a", "b"]


MODULE_STEP = (
    "import os, pathlib, sys\n"
    "print('preloaded', 'torch' in sys.modules, 'path0', sys.path[0], 'hash', hash('survey'), 'argv', sys.argv[1:])\n"
    "pathlib.Path(f'pid-{sys.argv[1]}').write_text(str(os.getpid()))\n" + STEP
)


def module_project(path: Path, preload: bool = True) -> Path:
    """The pipeline a → b, d of `small_project` with `python -m stepmod` commands."""
    path.mkdir(parents=True)
    (path / "stepmod.py").write_text(MODULE_STEP)
    pipeline = {
        "stages": {
            # two commands: the second's log lines must follow the first's output, not overwrite it
            "a": {
                "cmd": ["python -m stepmod a", "python -m stepmod a2"],
                "deps": ["stepmod.py"],
                "outs": ["a.txt", "a2.txt"],
            },
            "b": {"cmd": "python -m stepmod b a", "deps": ["stepmod.py", "a.txt"], "outs": ["b.txt"]},
            "d": {"cmd": "python -m stepmod d", "deps": ["stepmod.py"], "outs": ["d.txt"]},
        }
    }
    (path / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (path / "cluster.yaml").write_text(NO_DASHBOARD + f"preload: {str(preload).lower()}\n")
    (path / ".gitignore").write_text(".attempts-*\nmode-*\npid-*\n/logs/\n")
    for cmd in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "p"],
    ):
        run(cmd, path)
    return path


def test_only_plain_python_m_commands_of_this_interpreter_take_the_forkserver(tmp_path: Path):
    from harness.pipeline.executors import python_module_command

    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    cmd = "python -m harness.stages.phi.transfer gpt2_small-char_corpus --schemes phi_layer,phi_positions"
    assert python_module_command(cmd, env) == (
        "harness.stages.phi.transfer",
        ["gpt2_small-char_corpus", "--schemes", "phi_layer,phi_positions"],
    )
    for shell_syntax in (
        "python -m a.b x && echo done",
        "python -m a.b $HOME",
        "python -m a.b > out",
        "python -m a.b 'x y'",
    ):
        assert python_module_command(shell_syntax, env) is None
    assert python_module_command("python step.py a", env) is None  # a script, not a module
    assert python_module_command("python -m", env) is None
    other = tmp_path / "bin"
    other.mkdir()
    (other / "python").symlink_to("/bin/true")
    assert python_module_command("python -m a.b", {"PATH": f"{other}:{VENV_BIN}"}) is None  # another python


def test_python_module_stages_run_in_the_preloaded_forkserver_as_python_m_would(tmp_path: Path):
    """`python -m MODULE` stages run in a child of the worker's forkserver (torch already imported), with
    the stage's directory, arguments, environment, hash seed, output and exit status; the same stage with
    `preload: false` runs in a fresh interpreter and writes the same outputs."""
    results = {}
    for preload in (True, False):
        repo = tmp_path / f"preload-{preload}"
        module_project(repo, preload)
        (repo / "mode-d").write_text("fail")
        out = harness_run(repo, "--jobs", "2", check=False)
        assert out.returncode != 0 and "d" in out.stdout and "exit status 3" in out.stdout, out.stdout
        assert sorted(ran_stages(out)) == ["a", "b", "d"] and (repo / "b.txt").read_text() == "ba"
        logs = {name: (repo / "logs" / "stages" / f"{name}.log").read_text() for name in "abd"}
        assert "boom: stage d cannot go on" in logs["d"]  # stderr reaches the log
        assert "up to date" in run(["dvc", "status", "a", "b"], repo).stdout
        results[preload] = logs
    fresh_hash = run(["python", "-c", "print(hash('survey'))"], tmp_path).stdout.strip()  # PYTHONHASHSEED=0
    for preload, logs in results.items():
        assert (
            logs["a"].index("argv ['a']")
            < logs["a"].index("> python -m stepmod a2")
            < logs["a"].index("argv ['a2']")
        )
        for name, args in (("a", "['a']"), ("a", "['a2']"), ("b", "['b', 'a']")):
            assert f"preloaded {preload} path0 {tmp_path / f'preload-{preload}'}" in logs[name], logs[name]
            assert f"hash {fresh_hash} argv {args}" in logs[name]
            threads = max(1, len(os.sched_getaffinity(0)) // 2)
            assert f"threads {threads} trim None hashseed 0" in logs[name]


def test_a_forkserver_stage_runs_the_workspace_code_not_the_workers(tmp_path: Path):
    """A scratch copy shares the venv's editable install of the main checkout; `python -m harness...` in
    the copy imports the copy's harness, and so must the forkserver child (the worker imported the
    other one)."""
    repo = copy_repo(tmp_path / "repo")
    check = repo / "harness" / "stages" / "check.py"
    check.write_text(
        check.read_text().replace("@stage_main\n", "print('the copy of check.py')\n\n\n@stage_main\n", 1)
    )
    run(["git", "commit", "-qam", "marked"], repo)
    out = run(["harness", "run", "--jobs", "1", "check"], repo)
    assert "1 ran" in out.stdout, out.stdout
    assert "the copy of check.py" in (repo / "logs" / "stages" / "check.log").read_text()


def test_a_forkserver_stage_dies_with_its_worker_and_is_rerun(tmp_path: Path):
    repo = module_project(tmp_path / "repo")
    (repo / "mode-b").write_text("hang-once")
    proc = _popen_run(repo)
    _wait_for(lambda: (repo / ".attempts-b").exists() and (repo / "pid-b").exists())
    stage = psutil.Process(int((repo / "pid-b").read_text()))
    forkserver = stage.parent()
    worker = forkserver.parent()
    assert "forkserver" in " ".join(forkserver.cmdline()) and "python" in worker.name()
    worker.kill()  # the forkserver sees its worker go and exits; the stage gets SIGKILL (PDEATHSIG)
    stage.wait(timeout=30)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert (repo / ".attempts-b").read_text() == "2" and (repo / "b.txt").read_text() == "ba"
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_a_failed_stage_skips_its_descendants_and_the_others_finish(tmp_path: Path):
    repo = small_project(tmp_path / "repo")
    (repo / "mode-b").write_text("fail")
    out = harness_run(repo, "--jobs", "2", check=False)
    assert out.returncode == 1
    assert sorted(ran_stages(out)) == ["a", "b", "d"]
    text = out.stdout + out.stderr
    assert "FAILED b (exit status 3); log: logs/stages/b.log; 1 downstream stage(s) skipped" in text
    assert "boom: stage b cannot go on" in text  # the last lines of its log
    assert "2 ran, 0 restored from the run-cache, 0 up to date, 1 failed, 1 skipped" in text
    assert "boom" in (repo / "logs" / "stages" / "b.log").read_text()
    assert sorted(lock_stages(repo)) == ["a", "d"]  # what finished is recorded
    assert not (repo / "c.txt").exists()
    (repo / "mode-b").unlink()
    assert sorted(ran_stages(harness_run(repo))) == ["b", "c"]
    assert "up to date" in run(["dvc", "status"], repo).stdout


def _popen_run(repo: Path) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **GIT_IDENTITY}
    return subprocess.Popen(
        ["harness", "run", "--jobs", "2"],
        cwd=repo,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _stage_processes(stage: str, root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get("DVC_STAGE") == stage and env.get("DVC_ROOT") == str(root):
            found.append(proc)
    return found


def test_a_killed_run_resumes_with_only_the_killed_stage_and_its_descendants(tmp_path: Path):
    repo = small_project(tmp_path / "repo")
    (repo / "mode-b").write_text("hang-once")
    proc = _popen_run(repo)
    # a and d have finished: recorded in the DVC cache and run-cache (dvc.lock is written in batches)
    _wait_for(lambda: (repo / ".attempts-b").exists())
    _wait_for(lambda: not _stage_processes("a", repo) and (repo / "d.txt").exists())
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    for orphan in _stage_processes("b", repo):  # killing the group reached the stage's processes too
        pytest.fail(f"stage process {orphan.pid} outlived the run")
    out = harness_run(repo)
    assert sorted(ran_stages(out)) == ["b", "c"], out.stdout
    assert "2 ran" in out.stdout and (repo / "c.txt").read_text() == "cba"
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_a_worker_killed_mid_stage_is_replaced_and_the_stage_rerun_in_the_same_run(tmp_path: Path):
    repo = small_project(tmp_path / "repo")
    (repo / "mode-b").write_text("hang-once")
    proc = _popen_run(repo)
    _wait_for(lambda: (repo / ".attempts-b").exists() and _stage_processes("b", repo))
    # the Dask worker running stage b: the first ancestor that is neither the stage nor its shell
    stage_proc = _stage_processes("b", repo)[0]
    worker = next(
        p
        for p in stage_proc.parents()
        if "step.py" not in " ".join(p.cmdline()) and p.name() not in ("sh", "bash", "dash")
    )
    assert "python" in worker.name()
    worker.kill()  # its nanny starts a new worker; Dask reschedules the stage
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert (repo / ".attempts-b").read_text() == "2" and (repo / "c.txt").read_text() == "cba"
    assert "4 ran" in out
    assert (
        "killed 1 process(es) left by an earlier attempt" in (repo / "logs" / "stages" / "b.log").read_text()
    )
    assert not _stage_processes("b", repo)  # the orphan of the first attempt is gone
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_cluster_config_errors_name_the_file_and_field(tmp_path: Path):
    path = tmp_path / "cluster.yaml"
    path.write_text("executor: slurm\nslurm:\n  partiton: gpu\n  walltime: 2 hours\njobs: 0\n")
    with pytest.raises(ClusterConfigError) as err:
        load_cluster_config(path)
    text = str(err.value)
    assert str(path) in text
    assert "field 'slurm.partiton': Extra inputs are not permitted" in text
    assert "field 'slurm.walltime'" in text and "[D-]HH:MM:SS" in text
    with pytest.raises(ClusterConfigError, match="at least 00:20:00"):
        load_cluster_config(None, {"slurm.walltime": "00:11:00"})
    assert "field 'jobs'" in text
    with pytest.raises(ClusterConfigError, match="no such file"):
        load_cluster_config(tmp_path / "missing.yaml")
    cli = run(["harness", "run", "--config", str(path)], tmp_path, check=False)
    assert cli.returncode == 2 and "slurm.partiton" in cli.stderr
    path.write_text("executor: slurm\nslurm: {partition: gpu}\n")
    config = load_cluster_config(path, {"slurm.partition": "debug", "jobs": 4, "slurm.account": None})
    assert config.slurm.partition == "debug" and config.jobs == 4 and config.slurm.account is None


def test_walltime_and_job_size():
    assert walltime_seconds("1-02:03:04") == 93784 and walltime_seconds("00:30:00") == 1800
    with pytest.raises(ValueError):
        walltime_seconds("90")
    needs = [StageResources(gpus=1, cpus=8, memory_gb=32, walltime="12:00:00"), StageResources(cpus=2)]
    size = JobSize.covering(needs, ClusterConfig())
    # the job outlives its longest stage by 15 minutes (a worker retires 10 minutes before the limit)
    assert (size.gpus, size.cpus, size.memory_gb, size.walltime) == (1, 8, 32, "0-12:15:00")
    config = ClusterConfig.model_validate({"slurm": {"gpus_per_job": 0, "cpus_per_job": 1}})
    assert JobSize.covering(needs, config).gpus == 0 and JobSize.covering(needs, config).cpus == 1


def test_every_stage_kind_of_every_profile_has_declared_resources(registries):
    from harness.params import validate_params
    from harness.pipeline.generate import build_pipeline

    kinds = set()
    for name, profile in registries.profiles.items():
        pipeline = build_pipeline(registries, validate_params(profile.params, name), REPO)
        kinds |= {stage_kind(s) for s in pipeline["stages"]}
    assert kinds and kinds <= set(STAGE_RESOURCES), kinds - set(STAGE_RESOURCES)
    assert set(STAGE_RESOURCES) <= kinds, set(STAGE_RESOURCES) - kinds  # nothing stale in the table


SLURM_SCRIPT = REPO / "scripts" / "slurm-localhost.sh"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A real single-node SLURM (slurmctld + slurmd + munge) started by the repo's script."""
    missing = [c for c in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(c) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"SLURM is not installed ({', '.join(missing)} missing); .ci/run installs slurm-wlm")
        pytest.skip(f"SLURM is not installed here ({', '.join(missing)}): apt-get install slurm-wlm munge")
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("scripts/slurm-localhost.sh runs slurmd and munged as root")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(SLURM_SCRIPT), "start", str(state)], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    yield {"SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run([str(SLURM_SCRIPT), "stop", str(state)], capture_output=True)


@pytest.mark.slow
def test_micro_profile_through_a_real_slurm(slurm, tmp_path: Path):
    repo = micro_repo_copy(tmp_path / "repo")
    small = "{gpus: 0, cpus: 1, memory_gb: 2, walltime: '00:10:00'}"
    (repo / "cluster.yaml").write_text(
        NO_DASHBOARD + "executor: slurm\nslurm:\n  gpus_per_job: 0\n  cpus_per_job: 1\n"
        "  memory_gb_per_job: 4\n  walltime: '00:30:00'\n  log_directory: logs/slurm\n"
        f"resources:\n  check: {small}\n  data: {small}\n  train: {small}\n"
    )
    target = "train@mlp_2-blobs"
    out = run(["harness", "run", "--jobs", "2", target], repo, env=slurm)
    assert sorted(ran_stages(out)) == ["check", "data@blobs", target]
    assert "executor: SLURM, up to 2 job(s) of 0 GPU(s), 1 CPU(s), 4 GB, 00:30:00" in out.stdout
    assert list((repo / "logs" / "slurm").glob("*.err"))  # the workers were SLURM jobs
    status = run(["dvc", "status", target], repo)
    assert "up to date" in status.stdout
    assert sorted(lock_stages(repo)) == sorted(["check", "data@blobs", target])
    assert ran_stages(run(["dvc", "repro", target], repo)) == []


def test_one_run_per_workspace_and_only_from_the_repository_root(tmp_path: Path):
    from harness.pipeline.parallel import workspace_lock

    repo = small_project(tmp_path / "repo")
    with workspace_lock(repo):
        second = harness_run(repo, check=False)
    assert (
        second.returncode == 2 and "another `harness run` is running in this workspace (pid" in second.stderr
    )
    (repo / "sub").mkdir()
    inside = harness_run(repo / "sub", check=False)
    assert inside.returncode == 2 and "from the repository root" in inside.stderr
    assert not (repo / "a.txt").exists()  # nothing started
