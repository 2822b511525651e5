"""PERSIST measurements against analytic cases and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian

from harness.measurements.curvature import (
    fisher_chunk,
    fisher_information,
    fisher_trace,
    hessian_top_eigenvalue,
    hessian_trace,
    twice_differentiable,
)
from harness.measurements.landscape import direction_cosine, filter_normalized_direction, grid_axis, loss_grid
from harness.measurements.topology import (
    CONSTRUCTIONS,
    _ripser_lower_star,
    basin_barrier,
    persistence_diagrams,
    persistence_summary,
)


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))


# ---- directions and grids ---------------------------------------------------------------------


def test_filter_normalization_matches_weight_norms_and_zeroes_biases_and_bn():
    model = _cnn()
    d = filter_normalized_direction(model, seed=1)
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
    assert torch.equal(filter_normalized_direction(model, 1, ignore="none")["1.weight"], model[1].weight)


def test_slices_are_independent_and_reproducible():
    model = _cnn()
    a, b, c = (filter_normalized_direction(model, s) for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])
    assert abs(direction_cosine(a, c)) < 0.3 and direction_cosine(a, b) == pytest.approx(1.0)


def test_batched_grid_equals_point_loop_and_leaves_the_model_alone():
    model = _cnn()
    x, y = torch.randn(40, 1, 8, 8), torch.randint(0, 3, (40,))
    d1, d2 = filter_normalized_direction(model, 1), filter_normalized_direction(model, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    loop = loss_grid(model, loss_fn, x, y, d1, d2, resolution=5)
    batched = loss_grid(model, loss_fn, x, y, d1, d2, resolution=5, points_per_batch=7, batch_size=16)
    np.testing.assert_allclose(batched.loss, loop.loss, rtol=1e-5)
    np.testing.assert_allclose(batched.stderr, loop.stderr, rtol=1e-4)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    with torch.no_grad():
        per_sample = loss_fn(model(x), y).double()
    assert loop.loss[2, 2] == pytest.approx(per_sample.mean().item(), rel=1e-6)  # the centre is θ itself
    assert loop.stderr[2, 2] == pytest.approx((per_sample.std() / np.sqrt(40)).item(), rel=1e-5)


@pytest.mark.parametrize("resolution", [3, 4, 21, 50, 51])
def test_every_grid_contains_the_trained_weights_at_its_centre(resolution: int):
    # linspace(-1, 1, 50) has no 0: its "centre" (index 25) is +0.0204, so the plan's 50 x 50 grid missed θ
    axis = grid_axis(resolution, 2.0)
    centre = resolution // 2
    assert axis[centre] == 0.0 and axis[0] == -2.0 and len(axis) == resolution
    np.testing.assert_allclose(np.diff(axis), np.diff(axis)[0])  # evenly spaced
    assert axis[-1] == (2.0 if resolution % 2 else 2.0 - 2.0 / (resolution // 2))
    model = _cnn()
    x, y = torch.randn(30, 1, 8, 8), torch.randint(0, 3, (30,))
    d1, d2 = filter_normalized_direction(model, 1), filter_normalized_direction(model, 2)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    if resolution <= 4:
        grid = loss_grid(model, loss_fn, x, y, d1, d2, resolution=resolution, span=2.0)
        model.eval()
        with torch.no_grad():
            assert grid.loss[centre, centre] == loss_fn(model(x), y).double().mean().item()
    # a sharp bowl L = 1.1 (α² + β²) / span²: the barrier is measured from θ (L = 0), out to the nearest edge
    a, b = np.meshgrid(axis, axis, indexing="ij")
    bowl = 1.1 * (a**2 + b**2) / 4.0
    assert bowl[centre, centre] == 0.0
    assert basin_barrier(bowl) == pytest.approx(1.1 * min(axis[0] ** 2, axis[-1] ** 2) / 4.0)
    with pytest.raises(ValueError, match="resolution >= 3"):
        grid_axis(2)


def test_grid_resumes_from_the_points_already_computed():
    model = _cnn()
    x, y = torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,))
    d1, d2 = filter_normalized_direction(model, 1), filter_normalized_direction(model, 2)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    full = loss_grid(model, loss_fn, x, y, d1, d2, resolution=4)
    partial = type(full)(full.loss.copy(), full.stderr.copy())
    partial.loss[2:], partial.stderr[2:] = np.nan, np.nan
    computed = []
    resumed = loss_grid(
        model,
        loss_fn,
        x,
        y,
        d1,
        d2,
        resolution=4,
        done=partial,
        on_point=lambda i, j, m, e: computed.append((i, j)),
    )
    assert computed == [(i, j) for i in (2, 3) for j in range(4)]
    np.testing.assert_allclose(resumed.loss, full.loss)


# ---- topology ----------------------------------------------------------------------------------

_AXIS = np.linspace(-1, 1, 21)
_X, _Y = np.meshgrid(_AXIS, _AXIS, indexing="ij")


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_bowl_has_one_component_and_no_loop(construction: str):
    dgms = persistence_diagrams(_X**2 + _Y**2, construction)
    assert dgms[0].tolist() == [[0.0, np.inf]] and len(dgms[1]) == 0


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_two_basins_merge_at_the_saddle(construction: str):
    grid = np.minimum((_X - 0.5) ** 2 + _Y**2, (_X + 0.5) ** 2 + _Y**2 + 0.1)
    dgms = persistence_diagrams(grid, construction)
    finite = dgms[0][np.isfinite(dgms[0][:, 1])]
    # born at the shallower minimum (0.1); dies where it first touches the deeper basin: the grid
    # neighbours (0, 0) and (-0.1, 0) have losses 0.25 and 0.26, so the merge is at 0.26
    assert finite.shape == (1, 2)
    np.testing.assert_allclose(finite[0], [0.1, 0.26], rtol=1e-6)
    assert len(dgms[1]) == 0


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_ring_valley_has_one_loop(construction: str):
    grid = (np.sqrt(_X**2 + _Y**2) - 0.6) ** 2
    dgms = persistence_diagrams(grid, construction)
    assert len(dgms[1]) == 1
    assert dgms[1][0, 1] == pytest.approx(0.36, rel=1e-6)  # the loop fills in at the centre's loss


def _sorted(dgm: np.ndarray) -> np.ndarray:
    return np.array(sorted(map(tuple, dgm))).reshape(-1, 2)


@pytest.mark.parametrize("seed", range(10))
def test_ripser_and_cubical_identities_on_random_float32_grids(seed: int):
    grid = np.random.default_rng(seed).random((15, 13)).astype(np.float32).astype(np.float64)
    rips8, top = persistence_diagrams(grid, "ripser-8"), persistence_diagrams(grid, "cubical-top")
    for dim in (0, 1):
        np.testing.assert_array_equal(_sorted(rips8[dim]), _sorted(top[dim]))
    rips4 = _ripser_lower_star(grid, 4)[0]
    rips4 = rips4[rips4[:, 1] > rips4[:, 0]]
    np.testing.assert_array_equal(_sorted(rips4), _sorted(persistence_diagrams(grid, "cubical-vertex")[0]))


def test_persistence_summary_by_hand():
    dgm = np.array([[0.0, np.inf], [1.0, 3.0], [2.0, 2.5]])
    s = persistence_summary(dgm, noise_threshold=1.0)
    assert s["total_persistence"] == 2.5 and s["max_persistence"] == 2.0 and s["n_above_threshold"] == 1
    assert s["essential"] == 1
    p = np.array([2.0, 0.5]) / 2.5
    assert s["entropy"] == pytest.approx(-(p * np.log(p)).sum())


def test_basin_barrier_on_a_bowl_and_a_walled_basin():
    assert basin_barrier(_X**2 + _Y**2) == pytest.approx(1.0)  # lowest boundary point minus the centre
    grid = np.array(
        [[9, 9, 9, 9, 9], [9, 5, 5, 5, 9], [9, 5, 0, 5, 9], [9, 5, 5, 5, 9], [9, 9, 3, 9, 9]], float
    )
    assert basin_barrier(grid) == 5.0  # over the wall at 5, out through the gap at 3
    grid[3, 2] = 2.0
    assert basin_barrier(grid) == 3.0  # a lower wall: the gap itself is the highest point of the way out


# ---- curvature ---------------------------------------------------------------------------------


def _exact_hessian(model: nn.Module, loss_fn, x, y) -> torch.Tensor:
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss_of(v: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for n, s in zip(names, shapes, strict=True):
            k = int(np.prod(s))
            params[n] = v[offset : offset + k].view(s)
            offset += k
        return loss_fn(functional_call(model, params, (x,)), y)

    with twice_differentiable():  # every architecture: math attention, Hardsigmoid as relu6(x + 3)/6
        return hessian(loss_of)(flat)


def test_hessian_trace_and_top_eigenvalue_match_the_exact_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 3, (40,))
    loss_fn = nn.CrossEntropyLoss()
    h = _exact_hessian(model, loss_fn, x, y)
    eig = torch.linalg.eigvalsh(h)
    trace = hessian_trace(model, loss_fn, x, y, samples=2000, seed=0)
    assert trace.value == pytest.approx(h.trace().item(), rel=0.05)
    assert trace.stderr > 0 and abs(trace.value - h.trace().item()) < 4 * trace.stderr
    top = hessian_top_eigenvalue(model, loss_fn, x, y, tol=1e-8)
    assert top.value == pytest.approx(eig[eig.abs().argmax()].item(), rel=0.01) and top.iterations > 1


def test_fisher_trace_matches_the_closed_form_for_logistic_regression():
    torch.manual_seed(0)
    model = nn.Linear(3, 4).double()
    x = torch.randn(30, 3, dtype=torch.float64)
    p = torch.softmax(model(x), dim=1).detach()
    # ∂ log p_y / ∂W_k = (1[k=y] − p_k)·x and ∂/∂b_k = 1[k=y] − p_k, so
    # Σ_y p_y ‖∇ log p_y‖² = (‖x‖² + 1) Σ_y p_y Σ_k (1[k=y] − p_k)² = (‖x‖² + 1)(1 − Σ_k p_k²)
    expected = (((x**2).sum(1) + 1) * (1 - (p**2).sum(1))).mean().item()
    assert fisher_trace(model, x).value == pytest.approx(expected, rel=1e-10)
    # a budget of 3.5 (input, label) pairs (3 × 16 float64 parameters + one input's 3 saved values):
    # one input and 3 of its 4 labels per step, the same value
    tiny = 3.5 * (3 * 16 * 8 + 3 * 8) / 2**30
    assert fisher_chunk(model, x, 4, tiny * 2**30) == (1, 3)
    assert fisher_trace(model, x, memory_budget_gib=tiny).value == pytest.approx(expected, rel=1e-10)


def test_fisher_diagonal_sums_to_the_trace_and_ewc_gradient_is_lambda_f_delta():
    from harness.measurements.curvature import EWCPenalty, fisher_diagonal

    torch.manual_seed(0)
    model = nn.Linear(3, 4).double()
    x = torch.randn(30, 3, dtype=torch.float64)
    diag = fisher_diagonal(model, x)
    p = torch.softmax(model(x), dim=1).detach()
    # diagonal for W[k, j]: E_x Σ_y p_y (1[k=y] − p_k)² x_j² = E_x p_k(1 − p_k) x_j²
    expected_w = ((p * (1 - p))[:, :, None] * (x**2)[:, None, :]).mean(0)
    torch.testing.assert_close(diag["weight"], expected_w)
    torch.testing.assert_close(diag["bias"], (p * (1 - p)).mean(0))
    anchor = {n: q.detach().clone() for n, q in model.named_parameters()}
    with torch.no_grad():
        for q in model.parameters():
            q.add_(0.1 * torch.randn_like(q))
    penalty = EWCPenalty(diag, anchor, lam=3.0)
    value = penalty(model)
    grads = torch.autograd.grad(value, list(model.parameters()))
    for (n, q), g in zip(model.named_parameters(), grads, strict=True):
        torch.testing.assert_close(g, 3.0 * diag[n] * (q - anchor[n]))
    assert value.item() == pytest.approx(
        1.5 * sum((diag[n] * (q - anchor[n]) ** 2).sum().item() for n, q in model.named_parameters())
    )


def test_retention_metrics_on_a_hand_made_curve():
    from harness.measurements.forgetting import early_aurc, forgetting, max_drop, retention

    curve = {0: 0.8, 10: 0.6, 25: 0.4, 50: 0.5, 100: 0.2}
    assert retention(curve, 10) == pytest.approx(0.75) and retention(curve, 100) == pytest.approx(0.25)
    # trapezoid of ret = acc/0.8 over 0, 10, 25, 50 then / 50
    area = (10 * (1 + 0.75) / 2) + (15 * (0.75 + 0.5) / 2) + (25 * (0.5 + 0.625) / 2)
    assert early_aurc(curve, 50) == pytest.approx(area / 50)
    assert forgetting(curve) == pytest.approx(0.6) and max_drop(curve) == pytest.approx(0.6)
    assert max_drop({0: 0.8, 10: 0.3, 20: 0.9}) == pytest.approx(0.5)  # the worst moment, not the end
    assert forgetting({0: 0.8, 10: 0.3, 20: 0.9}) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="step 0"):
        forgetting({10: 0.5})
    with pytest.raises(ValueError, match="horizon"):
        early_aurc(curve, 40)


class _Quadratic(nn.Module):
    """θ ∈ R² whose loss ½θᵀHθ has the Hessian H; the inputs are ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([0.3, -0.7], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.theta


@pytest.mark.parametrize(
    ("diagonal", "converges"), [((2.0, -2.0), False), ((3.0, -2.0), True), ((-3.0, 1.0), True)]
)
def test_power_iteration_is_not_fooled_by_eigenvalues_of_opposite_signs(diagonal, converges):
    """H = diag(2, −2): the Rayleigh quotient stays at 1.86 while the iterate flips; the largest magnitude
    is 2 and no eigenvector is singled out, so the answer is ±2, reported as not converged."""
    h = torch.tensor(diagonal, dtype=torch.float64)

    def loss_fn(theta, _):
        return 0.5 * (h * theta**2).sum()

    x, y = torch.zeros(1, 1), torch.zeros(1)
    top = hessian_top_eigenvalue(_Quadratic(), loss_fn, x, y, tol=1e-8, max_iterations=200)
    largest = max(diagonal, key=abs)
    assert abs(top.value) == pytest.approx(abs(largest), rel=1e-7)
    assert top.converged is converges and (top.residual**2 <= 1e-8) is converges
    if converges:
        assert top.value == pytest.approx(largest, rel=1e-7) and top.iterations < 200
    else:
        assert top.iterations == 200 and top.residual > 0.1


def test_hessian_of_a_model_with_an_unused_parameter():
    """A spare Linear(6, 10) the loss never touches: its curvature is 0 and the used part is unchanged."""
    torch.manual_seed(0)
    used = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()

    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = used
            self.spare = nn.Linear(6, 10).double()

        def forward(self, x):
            return self.net(x)

    x, y = torch.randn(30, 4, dtype=torch.float64), torch.randint(0, 3, (30,))
    loss_fn = nn.CrossEntropyLoss()
    exact = _exact_hessian(used, loss_fn, x, y)
    model = WithSpare()
    trace = hessian_trace(model, loss_fn, x, y, samples=2000, seed=0)
    assert abs(trace.value - exact.trace().item()) < 4 * trace.stderr
    eig = torch.linalg.eigvalsh(exact)
    top = hessian_top_eigenvalue(model, loss_fn, x, y, tol=1e-8, max_iterations=2000)
    assert top.converged and top.value == pytest.approx(eig[eig.abs().argmax()].item(), rel=1e-6)
    fisher = fisher_information(model, x[:8])  # the spare gets zero Fisher; the rest equals the used model's
    torch.testing.assert_close(fisher.diagonal["spare.weight"], torch.zeros(10, 6, dtype=torch.float64))
    reference = fisher_information(used, x[:8]).diagonal
    for n, d in reference.items():
        torch.testing.assert_close(fisher.diagonal[f"net.{n}"], d)
    mc = fisher_information(model, x[:8], estimator="monte_carlo", labels_per_input=3)
    assert mc.diagonal["spare.bias"].abs().sum() == 0
