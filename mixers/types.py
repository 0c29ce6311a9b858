"""Frozen domain objects handed from the service layer to the mixers.

These are the only types shared between ``store``/``app`` and ``mixers``: the service layer builds them
from database rows, and the mixers return the result types below. Everything here is plain Python and
numpy; nothing imports FastAPI or SQLAlchemy.

Conventions: ``d`` is the number of domains, weights are float64 arrays of shape ``(d,)`` in the order of
``Problem.domains``, and a batch of mixtures is an array of shape ``(m, d)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Fidelity = Mapping[str, float]
Direction = Literal["minimize", "maximize"]
Transfer = Literal["observed", "assumed", "extrapolated"]


@dataclass(frozen=True)
class DomainSpec:
    """One data source. ``tokens`` is the number of tokens available (``None``: unknown)."""

    name: str
    tokens: float | None = None
    min_weight: float | None = None
    max_weight: float | None = None
    max_epochs: float | None = None


@dataclass(frozen=True)
class FamilySpec:
    """A family of domains: a name prefix (``dclm`` or ``dclm/web``) and the indices of its member domains in
    ``Problem.domains``; ``min_weight``/``max_weight`` bound the family's total weight (``None``: unbounded)."""

    name: str
    members: tuple[int, ...]
    min_weight: float | None = None
    max_weight: float | None = None


@dataclass(frozen=True)
class Objective:
    """A weighted sum of metrics to minimize or maximize.

    A single metric is ``Objective({"loss": 1.0})``. ``value`` returns ``None`` when a run lacks one of the
    metrics (the run then does not count for this objective).
    """

    metrics: Mapping[str, float]
    direction: Direction = "minimize"

    def value(self, metrics: Mapping[str, float]) -> float | None:
        total = 0.0
        for name, coef in self.metrics.items():
            v = metrics.get(name)
            if v is None or not math.isfinite(v):
                return None
            total += coef * v
        return total

    @property
    def sign(self) -> float:
        """+1 to turn the objective into a loss to minimize, -1 for ``maximize``."""
        return 1.0 if self.direction == "minimize" else -1.0


@dataclass(frozen=True)
class Problem:
    """What a mixer optimizes: the domains with their constraints, the objective, the target scale.

    ``embeddings`` maps a domain name or ``"target"`` to an ``(n, dim)`` float32 array (only the OT mixer
    reads it). ``families`` lists every family the domain names imply (all prefix levels, see
    ``mixers.families.build_families``), with the bounds the project sets on some of them.
    """

    domains: tuple[DomainSpec, ...]
    objective: Objective
    target_fidelity: Mapping[str, float] | None = None
    embeddings: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    families: tuple[FamilySpec, ...] = ()

    @property
    def d(self) -> int:
        return len(self.domains)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dom.name for dom in self.domains)

    def prior(self) -> FloatArray:
        """Token shares of the domains, shape ``(d,)``; uniform when any domain's tokens are unknown."""
        toks = [dom.tokens for dom in self.domains]
        if any(t is None or t <= 0 for t in toks):
            return np.full(self.d, 1.0 / self.d)
        arr = np.asarray(toks, dtype=np.float64)
        return arr / arr.sum()

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """Lower and upper weight bounds, each shape ``(d,)``.

        The upper bound includes the repetition cap ``max_epochs * tokens / target_fidelity['tokens']``
        where all three are known.
        """
        lo = np.array([dom.min_weight or 0.0 for dom in self.domains], dtype=np.float64)
        hi = np.array([1.0 if dom.max_weight is None else dom.max_weight for dom in self.domains], dtype=np.float64)
        target_tokens = (self.target_fidelity or {}).get("tokens")
        if target_tokens:
            for i, dom in enumerate(self.domains):
                if dom.max_epochs is not None and dom.tokens is not None:
                    hi[i] = min(hi[i], dom.max_epochs * dom.tokens / target_tokens)
        return lo, hi

    def feasible(self, mixtures: FloatArray, tol: float = 1e-9) -> NDArray[np.bool_]:
        """Boolean mask ``(m,)`` of the rows of ``mixtures`` ``(m, d)`` inside the bounds."""
        lo, hi = self.bounds()
        ok = np.all((mixtures >= lo - tol) & (mixtures <= hi + tol), axis=1)
        for fam in self.families:
            if fam.min_weight is None and fam.max_weight is None:
                continue
            total = mixtures[:, list(fam.members)].sum(axis=1)
            if fam.min_weight is not None:
                ok &= total >= fam.min_weight - tol
            if fam.max_weight is not None:
                ok &= total <= fam.max_weight + tol
        return np.asarray(ok)


@dataclass(frozen=True)
class Observation:
    """One run a mixer learns from. ``status`` is ``completed`` for finished runs."""

    weights: FloatArray
    fidelity: Mapping[str, float]
    metrics: Mapping[str, float]
    cost: float | None = None
    status: str = "completed"
    trajectory: Sequence[Mapping[str, float]] | None = None


@dataclass(frozen=True)
class PendingRun:
    """A run proposed earlier and not finished yet: its mixture ``(d,)`` and fidelity."""

    weights: FloatArray
    fidelity: Mapping[str, float]


@dataclass(frozen=True)
class Predictions:
    """``mean`` ``(m,)`` of the objective (in its own direction), ``std`` ``(m,)`` or ``None``."""

    mean: FloatArray
    std: FloatArray | None = None


@dataclass(frozen=True)
class Recommendation:
    weights: FloatArray
    predicted: float
    std: float | None = None
    diagnostics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FidelityAnswer:
    """Where a mixer's numbers live (DESIGN 5): the fidelity they are for, and how they got there.

    ``transfer``: ``observed`` (runs exist at ``fidelity``), ``assumed`` (carried over from another fidelity
    with no model of the shift) or ``extrapolated`` (a fitted model across fidelities). ``note`` says why.
    """

    fidelity: dict[str, float]
    transfer: Transfer
    note: str = ""


@dataclass(frozen=True)
class ProposedRun:
    """A run a mixer asks for: its mixture ``(d,)`` and the fidelity to train it at."""

    weights: FloatArray
    fidelity: Mapping[str, float]


class ProposedBatch(list[ProposedRun]):
    """The runs a mixer proposes (a list, so callers of ``propose`` need not change) with ``diagnostics``: how the
    batch was chosen (JSON-able: method, recipe, per-run strength and disagreement)."""

    def __init__(self, runs: Sequence[ProposedRun] = (), diagnostics: Mapping[str, Any] | None = None) -> None:
        super().__init__(runs)
        self.diagnostics: dict[str, Any] = dict(diagnostics or {})


@dataclass(frozen=True)
class Directive:
    """What an online training loop does next: train at ``weights`` until ``until_step`` and report there.

    ``done`` ends the session; ``weights`` is then the final mixture.
    """

    weights: FloatArray
    until_step: int
    done: bool = False


@dataclass(frozen=True)
class Report:
    """Per-domain validation losses ``(d,)`` measured at ``step``.

    ``metrics``: further values measured at ``step`` under the objective's metric names (e.g. a held-out target
    ``val/kernel_docs`` that is not a training domain); empty when the client reports only domain losses.
    """

    step: int
    losses: FloatArray
    metrics: Mapping[str, float] = field(default_factory=dict)


def fidelity_key(fidelity: Mapping[str, float]) -> str:
    """Canonical string form of a fidelity, used to group runs of the same scale."""
    return ",".join(f"{k}={float(v):.6g}" for k, v in sorted(fidelity.items()))
