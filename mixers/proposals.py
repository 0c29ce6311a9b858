"""Proposals of the offline mixers: the RegMix recipe (:class:`ProposalRecipe`), what is already run or
pending, candidate pools, diverse top picks, and :func:`propose_runs`, the one proposal path that ties them
together for a mixer that optionally scores candidates (higher score = more worth running)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy.spatial.distance import cdist

from mixers.base import MixerError
from mixers.cancel import checkpoint
from mixers.simplex import greedy_distinct, novel_mask, project_to_bounds, sample_dirichlet
from mixers.types import (
    FloatArray,
    Observation,
    PendingRun,
    Problem,
    ProposedBatch,
    ProposedRun,
    fidelity_key,
)

# Two mixtures closer than this (max-abs) are "the same run" for generated proposals; pool rows use the
# tighter POOL_TOL, since a pool may hold distinct mixtures rounded to 3 decimals (0.001 apart).
PROPOSAL_TOL = 1e-3
POOL_TOL = 1e-6

PositiveFloat = Annotated[float, Field(gt=0)]


class ReuseSpace(Protocol):
    """What proposals need of a reuse space (:class:`mixers.reuse.ReuseSpace`; a protocol, so this module does not
    import that one, which builds on it)."""

    def sample(self, rng: np.random.Generator, problem: Problem, recipe: ProposalRecipe, m: int,
               allow_projection: bool = False) -> tuple[FloatArray, FloatArray]: ...

    def describe(self) -> dict[str, Any]: ...


# -- proposals ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalRecipe:
    """The RegMix proposal recipe (DESIGN 4.1).

    The prior is tempered (``prior ** temperature``, renormalized); each draw picks one of ``n_strengths``
    concentrations log-spaced in ``[strength_min, strength_max]`` at random and samples Dirichlet(tempered
    prior x strength); weights under ``min_weight`` are zeroed and the row renormalized; rows over an upper
    bound (the repetition cap, ``max_weight``) are rejected, and the rest projected onto the lower bounds.

    ``uniform_share`` (default 0: RegMix's recipe, draws unchanged) centres that share of the draws on the uniform
    mixture instead of the tempered prior (temperature 0). When the prior is dominated by plentiful low-value
    domains and there are many domains, every prior-centred draw leaves the scarce domains near zero and no run lands
    near uniform, so no model fitted on the swarm can see that region (bench/sim/swarm_diag.py).
    """

    temperature: float = 0.5
    strength_min: float = 0.1
    strength_max: float = 5.0
    n_strengths: int = 15
    min_weight: float = 2e-4
    uniform_share: float = 0.0

    def strengths(self) -> FloatArray:
        return np.logspace(math.log10(self.strength_min), math.log10(self.strength_max), self.n_strengths)

    def as_dict(self) -> dict[str, float]:
        return {"temperature": self.temperature, "strength_min": self.strength_min,
                "strength_max": self.strength_max, "n_strengths": self.n_strengths, "min_weight": self.min_weight,
                "uniform_share": self.uniform_share}

    def draw(self, rng: np.random.Generator, prior: FloatArray, m: int) -> FloatArray:
        """``m`` raw draws ``(m, d)`` (min-weight zeroing applied, bounds not yet)."""
        return self.draw_with_strengths(rng, prior, m)[0]

    def draw_with_strengths(self, rng: np.random.Generator, prior: FloatArray, m: int) -> tuple[FloatArray, FloatArray]:
        """``m`` raw draws ``(m, d)`` and the Dirichlet strength ``(m,)`` each was drawn with."""
        tempered = prior**self.temperature
        tempered = tempered / tempered.sum()
        strengths = self.strengths()
        which = rng.integers(0, len(strengths), size=m)
        out = np.empty((m, len(prior)))
        # Uniform-centred rows: the first round(uniform_share * m) rows (no extra random draws, so share 0 leaves
        # RegMix's draws bit-identical).
        n_uniform = round(self.uniform_share * m)
        centre = np.full(len(prior), 1.0 / len(prior))
        for i, s in enumerate(strengths):
            rows = np.flatnonzero(which == i)
            uni, tem = rows[rows < n_uniform], rows[rows >= n_uniform]
            if len(tem):
                out[tem] = sample_dirichlet(rng, tempered * s, len(tem))
            if len(uni):
                out[uni] = sample_dirichlet(rng, centre * s, len(uni))
        small = out < self.min_weight
        # Never zero a whole row: keep each row's largest weight.
        small[np.arange(m), out.argmax(axis=1)] = False
        out[small] = 0.0
        return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64), np.asarray(strengths[which])

    def sample(self, rng: np.random.Generator, problem: Problem, m: int, allow_projection: bool = False) -> FloatArray:
        """Up to ``m`` feasible rows ``(<=m, d)``: over-cap draws rejected, the rest projected into the bounds.

        With ``allow_projection`` the over-cap draws are projected too (used when the caps reject nearly all).
        """
        return self.sample_with_strengths(rng, problem, m, allow_projection)[0]

    def sample_with_strengths(
        self, rng: np.random.Generator, problem: Problem, m: int, allow_projection: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`sample`, and the strength ``(<=m,)`` of each row."""
        lo, hi = problem.bounds()
        raw, strength = self.draw_with_strengths(rng, problem.prior(), m)
        if not allow_projection:
            keep = np.all(raw <= hi + 1e-12, axis=1)
            raw, strength = raw[keep], strength[keep]
        if len(raw) == 0:
            return raw, strength
        inside = problem.feasible(raw, tol=0.0)
        if not inside.all():
            raw = raw.copy()
            raw[~inside] = project_to_bounds(raw[~inside], lo, hi, families=problem.families)
        return raw, strength


def existing_mixtures(
    observations: Sequence[Observation], pending: Sequence[PendingRun], fidelity: Mapping[str, float]
) -> FloatArray:
    """Mixtures ``(e, d)`` of the observed (any status) and pending runs at ``fidelity``."""
    key = fidelity_key(fidelity)
    runs: list[Observation | PendingRun] = [*observations, *pending]
    rows = [np.asarray(r.weights, dtype=np.float64) for r in runs if fidelity_key(r.fidelity) == key]
    if not rows:
        d = len(observations[0].weights) if observations else (len(pending[0].weights) if pending else 0)
        return np.zeros((0, d))
    return np.vstack(rows)


def proposal_fidelity(
    problem: Problem,
    fidelity: Mapping[str, float] | None,
    fidelities: Sequence[Mapping[str, float]] | None,
    train_fidelity: Mapping[str, float] | None,
) -> dict[str, float]:
    """Fidelity of proposed runs for mixers that do not model scale.

    The ``fidelity`` argument, else the first of ``fidelities``, else the train fidelity, else the target,
    else ``{}``.
    """
    for f in (fidelity, fidelities[0] if fidelities else None, train_fidelity, problem.target_fidelity):
        if f is not None:
            return {str(k): float(v) for k, v in f.items()}
    return {}


def eligible_pool(problem: Problem, candidates: FloatArray, existing: FloatArray) -> NDArray[np.intp]:
    """Indices of pool rows that are feasible, not an existing run, and not a duplicate of an earlier row."""
    pool = np.asarray(candidates, dtype=np.float64)
    if pool.ndim != 2 or pool.shape[1] != problem.d:
        raise MixerError(f"candidates must have shape (c, {problem.d}), got {pool.shape}")
    ok = problem.feasible(pool, tol=1e-9) & np.isclose(pool.sum(axis=1), 1.0, atol=1e-6)
    ok &= novel_mask(pool, existing, POOL_TOL)
    idx = np.flatnonzero(ok)
    keep = greedy_distinct(idx, pool, len(idx), POOL_TOL)
    return np.asarray(sorted(keep), dtype=np.intp)


def collect_novel(
    draw: Callable[[int, int], tuple[FloatArray, FloatArray]],
    existing: FloatArray,
    want: int,
    n: int,
    max_rounds: int = 20,
) -> tuple[FloatArray, FloatArray]:
    """Up to ``want`` distinct rows ``(m, d)`` novel against ``existing``, with the tag ``(m,)`` each was drawn with.

    ``draw(round, missing)`` gives candidate rows and a per-row tag; each round keeps the rows farther than
    ``PROPOSAL_TOL`` from ``existing`` and from those found so far, distinct among themselves, until ``want`` are
    found or ``max_rounds`` pass. Raises MixerError when fewer than ``n`` were found.
    """
    found = np.zeros((0, existing.shape[1]))
    found_tag = np.zeros(0)
    for rnd in range(max_rounds):
        checkpoint()
        rows, tag = draw(rnd, want - len(found))
        if len(rows) == 0:
            continue
        keep_new = novel_mask(rows, existing, PROPOSAL_TOL) & novel_mask(rows, found, PROPOSAL_TOL)
        rows, tag = rows[keep_new], tag[keep_new]
        keep = greedy_distinct(np.arange(len(rows)), rows, want - len(found), PROPOSAL_TOL)
        found = np.vstack([found, rows[keep]])
        found_tag = np.concatenate([found_tag, tag[keep]])
        if len(found) >= want:
            break
    if len(found) < n:
        raise MixerError(
            f"could only find {len(found)} distinct feasible mixtures not already run or pending "
            f"(asked for {n}); the bounds may leave too little room"
        )
    return found, found_tag


def random_proposals_with_strengths(
    rng: np.random.Generator,
    problem: Problem,
    recipe: ProposalRecipe,
    n: int,
    existing: FloatArray,
    batch: int | None = None,
    max_rounds: int = 20,
    space: ReuseSpace | None = None,
) -> tuple[FloatArray, FloatArray]:
    """``n`` distinct recipe draws ``(n, d)`` novel against ``existing``, and the recipe strength ``(n,)`` each was
    drawn with; with ``batch`` set, up to ``batch`` rows instead (a candidate set for scoring; at least ``n`` unless
    impossible); with ``space``, drawn in that reuse space (:meth:`mixers.reuse.ReuseSpace.sample`). Raises
    MixerError when ``n`` distinct feasible mixtures cannot be found."""

    def draw(rnd: int, missing: int) -> tuple[FloatArray, FloatArray]:
        late = rnd >= max_rounds // 2
        if space is not None:
            return space.sample(rng, problem, recipe, 2 * missing + 64, allow_projection=late)
        return recipe.sample_with_strengths(rng, problem, 2 * missing + 64, allow_projection=late)

    return collect_novel(draw, existing.reshape(-1, problem.d), max(n, batch or 0), n, max_rounds)


def diverse_top(
    score: FloatArray, mixtures: FloatArray, n: int, avoid: FloatArray | None = None, diversity: float = 1.0
) -> list[int]:
    """Pick ``n`` rows of ``mixtures`` ``(c, d)`` with high ``score`` ``(c,)`` that are spread out.

    Greedy local penalization: after each pick, every score is multiplied by ``1 - exp(-dist^2 / length^2)``
    (dist: Euclidean distance to the pick), so near-duplicates of a pick lose their appeal. ``avoid`` rows
    (e.g. pending runs) penalize from the start. ``length`` is ``diversity`` times the median distance from the
    candidates to their centroid (1.0 did best among 0.5-3 in the RegMix pool replay, ``bench/replay/regmix_pool.py``).
    Scores are shifted to be positive first. Hand-written: greedy batch
    selection with a distance penalty is a few lines, and no library provides it for a plain candidate set.
    """
    c = len(mixtures)
    if c == 0 or n <= 0:
        return []
    s = np.asarray(score, dtype=np.float64)
    s = s - s.min() + 1e-12 * (1.0 + abs(float(s.max())))
    spread = np.linalg.norm(mixtures - mixtures.mean(axis=0), axis=1)
    length = max(diversity * float(np.median(spread)), 1e-6)
    penalty = np.ones(c)
    if avoid is not None and len(avoid):
        for row in avoid:
            penalty *= 1.0 - np.exp(-np.sum((mixtures - row) ** 2, axis=1) / length**2)
    chosen: list[int] = []
    taken = np.zeros(c, dtype=bool)
    for _ in range(min(n, c)):
        checkpoint()
        eff = np.where(taken, -np.inf, s * penalty)
        i = int(np.argmax(eff))
        chosen.append(i)
        taken[i] = True
        penalty *= 1.0 - np.exp(-np.sum((mixtures - mixtures[i]) ** 2, axis=1) / length**2)
    return chosen


def candidate_density(x: FloatArray, max_reference: int = 2048) -> FloatArray:
    """Plausibility ``(c,)`` in ``(0, 1]`` of candidates ``x`` ``(c, d)`` under the distribution they were drawn
    from: a Gaussian kernel density over (up to ``max_reference`` evenly spaced rows of) the candidates themselves,
    bandwidth half the median distance to their centroid, divided by its maximum. Isolated draws (a recipe's
    near-vertex mixtures) score low, the bulk where most mixtures, and most future questions, lie scores high.
    Hand-written: scipy's gaussian_kde needs a non-singular covariance, which mixtures on the simplex lack.
    """
    c = len(x)
    if c == 0:
        return np.zeros(0)
    ref = x[np.linspace(0, c - 1, min(c, max_reference)).astype(np.intp)]
    h = max(0.5 * float(np.median(np.linalg.norm(x - x.mean(axis=0), axis=1))), 1e-6)
    dens = np.empty(c)
    step = max(1, 4_000_000 // len(ref))
    for i in range(0, c, step):
        d2 = cdist(x[i:i + step], ref, "sqeuclidean")
        dens[i:i + step] = np.exp(-d2 / (2 * h * h)).mean(axis=1)
    return np.asarray(dens / dens.max(), dtype=np.float64)


def nearest_to_space(
    rng: np.random.Generator, problem: Problem, recipe: ProposalRecipe, space: ReuseSpace, pool: FloatArray, n: int
) -> NDArray[np.intp]:
    """Positions of up to ``n`` distinct rows of ``pool`` ``(c, d)``: for each of ``n`` draws of the reuse
    ``space``, the nearest pool row (Euclidean) not taken yet."""
    draws, _ = space.sample(rng, problem, recipe, 4 * n + 16, allow_projection=True)
    dist = cdist(draws[: max(n, 1) * 4], pool)
    taken: list[int] = []
    for row in dist:
        if len(taken) >= min(n, len(pool)):
            break
        order = np.argsort(row, kind="stable")
        pick = next(int(j) for j in order if int(j) not in taken)
        taken.append(pick)
    return np.asarray(taken, dtype=np.intp)


Scorer = Callable[[FloatArray], FloatArray]
"""Scores ``(c,)`` of candidate mixtures ``(c, d)``, higher = more worth running. A scorer may also expose
``parts``: a dict of per-candidate arrays ``(c,)`` from its last call (e.g. disagreement, plausibility), which the
proposal's diagnostics report for the chosen runs."""


def _summary(values: FloatArray) -> dict[str, float]:
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def propose_runs(
    problem: Problem,
    rng: np.random.Generator,
    n: int,
    fidelity: dict[str, float],
    observations: Sequence[Observation],
    pending: Sequence[PendingRun],
    candidates: FloatArray | None,
    recipe: ProposalRecipe,
    scorer: Scorer | None = None,
    n_scored: int = 2048,
    diversity: float = 1.0,
    space: ReuseSpace | None = None,
) -> ProposedBatch:
    """``n`` new runs at ``fidelity``: distinct, feasible, none equal to an observed or pending run there.

    ``candidates`` ``(c, d)``: choose only among its eligible rows (fewer than ``n`` if the pool runs out;
    MixerError if none is left). Without a ``scorer`` the choice is random (pool rows in random order, or
    fresh recipe draws); with one, ``n_scored`` recipe draws (or the pool) are scored (higher = better) and
    a spread-out high-scoring batch is taken (:func:`diverse_top` with ``diversity``, pending runs penalized).
    The batch's ``diagnostics`` say how: ``method`` (recipe, active, pool, pool_active), the recipe and each
    run's Dirichlet strength when drawn from it, and the scorer's parts (disagreement, plausibility) for each
    chosen run next to their spread over all candidates scored.

    ``space`` (a reuse after a domain-set change, :mod:`mixers.reuse`): draws come from the reuse space (the frozen
    domains in their fixed ratios, only their total and the free domains varied); with ``candidates``, the pool
    rows nearest to such draws are taken (``pool_reuse``). ``diagnostics["reuse"]`` says what was frozen.
    """
    if n < 1:
        raise MixerError("n must be at least 1")
    existing = existing_mixtures(observations, pending, fidelity)
    if existing.shape[1] != problem.d:
        existing = np.zeros((0, problem.d))
    pend = np.vstack([np.asarray(p.weights) for p in pending]) if pending else None
    diag: dict[str, Any] = {}
    strengths: FloatArray | None = None
    picked_parts: dict[str, FloatArray] = {}
    cand_parts: dict[str, FloatArray] = {}

    def scored(cands: FloatArray) -> list[int]:
        assert scorer is not None
        score = scorer(cands)
        chosen = diverse_top(score, cands, n, pend, diversity)
        parts = {"score": score, **getattr(scorer, "parts", {})}
        for key, values in parts.items():
            cand_parts[key] = np.asarray(values, dtype=np.float64)
            picked_parts[key] = cand_parts[key][chosen]
        return chosen

    if candidates is not None and space is not None:
        pool = np.asarray(candidates, dtype=np.float64)
        idx = eligible_pool(problem, pool, existing)
        if len(idx) == 0:
            raise MixerError("no candidate is feasible and new (all are out of bounds, already run or pending)")
        rows = pool[idx[nearest_to_space(rng, problem, recipe, space, pool[idx], n)]]
        diag.update({"method": "pool_reuse", "pool_eligible": len(idx), "recipe": recipe.as_dict()})
    elif candidates is not None:
        pool = np.asarray(candidates, dtype=np.float64)
        idx = eligible_pool(problem, pool, existing)
        if len(idx) == 0:
            raise MixerError("no candidate is feasible and new (all are out of bounds, already run or pending)")
        picked = idx[rng.permutation(len(idx))[:n]] if scorer is None else idx[scored(pool[idx])]
        rows = pool[picked]
        diag.update({"method": "pool" if scorer is None else "pool_active", "pool_eligible": len(idx)})
    elif scorer is None:
        rows, strengths = random_proposals_with_strengths(rng, problem, recipe, n, existing, space=space)
        diag.update({"method": "recipe", "recipe": recipe.as_dict()})
    else:
        cands, cand_strengths = random_proposals_with_strengths(rng, problem, recipe, n, existing, batch=n_scored,
                                                                space=space)
        chosen = scored(cands)
        rows, strengths = cands[chosen], cand_strengths[chosen]
        diag.update({"method": "active", "recipe": recipe.as_dict(), "candidates_scored": len(cands)})
    if scorer is not None:
        diag["diversity"] = diversity
        if candidates is not None:
            diag["candidates_scored"] = len(idx)
        diag["candidates"] = {key: _summary(values) for key, values in cand_parts.items()}
    per_run: list[dict[str, float | None]] = []
    for i, row in enumerate(rows):
        entry: dict[str, float | None] = {"max_weight": float(np.max(row))}
        if strengths is not None:
            entry["strength"] = float(strengths[i])
        for key, values in picked_parts.items():
            entry[key] = float(values[i])
        per_run.append(entry)
    diag["runs"] = per_run
    if space is not None:
        diag["reuse"] = space.describe()
    return ProposedBatch(
        [ProposedRun(weights=np.array(r, dtype=np.float64), fidelity=dict(fidelity)) for r in rows], diag
    )
