"""Curvature at any architecture and size: second derivatives through every registry architecture, and the
Fisher information within a memory budget (issue 16, parts 1 and 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from harness.measurements.curvature import (
    _saved_bytes_per_input,
    fisher_information,
    fisher_trace,
    hessian_top_eigenvalue,
    hessian_trace,
    twice_differentiable,
)
from harness.measurements.landscape import filter_normalized_direction, loss_grid
from harness.models.build import build_architecture
from harness.registry.adaptation import plan_adaptation
from tests.test_persist_measurements import _exact_hessian
from tests.test_registry import _REG

# ---- double backward through Hardsigmoid and attention ---------------------------------------------


def _hardsigmoid_toy() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Hardsigmoid(), nn.Linear(3, 2)).double()
    return model, torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 2, (16,))


class _Attention(nn.Module):
    """Tokens → one self-attention (``scaled_dot_product_attention``) → mean → linear readout."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(3, 9)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, 3)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.head(nn.functional.scaled_dot_product_attention(q, k, v).mean(1))


def test_hardsigmoid_without_the_context_has_no_double_backward():
    """The fault this guards against (if PyTorch adds the derivative, the context can go)."""
    model, x, y = _hardsigmoid_toy()
    loss = nn.functional.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, [model[0].weight], create_graph=True)
    with pytest.raises(RuntimeError, match="hardsigmoid_backward"):
        torch.autograd.grad(g.sum(), [model[0].weight])


@pytest.mark.parametrize("toy", ["hardsigmoid", "attention"])
def test_curvature_through_hardsigmoid_and_attention_matches_the_exact_hessian(toy: str):
    if toy == "hardsigmoid":
        model, x, y = _hardsigmoid_toy()
    else:
        torch.manual_seed(0)
        model = _Attention().double()
        x, y = torch.randn(16, 5, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
    loss_fn = nn.CrossEntropyLoss()
    h = _exact_hessian(model, loss_fn, x, y)
    if toy == "hardsigmoid":
        assert h.trace().item() == pytest.approx(0.636041, abs=5e-7)  # relu6(x + 3)/6, by hand
    eig = torch.linalg.eigvalsh(h)
    trace = hessian_trace(model, loss_fn, x, y, samples=1000, seed=0)
    assert abs(trace.value - h.trace().item()) < 4 * trace.stderr
    top = hessian_top_eigenvalue(model, loss_fn, x, y, tol=1e-9, max_iterations=1000)
    assert top.value == pytest.approx(eig[eig.abs().argmax()].item(), rel=1e-3)
    with torch.no_grad():  # first-order values: Hardsigmoid bit-identical, math attention to rounding
        plain = model(x)
        with twice_differentiable():
            torch.testing.assert_close(
                model(x),
                plain,
                rtol=0 if toy == "hardsigmoid" else 1e-12,
                atol=0 if toy == "hardsigmoid" else 1e-14,
            )


def _one_per_builder() -> list[str]:
    """One registry architecture per builder, family and choice of layer (string or boolean arguments such
    as ``cell: gru``): variants that differ only in depth or width share their operations."""
    seen: dict[tuple, str] = {}
    for key, arch in _REG.architectures.items():
        choices = tuple(sorted((k, v) for k, v in arch.kwargs.items() if isinstance(v, str | bool)))
        seen.setdefault((arch.builder, arch.family, choices), key)
    return sorted(seen.values())


class _Bound(nn.Module):
    """A graph network with its edges bound, so it takes node features alone like every other network."""

    def __init__(self, net: nn.Module, edges: torch.Tensor) -> None:
        super().__init__()
        self.net, self.edges = net, edges

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.edges)


@pytest.mark.parametrize("key", _one_per_builder())
def test_every_architecture_has_curvature_fisher_and_a_landscape_point(key: str):
    """hessian_trace, hessian_top_eigenvalue, fisher_trace and a loss-grid point for every kind of network
    in the registry, at its tiny size on the CPU."""
    arch = _REG.architectures[key]
    dataset = _REG.datasets[
        {"image": "digits", "vector": "blobs", "sequence": "char_corpus", "graph": "sbm_graph"}[arch.input]
    ]
    torch.manual_seed(0)
    model = build_architecture(arch, dataset, "tiny")
    shape = plan_adaptation(dataset, arch, "tiny").shape
    if arch.input == "sequence":
        x = torch.randint(0, dataset.vocab_size, (2, *shape))
    elif arch.input == "graph":
        x = torch.randn(4, *shape)
        model = _Bound(model, torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
    else:
        x = torch.randn(2, *shape)
    with torch.no_grad():
        logits = model.eval()(x)
    y = torch.randint(0, logits.shape[-1], logits.shape[:1])
    loss_fn = nn.CrossEntropyLoss()
    assert np.isfinite(hessian_trace(model, loss_fn, x, y, samples=2).value)
    assert np.isfinite(hessian_top_eigenvalue(model, loss_fn, x, y, max_iterations=2).value)
    if arch.input != "graph":  # a per-example Fisher needs independent examples; a graph's nodes are not
        fisher = fisher_trace(model, x)
        assert np.isfinite(fisher.value) and fisher.value >= 0
    d1, d2 = filter_normalized_direction(model, 1), filter_normalized_direction(model, 2)
    grid = loss_grid(model, nn.CrossEntropyLoss(reduction="none"), x, y, d1, d2, resolution=3)
    assert grid.loss[1, 1] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)


# ---- the Fisher information within a memory budget ---------------------------------------------------


