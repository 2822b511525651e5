"""Perturbational Complexity Index of a network (Casali et al. 2013, adapted to artificial networks).

Gaussian noise is injected into the first ``layer`` module's output (per-unit std = ``noise_scale`` × that
unit's std over the probe inputs). Each trial is one probe input with its own noise draw. The response of
every later layer module is its change in the leading PCA components (the module's PCA from the
unperturbed probe activations), trials × components. It is binarized per component against the baseline:
the |difference| between the unperturbed components of two different probe inputs (the noise-free
trial-to-trial spread), thresholded at a quantile. The binary matrix has one row per (later module,
component), in layer order, and one column per trial; it is scanned column by column (all sources at one
trial, then the next), as Casali et al. (2013) concatenate their source × time matrix, for LZ76. Trials stand
in for Casali's time samples: here they are independent noise draws on different probe inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.measurements.complexity import LZComplexity, binarize_responses, normalized_lz
from harness.measurements.modules import PCA, first_layer_std, layer_responses, project


class PerturbationalComplexity(LZComplexity):
    """What :func:`perturbational_complexity` returns: :class:`LZComplexity` plus the binary matrix's shape."""

    rows: float
    trials: float


def perturbational_complexity(
    model: nn.Module,
    inputs: torch.Tensor,
    pcas: list[PCA],
    *,
    noise_scale: float = 1.0,
    components: int = 8,
    threshold_quantile: float = 0.5,
    seed: int = 0,
) -> PerturbationalComplexity:
    """PCI of the binarized (sources, trials) responses, normalised by shuffled surrogates, beside Casali's
    c·log2(L)/(L·H(p1)) and c·log2(L)/L (``harness.measurements.complexity.normalized_lz``).

    ``inputs``: the trials' inputs (one row per trial); ``pcas``: one fitted PCA per layer module (the first
    is unused: that module is perturbed). Needs at least two layer modules.
    """
    if len(pcas) < 2:
        raise ValueError("PCI needs at least two layer modules (one perturbed, one responding)")
    generator = torch.Generator().manual_seed(seed)
    noise_std = noise_scale * first_layer_std(model, inputs)
    clean = layer_responses(model, inputs, None)
    perturbed = layer_responses(model, inputs, noise_std, generator)
    pairs = np.random.default_rng(seed).permutation(len(inputs))
    responses, baseline = [], []
    for pca, c, p in zip(pcas[1:], clean[1:], perturbed[1:], strict=True):
        q = min(components, pca.components.shape[1])
        clean_z, perturbed_z = project(pca, c)[:, :q], project(pca, p)[:, :q]
        responses.append(perturbed_z - clean_z)
        baseline.append(clean_z - clean_z[pairs])
    bits = binarize_responses(np.hstack(responses), np.hstack(baseline), threshold_quantile)
    return {**normalized_lz(bits, seed=seed), "rows": float(bits.shape[0]), "trials": float(bits.shape[1])}
