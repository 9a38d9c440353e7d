"""Optimal complementary suppression as a mixed-integer program (HiGHS, ``edge.privacy.highs``).

The model is the compact cell-suppression formulation of Fischetti & Salazar (the one
behind tau-ARGUS's optimal method) with an upper protection requirement:

- ``z_c`` in {0, 1} for every candidate cell c (non-zero, not primary): 1 = withhold it.
- For every primary cell i with count x_i, one alternative table ``x + u`` that an
  attacker could not rule out: ``A u = 0`` (the table's equations hold), a published cell
  does not move (``-min(x_c, r) z_c <= u_c <= r z_c``: a withheld cell may fall to 0 and
  rise by r), and ``u_i = r = max(P - x_i, 1)``, so cell i could hold max(P, x_i + 1).
- Minimise the summed weight of the withheld candidates.

The box of r per alternative loses nothing when the equations are a network, as the
demographic table's are (a conformal circuit decomposition raises i by r moving no cell
by more than r); for other tables it only shrinks the attacker's set, so it errs on the
safe side. Primary cells that an equation ties one-to-one (a band holding one joint cell
and zeros) share one alternative. Rows over z alone that the model implies are added to
tighten its relaxation. The solution's alternatives are a certificate, checked here with
numpy before the answer is used; a withheld candidate that none of them moves protects
nothing and is published again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.privacy import highs

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
    n, m = len(unknown), a.shape[0]
    # Variables: the unknown cells, then t; maximise t subject to every unknown cell >= t.
    res = highs.solve(
        highs.Program(
            np.concatenate([np.zeros(n), [-1.0]]),
            np.zeros(n + 1),
            np.concatenate([np.full(n, np.inf), [float(np.abs(values).sum()) + 1]]),
            highs.Coo.dense(
                np.vstack(
                    [
                        np.hstack([-np.eye(n), np.ones((n, 1))]),
                        np.hstack([a[:, unknown], np.zeros((m, 1))]),
                    ]
                )
            ),
            np.concatenate([np.full(n, -np.inf), rhs]),
            np.concatenate([np.zeros(n), rhs]),
        )
    )
    if res.status != "optimal" or res.x is None:
        raise SolverFailed("the known cells admit no non-negative completion")
    out = values.copy()
    out[unknown] = res.x[:n]
    return out


@dataclass(frozen=True, slots=True)
class _Rows:
    """Constraint rows in coordinate form with their bounds."""

    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    vals: FloatArray
    lower: FloatArray
    upper: FloatArray


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
    guarded = _representatives(sub, [pos[i] for i in primary])
    n_s, n_c, blocks = len(support), len(candidates), len(guarded)
    # Raising cell i by r never needs another cell to move by more than r when the equations
    # are a network (conformal circuits have 0/+-1 entries), so a box of r per certificate
    # loses nothing there; elsewhere it only shrinks the attacker's set, erring on the safe side.
    need = np.array([max(1.0, reach - x[support[s]]) for s in guarded])
    down = np.minimum(x[support][None, :], need[:, None])  # (blocks, n_s)
    cpos = np.array([pos[c] for c in candidates], dtype=np.int64)
    cert = _certificate_rows(sub, cpos, need, down)
    cuts = _implied_rows(sub, guarded, cpos, need, down, first_row=len(cert.lower))
    matrix = highs.Coo(
        np.concatenate([cert.rows, cuts.rows]),
        np.concatenate([cert.cols, cuts.cols]),
        np.concatenate([cert.vals, cuts.vals]),
        (len(cert.lower) + len(cuts.lower), n_c + blocks * n_s),
    )
    lb = np.concatenate([np.zeros(n_c), -down.ravel()])
    ub = np.concatenate([np.ones(n_c), np.repeat(need, n_s)])
    for q, s in enumerate(guarded):
        lb[n_c + q * n_s + s] = need[q]  # certificate q raises its primary cell to reach
    program = highs.Program(
        np.concatenate([weights, np.zeros(blocks * n_s)]),
        lb,
        ub,
        matrix,
        np.concatenate([cert.lower, cuts.lower]),
        np.concatenate([cert.upper, cuts.upper]),
        integer=np.concatenate([np.ones(n_c, bool), np.zeros(blocks * n_s, bool)]),
    )
    solution, optimal = _run(program, time_limit_s)
    z = solution[:n_c] > 0.5
    ys = solution[n_c:].reshape(blocks, n_s)
    chosen = {c for c, on in zip(candidates, z, strict=True) if on}
    withheld = np.array([c in chosen or c in primary for c in support])
    big = float(need.max())
    _check(
        sub,
        x=x[support],
        ys=ys,
        withheld=withheld,
        guarded=list(zip(guarded, need, strict=True)),
        big=big,
    )
    # A withheld candidate that no certificate moves protects nothing: publish it.
    moved = np.abs(ys).max(axis=0, initial=0.0) > TOL * max(1.0, big)
    kept = {c for c in chosen if moved[pos[c]]}
    return MilpAnswer(frozenset({*primary, *kept}), proven_optimal=optimal)


def _certificate_rows(
    sub: npt.NDArray[np.int8], cpos: npt.NDArray[np.int64], need: FloatArray, down: FloatArray
) -> _Rows:
    """Per certificate q: the equations ``A u_q = 0``, and u_qc = 0 unless c is withheld.

    Variables: z (one per candidate), then u_q over the support for each certificate q.
    Linking: ``u_qc - r_q z_c <= 0`` and ``-u_qc - min(x_c, r_q) z_c <= 0``.
    """
    m, n_s = sub.shape
    n_c, blocks = len(cpos), len(need)
    er, ec = np.nonzero(sub)
    q_of = np.repeat(np.arange(blocks), len(er))
    eq_rows = np.tile(er, blocks) + q_of * m
    eq_cols = n_c + q_of * n_s + np.tile(ec, blocks)
    qq = np.repeat(np.arange(blocks), n_c)
    tt = np.tile(np.arange(n_c), blocks)
    link = np.arange(blocks * n_c)
    y_cols = n_c + qq * n_s + cpos[tt]
    up_rows = blocks * m + link
    lo_rows = blocks * m + blocks * n_c + link
    ones = np.ones(len(link))
    return _Rows(
        rows=np.concatenate([eq_rows, up_rows, up_rows, lo_rows, lo_rows]),
        cols=np.concatenate([eq_cols, y_cols, tt, y_cols, tt]),
        vals=np.concatenate(
            [
                np.tile(sub[er, ec].astype(np.float64), blocks),
                ones,
                -need[qq],
                -ones,
                -down[qq, cpos[tt]],
            ]
        ),
        lower=np.concatenate([np.zeros(blocks * m), np.full(2 * blocks * n_c, -np.inf)]),
        upper=np.zeros(blocks * m + 2 * blocks * n_c),
    )


def _implied_rows(
    sub: npt.NDArray[np.int8],
    guarded: list[int],
    cpos: npt.NDArray[np.int64],
    need: FloatArray,
    down: FloatArray,
    *,
    first_row: int,
) -> _Rows:
    """Rows over z alone, implied by the model, that tighten its relaxation (measured).

    In every equation holding primary cell i, the other withheld cells must absorb its rise
    of r: a cell on i's side of the equation falls by at most min(x, r), one on the other
    side rises by up to r.
    """
    n_s = sub.shape[1]
    cand_index = np.full(n_s, -1)
    cand_index[cpos] = np.arange(len(cpos))
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    for q, i in enumerate(guarded):
        for row in sub[sub[:, i] != 0]:
            cap = np.where(row * row[i] > 0, down[q], need[q])
            others = np.flatnonzero(row != 0)
            others = others[others != i]
            movable = others[cand_index[others] >= 0]
            fixed = float(cap[others[cand_index[others] < 0]].sum())  # other primary cells
            if fixed >= need[q]:
                continue
            rows += [first_row + len(lower)] * len(movable)
            cols += cand_index[movable].tolist()
            vals += cap[movable].tolist()
            lower.append(float(need[q]) - fixed)
    return _Rows(
        rows=np.array(rows, dtype=np.int64),
        cols=np.array(cols, dtype=np.int64),
        vals=np.array(vals, dtype=np.float64),
        lower=np.array(lower, dtype=np.float64),
        upper=np.full(len(lower), np.inf),
    )


# Measured on these models: symmetry detection and the feasibility-jump heuristic cost
# more than they save (median solve ~13 -> ~8 ms). A HiGHS without one ignores it.
_TUNING = {"mip_detect_symmetry": False, "mip_heuristic_run_feasibility_jump": False}


def _run(program: highs.Program, time_limit_s: float) -> tuple[FloatArray, bool]:
    """One HiGHS solve of the MIP: its solution (the best one found when the time limit
    passes) and whether it is proven optimal."""
    res = highs.solve(program, options={"time_limit": time_limit_s, "mip_rel_gap": 0.0, **_TUNING})
    if res.x is None:
        raise SolverFailed(f"HiGHS: {res.status}, no feasible answer")
    return res.x, res.status == "optimal"


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
    sub: npt.NDArray[np.int8],
    *,
    x: FloatArray,
    ys: FloatArray,
    withheld: npt.NDArray[np.bool_],
    guarded: list[tuple[int, np.float64]],
    big: float,
) -> None:
    """Verify the solver's alternative tables: equations, bounds, published cells, raises."""
    tol = TOL * max(1.0, big)
    if (np.abs(ys @ sub.T.astype(np.float64)).max(initial=0.0) > tol) or (ys < -x - tol).any():
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
    a = highs.Coo.dense(constraints[:, withheld])
    published = np.ones(len(x), dtype=bool)
    published[withheld] = False
    rhs = -(constraints[:, published].astype(np.float64) @ x[published])
    n = len(withheld)
    zero, inf = np.zeros(n), np.full(n, np.inf)
    top_found = {"optimal", "unbounded"}
    out = []
    for pos in range(n):
        c = np.zeros(n)
        c[pos] = 1.0
        lo = highs.solve(highs.Program(c, zero, inf, a, rhs, rhs))
        hi = highs.solve(highs.Program(-c, zero, inf, a, rhs, rhs))
        if lo.status != "optimal" or lo.objective is None or hi.status not in top_found:
            raise SolverFailed("the published cells admit no non-negative table")
        top = np.inf if hi.status == "unbounded" or hi.objective is None else -hi.objective
        out.append((lo.objective, top))
    return out
