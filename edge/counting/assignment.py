"""Minimum-cost assignment (Hungarian method) for the tracker's small cost matrices.

A few dozen faces per frame at most, so an O(n^3) pure-Python solver is fast enough and
saves the node a SciPy dependency (about 40 MB on a Raspberry Pi) for one function.
"""

from __future__ import annotations

import math

import numpy as np

from edge.types import FloatArray


def assign(cost: FloatArray, max_cost: float) -> list[tuple[int, int]]:
    """Row-column pairs of least total cost; pairs costing more than ``max_cost`` are dropped.

    Forbidden pairs carry ``inf`` (or any cost above ``max_cost``).
    """
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return []
    n = max(rows, cols)
    big = 1e6
    square = np.full((n, n), big, dtype=np.float64)
    clipped = np.where(np.isfinite(cost) & (cost <= max_cost), cost, big)
    square[:rows, :cols] = clipped
    p = _hungarian(square.tolist(), n)
    pairs = []
    for j in range(1, n + 1):
        r, c = p[j] - 1, j - 1
        if r < rows and c < cols and clipped[r, c] < big:
            pairs.append((r, c))
    return sorted(pairs)


def _hungarian(a: list[list[float]], n: int) -> list[int]:
    """e-maxx formulation on a square matrix: p[j] = 1-based row matched to column j."""
    u = [0.0] * (n + 1)
    v = [0.0] * (n + 1)
    p = [0] * (n + 1)
    way = [0] * (n + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [math.inf] * (n + 1)
        used = [False] * (n + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], math.inf, 0
            row = a[i0 - 1]
            for j in range(1, n + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    return p
