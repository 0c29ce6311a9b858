"""Exact Gaussian-process surrogate over (mixture, log-fidelity features) for the ``mfbo`` mixer.

Inputs are rows ``x = (w, z)`` of shape ``(p,)`` with ``p = d + f``: ``w`` the mixture ``(d,)`` and ``z`` the
(normalized) log-fidelity features ``(f,)``. The kernel is

    k(x, x') = s2 * k_w(w, w') * [rho + (1 - rho) * exp(-0.5 * sum_k (z_k - z'_k)^2 / lz_k^2)]
               + b2 * (1 + z . z')

- ``k_w``: Matern 5/2 (or RBF) on the weights, ARD or one shared lengthscale;
- the fidelity factor is an RBF on log fidelity lifted by a floor ``rho`` in [0, 1], so runs at any fidelity stay
  correlated with the target by at least ``rho``: low-fidelity runs inform the target;
- ``b2 * (1 + z . z')`` is a Bayesian linear mean in log fidelity (loss falls with scale) with a prior of
  variance ``b2``, integrated out in closed form;
- plus Gaussian noise ``noise`` on the diagonal (replicated runs inform it directly).

Targets are standardized (zero mean, unit variance) before fitting; every public output is in the original
units. Hyperparameters maximize the log marginal likelihood with analytic gradients (scipy L-BFGS-B, a few
seeded restarts in log space).

Hand-written rather than sklearn's ``GaussianProcessRegressor``: Bayesian optimization needs the joint posterior
covariance between points at different fidelities and cheap fantasy updates (:meth:`ExactGP.condition_on`
extends the Cholesky factor in O(n^2) per added point with the hyperparameters held fixed), while sklearn's
regressor can only refit from scratch in O(n^3) and exposes no cross-covariance between two point sets; its
kernels also have no linear-in-fidelity mean with a floor-lifted fidelity correlation.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cho_solve, cholesky, lapack, solve_triangular
from scipy.optimize import minimize
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from mixers.cancel import checkpoint
from mixers.types import FloatArray

KernelName = Literal["matern52", "rbf"]

_SQRT5 = math.sqrt(5.0)
_JITTER = 1e-8

# Bounds of the hyperparameters in standardized units, as (low, high) of the natural value.
SIGNAL_BOUNDS = (1e-3, 1e2)
LENGTHSCALE_BOUNDS = (1e-2, 1e2)
FID_LENGTHSCALE_BOUNDS = (5e-2, 2e1)
RHO_LOGIT_BOUNDS = (-8.0, 8.0)
BIAS_BOUNDS = (1e-3, 1e4)
NOISE_BOUNDS = (1e-6, 1.0)


@dataclass(frozen=True)
class GPParams:
    """Kernel hyperparameters, in standardized target units.

    ``lengthscales`` ``(1,)`` (shared) or ``(d,)`` (ARD) for the weights; ``fidelity_lengthscales`` ``(f,)``.
    """

    signal_var: float = 1.0
    lengthscales: FloatArray = field(default_factory=lambda: np.array([0.3]))
    rho: float = 0.5
    fidelity_lengthscales: FloatArray = field(default_factory=lambda: np.zeros(0))
    bias_var: float = 1.0
    noise_var: float = 1e-2

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (lists of floats)."""
        return {
            "signal_var": float(self.signal_var),
            "lengthscales": [float(v) for v in self.lengthscales],
            "fidelity_floor_rho": float(self.rho),
            "fidelity_lengthscales": [float(v) for v in self.fidelity_lengthscales],
            "bias_var": float(self.bias_var),
            "noise_var": float(self.noise_var),
        }


