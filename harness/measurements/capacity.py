"""Memorization capacity by search over the number of samples (GENESIS).

``memorization_capacity`` finds the largest N for which ``fits(N)`` (train on N randomly labelled samples
within a fixed budget; say whether every label was fitted) succeeds: a bracket by doubling from ``n_min``
(capped at ``n_max``), then bisection of the bracket until it is ``precision`` wide. It assumes success
is monotone in N (more samples are never easier), as a memorization threshold is.

The search is a pure function of its outcomes: ``state`` is the list of (N, outcome) already measured, and
the search replays it before it trains anything new, so a killed search resumes where it stopped when the
caller saves ``state`` in ``on_step`` and passes it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def search_bound(n_min: int, n_max: int, precision: int) -> int:
    """Most trainings the search can take: bracket steps ⌈log2(n_max/n_min)⌉ + 1, then
    ⌈log2(bracket width / precision)⌉ bisections (the bracket is at most half of n_max wide)."""
    bracket = math.ceil(math.log2(n_max / n_min)) + 1
    width = max(n_max - n_max // 2, 1)
    return bracket + max(math.ceil(math.log2(width / precision)), 0)


def memorization_capacity(
    fits: Callable[[int], bool],
    n_min: int,
    n_max: int,
    precision: int,
    state: dict[str, Any] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Largest N in [n_min, n_max] with ``fits(N)`` true, to within ``precision`` samples.

    Returns ``{"n_max": N or None, "status", "bracket": [lo, hi], "trainings", "history"}``: ``status`` is
    ``"ok"`` (lo fits, hi = lo + ≤ precision does not), ``"below range"`` (n_min does not fit; n_max None),
    or ``"at least n_max"`` (n_max fits: the capacity is censored there). ``history`` lists every
    [N, fitted] in the order measured; ``trainings`` counts the calls of ``fits`` this call made.
    ``state`` (a previous return value or the dict ``on_step`` received) replays known outcomes first;
    ``on_step(state)`` is called after every new training with a JSON-serializable state.
    """
    if not (1 <= n_min <= n_max) or precision < 1:
        raise ValueError(
            f"expected 1 <= n_min <= n_max and precision >= 1; got {n_min}, {n_max}, {precision}"
        )
    known = {int(n): bool(ok) for n, ok in (state or {}).get("history", [])}
    history = [[n, ok] for n, ok in known.items()]
    trained = 0

    def outcome(n: int) -> bool:
        nonlocal trained
        if n in known:
            return known[n]
        ok = bool(fits(n))
        known[n] = ok
        history.append([n, ok])
        trained += 1
        if on_step is not None:
            on_step({"history": [list(h) for h in history]})
        return ok

    def result(n: int | None, status: str, lo: int | None, hi: int | None) -> dict[str, Any]:
        return {
            "n_max": n,
            "status": status,
            "bracket": [lo, hi],
            "trainings": trained,
            "history": history,
        }

    if not outcome(n_min):
        return result(None, "below range", None, n_min)
    lo, hi = n_min, None
    while hi is None:
        nxt = min(2 * lo, n_max)
        if nxt == lo:  # lo is n_max
            return result(n_max, "at least n_max", n_max, None)
        if outcome(nxt):
            lo = nxt
        else:
            hi = nxt
    while hi - lo > precision:
        mid = (lo + hi) // 2
        if outcome(mid):
            lo = mid
        else:
            hi = mid
    return result(lo, "ok", lo, hi)


def label_mutual_information(labels, predictions, num_classes: int | None = None) -> dict[str, float]:
    """I(Y; Ŷ) between memorized labels and a network's predictions on the same samples, in nats.

    Plug-in estimate from the joint counts, and the Miller–Madow correction of each entropy
    (H + (m − 1)/(2N), m the occupied cells) applied to I = H(Y) + H(Ŷ) − H(Y, Ŷ). Returns ``{"plugin",
    "miller_madow", "n", "label_entropy"}`` (label_entropy: the plug-in H(Y), the most I can be).
    """
    y, p = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"expected two non-empty 1-D label arrays of one length; got {y.shape}, {p.shape}")
    k = int(num_classes if num_classes is not None else max(y.max(), p.max()) + 1)
    joint = np.bincount(y * k + p, minlength=k * k).reshape(k, k).astype(float)
    n = len(y)

    def entropy(counts: np.ndarray) -> tuple[float, int]:
        q = counts[counts > 0] / n
        return float(-(q * np.log(q)).sum()), int((counts > 0).sum())

    (hy, my), (hp, mp), (hj, mj) = entropy(joint.sum(1)), entropy(joint.sum(0)), entropy(joint.ravel())
    plugin = hy + hp - hj
    correction = ((my - 1) + (mp - 1) - (mj - 1)) / (2 * n)
    return {"plugin": plugin, "miller_madow": plugin + correction, "n": n, "label_entropy": hy}
