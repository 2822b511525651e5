"""Persistent homology of the sublevel-set filtration of a 2-D loss grid, two ways, and the basin barrier.

Constructions (``persistence_diagrams(grid, construction)``):
- ``ripser-freudenthal``: Ripser on the grid graph with 4-neighbours plus one diagonal per square
  (Freudenthal triangulation). A lower-star filtration: each vertex enters at its loss, each edge at
  the larger of its endpoints' losses (a sparse distance matrix whose diagonal holds the vertex values);
  Ripser's clique complex adds the two triangles of every square, so H1 counts loops that enclose a
  region of higher loss.
- ``ripser-8``: the same with both diagonals (8-neighbours): every square becomes a 4-clique.
- ``cubical-vertex``: GUDHI cubical complex with the losses on the vertices (a cell enters at the max of
  its vertices); 4-connected in H0.
- ``cubical-top``: GUDHI cubical complex with the losses on the top-dimensional cells (pixels), which
  are 8-connected through shared corners.
Ripser stores values as float32, so compare constructions after rounding the grid to float32.
Diagrams are {0: (n, 2), 1: (m, 2)} arrays of (birth, death); essential classes (the global minimum's
H0 class) have death ``inf``. Summaries skip infinite bars.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

version = 1

Construction = Literal["ripser-freudenthal", "ripser-8", "cubical-vertex", "cubical-top"]
CONSTRUCTIONS: tuple[str, ...] = ("ripser-freudenthal", "ripser-8", "cubical-vertex", "cubical-top")


def grid_edges(shape: tuple[int, int], connectivity: Literal[4, 6, 8]) -> np.ndarray:
    """Edges (E, 2) of flat vertex indices of a rows × cols grid: 4-neighbours, plus the (i, j)–(i+1, j+1)
    diagonal (6, Freudenthal), plus the other diagonal too (8)."""
    rows, cols = shape
    idx = np.arange(rows * cols).reshape(rows, cols)
    pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])]
    if connectivity in (6, 8):
        pairs.append((idx[:-1, :-1], idx[1:, 1:]))
    if connectivity == 8:
        pairs.append((idx[:-1, 1:], idx[1:, :-1]))
    return np.concatenate([np.stack([a.ravel(), b.ravel()], axis=1) for a, b in pairs])


def _ripser_lower_star(grid: np.ndarray, connectivity: Literal[4, 6, 8]) -> dict[int, np.ndarray]:
    from ripser import ripser
    from scipy import sparse

    values = grid.ravel().astype(np.float64)
    edges = grid_edges(grid.shape, connectivity)
    weights = np.maximum(values[edges[:, 0]], values[edges[:, 1]])
    n = len(values)
    rows = np.r_[np.arange(n), edges[:, 0]]
    cols = np.r_[np.arange(n), edges[:, 1]]
    matrix = sparse.coo_matrix((np.r_[values, weights], (rows, cols)), shape=(n, n)).tocsr()
    dgms = ripser(matrix, distance_matrix=True, maxdim=1)["dgms"]
    return {0: np.asarray(dgms[0], dtype=np.float64), 1: np.asarray(dgms[1], dtype=np.float64)}


def _gudhi_cubical(grid: np.ndarray, on: Literal["vertices", "top"]) -> dict[int, np.ndarray]:
    import gudhi

    if on == "vertices":
        complex_ = gudhi.CubicalComplex(vertices=grid)
    else:
        complex_ = gudhi.CubicalComplex(top_dimensional_cells=grid)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0)
    out = {}
    for dim in (0, 1):
        pairs = complex_.persistence_intervals_in_dimension(dim)
        out[dim] = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
    return out


def persistence_diagrams(grid: np.ndarray, construction: Construction) -> dict[int, np.ndarray]:
    """H0 and H1 diagrams of the sublevel-set filtration of ``grid`` (see the module docstring)."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2 or not np.isfinite(grid).all():
        raise ValueError("expected a finite 2-D grid")
    if construction == "ripser-freudenthal":
        dgms = _ripser_lower_star(grid, 6)
    elif construction == "ripser-8":
        dgms = _ripser_lower_star(grid, 8)
    elif construction == "cubical-vertex":
        dgms = _gudhi_cubical(grid, "vertices")
    elif construction == "cubical-top":
        dgms = _gudhi_cubical(grid, "top")
    else:
        raise ValueError(f"construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    # zero-length bars carry no information and differ between the two libraries' conventions
    return {d: dg[dg[:, 1] > dg[:, 0]] for d, dg in dgms.items()}


def persistence_summary(diagram: np.ndarray, noise_threshold: float) -> dict[str, float]:
    """Finite-bar summaries of one diagram: total persistence Σ(death − birth), maximum persistence,
    the number of bars longer than ``noise_threshold``, and persistence entropy
    −Σ (ℓ_i/L) ln(ℓ_i/L) in nats (Atienza et al. 2019); ``essential`` counts the infinite bars."""
    finite = diagram[np.isfinite(diagram[:, 1])]
    lengths = finite[:, 1] - finite[:, 0]
    total = float(lengths.sum())
    share = lengths[lengths > 0] / total if total > 0 else np.array([])
    return {
        "total_persistence": total,
        "max_persistence": float(lengths.max()) if len(lengths) else 0.0,
        "n_above_threshold": int((lengths > noise_threshold).sum()),
        "entropy": float(-(share * np.log(share)).sum()),
        "essential": int((~np.isfinite(diagram[:, 1])).sum()),
    }


def basin_barrier(grid: np.ndarray) -> float:
    """How far the loss must rise to leave the centre's basin within the slice: the lowest level at which
    a 4-connected path from the grid centre reaches the boundary (min over paths of the max loss along
    it), minus L(centre). Union-find over vertices added in increasing loss, the boundary one extra node."""
    grid = np.asarray(grid, dtype=np.float64)
    rows, cols = grid.shape
    centre = (rows // 2) * cols + cols // 2
    boundary = rows * cols
    parent = np.arange(rows * cols + 1)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    added = np.zeros(rows * cols, dtype=bool)
    for flat in np.argsort(grid.ravel(), kind="stable"):
        i, j = divmod(int(flat), cols)
        added[flat] = True
        if i in (0, rows - 1) or j in (0, cols - 1):
            parent[find(flat)] = find(boundary)
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            ni, nj = i + di, j + dj
            if 0 <= ni < rows and 0 <= nj < cols and added[ni * cols + nj]:
                parent[find(flat)] = find(ni * cols + nj)
        if added[centre] and find(centre) == find(boundary):
            return float(grid[i, j] - grid.ravel()[centre])
    raise AssertionError("unreachable: every vertex is eventually joined to the boundary")


def bottleneck_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bottleneck distance between two diagrams of one dimension (GUDHI for the finite bars).

    Essential (infinite) bars can only match each other: with equal counts they are paired in order
    of birth and contribute |Δbirth|; unequal counts give ``inf``.
    """
    import gudhi

    fin_a, fin_b = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    finite = float(gudhi.bottleneck_distance(fin_a, fin_b, 0.0))  # e = 0: the exact distance
    ess_a, ess_b = np.sort(a[~np.isfinite(a[:, 1]), 0]), np.sort(b[~np.isfinite(b[:, 1]), 0])
    if len(ess_a) != len(ess_b):
        return float("inf")
    essential = float(np.abs(ess_a - ess_b).max()) if len(ess_a) else 0.0
    return max(finite, essential)