def _fisher_by_loops(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Σ_y p(y|x) (∂ log p(y|x)/∂θ)², averaged over inputs, one autograd call per (input, label)."""
    params = [p for p in model.parameters()]
    diag = [torch.zeros_like(p) for p in params]
    model.eval()
    for xi in x:
        logp = torch.log_softmax(model(xi[None])[0], dim=-1)
        for c in range(len(logp)):
            grads = torch.autograd.grad(logp[c], params, retain_graph=True)
            for d, g in zip(diag, grads, strict=True):
                d += logp[c].exp().detach() * g**2
    return {n: d / len(x) for (n, _), d in zip(model.named_parameters(), diag, strict=True)}


def test_fisher_equals_the_loop_reference_at_every_chunking():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5)
    ).double()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
    x = torch.randn(9, 2, 6, 6, dtype=torch.float64)
    reference = _fisher_by_loops(model, x)
    pair = 3 * sum(p.numel() * 8 for p in model.parameters()) + _saved_bytes_per_input(model.eval(), x)
    chunks = set()
    for budget in (1.0, 40 * pair / 2**30, 3.5 * pair / 2**30, 1.5 * pair / 2**30):
        fisher = fisher_information(model, x, memory_budget_gib=budget)
        chunks.add(fisher.chunk)
        for n, ref in reference.items():
            torch.testing.assert_close(fisher.diagonal[n], ref, rtol=1e-12, atol=1e-15)
    # all at once, several inputs with all their labels, labels split, one pair at a time
    assert {(9, 5), (1, 3), (1, 1)} <= chunks and any(1 < b < 9 and k == 5 for b, k in chunks), chunks
    with pytest.raises(ValueError, match="raise fisher_memory_gib"):
        fisher_information(model, x, memory_budget_gib=0.5 * pair / 2**30)


def test_fisher_stays_within_its_memory_budget():
    """A network whose per-example Jacobians for the batch would take 2.4 GB is computed within 32 MiB
    (peak resident memory of a fresh process, measured around the call) and equals the loop reference."""
    script = textwrap.dedent(
        """
        import json, sys
        import psutil, torch
        from torch import nn
        from harness.measurements.curvature import fisher_information
        torch.manual_seed(0)
        torch.set_num_threads(1)
        fisher_information(nn.Linear(3, 2), torch.randn(2, 3))  # load what the first call loads
        model = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 64))
        x = torch.randn(32, 512)
        before = psutil.Process().memory_info().rss
        fisher = fisher_information(model, x, memory_budget_gib=1 / 32)
        # VmHWM: this program's peak resident set (ru_maxrss would carry the parent's over fork + exec)
        status = open("/proc/self/status").read()
        peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
        torch.save({n: d for n, d in fisher.diagonal.items()}, sys.argv[1])
        print(json.dumps({"extra": peak - before, "chunk": fisher.chunk}))
        """
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", script, f"{tmp}/diag.pt"], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        diagonal = torch.load(f"{tmp}/diag.pt")
    params = 512 * 512 + 512 + 512 * 64 + 64
    unchunked = 32 * 64 * params * 4
    assert unchunked > 2.3e9
    assert result["extra"] <= 2**30 / 32, result
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 64))
    x = torch.randn(32, 512)
    reference = _fisher_by_loops(model, x[:4])
    partial = fisher_information(model, x[:4], memory_budget_gib=1 / 32).diagonal
    for n, ref in reference.items():
        torch.testing.assert_close(partial[n], ref, rtol=1e-4, atol=1e-9)
    assert all(torch.isfinite(d).all() for d in diagonal.values())


def test_monte_carlo_fisher_is_unbiased_and_its_standard_error_covers():
    """Seeded simulation: over 200 label draws, the Monte-Carlo trace averages to the exact one and the
    exact value lies within ±1.96 of its label-sampling standard errors about 95% of the time."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4)).double()
    x = torch.randn(12, 3, dtype=torch.float64)
    exact = fisher_information(model, x)
    assert exact.label_sampling_stderr == 0.0 and exact.trace_stderr > 0
    values, covered = [], 0
    for seed in range(200):
        mc = fisher_information(model, x, estimator="monte_carlo", labels_per_input=4, seed=seed)
        values.append(mc.trace)
        covered += abs(mc.trace - exact.trace) <= 1.96 * mc.label_sampling_stderr
    spread = np.std(values, ddof=1)
    assert abs(np.mean(values) - exact.trace) < 4 * spread / np.sqrt(len(values))
    assert 0.89 <= covered / 200 <= 0.99, covered
    one = fisher_information(model, x, estimator="monte_carlo", labels_per_input=1, seed=0)
    assert np.isnan(one.label_sampling_stderr) and one.trace_stderr > 0
    with pytest.raises(ValueError, match="estimator"):
        fisher_information(model, x, estimator="empirical")  # type: ignore[arg-type]


def test_convolutional_networks_go_channels_last_on_cuda_only():
    from harness.training.device import preferred_memory_format

    ds = _REG.datasets["cifar100"]
    torch.manual_seed(0)
    resnet = build_architecture(_REG.architectures["resnet18"], ds, "tiny").eval()
    vit = build_architecture(_REG.architectures["vit_small"], ds, "tiny").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = resnet(x)
    assert preferred_memory_format(resnet, torch.device("cpu")) is resnet
    assert all(m.weight.is_contiguous() for m in resnet.modules() if isinstance(m, nn.Conv2d))
    converted = preferred_memory_format(resnet, torch.device("cuda"))  # the layout alone, on CPU tensors
    convs = [m.weight for m in converted.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs if w.shape[-1] > 1)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), before, rtol=1e-5, atol=1e-6)
    vit_convs = [
        m.weight
        for m in preferred_memory_format(vit, torch.device("cuda")).modules()
        if isinstance(m, nn.Conv2d)
    ]
    assert vit_convs and all(not w.is_contiguous(memory_format=torch.channels_last) for w in vit_convs)
