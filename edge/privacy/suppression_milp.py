"""Optimal complementary suppression as a mixed-integer program (scipy.optimize.milp / HiGHS).

The model is the classical compact cell-suppression formulation (Fischetti & Salazar, the
one behind tau-ARGUS's optimal method), specialised to a sliding protection range:

- ``z_c`` in {0, 1} for every candidate cell c (non-zero, not primary): 1 = withhold it.
- For every primary cell i, two alternative tables ``x + u`` and ``x + d`` that an attacker
  could not rule out: ``A u = A d = 0`` (the table's equations hold), a published cell does
  not move (``-x_c z_c <= u_c <= U z_c``, same for d: a withheld cell may fall to 0 and rise
  by at most U), and ``u_i - d_i >= p``.
- Minimise the summed weight of the withheld candidates.

So a feasible choice is exactly one in which every primary cell's interval, over all
non-negative tables that agree with the published cells and the equations, is at least p
wide (the bound U only shrinks the attacker's set, so it errs on the safe side). The
solution's own ``u, d`` are a certificate of each width, checked here with numpy; a
withheld candidate that no certificate moves protects nothing and is published again.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

FloatArray = npt.NDArray[np.float64]
TOL = 1e-6


class SolverFailed(Exception):
    """The MILP gave no usable answer (infeasible, out of time, or a bad certificate)."""


@dataclass(frozen=True, slots=True)
class MilpAnswer:
    withheld: frozenset[int]
    proven_optimal: bool


def complete(
    constraints: npt.NDArray[np.int8], values: FloatArray, unknown: list[int]
) -> FloatArray:
    """A non-negative table that keeps the known values and satisfies the equations.

    The unknown cells are made as even as the equations allow (the least of them as large as
    possible), so that the certificates, which move cells relative to this table, are not
    hemmed in by an unknown cell sitting at 0 only because an LP vertex put it there.
    """
    if not unknown:
        return values
    a = constraints.astype(np.float64)
    known = np.ones(len(values), dtype=bool)
    known[unknown] = False
    rhs = -(a[:, known] @ values[known])
    n = len(unknown)
    # Variables: the unknown cells, then t; maximise t subject to every unknown cell >= t.
    res = linprog(
        np.concatenate([np.zeros(n), [-1.0]]),
        A_ub=np.hstack([-np.eye(n), np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.hstack([a[:, unknown], np.zeros((a.shape[0], 1))]),
        b_eq=rhs,
        bounds=[(0, None)] * n + [(0, float(np.abs(values).sum()) + 1)],
        method="highs",
    )
    if res.status != 0 or res.x is None:
        raise SolverFailed("the known cells admit no non-negative completion")
    out = values.copy()
    out[unknown] = res.x[:n]
    return out


def solve(
    constraints: npt.NDArray[np.int8],
    x: FloatArray,
    *,
    primary: list[int],
    candidates: list[int],
    weights: FloatArray,
    reach: float,
    time_limit_s: float,
) -> MilpAnswer:
    """Cheapest set of candidates under which every primary cell could hold ``reach`` or more."""
    support = sorted({*primary, *candidates})
    pos = {cell: s for s, cell in enumerate(support)}
    sub = constraints[:, support]
    a = sparse.csr_array(sub.astype(np.float64))
    guarded = _representatives(sub, [pos[i] for i in primary])
    n_s, n_c, blocks = len(support), len(candidates), len(guarded)
    # Raising cell i by p never needs another cell to move by more than p when the equations
    # are a network (conformal circuits have 0/+-1 entries), so this box loses nothing there;
    # elsewhere it only shrinks the attacker's set, which errs on the safe side.
    raise_by = {s: max(1.0, reach - x[support[s]]) for s in guarded}
    big = max(raise_by.values())
    down = np.minimum(x[support], big)

    eye_blocks = sparse.identity(blocks, format="csr")
    rows = [
        sparse.hstack([sparse.csr_array((blocks * a.shape[0], n_c)), sparse.kron(eye_blocks, a)])
    ]
    lower = [np.zeros(rows[0].shape[0])]
    upper = [np.zeros(rows[0].shape[0])]
    if n_c:
        # Linking: a candidate moves only if it is withheld.
        pick = sparse.csr_array(
            (np.ones(n_c), (np.arange(n_c), [pos[c] for c in candidates])), shape=(n_c, n_s)
        )
        y_pick = sparse.kron(eye_blocks, pick)
        tile = sparse.vstack([sparse.identity(n_c)] * blocks)
        x_c = np.tile(down[[pos[c] for c in candidates]], blocks)
        rows.append(sparse.hstack([-big * tile, y_pick]))  # u_c - p z_c <= 0
        rows.append(
            sparse.hstack([sparse.diags_array(-x_c) @ tile, -y_pick])
        )  # -u_c - x_c z_c <= 0
        for _ in range(2):
            lower.append(np.full(blocks * n_c, -np.inf))
            upper.append(np.zeros(blocks * n_c))
    lb = np.concatenate([np.zeros(n_c), np.tile(-down, blocks)])
    ub = np.concatenate([np.ones(n_c), np.full(blocks * n_s, big)])
    for q, s in enumerate(guarded):
        lb[n_c + q * n_s + s] = raise_by[s]  # certificate q raises its primary cell to reach
    cost = np.concatenate([weights, np.zeros(blocks * n_s)])
    integrality = np.concatenate([np.ones(n_c), np.zeros(blocks * n_s)])
    # Symmetry detection costs more than it saves on these small models (measured); scipy
    # passes that HiGHS option through verbatim, so its typed options do not list it.
    options: Any = {"time_limit": time_limit_s, "mip_rel_gap": 0.0, "mip_detect_symmetry": False}
    with warnings.catch_warnings():
        # scipy warns that it passes HiGHS options it does not know verbatim; that is the point.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = milp(
            cost,
            integrality=integrality,
            bounds=Bounds(lb, ub),
            constraints=LinearConstraint(
                sparse.vstack(rows, format="csr"), np.concatenate(lower), np.concatenate(upper)
            ),
            options=options,
        )
    if res.x is None:
        raise SolverFailed(f"HiGHS status {res.status}: {res.message}")
    z = np.asarray(res.x[:n_c]) > 0.5
    ys = np.asarray(res.x[n_c:]).reshape(blocks, n_s)
    chosen = {c for c, on in zip(candidates, z, strict=True) if on}
    withheld = np.array([c in chosen or c in primary for c in support])
    _check(
        a,
        x=x[support],
        ys=ys,
        withheld=withheld,
        guarded=[(s, raise_by[s]) for s in guarded],
        big=big,
    )
    # A withheld candidate that no certificate moves protects nothing: publish it.
    moved = np.abs(ys).max(axis=0, initial=0.0) > TOL * max(1.0, big)
    kept = {c for c in chosen if moved[pos[c]]}
    return MilpAnswer(frozenset({*primary, *kept}), proven_optimal=res.status == 0)


def _representatives(sub: npt.NDArray[np.int8], primary: list[int]) -> list[int]:
    """Primary cells left after merging those that always move together.

    An equation with exactly two withheld-able cells, one on each side (``total = part``
    once the published cells are fixed), ties their deviations: a certificate for one is a
    certificate for the other.
    """
    parent = list(range(sub.shape[1]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for row in sub:
        nz = np.flatnonzero(row)
        if len(nz) == 2 and row[nz[0]] == -row[nz[1]]:
            parent[root(int(nz[0]))] = root(int(nz[1]))
    seen: dict[int, int] = {}
    for i in primary:
        seen.setdefault(root(i), i)
    return sorted(seen.values())


def _check(
    a: sparse.csr_array,
    *,
    x: FloatArray,
    ys: FloatArray,
    withheld: npt.NDArray[np.bool_],
    guarded: list[tuple[int, float]],
    big: float,
) -> None:
    """Verify the solver's alternative tables: equations, bounds, published cells, raises."""
    tol = TOL * max(1.0, big)
    if (np.abs(ys @ a.T.toarray()).max(initial=0.0) > tol) or (ys < -x - tol).any():
        raise SolverFailed("certificate breaks the equations or makes a count negative")
    if (np.abs(ys[:, ~withheld]) > tol).any():
        raise SolverFailed("certificate moves a published cell")
    for q, (s, need) in enumerate(guarded):
        if ys[q, s] < need - tol:
            raise SolverFailed(f"certificate raises a small cell by less than {need:g}")


def intervals(
    constraints: npt.NDArray[np.int8], x: FloatArray, withheld: list[int]
) -> list[tuple[float, float]]:
    """Each withheld cell's [min, max] over non-negative tables agreeing with the rest (LP)."""
    if not withheld:
        return []
    a = constraints[:, withheld].astype(np.float64)
    published = np.ones(len(x), dtype=bool)
    published[withheld] = False
    rhs = -(constraints[:, published].astype(np.float64) @ x[published])
    out = []
    for pos in range(len(withheld)):
        c = np.zeros(len(withheld))
        c[pos] = 1.0
        lo = linprog(c, A_eq=a, b_eq=rhs, bounds=(0, None), method="highs")
        hi = linprog(-c, A_eq=a, b_eq=rhs, bounds=(0, None), method="highs")
        if lo.status != 0 or lo.fun is None or hi.status not in (0, 3):
            raise SolverFailed("the published cells admit no non-negative table")
        top = np.inf if hi.status == 3 or hi.fun is None else -float(hi.fun)
        out.append((float(lo.fun), top))
    return out
