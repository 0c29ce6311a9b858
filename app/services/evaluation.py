"""The evaluation use case: every chosen mixer cross-validated on the project's completed runs, side by side,
each one's folds as jobs of the worker pool (the numerics: :mod:`mixers.evaluation`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.services.domains import map_runs
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
from mixers.evaluation import FoldScore, Scores, cross_validate, fold_mean, make_folds
from mixers.training import fidelity_size
from mixers.types import FloatArray, fidelity_key
from store.errors import FieldError, InvalidInput
from store.records import ProjectRecord
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
    std: list[float | None] = field(default_factory=list)
    coverage: dict[str, float | None] = field(default_factory=lambda: {"68": None, "95": None})
    folds: list[dict[str, Any]] = field(default_factory=list)
    spearman_se: float | None = None
    mae_se: float | None = None


@dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate: ``choices`` ``(mixer, config)``, in order; ``default_mixer`` the mixer a tie keeps (None:
    the project's ``default_mixer`` setting where it has one, else the first listed, see
    :func:`resolve_default_mixer`)."""

    choices: Sequence[tuple[str, dict[str, Any] | None]]
    folds: int = 5
    fidelity: dict[str, float] | None = None
    seed: int = 0
    default_mixer: str | None = None


@dataclass(frozen=True)
class Winner:
    """The mixer the comparison picks (``index`` into the results; None when none was scored) and the rule."""

    mixer: str | None
    index: int | None
    metric: str
    rule: str
    default_mixer: str


@dataclass(frozen=True)
class EvaluationAnswer:
    """The scores side by side, the fidelity they were evaluated at, the fidelities that could have been chosen
    (``fidelity_runs``: completed runs at each) and the winner."""

    results: list[EvaluationScore]
    fidelity: dict[str, float] | None
    fidelities: list[dict[str, float]]
    fidelity_runs: list[int]
    winner: Winner
    diagnostics: dict[str, Any] = field(default_factory=dict)


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
    """The scores of :func:`compare` alone."""
    request = EvaluationRequest(choices, folds, fidelity, seed)
    return compare(store, project_name, request, timeout, progress).results


def resolve_default_mixer(project: ProjectRecord, request: EvaluationRequest) -> str:
    """The mixer a tie keeps: the request's ``default_mixer``, else the project's ``default_mixer`` setting when the
    project has one and it is among the mixers evaluated, else the first mixer listed. A request's
    ``default_mixer`` that is not evaluated is a 422 naming the field."""
    names = [name for name, _ in request.choices]
    if request.default_mixer is not None:
        if request.default_mixer not in names:
            raise InvalidInput(
                f"default_mixer {request.default_mixer!r} is not among the mixers evaluated ({', '.join(names)})",
                code="invalid_default_mixer",
                errors=[FieldError("default_mixer", "must name one of the mixers evaluated")],
            )
        return request.default_mixer
    if project.default_mixer is not None and project.default_mixer in names:
        return project.default_mixer
    return names[0]


WINNER_RULE = (
    "the best mean Spearman over the {k} folds wins, unless the default mixer ({default}) is within one standard "
    "error (of the best's fold mean) of it: then the default keeps it"
)


def choose_winner(results: Sequence[EvaluationScore], default: str, folds: int) -> Winner:
    """The one-standard-error rule (Hastie, Tibshirani & Friedman 7.10) on the mean per-fold Spearman: the best
    mixer wins unless the default's mean is within the best's standard error of it. Mixers that could not be
    scored take no part; when the default is listed more than once, its best entry counts."""
    rule = WINNER_RULE.format(k=folds, default=default)
    means = [fold_mean([f["spearman"] for f in r.folds]) if r.error is None else None for r in results]
    scored = [i for i, m in enumerate(means) if m is not None]
    if not scored:
        return Winner(None, None, "spearman", rule + "; no mixer was scored", default)
    best = max(scored, key=lambda i: (means[i], -i))
    best_mean = means[best]
    assert best_mean is not None
    defaults = [i for i in scored if results[i].mixer == default]
    if defaults and results[best].mixer != default:
        keep = max(defaults, key=lambda i: (means[i], -i))
        keep_mean = means[keep]
        se = results[best].spearman_se or 0.0
        if keep_mean is not None and keep_mean >= best_mean - se:
            detail = (f"; {results[best].mixer} {best_mean:.4f} +- {se:.4f} against {default} {keep_mean:.4f}: "
                      "a tie, the default keeps it")
            return Winner(default, keep, "spearman", rule + detail, default)
    elif not defaults:
        rule += f"; the default ({default}) was not scored"
    return Winner(results[best].mixer, best, "spearman", rule, default)


