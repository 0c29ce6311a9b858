"""Optimal-transport distance of data mixtures to a target set (DESIGN 4.4), functional API after POT.

The source side is the union of the domains' point sets: a mixture ``p`` ``(d,)`` puts mass ``p_i / n_i`` on
each of domain ``i``'s ``n_i`` points. The target side is uniform over its ``n_t`` points. Conventions:
``n_s = sum(n_i)`` source rows in domain order, ``m`` mixtures in a batch ``(m, d)``.

- Ground cost: squared Euclidean distance (:func:`sq_euclidean_cost`), so the exact distance is W2^2; it is
  smooth in the points and is POT's default ``ot.dist`` metric.
- ``exact``: ``ot.emd`` per mixture (network simplex). Rows with zero mass are dropped before the solver.
- ``sinkhorn``: entropic OT with ``eps = reg * median(cost)``, in the KL(P | a x b) form, whose value is the
  dual objective ``<f, a> + <g, b>`` at the fixed point (a convex function of ``p``; ``>=`` the transport
  cost ``<P, C>``). Zero-mass rows are kept: the scaling form gives them zero mass exactly.
- Gradient: ``d OT / d p_i = mean of the source potential f over domain i`` (each of its points carries
  ``p_i / n_i``), centred to sum 0 (the projection onto the simplex's tangent space, which also removes the
  constant by which dual potentials are defined). The potential of every source row, zero-mass ones
  included, is the (soft) c-transform of the target potential ``g``: ``min_j C_kj - g_j`` for ``exact`` and
  ``-eps log sum_j b_j exp((g_j - C_kj) / eps)`` for ``sinkhorn``; for rows with mass this equals the
  solver's own potential, and for zero-mass rows it is the one-sided derivative of increasing their mass.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import ot
from numpy.typing import NDArray
from scipy.special import logsumexp

from mixers.types import FloatArray

Solver = Literal["auto", "exact", "sinkhorn"]
Precision = Literal["auto", "single", "double"]

# Largest number of cost entries the median is computed on (a regular sub-grid of the matrix above it).
MEDIAN_SAMPLE = 250_000
# With precision "auto", Sinkhorn kernels of at least this many entries are single precision (half the
# memory traffic of the matrix products that dominate; values agree to ~1e-8 relative on 17,000 x 1,000).
SINGLE_MIN_ENTRIES = 1_000_000
# Mixtures solved together by the batched Sinkhorn (columns of one matrix product).
SINKHORN_CHUNK = 64
EMD_MAX_ITER = 10_000_000
# Sinkhorn iterations without a 0.1% decrease of the marginal error after which it stops (rounding floor).
STALL_ITERS = 50


def sq_euclidean_cost(source: NDArray[Any], target: NDArray[Any]) -> NDArray[np.float32]:
    """Squared Euclidean costs ``(n_s, n_t)`` float32 between rows of ``source`` ``(n_s, k)`` and ``target``.

    Same values as ``ot.dist(source, target)`` (``|x|^2 + |y|^2 - 2 x.y``, clipped at 0), but built in place
    on one float32 matrix product: ``ot.dist`` allocates several full-size temporaries and measured ~3x
    slower on 17,000 x 1,000 x 384.
    """
    xs = np.ascontiguousarray(source, dtype=np.float32)
    xt = np.ascontiguousarray(target, dtype=np.float32)
    cost = xs @ xt.T
    cost *= np.float32(-2.0)
    cost += np.einsum("ij,ij->i", xs, xs)[:, None]
    cost += np.einsum("ij,ij->i", xt, xt)[None, :]
    np.maximum(cost, np.float32(0.0), out=cost)
    return cost


def median_cost(cost: NDArray[Any]) -> float:
    """Median of ``cost`` ``(n_s, n_t)``, on a regular sub-grid of at most ~``MEDIAN_SAMPLE`` entries."""
    n_s, n_t = cost.shape
    step = max(1, int(np.ceil(np.sqrt(n_s * n_t / MEDIAN_SAMPLE))))
    sub = np.asarray(cost[::step, ::step], dtype=np.float64)
    med = float(np.median(sub))
    if med <= 0:
        med = float(sub.mean())
    return med if med > 0 else 1.0


def domain_offsets(sizes: Sequence[int]) -> NDArray[np.intp]:
    """Start row ``(d,)`` of each domain in the stacked source."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def source_masses(mixtures: FloatArray, sizes: Sequence[int]) -> FloatArray:
    """Masses ``(m, n_s)``: row ``k`` of domain ``i`` gets ``p_i / n_i``; ``mixtures`` ``(m, d)`` clipped at 0
    and
    renormalized to sum 1."""
    p = np.clip(np.atleast_2d(np.asarray(mixtures, dtype=np.float64)), 0.0, None)
    p = p / p.sum(axis=1, keepdims=True)
    n = np.asarray(sizes, dtype=np.float64)
    return np.repeat(p / n, np.asarray(sizes, dtype=np.intp), axis=1)


