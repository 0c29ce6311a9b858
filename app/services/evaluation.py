"""The evaluation use case: every chosen mixer cross-validated on the project's completed runs, side by side,
each one's folds as jobs of the worker pool (the numerics: :mod:`mixers.evaluation`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.services.fitting import (
    Deadline,
    FitTimeout,
    finite_or_none,
    make_problem,
    observations,
    parse_mixer,
    slots,
    submit,
    wait,
)
from mixers import MixerError, OfflineMixer
from mixers.base import FoldJob, FoldRunner, Mixer, MixerConfig
from mixers.evaluation import Scores, cross_validate, make_folds
from mixers.types import FloatArray
from store.errors import FieldError, InvalidInput
from store.repository import Store


@dataclass(frozen=True)
class EvaluationError:
    """Why a mixer could not be scored: a stable code (``mixer_cannot_answer``, ``fit_timeout``) and a detail."""

    code: str
    detail: str


@dataclass(frozen=True)
class EvaluationScore:
    """One mixer's cross-validated accuracy: Spearman and MAE of its out-of-fold predictions (``predicted``,
    aligned with ``run_ids`` and ``actual``) and the regret of its top pick; or the ``error`` that stopped it."""

    mixer: str
    config: dict[str, Any]
    spearman: float | None
    mae: float | None
    regret: float | None
    n_runs: int
    predicted: list[float | None]
    actual: list[float]
    run_ids: list[int]
    error: EvaluationError | None


Progress = Callable[[int, int], None]
"""``progress(done, total)``: called after each finished fold of an evaluation (``total`` = mixers x folds)."""


def _fold_runner(project: str, evaluation: Deadline, tick: Callable[[], None]) -> FoldRunner:
    """A :data:`mixers.base.FoldRunner` on the worker pool: the jobs run concurrently within the project's slots
    (a job waits here, not in a worker, for a slot), all by the ``evaluation``'s deadline; ``tick`` is called as
    each finishes. On a timeout or an error the jobs not yet finished are cancelled."""

    def run(jobs: list[FoldJob]) -> list[FloatArray]:
        deadline = evaluation.child()
        futures: list[Future[FloatArray]] = []
        try:
            for job in jobs:
                if not slots.acquire(project, deadline):
                    raise deadline.timeout()
                futures.append(submit(project, job, deadline))
            out = []
            for future in futures:
                out.append(wait(future, deadline))
                tick()
            return out
        except BaseException:
            deadline.cancel()
            raise
        finally:
            for future in futures:
                future.cancel()

    return run


def evaluate(
    store: Store,
    project_name: str,
    choices: Sequence[tuple[str, dict[str, Any] | None]],
    folds: int,
    fidelity: dict[str, float] | None,
    seed: int,
    timeout: float,
    progress: Progress | None = None,
) -> list[EvaluationScore]:
    """k-fold cross-validation of each mixer on the project's completed runs at one fidelity.

    Reports Spearman and MAE of out-of-fold predictions, and the regret of the top pick: the true objective
    of the run each mixer ranks best, minus the best true objective (in the objective's direction, >= 0).
    A mixer that cannot answer (a MixerError, e.g. ``ot`` without embeddings, or its time limit) gets
    ``error: {code, detail}`` in its own result; the others are scored. The mixers run side by side, each
    one's folds as jobs of the worker pool (:meth:`mixers.base.OfflineMixer.cross_val_predict`, where mixers
    share work between folds); ``progress`` hears of every finished fold.
    """
    deadline = Deadline(timeout)
    parsed = [parse_mixer(name, cfg) for name, cfg in choices]
    project = store.get_project(project_name)
    problem = make_problem(project)
    # the runs that give an observation, so that positions in one are positions in the other
    runs = [r for r in store.all_runs(project.id, ["completed"]) if problem.objective.value(r.metrics) is not None]
    try:
        folds_of = make_folds(observations(project, runs, problem.objective), problem.objective, folds, seed, fidelity)
    except MixerError as exc:
        bad = FieldError("folds", "more folds than runs")
        raise InvalidInput(str(exc), code="not_enough_runs", errors=[bad]) from exc
    used = [runs[i] for i in folds_of.index]
    total = len(parsed) * folds
    done = [0]
    lock = threading.Lock()

    def tick() -> None:
        with lock:
            done[0] += 1
            count = done[0]
        if progress is not None:
            progress(count, total)

    # one Problem for the mixers that read embeddings and one for the others, each built once
    emb = store.load_embeddings(project.id) if any(cls.needs_embeddings for cls, _ in parsed) else None
    embedded = make_problem(project, emb) if emb is not None else problem

    def one_mixer(cls: type[Mixer], cfg: MixerConfig) -> Scores | EvaluationError:
        try:
            model = cls(embedded if cls.needs_embeddings else problem, cfg, seed)
            assert isinstance(model, OfflineMixer)
            return cross_validate(model, folds_of, _fold_runner(project.uid, deadline, tick))
        except MixerError as exc:
            return EvaluationError("mixer_cannot_answer", str(exc))
        except FitTimeout as exc:
            return EvaluationError(exc.code, str(exc))

    # One thread per mixer drives its folds; the folds themselves run in the shared worker pool.
    with ThreadPoolExecutor(max_workers=len(parsed), thread_name_prefix="mixopt-eval") as drivers:
        outcomes = list(drivers.map(lambda pc: one_mixer(*pc), parsed))
    results = []
    for (cls, cfg), outcome in zip(parsed, outcomes, strict=True):
        scored = outcome if isinstance(outcome, Scores) else None
        results.append(
            EvaluationScore(
                mixer=cls.name,
                config=cfg.model_dump(mode="json"),
                spearman=None if scored is None else scored.spearman,
                mae=None if scored is None else scored.mae,
                regret=None if scored is None else finite_or_none(scored.regret),
                n_runs=len(used),
                predicted=[] if scored is None else [float(v) if np.isfinite(v) else None for v in scored.predicted],
                actual=folds_of.actual.tolist(),
                run_ids=[r.id for r in used],
                error=outcome if isinstance(outcome, EvaluationError) else None,
            )
        )
    return results
