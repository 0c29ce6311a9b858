"""Reuse after a domain-set change (Olmix's mixture reuse): the earlier recommendation's ratios are kept for the
unaffected domains, which move together as one *virtual* domain, and only the virtual domain's total and the new
or affected (*free*) domains are varied.

A :class:`ReuseSpace` maps the reduced space ``(k,)``, ``k = 1 + len(free)`` (the virtual weight first, then the
free domains in problem order), to full mixtures ``(d,)``: ``x[frozen] = v * ratios``, ``x[free] = z[1:]``. Its
:meth:`ReuseSpace.reduced_problem` is a :class:`~mixers.types.Problem` over the reduced domains with the bounds
the full problem implies (the virtual domain's bounds from every frozen domain's bounds divided by its ratio), so
the proposal recipe and the candidate search run unchanged there; expanded rows are checked against the full
problem (family bounds included).

- Proposals: ``ReuseSpace.sample`` (the RegMix recipe over the reduced problem), used by
  :func:`mixers.proposals.propose_runs` when a mixer's config carries ``reuse`` (:class:`ReuseConfig`).
- Recommendations: :func:`recommend_in_space` searches a fitted mixer's prediction (fitted on the old runs mapped
  into the new set plus the reuse runs) over the reduced space only. Measured against the mixer's own search over
  the full space (``bench/sim/reuse.py``, ``bench/replay/regmix_reuse.py``), the reduced search had the lower or an
  equal mean regret in 4 of 5 settings (add, split, remove on the simulator; Pile-CC added on the RegMix runs) and
  lost where Wikipedia was added to the RegMix runs: it is the answer to give after reuse runs.
- Removal without siblings: there is nothing free (``k = 1``); :func:`local_proposals` spends runs around the
  renormalized earlier recommendation instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from mixers.base import MixerConfig, MixerError, OfflineMixer
from mixers.proposals import ProposalRecipe
from mixers.search import dirichlet_candidates, top_k_indices
from mixers.simplex import project_to_bounds, sample_dirichlet
from mixers.types import DomainSpec, FloatArray, Problem, Recommendation

VIRTUAL = "(frozen)"
"""Name of the virtual domain in :meth:`ReuseSpace.reduced_problem` (no real domain name has parentheses)."""
LOCAL_STRENGTHS = (50.0, 200.0, 800.0)
"""Dirichlet concentrations (x the centre) of :func:`local_proposals`: draws 0.02-0.1 from the centre (L1)."""


class ReuseConfig(MixerConfig):
    """The ``reuse`` value of a mixer config, as the service fills it from the stored recommendation and the domain
    change log: ``frozen`` maps domain names to the earlier recommendation's weights (mapped into the current
    domain set; renormalized over the frozen names), ``free`` the domains to vary (default: every domain not in
    ``frozen``; a name in both is free). ``from_version`` and ``source`` are echoed in the diagnostics."""

    frozen: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        description="earlier recommendation's weights of the unaffected domains"
    )
    free: list[str] | None = Field(None, description="domains to vary (default: those not in frozen)")
    from_version: int | None = Field(None, ge=1, description="domain-set version the frozen ratios come from")
    source: str = Field("", max_length=500, description="where the frozen ratios come from (for people)")


@dataclass(frozen=True)
class ReuseSpace:
    """The reduced space of a reuse: ``frozen`` ``(f,)`` and ``free`` ``(k - 1,)`` index the full problem's domains,
    ``ratios`` ``(f,)`` (sum 1) are the frozen domains' shares of the virtual domain."""

    names: tuple[str, ...]
    frozen: NDArray[np.intp]
    ratios: FloatArray
    free: NDArray[np.intp]

    @classmethod
    def build(cls, problem: Problem, frozen: Mapping[str, float], free: Sequence[str] | None = None) -> ReuseSpace:
        """The space of ``problem`` with ``frozen`` (name -> weight, renormalized over the names not in ``free``) and
        ``free`` (default: the names not in ``frozen``). Raises :class:`MixerError` naming the field on unknown
        names, negative or all-zero ratios, a domain in neither, or bounds the frozen ratios cannot meet."""
        names = problem.names
        index = {n: i for i, n in enumerate(names)}
        for n in frozen:
            if n not in index:
                raise MixerError(f"reuse.frozen: unknown domain {n!r}")
        free_names = [n for n in names if n not in frozen] if free is None else list(free)
        for n in free_names:
            if n not in index:
                raise MixerError(f"reuse.free: unknown domain {n!r}")
        free_set = set(free_names)
        fixed = [n for n in names if n in frozen and n not in free_set]
        missing = [n for n in names if n not in frozen and n not in free_set]
        if missing:
            raise MixerError(f"reuse.frozen: domain {missing[0]!r} is neither frozen nor free")
        r = np.array([float(frozen[n]) for n in fixed], dtype=np.float64)
        if not fixed or not np.all(np.isfinite(r)) or (r < 0).any() or r.sum() <= 0:
            raise MixerError("reuse.frozen: the frozen ratios must be non-negative with a positive sum")
        space = cls(
            names,
            np.array([index[n] for n in fixed], dtype=np.intp),
            r / r.sum(),
            np.array(sorted(index[n] for n in free_set), dtype=np.intp),
        )
        space.virtual_bounds(problem)  # raises when the ratios cannot meet the bounds
        return space

    @property
    def k(self) -> int:
        """Dimension of the reduced space: the virtual domain and the free ones."""
        return 1 + len(self.free)

    @property
    def free_names(self) -> list[str]:
        return [self.names[i] for i in self.free]

    def frozen_ratios(self) -> dict[str, float]:
        return {self.names[i]: float(r) for i, r in zip(self.frozen, self.ratios, strict=True)}

    def describe(self) -> dict[str, Any]:
        """``{"frozen": {name: ratio}, "free": [names]}`` (the proposal diagnostic's core)."""
        return {"frozen": self.frozen_ratios(), "free": self.free_names}

    def expand(self, z: FloatArray) -> FloatArray:
        """Full mixtures ``(m, d)`` of reduced rows ``z`` ``(m, k)`` (or ``(d,)`` of ``(k,)``)."""
        zz = np.atleast_2d(np.asarray(z, dtype=np.float64))
        x = np.zeros((len(zz), len(self.names)))
        x[:, self.frozen] = zz[:, :1] * self.ratios
        x[:, self.free] = zz[:, 1:]
        return x[0] if np.ndim(z) == 1 else x

    def reduce(self, x: FloatArray) -> FloatArray:
        """Reduced rows ``(m, k)`` of full mixtures ``(m, d)``: the frozen block's total, then the free weights."""
        xx = np.atleast_2d(np.asarray(x, dtype=np.float64))
        z = np.column_stack([xx[:, self.frozen].sum(axis=1), xx[:, self.free]])
        return z[0] if np.ndim(x) == 1 else z

    def virtual_bounds(self, problem: Problem) -> tuple[float, float]:
        """``(lo, hi)`` of the virtual domain's total: every frozen domain's bounds over its ratio, and the bounds of
        every family of frozen domains only over its share of the ratios (a family with free members is checked on
        the expanded rows)."""
        lo, hi = problem.bounds()
        pos = self.ratios > 0
        if (lo[self.frozen][~pos] > 0).any():
            raise MixerError("reuse.frozen: a domain with a min_weight has a frozen ratio of 0")
        v_lo = float(np.max(lo[self.frozen][pos] / self.ratios[pos]))
        v_hi = min(1.0, float(np.min(hi[self.frozen][pos] / self.ratios[pos])))
        share = dict(zip(self.frozen.tolist(), self.ratios.tolist(), strict=True))
        free = set(self.free.tolist())
        for fam in problem.families:  # a family of frozen domains only: its bounds are bounds on the total
            s = sum(share.get(i, 0.0) for i in fam.members)
            if free.isdisjoint(fam.members) and s > 0:
                v_lo = max(v_lo, (fam.min_weight or 0.0) / s)
                v_hi = min(v_hi, 1.0 if fam.max_weight is None else fam.max_weight / s)
        f_lo, f_hi = float(lo[self.free].sum()), float(hi[self.free].sum())
        if v_lo > v_hi + 1e-12 or v_lo + f_lo > 1 + 1e-9 or v_hi + f_hi < 1 - 1e-9:
            raise MixerError("reuse.frozen: the frozen ratios cannot meet the domains' bounds")
        return v_lo, v_hi

    def reduced_problem(self, problem: Problem) -> Problem:
        """``problem`` over the virtual domain (tokens: the frozen domains' sum; bounds: :meth:`virtual_bounds`)
        and the free domains (as they are); no families (the expanded rows are checked against them)."""
        v_lo, v_hi = self.virtual_bounds(problem)
        toks = [problem.domains[i].tokens for i in self.frozen]
        tokens = None if any(t is None for t in toks) else float(sum(t for t in toks if t is not None))
        virtual = DomainSpec(VIRTUAL, tokens=tokens, min_weight=v_lo or None, max_weight=v_hi)
        return Problem((virtual, *(problem.domains[i] for i in self.free)), problem.objective, problem.target_fidelity)

    def deviation(self, x: FloatArray) -> FloatArray:
        """Max-abs distance ``(m,)`` of each row's frozen block from ``total x ratios`` (0 inside the space)."""
        xx = np.atleast_2d(np.asarray(x, dtype=np.float64))
        v = xx[:, self.frozen].sum(axis=1, keepdims=True)
        return np.asarray(np.abs(xx[:, self.frozen] - v * self.ratios).max(axis=1), dtype=np.float64)

    def sample(
        self, rng: np.random.Generator, problem: Problem, recipe: ProposalRecipe, m: int, allow_projection: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """Up to ``m`` full mixtures ``(m', d)`` drawn by ``recipe`` over the reduced problem and expanded (rows
        outside the full problem's family bounds dropped), and the Dirichlet strength ``(m',)`` of each."""
        if self.k == 1:
            return local_proposals(rng, problem, self.expand(np.ones(1)), m)
        z, strength = recipe.sample_with_strengths(rng, self.reduced_problem(problem), m, allow_projection)
        x = self.expand(z)
        ok = problem.feasible(x, tol=1e-9)
        return x[ok], strength[ok]


def local_proposals(
    rng: np.random.Generator, problem: Problem, center: FloatArray, m: int, strengths: Sequence[float] = LOCAL_STRENGTHS
) -> tuple[FloatArray, FloatArray]:
    """``m`` mixtures ``(m', d)`` around ``center`` ``(d,)``: Dirichlet(max(center, 1e-3) x s) for a strength s of
    ``strengths`` at random, projected into the bounds, family-infeasible rows dropped; and each row's s ``(m',)``.
    What a reuse spends its runs on when nothing is free (a removal whose domain had no family siblings)."""
    s = np.asarray(strengths, dtype=np.float64)[rng.integers(0, len(strengths), m)]
    alpha = np.maximum(np.asarray(center, dtype=np.float64), 1e-3)
    rows = np.vstack([sample_dirichlet(rng, alpha * si, 1) for si in s]) if m else np.zeros((0, len(center)))
    lo, hi = problem.bounds()
    rows = project_to_bounds(rows, lo, hi) if m else rows
    ok = problem.feasible(rows, tol=1e-9)
    return rows[ok], s[ok]


def recommend_in_space(
    mixer: OfflineMixer,
    space: ReuseSpace,
    rng: np.random.Generator,
    fidelity: Mapping[str, float] | None = None,
    n_candidates: int = 20_000,
    top_k: int = 32,
) -> Recommendation:
    """A fitted ``mixer``'s recommendation searched over the reduced space only: ``n_candidates`` Dirichlet(prior)
    draws of the reduced problem, expanded, scored by ``mixer.predict``; the mean of the ``top_k`` best (RegMix's
    averaging; the space and the bounds are convex, so the mean stays in both)."""
    problem = mixer.problem
    if space.k == 1:
        x = space.expand(np.ones((1, 1)))
    else:
        cands = dirichlet_candidates(rng, space.reduced_problem(problem), n_candidates, min_feasible=top_k)
        x = space.expand(cands.mixtures)
        x = x[problem.feasible(x, tol=1e-9)]
        if len(x) == 0:
            raise MixerError("no mixture of the reuse space meets the family bounds")
    pred = mixer.predict(x, fidelity)
    top = top_k_indices(problem.objective.sign * np.asarray(pred.mean), top_k)
    weights = x[top].mean(axis=0)
    at = mixer.predict(weights[None, :], fidelity)
    return Recommendation(
        weights=weights,
        predicted=float(at.mean[0]),
        std=None if at.std is None else float(at.std[0]),
        diagnostics={"reuse": {**space.describe(), "search": "reduced"}, "top_k": len(top), "n_candidates": len(x)},
    )


def renormalized(weights: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """``weights`` restricted to ``names`` and renormalized to sum 1 (a removal's earlier recommendation); zeros
    for names it lacks. Raises :class:`MixerError` when nothing of it is left."""
    w = {n: max(0.0, float(weights.get(n, 0.0))) for n in names}
    total = sum(w.values())
    if total <= 0:
        raise MixerError("reuse.frozen: the earlier recommendation has no weight on the remaining domains")
    return {n: v / total for n, v in w.items()}
