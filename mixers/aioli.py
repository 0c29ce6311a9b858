"""``aioli``: online data mixing (DESIGN 4.3, after Chen et al., "Aioli", 2024) as a pure state machine.

One training run is split into rounds of ``round_steps`` steps. In each round the mixer

1. takes the per-domain validation losses reported at the round start;
2. runs ``lp_rounds`` sweeps, each a seeded random permutation of the domains; for domain ``j`` the client
   trains ``lp_steps`` steps on the smoothed one-hot ``W[j]`` and reports, and
   ``beta[:, j] += L_before - L_after`` (``L_before`` is the previous report); ``beta`` is averaged over the
   sweeps and the interaction matrix is solved from ``beta = A @ W.T`` (see :func:`solve_interactions`);
3. normalizes ``A`` (shift so the minimum is 0 when negative, divide by the total);
4. updates the mixture by exponentiated gradient (see :func:`eg_update`);
5. trains the rest of the round at the new mixture.

Decisions beyond the paper (documented here because clients see them):

- ``ema=None`` switches smoothing off and uses the cumulative update ``p <- p * exp(eta * sum_i A_ij)``;
  any number (``0`` included) uses ``A_ema = (1 - ema) * A + ema * A_ema_prev`` and
  ``p = p0 * exp(eta * sum_i A_ema_ij)`` restarted each round. ``p0`` is the initial mixture: uniform unless
  ``initial_weights`` are given (the paper starts from uniform; with given weights we start from them so a
  restricted-setting prior is not thrown away after the first round).
- Objective: the update weighs domain ``i``'s loss by ``c_i``, ``sum_i c_i A_ij``. By default ``c_i = 1`` (the
  mean of the domain losses, DESIGN 4.3). When the project's objective is to minimize a non-negative weighted
  sum of domain losses only (metric names ``<domain>`` or ``val/<domain>``), ``c`` is its weights (unnamed
  domains 0), scaled to sum ``d`` so the step size means the same; any other objective (e.g. a target metric
  that reports do not carry) keeps ``c = 1``. See :func:`domain_importance`.
- Target objective (the Aioli paper's "restricted" case of a held-out target that is not a training domain):
  when the objective names a metric that is not a domain loss (e.g. ``val/kernel_docs``), a report may carry
  the objective's metrics besides the domain losses (``Report.metrics``; over HTTP, extra keys of ``losses``).
  If the step-0 report carries every metric of the objective (a domain-loss name such as ``val/python`` may
  also be taken from the domain losses), the session learns A's rows for those metrics instead of the
  domain rows: ``beta[m, j] = L_m_before - L_m_after`` over the sweep for domain ``j``, ``A = beta @ W^-T``
  (shape ``(metrics, d)``), normalized as above, and the update uses ``c_m`` = the objective's weight of
  metric ``m`` (negated for ``maximize``; scaled so the mean ``|c_m|`` is 1). The choice is made once, at the
  step-0 report, and recorded in the state (``targets``); from then on every report must carry those metrics
  (a report without them is rejected). A step-0 report without them keeps the domain rows for the whole
  session (``c`` as above), and metrics sent later are then ignored. See :func:`target_metrics`.
- Bounds (``Problem.bounds()``, including the epoch cap): the initial mixture, every smoothed one-hot and every
  updated mixture are projected into them with :func:`mixers.simplex.project_to_bounds`; the projected
  one-hots are the rows of ``W`` actually trained, so they are the ones used in the solve. If the bounds make
  ``W`` singular (e.g. a domain pinned by ``min_weight == max_weight``), the least-squares minimum-norm ``A``
  is used; the pinned domain's effect is then unidentifiable, but its weight is pinned anyway.
- Multiplicative updates keep a zero weight at zero: an initial mixture with a zero domain keeps it at zero
  in the cumulative (``ema=None``) mode and in every round of the EMA mode.
- Truncation: a round starting at step ``s`` runs its sweeps only if ``total_steps - s`` leaves room for all
  sweep steps plus at least one step at the learned mixture; otherwise the remainder is trained at the
  current mixture without sweeps. A round whose exploit stretch would pass ``total_steps`` is cut there.
- ``prior_steps``: after the step-0 report the client trains ``prior_steps`` steps at the initial mixture;
  the report at ``prior_steps`` opens round 1.
- The last directive before the end asks for a report at ``total_steps``; that report is answered with
  ``Directive(done=True, weights=final mixture, until_step=total_steps)``, so the final losses are recorded.
- Sweep order for (round ``r``, sweep ``k``) comes from ``numpy.random.default_rng([seed, r, k])``, where
  ``seed`` is the mixer seed (or a seed drawn once at ``start`` when the mixer has none) kept in the state:
  the whole session replays identically from its state, in any process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from mixers.base import MAX_STEPS, MixerConfig, MixerError, OnlineMixer
from mixers.family_bounds import bounded_families, violation
from mixers.registry import register
from mixers.simplex import project_to_bounds
from mixers.types import Directive, FamilySpec, FloatArray, Problem, Report

_STATE_VERSION = 2  # 2 added ``targets``/``last_targets``; a version-1 state loads with both None
_PHASES = ("init", "prior", "sweep", "exploit", "tail", "done")


class AioliConfig(MixerConfig):
    """Aioli's hyperparameters; defaults are the paper's (DESIGN 4.3)."""

    lp_rounds: int = Field(4, ge=1, le=1000, description="sweeps over all domains per round to learn A")
    lp_steps: int = Field(4, ge=1, le=MAX_STEPS, description="training steps per domain in a sweep")
    eta: float = Field(0.2, gt=0, le=1000, allow_inf_nan=False, description="exponentiated-gradient step size")
    one_hot_factor: float = Field(
        0.625, gt=0, le=1, description="weight of domain j in its smoothed one-hot; the rest split evenly"
    )
    ema: float | None = Field(
        0.1, ge=0, lt=1, description="weight of the previous round's A; null: no EMA, cumulative update"
    )
    round_steps: int = Field(250, ge=1, le=MAX_STEPS, description="steps per round, sweeps included")
    prior_steps: int = Field(0, ge=0, le=MAX_STEPS, description="steps at the initial mixture before the first round")
    total_steps: int | None = Field(
        None, ge=1, le=MAX_STEPS,
        description="default session length when start() gets none"
    )

    @model_validator(mode="after")
    def _sweeps_fit_in_round(self) -> AioliConfig:
        # With d >= 1 domains the sweeps take lp_rounds * d * lp_steps steps; the d-free part is checked here,
        # the full check in AioliMixer.start once d is known.
        if self.lp_rounds * self.lp_steps >= self.round_steps:
            raise ValueError(
                f"sweeps do not fit in a round: lp_rounds * lp_steps = {self.lp_rounds * self.lp_steps} "
                f">= round_steps = {self.round_steps} (and the sweeps take that times the number of domains)"
            )
        return self


# -- the numerics of one round, as plain functions --------------------------------------------------


def smoothed_one_hots(d: int, factor: float) -> FloatArray:
    """``(d, d)`` matrix whose row ``j`` has ``factor`` on ``j`` and ``(1 - factor) / (d - 1)`` elsewhere."""
    if d == 1:
        return np.ones((1, 1))
    off = (1.0 - factor) / (d - 1)
    return np.full((d, d), off) + (factor - off) * np.eye(d)


def into_bounds(w: FloatArray, lo: FloatArray, hi: FloatArray, families: Sequence[FamilySpec] = ()) -> FloatArray:
    """``w`` ``(d,)`` or ``(m, d)`` unchanged if already within bounds, else projected row-wise into them."""
    x = np.atleast_2d(w)
    inside = np.all((x >= lo - 1e-12) & (x <= hi + 1e-12), axis=1)
    if families:
        inside &= violation(x, bounded_families(families)) <= 1e-12
    if inside.all():
        return np.array(w, dtype=np.float64)
    out = x.copy()
    out[~inside] = project_to_bounds(x[~inside], lo, hi, families=families)
    return out[0] if np.ndim(w) == 1 else out


def solve_interactions(beta: FloatArray, w: FloatArray) -> FloatArray:
    """Interaction matrix ``A`` ``(d, d)`` from sweep gains ``beta`` ``(d, d)`` and trained mixtures ``w``.

    ``A[i, j]`` is the effect of training on domain ``j`` on domain ``i``'s loss (a loss decrease per unit of
    weight). ``beta[i, j]`` is domain ``i``'s loss decrease after training on mixture ``w[j]`` (the row of
    ``w`` for domain ``j``). The linear law ``beta[i, j] = sum_k A[i, k] * w[j, k]`` reads ``beta = A @ w.T``,
    i.e. ``A_i = w^-1 beta_i`` for each row ``i``; so ``A.T`` solves ``w @ A.T = beta.T``. Solved by least
    squares so that a singular ``w`` (bounds pinning a domain) gives the minimum-norm solution.
    """
    sol, *_ = np.linalg.lstsq(w, beta.T, rcond=None)
    return np.asarray(sol.T, dtype=np.float64)


def normalize_interactions(a: FloatArray) -> FloatArray:
    """Shift ``a`` ``(d, d)`` so its minimum is 0 when negative, then divide by its total (zeros if 0)."""
    out = np.array(a, dtype=np.float64)
    low = out.min()
    if low < 0:
        out -= low
    total = out.sum()
    return out / total if total > 0 else np.zeros_like(out)


def ema_combine(a: FloatArray, a_prev: FloatArray | None, ema: float) -> FloatArray:
    """``(1 - ema) * a + ema * a_prev``; ``a`` itself when there is no previous round."""
    if a_prev is None:
        return np.array(a, dtype=np.float64)
    return (1.0 - ema) * a + ema * a_prev


def eg_update(base: FloatArray, a: FloatArray, eta: float, importance: FloatArray | None = None) -> FloatArray:
    """``p_j proportional to base_j * exp(eta * sum_i c_i a[i, j])``; ``base``, ``c`` ``(d,)``, ``a`` ``(d, d)``.

    ``importance`` ``c`` defaults to ones (every domain's loss counts the same).
    """
    gain = a.sum(axis=0) if importance is None else importance @ a
    with np.errstate(divide="ignore"):
        logits = np.log(base) + eta * gain
    logits -= logits.max()
    p = np.exp(logits)
    return np.asarray(p / p.sum(), dtype=np.float64)


def _domain_index(problem: Problem) -> dict[str, int]:
    index = {}
    for j, dom in enumerate(problem.domains):
        index[dom.name] = j
        index[f"val/{dom.name}"] = j
    return index


def target_metrics(problem: Problem, reported: Iterable[str]) -> list[str] | None:
    """The objective's metric names to learn A's rows for, or ``None`` for the domain rows.

    Target rows are used when the objective names a metric that is not a domain loss (``<domain>`` or
    ``val/<domain>``) and ``reported`` (the names a report carries besides the domain losses) covers every
    objective metric that is not a domain loss.
    """
    index = _domain_index(problem)
    names = list(problem.objective.metrics)
    outside = [n for n in names if n not in index]
    if not outside or not set(outside) <= set(reported):
        return None
    return names


def target_importance(problem: Problem, targets: Sequence[str]) -> FloatArray:
    """Weight ``(m,)`` of each target row in the update: the objective's coefficient, negated for ``maximize``,
    scaled so the mean absolute weight is 1 (ones if the objective no longer weighs any of them)."""
    c = np.array([problem.objective.metrics.get(n, 0.0) for n in targets], dtype=np.float64) * problem.objective.sign
    total = np.abs(c).sum()
    if total <= 0:
        return np.ones(len(targets))
    return np.asarray(c * len(targets) / total, dtype=np.float64)


def domain_importance(problem: Problem) -> FloatArray:
    """Weight ``(d,)`` of each domain's loss in the objective, summing to ``d`` (ones unless the objective is a
    minimized non-negative weighted sum of domain losses named ``<domain>`` or ``val/<domain>``)."""
    d = problem.d
    index = _domain_index(problem)
    metrics = problem.objective.metrics
    c = np.zeros(d)
    for name, coef in metrics.items():
        if name not in index or coef < 0:
            return np.ones(d)
        c[index[name]] += coef
    if problem.objective.direction != "minimize" or c.sum() <= 0:
        return np.ones(d)
    return np.asarray(c * d / c.sum(), dtype=np.float64)


# -- the session state ----------------------------------------------------------------------------


@dataclass
class _State:
    """Everything a session needs between calls; lists only, so :meth:`dump` is JSON."""

    version: int
    config: dict[str, Any]
    d: int
    total_steps: int
    seed: int
    phase: str
    round: int  # 0 before the first round, then 1, 2, ...
    round_start: int  # step at which the current round began
    next_step: int  # the step the last directive asked a report for
    weights: list[float]  # the last directive's weights
    p: list[float]  # the current Aioli mixture
    p0: list[float]  # the initial mixture
    w: list[list[float]]  # this round's (projected) smoothed one-hots, row j for domain j
    sweep: int
    pos: int
    perm: list[int]
    beta: list[list[float]]  # running sum over sweeps, beta[row][j]; rows are domains or ``targets``
    a: list[list[float]] | None  # last normalized A
    a_ema: list[list[float]] | None
    last_losses: list[float] | None
    targets: list[str] | None = None  # objective metrics whose rows A learns (None: the domain rows)
    last_targets: list[float] | None = None  # their values at the last report

    @classmethod
    def load(cls, raw: dict[str, Any]) -> _State:
        added = ("targets", "last_targets")  # absent from version-1 states: None there
        try:
            fields: dict[str, Any] = {k: raw.get(k) if k in added else raw[k] for k in cls.__dataclass_fields__}
            st = cls(**fields)
        except (KeyError, TypeError) as exc:
            raise MixerError(f"not an aioli session state: {exc}") from exc
        if st.version not in (1, _STATE_VERSION) or st.phase not in _PHASES:
            raise MixerError(f"unsupported aioli state (version {st.version}, phase {st.phase!r})")
        return st

    def dump(self) -> dict[str, Any]:
        # dataclasses.asdict deep-copies leaf by leaf; this JSON-only copy is several times faster (it was
        # a third of a session report's server time)
        return {name: _copy(getattr(self, name)) for name in self.__dataclass_fields__}


def _floats(x: FloatArray) -> list[Any]:
    return np.asarray(x, dtype=np.float64).tolist()


@register
class AioliMixer(OnlineMixer):
    """Aioli: learns the domain interaction matrix online and updates the mixture by exponentiated gradient."""

    name: ClassVar[str] = "aioli"
    description: ClassVar[str] = (
        "Online mixing (Aioli, Chen et al. 2024): per round, short sweeps on smoothed one-hot mixtures "
        "estimate how each domain lowers every domain's loss; the mixture follows by exponentiated gradient."
    )
    Config: ClassVar[type[MixerConfig]] = AioliConfig
    config: AioliConfig

    # -- public interface -------------------------------------------------------------------------

    def start(
        self, total_steps: int | None = None, initial_weights: FloatArray | None = None
    ) -> tuple[dict[str, Any], Directive]:
        """Begin a session of ``total_steps`` (default ``config.total_steps``) from ``initial_weights`` ``(d,)``.

        Returns the state and the first directive: report at step 0 before any training.
        """
        cfg = self.config
        d = self.problem.d
        steps = total_steps if total_steps is not None else cfg.total_steps
        if steps is None:
            raise MixerError("total_steps is required (argument or config)")
        if int(steps) != steps or steps < 1:
            raise MixerError(f"total_steps must be a positive integer, got {steps!r}")
        if d < 1:
            raise MixerError("the problem has no domains")
        sweep_steps = cfg.lp_rounds * d * cfg.lp_steps
        if sweep_steps >= cfg.round_steps:
            raise MixerError(
                f"sweeps do not fit in a round: lp_rounds * d * lp_steps = {cfg.lp_rounds} * {d} * "
                f"{cfg.lp_steps} = {sweep_steps} >= round_steps = {cfg.round_steps}; raise round_steps or "
                "lower lp_rounds / lp_steps"
            )
        lo, hi = self._bounds()
        if initial_weights is None:
            p0 = np.full(d, 1.0 / d)
        else:
            p0 = np.asarray(initial_weights, dtype=np.float64)
            if p0.shape != (d,) or not np.all(np.isfinite(p0)) or np.any(p0 < 0) or p0.sum() <= 0:
                raise MixerError(f"initial_weights must be {d} finite non-negative numbers with a positive sum")
            p0 = p0 / p0.sum()
        p0 = into_bounds(p0, lo, hi, self.problem.families)
        seed = self.seed if self.seed is not None else int(self.rng.integers(0, 2**53))  # exact in JSON clients too
        st = _State(
            version=_STATE_VERSION,
            config=cfg.model_dump(mode="json"),
            d=d,
            total_steps=int(steps),
            seed=int(seed),
            phase="init",
            round=0,
            round_start=0,
            next_step=0,
            weights=_floats(p0),
            p=_floats(p0),
            p0=_floats(p0),
            w=_floats(self._one_hots(lo, hi)),
            sweep=0,
            pos=0,
            perm=[],
            beta=_floats(np.zeros((d, d))),
            a=None,
            a_ema=None,
            last_losses=None,
            targets=None,
            last_targets=None,
        )
        return st.dump(), Directive(weights=p0.copy(), until_step=0)

    def observe(self, state: dict[str, Any], report: Report) -> tuple[dict[str, Any], Directive]:
        """Apply the report at the step the last directive asked for; returns the new state and directive.

        Raises :class:`MixerError` for a report at another step, losses that are not ``d`` finite numbers, a
        finished session, or a state made with another config or number of domains. ``state`` is not mutated.
        """
        st = _State.load(_copy(state))  # a private deep copy: the input state is never mutated
        if st.config != self.config.model_dump(mode="json") or st.d != self.problem.d:
            raise MixerError("the session state was made with another config or another set of domains")
        if st.phase == "done":
            raise MixerError("the session is done")
        step = report.step
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or int(step) != st.next_step:
            raise MixerError(f"the last directive asked for a report at step {st.next_step}, not {step!r}")
        try:
            losses = np.asarray(report.losses, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MixerError(f"losses must be numbers: {exc}") from exc
        if losses.shape != (st.d,):
            raise MixerError(f"expected {st.d} losses (one per domain), got shape {losses.shape}")
        if not np.all(np.isfinite(losses)):
            raise MixerError("losses must be finite (no NaN or infinity)")
        if st.phase == "init":
            st.targets = target_metrics(self.problem, report.metrics)
        targets = None if st.targets is None else self._target_values(st.targets, losses, report.metrics)
        st.version = _STATE_VERSION
        directive = self._advance(st, int(step), losses, targets)
        st.next_step = int(directive.until_step)
        st.weights = _floats(directive.weights)
        return st.dump(), directive

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        """JSON-friendly view of a state for the API: phase, round, next step, weights by domain name."""
        st = _State.load(state)
        names = list(self.problem.names) if self.problem.d == st.d else [str(i) for i in range(st.d)]
        losses = st.last_losses
        return {
            "phase": st.phase,
            "round": st.round,
            "round_start": st.round_start,
            "next_step": st.next_step,
            "total_steps": st.total_steps,
            "weights": dict(zip(names, st.weights, strict=True)),
            "mixture": dict(zip(names, st.p, strict=True)),
            "sweep": st.sweep if st.phase == "sweep" else None,
            "sweep_domain": names[st.perm[st.pos]] if st.phase == "sweep" else None,
            "last_losses": None if losses is None else dict(zip(names, losses, strict=True)),
            "mean_loss": None if losses is None else math.fsum(losses) / len(losses),
            "interactions": st.a,
            "rows": "domains" if st.targets is None else "objective",
            "targets": st.targets,
            "last_targets": None
            if st.targets is None or st.last_targets is None
            else dict(zip(st.targets, st.last_targets, strict=True)),
        }

    # -- transitions ------------------------------------------------------------------------------

    def _advance(self, st: _State, step: int, losses: FloatArray, targets: FloatArray | None) -> Directive:
        """Mutate ``st`` (a private copy) for the report at ``step``; return the next directive.

        ``targets``: this report's values of the target rows (``st.targets``), ``None`` with domain rows.
        """
        cfg = self.config
        if st.phase == "sweep":
            j = st.perm[st.pos]
            beta = np.array(st.beta)
            if targets is None:
                beta[:, j] += np.array(st.last_losses) - losses
            else:
                beta[:, j] += np.array(st.last_targets) - targets
            st.beta = _floats(beta)
        st.last_losses = _floats(losses)
        if targets is not None:
            st.last_targets = _floats(targets)
        if st.phase == "init":
            if cfg.prior_steps > 0:
                st.phase = "prior"
                return Directive(weights=np.array(st.p), until_step=min(cfg.prior_steps, st.total_steps))
            return self._begin_round(st, step)
        if st.phase == "sweep":
            st.pos += 1
            if st.pos == st.d:
                st.sweep += 1
                st.pos = 0
                if st.sweep == cfg.lp_rounds:
                    return self._finish_sweeps(st, step)
                st.perm = self._permutation(st.seed, st.round, st.sweep, st.d)
            return Directive(weights=np.array(st.w[st.perm[st.pos]]), until_step=step + cfg.lp_steps)
        # prior, exploit, tail: a stretch at the current mixture ended.
        if step >= st.total_steps:
            st.phase = "done"
            return Directive(weights=np.array(st.p), until_step=st.total_steps, done=True)
        return self._begin_round(st, step)

    def _begin_round(self, st: _State, step: int) -> Directive:
        cfg = self.config
        st.round += 1
        st.round_start = step
        p = np.array(st.p)
        if st.total_steps - step < cfg.lp_rounds * st.d * cfg.lp_steps + 1:
            st.phase = "tail"
            return Directive(weights=p, until_step=st.total_steps)
        lo, hi = self._bounds()
        st.w = _floats(self._one_hots(lo, hi))  # current bounds, in case the project's changed
        st.phase = "sweep"
        st.sweep = 0
        st.pos = 0
        st.perm = self._permutation(st.seed, st.round, 0, st.d)
        st.beta = _floats(np.zeros((st.d if st.targets is None else len(st.targets), st.d)))
        return Directive(weights=np.array(st.w[st.perm[0]]), until_step=step + cfg.lp_steps)

    def _finish_sweeps(self, st: _State, step: int) -> Directive:
        cfg = self.config
        beta = np.array(st.beta) / cfg.lp_rounds
        a_raw = solve_interactions(beta, np.array(st.w))
        if not np.all(np.isfinite(a_raw)):
            raise MixerError("the loss changes are too large to solve for the interaction matrix")
        a = normalize_interactions(a_raw)
        st.a = _floats(a)
        if st.targets is None:
            importance = domain_importance(self.problem)
        else:
            importance = target_importance(self.problem, st.targets)
        if cfg.ema is None:
            p = eg_update(np.array(st.p), a, cfg.eta, importance)
        else:
            a_ema = ema_combine(a, None if st.a_ema is None else np.array(st.a_ema), cfg.ema)
            st.a_ema = _floats(a_ema)
            p = eg_update(np.array(st.p0), a_ema, cfg.eta, importance)
        lo, hi = self._bounds()
        p = into_bounds(p, lo, hi, self.problem.families)
        st.p = _floats(p)
        st.phase = "exploit"
        return Directive(weights=p, until_step=min(st.round_start + cfg.round_steps, st.total_steps))

    # -- helpers ----------------------------------------------------------------------------------

    def _target_values(self, targets: Sequence[str], losses: FloatArray, metrics: Mapping[str, float]) -> FloatArray:
        """The report's value of each target row: its own metric, else the domain loss of that name."""
        index = _domain_index(self.problem)
        out = np.empty(len(targets))
        for k, name in enumerate(targets):
            if name in metrics:
                try:
                    out[k] = float(metrics[name])
                except (TypeError, ValueError) as exc:
                    raise MixerError(f"metric {name!r} must be a number: {exc}") from exc
            elif name in index:
                out[k] = losses[index[name]]
            else:
                raise MixerError(
                    f"the report lacks the objective's metric {name!r}: this session learns the objective's rows "
                    "since its step-0 report, so every report must carry it"
                )
        if not np.all(np.isfinite(out)):
            raise MixerError("the objective's metrics must be finite (no NaN or infinity)")
        return out

    def _bounds(self) -> tuple[FloatArray, FloatArray]:
        lo, hi = self.problem.bounds()
        if np.any(lo > hi) or lo.sum() > 1 + 1e-9 or hi.sum() < 1 - 1e-9:
            raise MixerError("the domain bounds are infeasible: sum(min_weight) > 1 or sum(max_weight) < 1")
        return lo, hi

    def _one_hots(self, lo: FloatArray, hi: FloatArray) -> FloatArray:
        return into_bounds(smoothed_one_hots(self.problem.d, self.config.one_hot_factor), lo, hi,
                           self.problem.families)

    @staticmethod
    def _permutation(seed: int, rnd: int, sweep: int, d: int) -> list[int]:
        return [int(i) for i in np.random.default_rng([seed, rnd, sweep]).permutation(d)]


def _copy(v: Any) -> Any:
    """Deep copy of a JSON-like value (lists of lists of numbers, dicts, scalars)."""
    if isinstance(v, list):
        return [_copy(x) for x in v]
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v