def _fidelities(counts: dict[str, tuple[dict[str, float], int]], need: int) -> tuple[list[dict[str, float]], list[int]]:
    """The fidelities with at least ``need`` completed runs, most runs first (ties: the larger), and their counts."""
    keys = sorted((k for k, (_, n) in counts.items() if n >= need),
                  key=lambda k: (-counts[k][1], -fidelity_size(counts[k][0]), k))
    return [counts[k][0] for k in keys], [counts[k][1] for k in keys]


def compare(
    store: Store,
    project_name: str,
    request: EvaluationRequest,
    timeout: float,
    progress: Progress | None = None,
) -> EvaluationAnswer:
    """k-fold cross-validation of each mixer on the project's completed runs at one fidelity.

    Reports Spearman and MAE of out-of-fold predictions, and the regret of the top pick: the true objective
    of the run each mixer ranks best, minus the best true objective (in the objective's direction, >= 0).
    A mixer that cannot answer (a MixerError, e.g. ``ot`` without embeddings, or its time limit) gets
    ``error: {code, detail}`` in its own result; the others are scored. The mixers run side by side, each
    one's folds as jobs of the worker pool (:meth:`mixers.base.OfflineMixer.cross_val_predictions`, where mixers
    share work between folds); ``progress`` hears of every finished fold. Each result also carries the held-out
    predictive sd of every run, the coverage of its 68% and 95% intervals, the scores fold by fold and their
    standard errors; the answer names the fidelity evaluated, the fidelities that could be, and the winner
    (:func:`choose_winner`, the tie going to :func:`resolve_default_mixer`).
    """
    deadline = Deadline(timeout)
    folds, fidelity, seed = request.folds, request.fidelity, request.seed
    parsed = [parse_mixer(name, cfg) for name, cfg in request.choices]
    project = store.get_project(project_name)
    default = resolve_default_mixer(project, request)
    problem = make_problem(project)
    # the runs that give an observation, so that positions in one are positions in the other
    runs = [r for r in store.all_runs(project.id, ["completed"]) if problem.objective.value(r.metrics) is not None]
    mapping = map_runs(store, project, runs)  # runs of older domain versions; a dropped one is left out
    domain_mapping = mapping.diagnostics(runs)
    runs = [r for r in runs if mapping.weights_of(r) is not None]
    counts: dict[str, tuple[dict[str, float], int]] = {}
    for r in runs:
        key = fidelity_key(r.fidelity)
        fid, n = counts.get(key, (dict(r.fidelity), 0))
        counts[key] = (fid, n + 1)
    try:
        folds_of = make_folds(
            observations(project, runs, problem.objective, mapping), problem.objective, folds, seed, fidelity
        )
    except MixerError as exc:
        at_fidelity = fidelity is not None and counts.get(fidelity_key(fidelity), ({}, 0))[1] < folds
        bad = (FieldError("fidelity", f"fewer than {folds} completed runs at this fidelity") if at_fidelity
               else FieldError("folds", "more folds than runs"))
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
        std = None if scored is None else scored.std
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
                std=[] if scored is None else [finite_or_none(v) for v in (std if std is not None else
                                                                         [None] * len(used))],
                coverage={"68": None, "95": None} if scored is None else dict(scored.coverage),
                folds=[] if scored is None else [_fold_dict(f) for f in scored.folds],
                spearman_se=None if scored is None else scored.spearman_se,
                mae_se=None if scored is None else scored.mae_se,
            )
        )
    choosable, choosable_runs = _fidelities(counts, folds)
    return EvaluationAnswer(results, dict(folds_of.fidelity) or None, choosable, choosable_runs,
                            choose_winner(results, default, folds),
                            {} if domain_mapping is None else {"domain_mapping": domain_mapping})


def _fold_dict(f: FoldScore) -> dict[str, Any]:
    return {"fold": f.fold, "n": f.n, "spearman": f.spearman, "mae": f.mae, "regret": finite_or_none(f.regret)}
