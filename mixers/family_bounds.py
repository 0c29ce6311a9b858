"""Bounds on family totals in the projection every mixer's search uses (:func:`mixers.simplex.project_to_bounds`).

The feasible set is box x simplex x one slab ``{x : a_f <= sum(x[members_f]) <= b_f}`` per bounded family. Its Euclidean
projection is computed by Dykstra's alternating projections between the box-simplex (exact, by bisection) and each slab
(exact: shift the members equally). Why Dykstra rather than a nested exact method: the families of a project are laminar
(prefixes nest), which an exact nested bisection could exploit, but it costs ``iters ** depth`` per row and is
intricate; Dykstra handles any family structure, converges to the exact projection, runs vectorized over rows, stops per
row once every family bound holds to ``TOL`` and a round moves it less than ``STEP_TOL``, and never touches the problems
without family bounds (their path is unchanged). Rows it has not brought within ``TOL`` after ``MAX_ITERS`` rounds raise
``ValueError`` (does not happen for feasible bounds in the tests; a safety net). Infeasible family bounds raise
``ValueError`` first, from a linear program (:func:`check_feasible`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import linprog

from mixers.types import FamilySpec, FloatArray

TOL = 1e-10  # family bounds hold to this after projection (Problem.feasible's default tolerance is 1e-9)
STEP_TOL = 1e-10  # and a row stops once a whole round moves it less than this (feasible alone is not optimal)
MAX_ITERS = 20000

BoxSimplex = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]


def bounded_families(families: Sequence[FamilySpec]) -> tuple[FamilySpec, ...]:
    """The families that carry a ``min_weight`` or a ``max_weight``."""
    return tuple(f for f in families if f.min_weight is not None or f.max_weight is not None)


def _slabs(families: Sequence[FamilySpec], d: int) -> tuple[list[np.ndarray], FloatArray, FloatArray]:
    members = [np.asarray(f.members, dtype=np.intp) for f in families]
    a = np.array([-np.inf if f.min_weight is None else f.min_weight for f in families], dtype=np.float64)
    b = np.array([np.inf if f.max_weight is None else f.max_weight for f in families], dtype=np.float64)
    return members, a, b


def check_feasible(lo: FloatArray, hi: FloatArray, families: Sequence[FamilySpec]) -> None:
    """``ValueError`` naming the problem when no mixture meets the box, the simplex and the family bounds."""
    _check_feasible(lo.tobytes(), hi.tobytes(), tuple(families))


@functools.lru_cache(maxsize=64)
def _check_feasible(lo_b: bytes, hi_b: bytes, families: tuple[FamilySpec, ...]) -> None:
    lo, hi = np.frombuffer(lo_b), np.frombuffer(hi_b)
    d = len(lo)
    for f in families:
        sub_lo, sub_hi = float(lo[list(f.members)].sum()), float(hi[list(f.members)].sum())
        if f.min_weight is not None and f.max_weight is not None and f.min_weight > f.max_weight + 1e-12:
            raise ValueError(f"family {f.name!r}: min_weight {f.min_weight} > max_weight {f.max_weight}")
        if f.max_weight is not None and sub_lo > f.max_weight + 1e-9:
            raise ValueError(
                f"family {f.name!r}: its domains' min_weight sum to {sub_lo:g} > its max_weight {f.max_weight:g}"
            )
        if f.min_weight is not None and sub_hi < f.min_weight - 1e-9:
            raise ValueError(
                f"family {f.name!r}: its domains' upper bounds sum to {sub_hi:g} < its min_weight {f.min_weight:g}"
            )
    rows, rhs = [], []
    for f in families:
        row = np.zeros(d)
        row[list(f.members)] = 1.0
        if f.max_weight is not None:
            rows.append(row)
            rhs.append(f.max_weight)
        if f.min_weight is not None:
            rows.append(-row)
            rhs.append(-f.min_weight)
    res = linprog(
        np.zeros(d),
        A_ub=np.array(rows) if rows else None,
        b_ub=np.array(rhs) if rhs else None,
        A_eq=np.ones((1, d)),
        b_eq=[1.0],
        bounds=list(zip(lo, hi, strict=True)),
        method="highs",
    )
    if res.status != 0:
        names = ", ".join(repr(f.name) for f in families)
        raise ValueError(
            f"the family bounds ({names}) are infeasible together with the domain bounds and weights summing to 1"
        )


def violation(x: FloatArray, families: Sequence[FamilySpec]) -> FloatArray:
    """Largest family-bound violation ``(m,)`` of the rows of ``x`` ``(m, d)`` (0 when all hold)."""
    members, a, b = _slabs(families, x.shape[1])
    out = np.zeros(len(x))
    for idx, lo_f, hi_f in zip(members, a, b, strict=True):
        s = x[:, idx].sum(axis=1)
        out = np.maximum(out, np.maximum(s - hi_f, lo_f - s))
    return out


def project_with_families(
    w: FloatArray, lo: FloatArray, hi: FloatArray, families: Sequence[FamilySpec], box_simplex: BoxSimplex
) -> FloatArray:
    """Euclidean projection of ``w`` ``(d,)`` or ``(m, d)`` onto box x simplex x family slabs (Dykstra).

    ``box_simplex(x (k, d), lo, hi) -> (k, d)`` is the exact projection onto box and simplex.
    """
    families = bounded_families(families)
    check_feasible(lo, hi, families)
    x0 = np.atleast_2d(np.asarray(w, dtype=np.float64))
    members, a, b = _slabs(families, x0.shape[1])
    d = x0.shape[1]
    out = box_simplex(x0, lo, hi)
    todo = np.flatnonzero(violation(out, families) > TOL)
    if len(todo) == 0:
        return out[0] if np.ndim(w) == 1 else out
    x = x0[todo].copy()
    k = len(families)
    p = np.zeros((k + 1, len(todo), d))  # Dykstra's increments, one per set (box-simplex last)
    live = np.arange(len(todo))  # rows still iterating (positions in todo)
    for _ in range(MAX_ITERS):
        xs, ps = x[live], p[:, live]
        for j, (idx, lo_f, hi_f) in enumerate(zip(members, a, b, strict=True)):
            z = xs + ps[j]
            s = z[:, idx].sum(axis=1)
            shift = np.where(s > hi_f, hi_f - s, np.where(s < lo_f, lo_f - s, 0.0)) / len(idx)
            new = z.copy()
            new[:, idx] += shift[:, None]
            ps[j] = z - new
            xs = new
        z = xs + ps[k]
        xs = box_simplex(z, lo, hi)
        ps[k] = z - xs
        moved = np.abs(xs - x[live]).max(axis=1)
        x[live], p[:, live] = xs, ps
        done = (violation(xs, families) <= TOL) & (moved <= STEP_TOL)
        live = live[~done]
        if len(live) == 0:
            break
    else:
        raise ValueError(f"projection onto the family bounds did not converge in {MAX_ITERS} rounds")
    y = x
    out[todo] = y
    return out[0] if np.ndim(w) == 1 else out
