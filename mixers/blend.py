"""Weights of a blend of models from their out-of-fold predictions (``regmix`` ``model: "auto"``).

The blend is a convex combination ``sum_i w_i * model_i(x)`` (``w >= 0``, ``sum w = 1``), so it predicts in the
objective's units and its minimum can be searched like one model. The weights are the non-negative least-squares
stack of the centred out-of-fold predictions (Breiman's stacked regression), normalized to sum to one and then
shrunk towards equal weights by ``shrink``: cross-validation measures accuracy at the fidelity the runs were made
at, where the tree model is at its best, while the blend is meant to rank mixtures at the target fidelity too,
where the parametric law transfers better (see ``regmix``'s module docstring for the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from mixers.training import safe_spearman
from mixers.types import FloatArray


@dataclass(frozen=True)
class BlendWeights:
    """The chosen weights (``names`` order) and how they were found."""

    names: tuple[str, ...]
    weights: FloatArray
    cv_weights: FloatArray | None
    shrink: float
    member_cv_spearman: dict[str, float | None] = field(default_factory=dict)
    blend_cv_spearman: float | None = None
    method: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "weights": {n: float(w) for n, w in zip(self.names, self.weights, strict=True)},
            "cv_weights": (None if self.cv_weights is None
                           else {n: float(w) for n, w in zip(self.names, self.cv_weights, strict=True)}),
            "shrink_to_equal": self.shrink,
            "member_cv_spearman": dict(self.member_cv_spearman),
            "blend_cv_spearman": self.blend_cv_spearman,
            "method": self.method,
        }


def stacking_weights(oof: FloatArray, y: FloatArray) -> FloatArray:
    """Non-negative weights ``(M,)`` summing to one from out-of-fold predictions ``oof`` ``(n, M)`` of ``y`` ``(n,)``.

    Least squares on centred columns (the blend needs no intercept: each member is already unbiased in-sample);
    equal weights when every coefficient is zero (no member tracks ``y``).
    """
    a = oof - oof.mean(axis=0)
    b = y - y.mean()
    scale = a.std(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(a / scale, b / (b.std() or 1.0))
    w = coef / scale  # back to the members' own units
    total = float(w.sum())
    if not np.isfinite(total) or total <= 0:
        return np.full(oof.shape[1], 1.0 / oof.shape[1])
    return np.asarray(w / total, dtype=np.float64)


def choose_weights(names: tuple[str, ...], oof: FloatArray | None, y: FloatArray, shrink: float) -> BlendWeights:
    """Blend weights from out-of-fold predictions ``oof`` ``(n, M)`` (None: no cross-validation, equal weights)."""
    m = len(names)
    equal = np.full(m, 1.0 / m)
    if oof is None:
        return BlendWeights(names, equal, None, shrink, method="equal weights (too few runs to cross-validate)")
    cv_w = stacking_weights(oof, y)
    w = (1.0 - shrink) * cv_w + shrink * equal
    return BlendWeights(
        names, w, cv_w, shrink,
        member_cv_spearman={n: safe_spearman(oof[:, i], y) for i, n in enumerate(names)},
        blend_cv_spearman=safe_spearman(oof @ w, y),
        method=f"non-negative stacking of out-of-fold predictions, shrunk {shrink:g} of the way to equal weights",
    )