def _matern52(r: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Matern 5/2 correlation of distances ``r`` and ``g`` with ``dk/dlog(l_i) = g * (dw_i / l_i)^2``."""
    e = np.exp(-_SQRT5 * r)
    k = (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * e
    g = (5.0 / 3.0) * (1.0 + _SQRT5 * r) * e
    return k, g


def _rbf(r: FloatArray) -> tuple[FloatArray, FloatArray]:
    """RBF correlation of distances ``r`` and ``g`` with ``dk/dlog(l_i) = g * (dw_i / l_i)^2``."""
    k = np.exp(-0.5 * r * r)
    return k, k


def _pair_sq_contract(m: FloatArray, x: FloatArray) -> FloatArray:
    """``sum_ab m_ab (x_ai - x_bi)^2`` for each column ``i`` of ``x`` ``(n, q)``; ``m`` ``(n, n)`` symmetric.

    Uses ``sum_ab m_ab (x_a - x_b)^2 = 2 x^2 . (m 1) - 2 x^T m x`` so no ``(n, n, q)`` array is formed.
    """
    rows = m.sum(axis=1)
    return np.asarray(2.0 * (x * x).T @ rows - 2.0 * np.einsum("ai,ai->i", x, m @ x), dtype=np.float64)


class _Layout:
    """Packing of the free hyperparameters into the optimizer's vector (log scale; logit for ``rho``)."""

    def __init__(self, n_len: int, fid_active: NDArray[np.bool_], fit_rho: bool, fit_noise: bool) -> None:
        self.n_len = n_len
        self.fid_active = fid_active
        self.fit_rho = fit_rho
        self.fit_noise = fit_noise
        self.size = 1 + n_len + int(fit_rho) + int(fid_active.sum()) + 1 + int(fit_noise)

    def pack(self, p: GPParams) -> FloatArray:
        parts: list[FloatArray] = [np.log([p.signal_var]), np.log(p.lengthscales)]
        if self.fit_rho:
            rho = min(max(p.rho, 1e-6), 1 - 1e-6)
            parts.append(np.array([math.log(rho / (1 - rho))]))
        parts.append(np.log(p.fidelity_lengthscales[self.fid_active]))
        parts.append(np.log([p.bias_var]))
        if self.fit_noise:
            parts.append(np.log([p.noise_var]))
        return np.concatenate(parts)

    def unpack(self, theta: FloatArray, base: GPParams) -> GPParams:
        i = 0
        signal = math.exp(theta[i])
        i += 1
        ls = np.exp(theta[i : i + self.n_len])
        i += self.n_len
        rho = base.rho
        if self.fit_rho:
            rho = 1.0 / (1.0 + math.exp(-theta[i]))
            i += 1
        fls = base.fidelity_lengthscales.copy()
        k = int(self.fid_active.sum())
        fls[self.fid_active] = np.exp(theta[i : i + k])
        i += k
        bias = math.exp(theta[i])
        i += 1
        noise = math.exp(theta[i]) if self.fit_noise else base.noise_var
        return GPParams(signal, ls, rho, fls, bias, noise)

    def bounds(self) -> list[tuple[float, float]]:
        def logb(b: tuple[float, float]) -> tuple[float, float]:
            return (math.log(b[0]), math.log(b[1]))

        out = [logb(SIGNAL_BOUNDS)] + [logb(LENGTHSCALE_BOUNDS)] * self.n_len
        if self.fit_rho:
            out.append(RHO_LOGIT_BOUNDS)
        out += [logb(FID_LENGTHSCALE_BOUNDS)] * int(self.fid_active.sum())
        out.append(logb(BIAS_BOUNDS))
        if self.fit_noise:
            out.append(logb(NOISE_BOUNDS))
        return out


@dataclass(frozen=True)
class GPPosterior:
    """The posterior at ``x`` ``(m, p)``: ``mean`` and ``var`` ``(m,)`` in original units, and the whitened
    cross-kernel ``v = L^-1 K(X_train, x)`` ``(n, m)`` (standardized units) from which covariances between
    point sets follow without another triangular solve."""

    x: FloatArray
    mean: FloatArray
    var: FloatArray
    v: FloatArray


class ExactGP:
    """Exact GP regression with the mixture x fidelity kernel above.

    ``n_mix`` is ``d``, the number of leading mixture columns of every input row. ``fixed_noise`` (standardized
    units) pins the noise variance; ``standardize=False`` fits the raw targets (used by tests with hand-set
    hyperparameters).
    """

    def __init__(
        self,
        n_mix: int,
        kernel: KernelName = "matern52",
        ard: bool = True,
        restarts: int = 3,
        seed: int = 0,
        fixed_noise: float | None = None,
        standardize: bool = True,
        max_iter: int = 200,
        max_fit_points: int = 600,
    ) -> None:
        self.n_mix = n_mix
        self.kernel_name: KernelName = kernel
        self.ard = ard
        self.restarts = restarts
        self.seed = seed
        self.fixed_noise = fixed_noise
        self.standardize = standardize
        self.max_iter = max_iter
        self.max_fit_points = max_fit_points
        self.params: GPParams | None = None
        self.x_train = np.zeros((0, n_mix))
        self.y_train = np.zeros(0)  # standardized
        self.y_mean = 0.0
        self.y_scale = 1.0
        self.chol = np.zeros((0, 0))
        self.alpha = np.zeros(0)
        self.log_marginal_likelihood = float("nan")

    # -- the kernel ----------------------------------------------------------------------------------

    def _corr(self, r: FloatArray) -> tuple[FloatArray, FloatArray]:
        return _matern52(r) if self.kernel_name == "matern52" else _rbf(r)

    def _parts(self, p: GPParams, x1: FloatArray, x2: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(k_w, g, k_z)`` each ``(m1, m2)``: mixture correlation, its lengthscale factor, fidelity RBF."""
        d = self.n_mix
        ls = p.lengthscales
        r = cdist(x1[:, :d] / ls, x2[:, :d] / ls)
        kw, g = self._corr(r)
        if x1.shape[1] > d:
            fls = p.fidelity_lengthscales
            kz = np.exp(-0.5 * cdist(x1[:, d:] / fls, x2[:, d:] / fls, "sqeuclidean"))
        else:
            kz = np.ones_like(kw)
        return kw, g, kz

    def _k(self, p: GPParams, x1: FloatArray, x2: FloatArray) -> FloatArray:
        """Prior covariance ``(m1, m2)`` in standardized units (no noise)."""
        kw, _, kz = self._parts(p, x1, x2)
        z1, z2 = x1[:, self.n_mix :], x2[:, self.n_mix :]
        return np.asarray(p.signal_var * kw * (p.rho + (1 - p.rho) * kz) + p.bias_var * (1.0 + z1 @ z2.T))

    def _k_diag(self, p: GPParams, x: FloatArray) -> FloatArray:
        z = x[:, self.n_mix :]
        return np.asarray(p.signal_var + p.bias_var * (1.0 + (z * z).sum(axis=1)), dtype=np.float64)

    # -- fitting ---------------------------------------------------------------------------------------

    def _nll(self, theta: FloatArray, layout: _Layout, base: GPParams, x: FloatArray, y: FloatArray
             ) -> tuple[float, FloatArray]:
        """Negative log marginal likelihood and its gradient in ``theta``."""
        p = layout.unpack(theta, base)
        n = len(y)
        kw, g, kz = self._parts(p, x, x)
        z = x[:, self.n_mix :]
        kf = p.rho + (1 - p.rho) * kz
        lin = 1.0 + z @ z.T
        k = p.signal_var * kw * kf + p.bias_var * lin
        k[np.diag_indices(n)] += p.noise_var + _JITTER
        try:
            low = cholesky(k, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve((low, True), y, check_finite=False)
        nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(low)).sum()) + 0.5 * n * math.log(2 * math.pi)
        kinv, info = lapack.dpotri(low, lower=1)
        if info != 0:
            return 1e25, np.zeros_like(theta)
        kinv = np.tril(kinv) + np.tril(kinv, -1).T
        # d nll / d theta_j = -0.5 * sum(w * dK_j) with w = alpha alpha^T - K^-1.
        w = np.outer(alpha, alpha) - kinv
        grads: list[float] = []
        sk = p.signal_var * kw * kf
        grads.append(float((w * sk).sum()))
        m = w * (p.signal_var * kf * g)
        xw = x[:, : self.n_mix]
        if len(p.lengthscales) == 1:
            grads.append(float(_pair_sq_contract(m, xw).sum() / p.lengthscales[0] ** 2))
        else:
            grads.extend((_pair_sq_contract(m, xw) / p.lengthscales**2).tolist())
        if layout.fit_rho:
            grads.append(float((w * (p.signal_var * kw * (1 - kz))).sum() * p.rho * (1 - p.rho)))
        if layout.fid_active.any():
            mz = w * (p.signal_var * kw * (1 - p.rho) * kz)
            act = layout.fid_active
            grads.extend((_pair_sq_contract(mz, z[:, act]) / p.fidelity_lengthscales[act] ** 2).tolist())
        grads.append(float((w * lin).sum() * p.bias_var))
        if layout.fit_noise:
            grads.append(float(np.trace(w) * p.noise_var))
        return nll, -0.5 * np.asarray(grads)

    def _initial(self, x: FloatArray, n_fid: int) -> GPParams:
        d = self.n_mix
        w = x[:, :d]
        if len(w) > 1:
            sub = w[: min(len(w), 300)]
            dist = cdist(sub, sub)
            med = float(np.median(dist[np.triu_indices(len(sub), 1)]))
        else:
            med = 0.3
        med = float(np.clip(med if med > 0 else 0.3, *LENGTHSCALE_BOUNDS))
        noise = self.fixed_noise if self.fixed_noise is not None else 1e-2
        return GPParams(1.0, np.full(d if self.ard else 1, med), 0.5, np.ones(n_fid), 1.0, noise)

    def fit(self, x: FloatArray, y: FloatArray, params: GPParams | None = None) -> ExactGP:
        """Fit on ``x`` ``(n, p)``, ``y`` ``(n,)``. With ``params`` given, use them as they are (no search)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < self.n_mix or len(x) != len(y) or len(y) == 0:
            raise ValueError(f"need x (n, p>={self.n_mix}) and y (n,) with n >= 1; got {x.shape}, {y.shape}")
        if self.standardize:
            self.y_mean = float(y.mean())
            sd = float(y.std())
            self.y_scale = sd if sd > 1e-12 else 1.0
        ys = (y - self.y_mean) / self.y_scale
        # One BLAS thread: these matrices are small, and a threaded OpenBLAS on a busy 2-core machine is
        # up to 100x slower (measured: a 300 x 300 Cholesky takes 0.7 ms on one thread, 180 ms on two).
        with threadpool_limits(1, user_api="blas"):
            self.params = params if params is not None else self._optimize(x, ys)
            self._set_data(x, ys)
        return self

    def _optimize(self, x: FloatArray, ys: FloatArray) -> GPParams:
        rng = np.random.default_rng([self.seed, 7])
        n_fid = x.shape[1] - self.n_mix
        base = self._initial(x, n_fid)
        if len(ys) < 3:
            return base
        xs, yfit = x, ys
        if len(ys) > self.max_fit_points:
            keep = np.sort(rng.choice(len(ys), self.max_fit_points, replace=False))
            xs, yfit = x[keep], ys[keep]
        fid_active = np.ptp(xs[:, self.n_mix :], axis=0) > 1e-12 if n_fid else np.zeros(0, dtype=bool)
        layout = _Layout(len(base.lengthscales), fid_active, bool(fid_active.any()), self.fixed_noise is None)
        bounds = layout.bounds()
        lo = np.array([b[0] for b in bounds])
        hi = np.array([b[1] for b in bounds])
        theta0 = np.clip(layout.pack(base), lo, hi)
        best_theta, best_val = theta0, math.inf
        for r in range(max(1, self.restarts)):
            checkpoint()
            start = theta0 if r == 0 else np.clip(theta0 + rng.uniform(-1.5, 1.5, size=theta0.shape), lo, hi)
            res = minimize(
                self._nll, start, args=(layout, base, xs, yfit), jac=True, method="L-BFGS-B", bounds=bounds,
                options={"maxiter": self.max_iter},
            )
            if np.isfinite(res.fun) and res.fun < best_val:
                best_theta, best_val = np.asarray(res.x), float(res.fun)
        return layout.unpack(best_theta, base)

    def _set_data(self, x: FloatArray, ys: FloatArray) -> None:
        assert self.params is not None
        p = self.params
        k = self._k(p, x, x)
        k[np.diag_indices(len(x))] += p.noise_var + _JITTER
        self.chol = cholesky(k, lower=True, check_finite=False)
        self.x_train = x
        self.y_train = ys
        self.alpha = cho_solve((self.chol, True), ys, check_finite=False)
        n = len(ys)
        self.log_marginal_likelihood = float(
            -0.5 * ys @ self.alpha - np.log(np.diag(self.chol)).sum() - 0.5 * n * math.log(2 * math.pi)
        )

    # -- the posterior -----------------------------------------------------------------------------------

    def _require(self) -> GPParams:
        if self.params is None:
            raise RuntimeError("the GP is not fitted")
        return self.params

    @property
    def noise_var(self) -> float:
        """Observation noise variance in original units."""
        return self._require().noise_var * self.y_scale**2

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    def posterior(self, x: FloatArray) -> GPPosterior:
        """Posterior of the latent function at ``x`` ``(m, p)`` (see :class:`GPPosterior`)."""
        p = self._require()
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        ks = self._k(p, self.x_train, x)
        v = np.asarray(solve_triangular(self.chol, ks, lower=True, check_finite=False))
        mean = ks.T @ self.alpha * self.y_scale + self.y_mean
        var = np.maximum(self._k_diag(p, x) - (v * v).sum(axis=0), 1e-15) * self.y_scale**2
        return GPPosterior(x, np.asarray(mean, dtype=np.float64), np.asarray(var, dtype=np.float64), v)

    def predict_mean(self, x: FloatArray) -> FloatArray:
        """Posterior mean ``(m,)`` only (no triangular solve), original units."""
        p = self._require()
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return np.asarray(self._k(p, x, self.x_train) @ self.alpha * self.y_scale + self.y_mean, dtype=np.float64)

    def predict(self, x: FloatArray, full_cov: bool = False) -> tuple[FloatArray, FloatArray]:
        """Posterior mean ``(m,)`` and variance ``(m,)`` (``full_cov``: covariance ``(m, m)``) at ``x`` ``(m, p)``."""
        post = self.posterior(x)
        if full_cov:
            return post.mean, self.covariance(post, post)
        return post.mean, post.var

    def covariance(self, a: GPPosterior, b: GPPosterior) -> FloatArray:
        """Joint posterior covariance ``(m_a, m_b)`` of the latent function between two point sets."""
        p = self._require()
        return np.asarray((self._k(p, a.x, b.x) - a.v.T @ b.v) * self.y_scale**2, dtype=np.float64)

    def covariance_pairs(self, a: GPPosterior, b: GPPosterior) -> FloatArray:
        """Posterior covariance ``(m,)`` between the paired rows ``a.x[i]`` and ``b.x[i]``."""
        p = self._require()
        d = self.n_mix
        x1, x2 = a.x, b.x
        r = np.sqrt((((x1[:, :d] - x2[:, :d]) / p.lengthscales) ** 2).sum(axis=1))
        kw, _ = self._corr(r)
        z1, z2 = x1[:, d:], x2[:, d:]
        kz = np.exp(-0.5 * (((z1 - z2) / p.fidelity_lengthscales) ** 2).sum(axis=1)) if z1.shape[1] else 1.0
        prior = p.signal_var * kw * (p.rho + (1 - p.rho) * kz) + p.bias_var * (1.0 + (z1 * z2).sum(axis=1))
        return np.asarray((prior - (a.v * b.v).sum(axis=0)) * self.y_scale**2, dtype=np.float64)

    def condition_on(self, x_new: FloatArray, y_new: FloatArray) -> ExactGP:
        """A copy conditioned on extra observations ``x_new`` ``(k, p)``, ``y_new`` ``(k,)`` (original units).

        Hyperparameters and standardization stay fixed; the Cholesky factor is extended block-wise,
        O(n^2 k) instead of a refit. Used for fantasies (kriging believer) and pending runs.
        """
        p = self._require()
        x_new = np.atleast_2d(np.asarray(x_new, dtype=np.float64))
        ys_new = (np.asarray(y_new, dtype=np.float64).reshape(-1) - self.y_mean) / self.y_scale
        if len(x_new) == 0:
            return self
        b = solve_triangular(self.chol, self._k(p, self.x_train, x_new), lower=True, check_finite=False)
        c = self._k(p, x_new, x_new) - b.T @ b
        c[np.diag_indices(len(x_new))] += p.noise_var + _JITTER
        lc = cholesky(c, lower=True, check_finite=False)
        n, k = self.n_train, len(x_new)
        chol = np.zeros((n + k, n + k))
        chol[:n, :n] = self.chol
        chol[n:, :n] = b.T
        chol[n:, n:] = lc
        out = copy.copy(self)
        out.chol = chol
        out.x_train = np.vstack([self.x_train, x_new])
        out.y_train = np.concatenate([self.y_train, ys_new])
        out.alpha = cho_solve((chol, True), out.y_train, check_finite=False)
        return out

    def hyperparameters(self) -> dict[str, Any]:
        """Fitted hyperparameters (standardized units) with the standardization constants."""
        p = self._require()
        return {**p.as_dict(), "kernel": self.kernel_name, "ard": self.ard, "y_mean": self.y_mean,
                "y_scale": self.y_scale}
