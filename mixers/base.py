"""The mixer interface: offline mixers learn from finished runs, online mixers steer one training run.

A mixer is constructed from a :class:`~mixers.types.Problem`, a validated pydantic config and a seed, in
the manner of a scikit-learn estimator: construction does no work, ``fit`` learns, the other methods answer
from what was learned. Fitted offline mixers are picklable (the service caches them by a hash of data and
config); online mixers keep all their state in a JSON-serializable dict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from mixers.types import (
    Directive,
    FidelityAnswer,
    FloatArray,
    Observation,
    PendingRun,
    Predictions,
    Problem,
    ProposedRun,
    Recommendation,
    Report,
)

if TYPE_CHECKING:
    from mixers.importance import DomainImportance


class MixerError(ValueError):
    """A request the mixer cannot answer with the data it has (the service maps it to a 4xx)."""


FoldSplits = Sequence[tuple[Sequence[Observation], Sequence[Observation]]]
"""``(training runs, held-out runs)`` per fold of a cross-validation."""
FoldJob = Callable[[], FloatArray]
FoldRunner = Callable[[list[FoldJob]], list[FloatArray]]
"""Runs independent jobs (each returns an array) and returns their results in order; the service passes one
that uses its worker pool, with a time limit and a progress callback."""


def run_in_order(jobs: list[FoldJob]) -> list[FloatArray]:
    """The plain :data:`FoldRunner`: one job after the other, here."""
    return [job() for job in jobs]


def held_out_mixtures(runs: Sequence[Observation], d: int) -> FloatArray:
    """Mixtures ``(m, d)`` of ``runs``."""
    if not runs:
        return np.zeros((0, d))
    return np.vstack([np.asarray(o.weights, dtype=np.float64) for o in runs])


# Bounds shared by the mixers' configs: every numeric field is bounded and finite, so no config asks for unbounded work.
MAX_STEPS = 10**9  # training steps (a session's steps are 32-bit columns)
MAX_PENALTY = 1e6  # regularization weights (kl_to_prior, ridge penalties, Huber scales)


class MixerConfig(BaseModel):
    """Base of every mixer's config: unknown fields are errors, so typos are caught; NaN and infinities are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Mixer(ABC):
    """Shared by both kinds. Subclasses set the class attributes and register with ``@register``."""

    name: ClassVar[str]
    kind: ClassVar[Literal["offline", "online"]]
    description: ClassVar[str]
    Config: ClassVar[type[MixerConfig]]
    #: The mixer reads the project's embedding sets (the service loads them and passes them in).
    needs_embeddings: ClassVar[bool] = False
    #: With ``needs_embeddings``: the named sets it needs besides one per domain (e.g. a target set).
    extra_embedding_sets: ClassVar[tuple[str, ...]] = ()

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        self.problem = problem
        self.config = config if config is not None else self.Config()
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @classmethod
    def required_embedding_sets(cls, domains: Sequence[str]) -> list[str]:
        """The embedding sets the mixer needs on a project with ``domains`` (none when it reads no embeddings)."""
        return [*domains, *cls.extra_embedding_sets] if cls.needs_embeddings else []