def domain_gradient(potentials: FloatArray, sizes: Sequence[int]) -> FloatArray:
    """Centred per-domain means ``(m, d)`` of source potentials ``(m, n_s)``: the gradient of OT in ``p``."""
    f = np.atleast_2d(potentials)
    sums = np.add.reduceat(f, domain_offsets(sizes), axis=1)
    grad = sums / np.asarray(sizes, dtype=np.float64)
    return np.asarray(grad - grad.mean(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class OTResult:
    """Distances ``values`` ``(m,)``, gradients ``grads`` ``(m, d)`` (centred), target potentials ``(m, n_t)``
    (a warm start for the next call), per-mixture ``converged`` ``(m,)``, and the largest iteration count."""

    values: FloatArray
    grads: FloatArray
    target_potentials: FloatArray
    converged: NDArray[np.bool_]
    iterations: int
    solver: str


def exact_ot(cost: NDArray[Any], mixtures: FloatArray, sizes: Sequence[int]) -> OTResult:
    """Exact OT (``ot.emd``) of each mixture ``(m, d)`` to the uniform target, with gradients.

    Zero-mass rows are dropped before the solver; every row's potential is then the c-transform
    ``min_j C_kj - g_j`` of the target potential ``g``.
    """
    c64 = np.asarray(cost, dtype=np.float64)
    n_t = c64.shape[1]
    b = np.full(n_t, 1.0 / n_t)
    masses = source_masses(mixtures, sizes)
    m = len(masses)
    values = np.empty(m)
    f = np.empty((m, c64.shape[0]))
    g_all = np.empty((m, n_t))
    ok = np.ones(m, dtype=bool)
    for r in range(m):
        pos = masses[r] > 0
        a = masses[r, pos]
        a = a * (b.sum() / a.sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, log = ot.emd(a, b, c64[pos], numItermax=EMD_MAX_ITER, log=True)
        ok[r] = int(log["result_code"]) == 1
        g = np.asarray(log["v"], dtype=np.float64)
        values[r] = float(log["cost"])
        f[r] = (c64 - g[None, :]).min(axis=1)
        g_all[r] = g
    return OTResult(values, domain_gradient(f, sizes), g_all, ok, 0, "exact")


@dataclass(frozen=True)
class SinkhornKernel:
    """The Gibbs kernel of a cost, stabilized: ``kernel = exp(-(C - alpha - beta) / eps)`` ``(n_s, n_t)``.

    ``alpha`` ``(n_s,)`` are the row minima of ``C`` and ``beta`` ``(n_t,)`` the column minima of
    ``C - alpha``, so ``C - alpha - beta >= 0`` with a zero in every row and column: every row and column of
    the kernel holds a 1, and the entries that underflow are negligible against it.
    """

    alpha: FloatArray
    beta: FloatArray
    kernel: NDArray[Any]
    eps: float


def sinkhorn_kernel(
    cost: NDArray[Any], eps: float, dtype: type[np.floating[Any]] = np.float64
) -> SinkhornKernel:
    """Build the stabilized kernel of ``cost`` ``(n_s, n_t)`` at regularization ``eps`` (absolute units)."""
    k = np.array(cost, dtype=dtype)
    alpha = k.min(axis=1).astype(np.float64)
    k -= alpha.astype(dtype)[:, None]
    beta = k.min(axis=0).astype(np.float64)
    k -= beta.astype(dtype)[None, :]
    k *= dtype(-1.0 / eps)
    np.exp(k, out=k)
    # Subnormal entries are negligible (each row and column holds a 1) and slow down the matrix products.
    k[k < np.finfo(dtype).tiny] = 0.0
    return SinkhornKernel(alpha, beta, k, float(eps))


def sinkhorn_ot(
    kern: SinkhornKernel,
    mixtures: FloatArray,
    sizes: Sequence[int],
    init: FloatArray | None = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    cost: NDArray[Any] | None = None,
) -> OTResult:
    """Entropic OT (KL(P | a x b) form) of each mixture ``(m, d)`` to the uniform target, with gradients.

    Batched Sinkhorn scaling on the shared, cached kernel: ``SINKHORN_CHUNK`` mixtures per pair of matrix
    products. ``init`` ``(m, n_t)``: target potentials to warm-start from (e.g. a previous result's).
    Stops when the L1 error of the target marginal is below ``tol`` for every mixture of a chunk.
    Hand-written because ``ot.sinkhorn`` recomputes ``exp(-C / reg)`` on every call (the dominant cost at
    17,000 x 1,000) and returns no potentials for the points it gives no mass to. Mixtures whose scaling
    under- or overflows (a target point reachable only from far-away mass) are re-solved one by one with
    POT's log-domain solver on ``cost`` when it is given.
    """
    p = np.atleast_2d(np.asarray(mixtures, dtype=np.float64))
    m = len(p)
    n_t = kern.kernel.shape[1]
    values = np.empty(m)
    grads = np.empty((m, len(sizes)))
    g_out = np.empty((m, n_t))
    conv = np.ones(m, dtype=bool)
    iters = 0
    for s in range(0, m, SINKHORN_CHUNK):
        sl = slice(s, min(m, s + SINKHORN_CHUNK))
        g0 = None if init is None else np.asarray(init, dtype=np.float64)[sl]
        res = _sinkhorn_chunk(kern, p[sl], sizes, g0, tol, max_iter, cost)
        values[sl], grads[sl], g_out[sl], conv[sl] = (
            res.values,
            res.grads,
            res.target_potentials,
            res.converged,
        )
        iters = max(iters, res.iterations)
    return OTResult(values, grads, g_out, conv, iters, "sinkhorn")


def _sinkhorn_chunk(
    kern: SinkhornKernel,
    p: FloatArray,
    sizes: Sequence[int],
    init: FloatArray | None,
    tol: float,
    max_iter: int,
    cost: NDArray[Any] | None,
) -> OTResult:
    k = kern.kernel
    dt = k.dtype.type
    eps = kern.eps
    n_t = k.shape[1]
    b = np.full(n_t, 1.0 / n_t)
    a = source_masses(p, sizes).T  # (n_s, m)
    m = a.shape[1]
    # Target scaling v = b * exp((g - beta) / eps); without a warm start g = beta.
    if init is None:
        v = np.tile(b[:, None], (1, m))
    else:
        z = np.clip((init.T - kern.beta[:, None]) / eps, -600.0, 600.0)
        v = b[:, None] * np.exp(z - z.max(axis=0, keepdims=True))
    a_k = a.astype(dt)
    v_k = v.astype(dt)
    err = np.full(m, np.inf)
    best, since_best = np.inf, 0
    it = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while it < max_iter:
            it += 1
            u_k = a_k / (k @ v_k)
            ktu = k.T @ u_k
            err = np.abs(v_k * ktu - b[:, None]).sum(axis=0)
            v_k = (b[:, None] / ktu).astype(dt)
            worst = float(err.max())
            if not np.isfinite(worst) or worst < tol:
                break
            # Stop at the rounding floor (single precision cannot reach every tol): no progress for a while.
            if worst < 0.999 * best:
                best, since_best = worst, 0
            else:
                since_best += 1
                if since_best >= STALL_ITERS:
                    break
        kv = (k @ v_k).astype(np.float64)
        f = kern.alpha[None, :] - eps * np.log(kv.T)  # (m, n_s): soft c-transform of g
        g = kern.beta[None, :] + eps * np.log(v_k.T.astype(np.float64) / b[None, :])
    values = np.einsum("mk,km->m", np.nan_to_num(f, posinf=0.0, neginf=0.0), a) + g @ b
    bad = ~(np.all(np.isfinite(f), axis=1) & np.all(np.isfinite(g), axis=1) & np.isfinite(err))
    grads = np.zeros((m, len(sizes)))
    grads[~bad] = domain_gradient(f[~bad], sizes)
    g[bad] = 0.0
    conv = err < tol
    if bad.any() and cost is not None:
        for r in np.flatnonzero(bad):
            v1, g1, f1, ok = _log_sinkhorn_one(cost, a[:, r], eps, tol, max_iter)
            values[r], g[r], conv[r] = v1, g1, ok
            grads[r] = domain_gradient(f1[None, :], sizes)[0]
    elif bad.any():
        values[bad] = np.nan
        conv[bad] = False
    return OTResult(values, grads, g, conv, it, "sinkhorn")


def _log_sinkhorn_one(
    cost: NDArray[Any], a: FloatArray, eps: float, tol: float, max_iter: int
) -> tuple[float, FloatArray, FloatArray, bool]:
    """One mixture by POT's log-domain Sinkhorn on the rows with mass.

    Returns ``(value, g (n_t,), f (n_s,), converged)``.
    """
    c64 = np.asarray(cost, dtype=np.float64)
    n_t = c64.shape[1]
    b = np.full(n_t, 1.0 / n_t)
    pos = a > 0
    ap = a[pos] / a[pos].sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, log = ot.sinkhorn(
            ap, b, c64[pos], eps, method="sinkhorn_log", numItermax=max_iter, stopThr=tol, log=True
        )
    # POT's plan is diag(exp(log_u)) K diag(exp(log_v)) with K = exp(-C / eps): g = eps * (log_v - log b).
    g = eps * (np.asarray(log["log_v"], dtype=np.float64) - np.log(b))
    f = -eps * logsumexp((g[None, :] - c64) / eps, b=b[None, :], axis=1)
    ok = bool(np.asarray(log["err"])[-1] < tol) if len(log["err"]) else False
    return float(f[pos] @ a[pos] + g @ b), g, f, ok


class OTDistance:
    """Distances of many mixtures to one target, with the cost matrix (and kernel) built once and cached.

    ``sources``: one ``(n_i, k)`` array per domain; ``target`` ``(n_t, k)``. ``solver="auto"`` uses ``exact``
    when ``n_s + n_t <= auto_exact_max`` and ``sinkhorn`` otherwise. ``reg`` is relative to the median cost.
    ``precision``: floating type of the Sinkhorn kernel and scalings (``auto``: single precision from
    ``SINGLE_MIN_ENTRIES`` kernel entries on, double below).
    The cost matrix and kernel are not pickled (they can take hundreds of MB); they are rebuilt, identically,
    on first use after unpickling.
    """

    def __init__(
        self,
        sources: Sequence[NDArray[Any]],
        target: NDArray[Any],
        solver: Solver = "auto",
        reg: float = 0.05,
        auto_exact_max: int = 800,
        tol: float = 1e-6,
        max_iter: int = 1000,
        precision: Precision = "auto",
    ) -> None:
        self.sources = [np.asarray(s, dtype=np.float32) for s in sources]
        self.target = np.asarray(target, dtype=np.float32)
        self.sizes = tuple(len(s) for s in self.sources)
        self.n_source = int(sum(self.sizes))
        self.n_target = len(self.target)
        if solver == "auto":
            solver = "exact" if self.n_source + self.n_target <= auto_exact_max else "sinkhorn"
        self.solver: Solver = solver
        self.reg = float(reg)
        self.tol = float(tol)
        self.max_iter = int(max_iter)
        if precision == "auto":
            precision = "single" if self.n_source * self.n_target >= SINGLE_MIN_ENTRIES else "double"
        self.precision: Precision = precision
        self.eps: float | None = None
        self._cost: NDArray[np.float32] | None = None
        self._kernel: SinkhornKernel | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cost"] = None
        state["_kernel"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def cost(self) -> NDArray[np.float32]:
        """The cost matrix ``(n_s, n_t)`` (built on first access)."""
        if self._cost is None:
            self._cost = sq_euclidean_cost(np.vstack(self.sources), self.target)
            if self.eps is None:
                self.eps = self.reg * median_cost(self._cost)
        return self._cost

    def prepare(self) -> OTDistance:
        """Build the cost matrix, and the kernel for ``sinkhorn``; returns ``self``."""
        cost = self.cost
        if self.solver == "sinkhorn" and self._kernel is None:
            assert self.eps is not None
            dtype = np.float32 if self.precision == "single" else np.float64
            self._kernel = sinkhorn_kernel(cost, self.eps, dtype)
        return self

    def __call__(self, mixtures: FloatArray, init: FloatArray | None = None) -> OTResult:
        """Distances and gradients for ``mixtures`` ``(m, d)``; ``init`` ``(m, n_t)`` warm-starts Sinkhorn."""
        self.prepare()
        p = np.atleast_2d(np.asarray(mixtures, dtype=np.float64))
        if p.shape[1] != len(self.sizes):
            raise ValueError(f"mixtures must have {len(self.sizes)} columns, got {p.shape[1]}")
        if self.solver == "exact":
            return exact_ot(self.cost, p, self.sizes)
        assert self._kernel is not None
        return sinkhorn_ot(self._kernel, p, self.sizes, init, self.tol, self.max_iter, self.cost)


def ot_distances(
    sources: Sequence[NDArray[Any]],
    target: NDArray[Any],
    mixtures: FloatArray,
    solver: Solver = "auto",
    reg: float = 0.05,
    auto_exact_max: int = 800,
    tol: float = 1e-6,
    max_iter: int = 1000,
    precision: Precision = "auto",
) -> OTResult:
    """One-shot: distances and gradients of ``mixtures`` ``(m, d)`` (see :class:`OTDistance`)."""
    return OTDistance(sources, target, solver, reg, auto_exact_max, tol, max_iter, precision)(mixtures)
