# Exact reproduction of the survey on a GPU: docker build -t survey . && docker run --gpus all -v "$PWD":/work survey
# Base image pinned by digest. Tag: pytorch/pytorch:2.11.0-cuda13.0-cudnn9-runtime
# Re-verify the pairing with: docker buildx imagetools inspect pytorch/pytorch:2.11.0-cuda13.0-cudnn9-runtime
FROM pytorch/pytorch:2.11.0-cuda13.0-cudnn9-runtime@sha256:bfbb4a2b4fdba0fefdb428ea737e626d61bb3daf74a16e1ff935bdb03aa7c3f0

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git: provenance records the commit; DVC needs a repository. The distribution's current git is fine
# (nothing numeric depends on it), so it is not version-pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

# Determinism: cuBLAS workspace for deterministic GEMMs, fixed hash seed, no bytecode churn in /work.
ENV CUBLAS_WORKSPACE_CONFIG=:4096:8 \
    PYTHONHASHSEED=0 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The same lock file `make` installs; a venv keeps it apart from the base image's own packages.
COPY requirements.lock /opt/survey/requirements.lock
RUN python -m venv /opt/venv \
    && pip install --disable-pip-version-check -r /opt/survey/requirements.lock

# The project itself (git history included: DVC and provenance need it). Mounting a checkout over
# /work (docker run -v "$PWD":/work) runs that checkout instead; PYTHONPATH makes it the one imported.
WORKDIR /work
COPY . /work
ENV PYTHONPATH=/work
RUN git config --system --add safe.directory '*'

# `harness run`: the stale stages on one Dask worker per visible GPU, recorded in dvc.lock as `dvc repro` would.
CMD ["bash", "-c", "python -m harness.cli sync && python -m harness.cli run"]
