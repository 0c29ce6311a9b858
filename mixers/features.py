"""What ``regmix`` and ``mixing_law`` regress on: the mixture weights, plus features of the family hierarchy and of
repetition (config ``features``).

- ``weights``: the ``d`` weights (the default; nothing else changes).
- ``families``: the weights and each family's total (the sum of its members' weights), every level of
  ``Problem.families``: ``F`` more columns. Trees split on a family's share directly instead of assembling it from
  many member splits. ``mixing_law``'s exponential law leaves them out (:meth:`FeatureMap.for_law`): its exponent is
  linear in its inputs, so totals, linear in the weights, add nothing. (``regmix``'s law member, in ``model: auto``,
  stays on the weights for every feature set; only its trees see the features.)
- ``families+epochs``: also the repetition feature, where every domain's ``tokens`` and the target's ``tokens`` are
  known. A domain's epochs at the target are ``e_i = w_i * target_tokens / tokens_i``. Following the data-constrained
  scaling law (Muennighoff et al. 2023: repeated tokens are worth exponentially less, effective data
  ``U + U * R* * (1 - exp(-R / R*))`` for ``R = e - 1`` repetitions, fitted ``R* ~ 15.4``), the effective epochs are
  ``eff(e) = e`` for ``e <= 1`` and ``1 + R* (1 - exp(-(e - 1) / R*))`` beyond, and the feature is the share of the
  training tokens that repetition wastes: ``waste(w) = sum_i w_i * (1 - eff(e_i) / e_i)`` (0 without repetition,
  smooth at ``e = 1``, below 1). Why this form rather than ``sum max(0, e_i - 1)`` or ``sum log1p(e_i)``: it is zero
  until a domain repeats (log1p is not), has no kink at one epoch (the hinge has one, which SLSQP handles badly),
  saturates as the law it comes from does, and is in units of training tokens lost, so one coefficient covers all
  domains. The model learns its coefficient, constrained to one sign: more waste never helps (LightGBM's monotone
  constraint in ``regmix``, a bound on the law's coefficient). A hard ``max_epochs`` cap still bounds the search.

The map is ``phi(x) = [x, x @ A.T, waste(x)]`` for mixtures ``x`` ``(m, d)`` with ``A`` ``(F, d)`` the 0/1 family
membership matrix; :meth:`FeatureMap.vjp` gives ``J_phi(p).T @ g`` for gradients through it (the law's optimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mixers.types import FloatArray, Problem

FeatureSet = Literal["weights", "families", "families+epochs"]
FEATURE_SETS: tuple[FeatureSet, ...] = ("weights", "families", "families+epochs")
R_STAR = 15.4  # Muennighoff et al. 2023's fitted decay constant for repeated data (R_D*)


def effective_epochs(e: FloatArray, r_star: float = R_STAR) -> FloatArray:
    """Data-constrained effective epochs ``(...)`` of epochs ``e`` ``(...)``: ``e`` up to 1, then decaying returns."""
    rep = np.maximum(e - 1.0, 0.0)
    return np.where(e <= 1.0, e, 1.0 + r_star * (1.0 - np.exp(-rep / r_star)))


def available_feature_sets(problem: Problem) -> tuple[FeatureSet, ...]:
    """The feature sets this problem supports: ``weights`` always; ``families`` when a family has two or more
    members; ``families+epochs`` when, besides, every domain's tokens and the target's tokens are known."""
    out: list[FeatureSet] = ["weights"]
    if _family_matrix(problem).shape[0]:
        out.append("families")
        if _epoch_scale(problem) is not None:
            out.append("families+epochs")
    return tuple(out)


def _family_matrix(problem: Problem) -> FloatArray:
    """Membership ``(F, d)`` of the families with at least two members and not every domain."""
    rows = []
    for fam in problem.families:
        if 2 <= len(fam.members) < problem.d:
            row = np.zeros(problem.d)
            row[list(fam.members)] = 1.0
            rows.append(row)
    return np.vstack(rows) if rows else np.zeros((0, problem.d))


def _epoch_scale(problem: Problem) -> FloatArray | None:
    """``target_tokens / tokens_i`` ``(d,)``, or None when any of them is unknown."""
    target = (problem.target_fidelity or {}).get("tokens")
    toks = [dom.tokens for dom in problem.domains]
    if not target or any(t is None or t <= 0 for t in toks):
        return None
    return float(target) / np.asarray(toks, dtype=np.float64)


@dataclass(frozen=True)
class FeatureMap:
    """``phi``: mixtures ``(m, d)`` to features ``(m, n_features)`` (module docstring)."""

    kind: FeatureSet
    families: FloatArray  # (F, d); (0, d) for "weights"
    epoch_scale: FloatArray | None  # (d,) target tokens / domain tokens, only for "families+epochs"
    names: tuple[str, ...]

    @classmethod
    def build(cls, problem: Problem, kind: FeatureSet) -> FeatureMap:
        """The map of ``kind`` for ``problem``; ``ValueError`` when the problem lacks what it needs."""
        if kind not in available_feature_sets(problem):
            need = (
                "a family with two or more domains (names like family/name)"
                if kind == "families"
                else "families, every domain's tokens and the target fidelity's tokens"
            )
            raise ValueError(f"features {kind!r} need {need}")
        names = list(problem.names)
        fams = np.zeros((0, problem.d))
        scale = None
        if kind != "weights":
            fams = _family_matrix(problem)
            names += [f"family:{f.name}" for f in problem.families if 2 <= len(f.members) < problem.d]
        if kind == "families+epochs":
            scale = _epoch_scale(problem)
            names.append("repetition_waste")
        return cls(kind, fams, scale, tuple(names))

    def for_law(self) -> FeatureMap:
        """The map the exponential law uses: the weights, plus the repetition waste when this set has it (family
        totals are linear in the weights, so the law's linear exponent gains nothing from them)."""
        if self.epoch_scale is None:
            return FeatureMap("weights", self.families[:0], None, self.names[: self.families.shape[1]])
        d = self.families.shape[1]
        return FeatureMap(self.kind, self.families[:0], self.epoch_scale, (*self.names[:d], self.names[-1]))

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def plain(self) -> bool:
        return self.kind == "weights"

    def __call__(self, x: FloatArray) -> FloatArray:
        """Features ``(m, n_features)`` of mixtures ``x`` ``(m, d)`` (``x`` itself for ``weights``)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if self.plain:
            return x
        cols = [x, x @ self.families.T]
        if self.epoch_scale is not None:
            cols.append(self.waste(x)[:, None])
        return np.hstack(cols)

    def epochs(self, x: FloatArray) -> FloatArray:
        """Epochs of each domain at the target ``(m, d)`` for mixtures ``(m, d)``."""
        if self.epoch_scale is None:
            raise ValueError("epochs need every domain's tokens and the target's tokens")
        return np.asarray(x, dtype=np.float64) * self.epoch_scale

    def waste(self, x: FloatArray) -> FloatArray:
        """Share of training tokens wasted by repetition ``(m,)``: ``sum_i w_i (1 - eff(e_i) / e_i)``."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        e = self.epochs(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(e > 1.0, 1.0 - effective_epochs(e) / e, 0.0)
        return np.asarray((x * frac).sum(axis=1), dtype=np.float64)

    def vjp(self, p: FloatArray, g: FloatArray) -> FloatArray:
        """``J_phi(p).T @ g`` ``(d,)`` at one mixture ``p`` ``(d,)`` for a gradient ``g`` ``(n_features,)``."""
        d = len(p)
        out = np.asarray(g[:d], dtype=np.float64).copy()
        if self.plain:
            return out
        n_fam = self.families.shape[0]
        out += self.families.T @ g[d : d + n_fam]
        if self.epoch_scale is not None:
            k = self.epoch_scale
            e = np.maximum(k * p, 0.0)
            # d/dp [p (1 - eff(kp) / (kp))] = d/dp [p - eff(kp) / k] = 1 - eff'(kp) for kp > 1, else 0
            slope = np.where(e > 1.0, 1.0 - np.exp(-np.maximum(e - 1.0, 0.0) / R_STAR), 0.0)
            out += g[d + n_fam] * slope
        return out

    def attribute(self, x: FloatArray, contrib: FloatArray) -> FloatArray:
        """Per-feature contributions ``(n, n_features)`` at mixtures ``x`` ``(n, d)`` folded onto the domains
        ``(n, d)``: a family total's share goes to its members in proportion to their weights (equally when the
        family has none), the repetition feature's to the domains in proportion to the tokens each wastes."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        d = x.shape[1]
        out = np.asarray(contrib[:, :d], dtype=np.float64).copy()
        if self.plain:
            return out
        n_fam = self.families.shape[0]
        for f in range(n_fam):
            member = self.families[f] > 0
            share = x * member
            total = share.sum(axis=1, keepdims=True)
            share = np.where(total > 0, share / np.where(total > 0, total, 1.0), member / member.sum())
            out += contrib[:, d + f : d + f + 1] * share
        if self.epoch_scale is not None:
            e = self.epochs(x)
            with np.errstate(divide="ignore", invalid="ignore"):
                waste = x * np.where(e > 1.0, 1.0 - effective_epochs(e) / e, 0.0)
            total = waste.sum(axis=1, keepdims=True)
            share = np.where(total > 0, waste / np.where(total > 0, total, 1.0), 1.0 / d)
            out += contrib[:, d + n_fam : d + n_fam + 1] * share
        return out