class OfflineMixer(Mixer):
    """Learns a model of mixture -> objective from completed runs."""

    kind: ClassVar[Literal["offline", "online"]] = "offline"
    #: ``recommend``/``predict`` answer before any run completed (a prior model); otherwise they raise
    #: :class:`MixerError` until there is data. The contract suite holds each mixer to what it declares.
    answers_without_runs: ClassVar[bool] = False

    @abstractmethod
    def fit(self, observations: Sequence[Observation]) -> OfflineMixer:
        """Learn from completed runs; returns ``self``. An empty sequence must work (prior-only model)."""

    @abstractmethod
    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        """Predict the objective for ``mixtures`` ``(m, d)`` at ``fidelity`` (default: the target)."""

    @abstractmethod
    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        """The best feasible mixture for ``fidelity`` (default: the target)."""

    def takes_default_fidelities(self) -> bool:
        """Whether ``propose`` should get the project's default fidelities (its ladder, or the fidelities its runs
        use) when a request names none. False for a mixer configured to propose at one fidelity of its own
        choosing (``mfbo``'s single-fidelity mode: the target)."""
        return True

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        """The fidelity that ``predict``/``recommend`` answers for ``fidelity`` are for, and how they transfer.

        Called after ``fit``. The default is the cautious one (``assumed``); mixers that know better override it.
        """
        fid = dict(fidelity) if fidelity is not None else dict(self.problem.target_fidelity or {})
        return FidelityAnswer({str(k): float(v) for k, v in fid.items()}, "assumed",
                              "this mixer does not model how the objective changes with fidelity")

    @abstractmethod
    def propose(
        self,
        n: int,
        fidelity: Mapping[str, float] | None = None,
        pending: Sequence[PendingRun] = (),
        candidates: FloatArray | None = None,
        fidelities: Sequence[Mapping[str, float]] | None = None,
    ) -> list[ProposedRun]:
        """The next ``n`` runs, distinct from the observed and ``pending`` ones.

        ``candidates`` ``(c, d)``: choose only from these rows. ``fidelities``: the mixer may choose each run's
        fidelity from this list (mixers that do not model scale use ``fidelity`` or the first entry).
        """


    def cross_val_predict(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[FloatArray]:
        """Out-of-fold predictions: for each ``(training runs, held-out runs)`` of ``folds``, the objective
        ``(m,)`` at the held-out runs' mixtures predicted by a mixer of this class, config and seed fitted on the
        training runs (the held-out runs' metrics may be used only to weigh models fitted without them).

        This mixer itself is not fitted or changed. The default refits a fresh mixer per fold, the folds as jobs
        of ``run``; mixers override it to share work between folds (skip per-fold diagnostics, reuse
        hyperparameters).
        """

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            mixer = type(self)(self.problem, self.config, self.seed)
            return mixer.fit(train).predict(held_out_mixtures(test, self.problem.d), fidelity).mean

        return run([partial(job, train, test) for train, test in folds])

    def cross_val_predictions(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[Predictions]:
        """As :meth:`cross_val_predict`, with the predictive ``std`` ``(m,)`` of every held-out run (None for a fold
        where the mixer gives none). The default refits a fresh mixer per fold; mixers override it as they do
        :meth:`cross_val_predict`."""
        d = self.problem.d

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            mixer = type(self)(self.problem, self.config, self.seed)
            return stack_predictions(mixer.fit(train).predict(held_out_mixtures(test, d), fidelity))

        return [unstack_predictions(part) for part in run([partial(job, train, test) for train, test in folds])]

    def std_meaning(self) -> str:
        """What the ``std`` of this mixer's answers is, or why it gives none (a sentence for people; after ``fit``)."""
        return f"{self.name} gives no standard deviation"

    def domain_importance(self) -> DomainImportance | None:
        """The fitted model's own measure of how much each domain drives the objective (values ``(d,)``, any
        non-negative scale), or None to let :func:`mixers.importance.domain_importance` measure it through
        ``predict`` (permutation importance). Called after ``fit``."""
        return None


def stack_predictions(pred: Predictions) -> FloatArray:
    """``(m, 2)``: mean and std (NaN without one), the form a :data:`FoldJob` returns."""
    std = pred.std if pred.std is not None else np.full(len(pred.mean), np.nan)
    return np.column_stack([np.asarray(pred.mean, dtype=np.float64), np.asarray(std, dtype=np.float64)])


def unstack_predictions(part: FloatArray) -> Predictions:
    """The inverse of :func:`stack_predictions` (std None when every entry is NaN)."""
    arr = np.asarray(part, dtype=np.float64).reshape(-1, 2)
    std = arr[:, 1] if np.isfinite(arr[:, 1]).any() else None
    return Predictions(mean=arr[:, 0].copy(), std=None if std is None else std.copy())


class OnlineMixer(Mixer):
    """Steers one training run through directives; all state is a JSON-serializable dict."""

    kind: ClassVar[Literal["offline", "online"]] = "online"

    @abstractmethod
    def start(self, total_steps: int, initial_weights: FloatArray | None = None) -> tuple[dict[str, Any], Directive]:
        """Begin a session of ``total_steps`` steps; returns the state and the first directive."""

    @abstractmethod
    def observe(self, state: dict[str, Any], report: Report) -> tuple[dict[str, Any], Directive]:
        """Take a report at the step the last directive asked for; returns the new state and directive.

        Must not mutate ``state``.
        """

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        """A JSON view of ``state`` for people (phase, weights by domain, ...); empty unless a mixer has one."""
        return {}
