"""How the offline use cases run a mixer: the project as the mixer sees it (problem, observations, pending
runs), config parsing, the worker pool with its time limit, and the fit cache.

Fitted mixers are cached by a hash of (the numerics' source digest, project uid, data version, mixer, config,
seed): in this process (LRU) and in the database (pickled), so any API process reuses a fit. The data version
moves with every change of what a fit reads (completed runs, the project's domains and objective, its
embeddings), so a cached fit is never stale; nothing else moves it (pending runs, leases, reads), so a cached
fit stays usable.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

import mixers
from app.services import telemetry
from app.services.domains import RunMapping, map_runs, used_runs
from app.services.runs import normalize_weights
from mixers import MixerError, OfflineMixer, get_mixer_class
from mixers.base import Mixer, MixerConfig
from mixers.cancel import Cancelled, cancel_when, checkpoint
from mixers.families import build_families
from mixers.types import DomainSpec, Objective, Observation, PendingRun, Problem
from store.errors import Busy, FieldError, InvalidInput, TimedOut, loc_text
from store.records import OPEN_STATUSES, ProjectRecord, RunRecord
from store.repository import Store

T = TypeVar("T")
_LRU_SIZE = 16
_lru: OrderedDict[str, Any] = OrderedDict()
_lru_lock = threading.Lock()
worker_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mixopt-fit")


class FitTimeout(TimedOut):
    """The mixer's work ran past the request's time limit."""

    default_code = "fit_timeout"


def fit_timeout(seconds: float) -> FitTimeout:
    return FitTimeout(f"the mixer did not finish within {seconds:g} s")


class TooManyFits(Busy):
    """The project already has its share of the worker pool busy; ``retry_after`` seconds is a hint."""

    default_code = "too_many_fits"


def too_many_fits(limit: int, retry_after: int) -> TooManyFits:
    return TooManyFits(
        f"this project already has {limit} computation(s) running; retry after {retry_after} s",
        retry_after=retry_after,
    )


class Deadline:
    """One request's time limit, measured from when the request started: every mixer call of the request (the
    fit, then the recommendation) shares it, so the configured timeout is the real one. Work still running when
    it passes is cancelled at its next :func:`mixers.cancel.checkpoint`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.end = time.monotonic() + self.seconds
        self._cancelled = threading.Event()

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self._cancelled.is_set() or time.monotonic() >= self.end

    def cancel(self) -> None:
        self._cancelled.set()

    def timeout(self) -> FitTimeout:
        return fit_timeout(self.seconds)

    def child(self) -> Deadline:
        """The same end, with its own cancellation (one mixer of an evaluation gives up, not the others)."""
        out = Deadline(self.seconds)
        out.end = self.end
        return out


def as_deadline(limit: float | Deadline) -> Deadline:
    return limit if isinstance(limit, Deadline) else Deadline(limit)


class ProjectSlots:
    """At most ``per_project`` worker-pool jobs per project at once, so one project cannot take every worker.
    A slot is held until its job really ends (a cancelled job holds it until it reaches a checkpoint)."""

    def __init__(self, per_project: int) -> None:
        self.per_project = per_project
        self._busy: Counter[str] = Counter()
        self._free = threading.Condition()

    def try_acquire(self, project: str) -> bool:
        with self._free:
            if self._busy[project] >= self.per_project:
                return False
            self._busy[project] += 1
            return True

    def acquire(self, project: str, deadline: Deadline) -> bool:
        """Wait for a slot until ``deadline``; False if it passed first."""
        with self._free:
            while self._busy[project] >= self.per_project:
                if deadline.expired():
                    return False
                self._free.wait(timeout=min(deadline.remaining(), 1.0))
            self._busy[project] += 1
            return True

    def release(self, project: str) -> None:
        with self._free:
            self._busy[project] -= 1
            if self._busy[project] <= 0:
                del self._busy[project]
            self._free.notify_all()

    def busy(self, project: str) -> int:
        with self._free:
            return self._busy[project]


RETRY_AFTER_SECONDS = 5
slots = ProjectSlots(2)


def configure(fits_per_project: int, blas_threads: int) -> None:
    """Apply the settings of the worker pool (``MIXOPT_FITS_PER_PROJECT``, ``MIXOPT_BLAS_THREADS``).

    BLAS threads are process-wide (threadpoolctl): with the default of OpenBLAS, a 2,000 x 39 linear fit on a
    busy 2-core machine kept the event loop from running for 200+ ms at a time; with one thread, under 15 ms
    (and the fit was faster).
    """
    slots.per_project = fits_per_project
    threadpool_limits(blas_threads, user_api="blas")


def submit(project: str, fn: Callable[[], T], deadline: Deadline) -> Future[T]:
    """Queue ``fn`` on the worker pool under ``deadline`` for a project that holds a slot (released when it ends).

    ``fn`` runs under :func:`mixers.cancel.cancel_when` ``(deadline.expired)``: a job still running when the
    deadline passes stops at its next checkpoint, and a job that starts after it does not start at all.
    """

    def job() -> T:
        with cancel_when(deadline.expired):
            checkpoint()
            return fn()

    try:
        future = worker_pool.submit(job)
    except BaseException:
        slots.release(project)
        raise
    future.add_done_callback(lambda _: slots.release(project))
    return future


def wait(future: Future[T], deadline: Deadline) -> T:
    """The result of ``future`` by ``deadline``; past it the job is cancelled and this is a 504."""
    try:
        return future.result(timeout=deadline.remaining())
    except (FutureTimeout, Cancelled) as exc:
        deadline.cancel()
        future.cancel()
        raise deadline.timeout() from exc


def run_limited(fn: Callable[[], T], limit: float | Deadline, project: str = "") -> T:
    """Run CPU-heavy ``fn`` in the worker pool within ``limit`` (seconds from now, or the request's deadline).

    The caller is already off the event loop (sync routes run in a thread); the pool adds the time limit, and a
    project with all its slots busy gets a 429 at once. A timed-out computation is cancelled: it stops at its
    next checkpoint and frees its worker.
    """
    deadline = as_deadline(limit)
    if not slots.try_acquire(project):
        raise too_many_fits(slots.per_project, RETRY_AFTER_SECONDS)
    return wait(submit(project, fn, deadline), deadline)


# -- building the mixer's view of a project ---------------------------------------------------------


def objective_of(project: ProjectRecord) -> Objective:
    obj = project.objective
    return Objective(metrics=dict(obj["metrics"]), direction=obj.get("direction", "minimize"))


def make_problem(project: ProjectRecord, embeddings: Mapping[str, np.ndarray] | None = None) -> Problem:
    return Problem(
        domains=tuple(
            DomainSpec(
                name=d["name"],
                tokens=d.get("tokens"),
                min_weight=d.get("min_weight"),
                max_weight=d.get("max_weight"),
                max_epochs=d.get("max_epochs"),
            )
            for d in project.domains
        ),
        objective=objective_of(project),
        target_fidelity=project.target_fidelity,
        embeddings=dict(embeddings or {}),
        families=build_families(project.domain_names, project.family_bounds()),
    )


def weights_array(project: ProjectRecord, weights: Mapping[str, float]) -> np.ndarray:
    """``(d,)`` in the project's domain order."""
    return np.array([weights.get(n, 0.0) for n in project.domain_names], dtype=np.float64)


def observations(
    project: ProjectRecord,
    runs: Sequence[RunRecord],
    objective: Objective | None = None,
    mapping: RunMapping | None = None,
) -> list[Observation]:
    """Completed runs that carry every metric of the objective (the project's, unless given), runs of older
    domain versions mapped onto the current one (``mapping``; a dropped run is left out)."""
    obj = objective or objective_of(project)
    out = []
    for r in runs:
        if r.status != "completed" or obj.value(r.metrics) is None:
            continue
        weights = r.weights if mapping is None else mapping.weights_of(r)
        if weights is None:
            continue
        out.append(
            Observation(
                weights=weights_array(project, weights),
                fidelity=r.fidelity,
                metrics=r.metrics,
                cost=r.cost,
                trajectory=r.trajectory,
            )
        )
    return out


def pending(project: ProjectRecord, runs: Sequence[RunRecord], mapping: RunMapping | None = None) -> list[PendingRun]:
    """Open runs, runs of older domain versions mapped onto the current one (a dropped run is left out)."""
    out = []
    for r in runs:
        weights = r.weights if mapping is None else mapping.weights_of(r)
        if r.status in OPEN_STATUSES and weights is not None:
            out.append(PendingRun(weights=weights_array(project, weights), fidelity=r.fidelity))
    return out


def parse_mixer(name: str, config: dict[str, Any] | None, kind: str = "offline") -> tuple[type[Mixer], MixerConfig]:
    """The mixer class and its validated config; unknown names and bad configs are 422 naming the field."""
    try:
        cls = get_mixer_class(name)
    except KeyError:
        known = ", ".join(sorted(mixers.available()))
        raise InvalidInput(
            f"unknown mixer {name!r}; available: {known}",
            code="unknown_mixer",
            errors=[FieldError("mixer", f"unknown mixer {name!r}")],
        ) from None
    if cls.kind != kind:
        raise InvalidInput(
            f"mixer {name!r} is {cls.kind}; this endpoint needs an {kind} mixer",
            code="wrong_mixer_kind",
            errors=[FieldError("mixer", f"{name!r} is an {cls.kind} mixer")],
        )
    try:
        return cls, cls.Config.model_validate(config or {})
    except ValidationError as exc:
        errors = [
            FieldError(loc_text(("config", *e["loc"])), e["msg"])
            for e in exc.errors()
        ]
        raise InvalidInput(
            f"invalid config for mixer {name!r}: {errors[0].loc}: {errors[0].msg}",
            code="invalid_mixer_config",
            errors=errors,
        ) from None


def mixture_matrix(project: ProjectRecord, mixtures: Sequence[Mapping[str, float]], loc: str) -> np.ndarray:
    """Validate and renormalize client mixtures into ``(m, d)``; errors name ``loc[i].domain``."""
    rows: list[np.ndarray] = []
    errors: list[FieldError] = []
    for i, w in enumerate(mixtures):
        norm, _raw, errs = normalize_weights(project, dict(w), f"{loc}[{i}]")
        errors.extend(errs)
        if norm is not None:
            rows.append(weights_array(project, norm))
    if errors:
        raise InvalidInput(
            f"{len(errors)} invalid mixture(s): {errors[0].loc}: {errors[0].msg}",
            code="invalid_mixtures",
            errors=errors[:1000],
        )
    return np.vstack(rows)


class Context:
    """One offline request's view of a project, loaded once. Runs and embeddings are read on first use, so a cache
    hit costs only the project lookup; the mixer's ``Problem`` is built once, for the fit."""

    def __init__(self, store: Store, project: ProjectRecord, cls: type[Mixer]) -> None:
        self.store = store
        self.project = project
        self.cls = cls

    @cached_property
    def runs(self) -> list[RunRecord]:
        return self.store.all_runs(self.project.id)

    @cached_property
    def problem(self) -> Problem:
        emb = self.store.load_embeddings(self.project.id) if self.cls.needs_embeddings else None
        return make_problem(self.project, emb)

    @cached_property
    def objective(self) -> Objective:
        return objective_of(self.project)

    @cached_property
    def mapping(self) -> RunMapping:
        """How runs of older domain versions map onto the current one (versions read only when such runs exist)."""
        return map_runs(self.store, self.project, self.runs)

    @cached_property
    def domain_mapping(self) -> dict[str, Any] | None:
        """``diagnostics.domain_mapping`` over the completed runs a fit reads (None when all are current): what a
        recommendation, prediction or importance answer says (cached with them: open runs move no data version)."""
        return self.mapping.diagnostics(used_runs(self.runs, self.objective.value, with_open=False))

    @cached_property
    def proposal_mapping(self) -> dict[str, Any] | None:
        """``diagnostics.domain_mapping`` of a proposal: the completed runs and the open ones it plans around."""
        return self.mapping.diagnostics(used_runs(self.runs, self.objective.value, with_open=True))

    @cached_property
    def observations(self) -> list[Observation]:
        return observations(self.project, self.runs, self.objective, self.mapping)

    @cached_property
    def pending(self) -> list[PendingRun]:
        return pending(self.project, self.runs, self.mapping)


def load_context(store: Store, project: str | ProjectRecord, cls: type[Mixer]) -> Context:
    """The request's view of ``project`` (by name, or the record the request already read): at most one read of
    the project, and no write (a lapsed lease already reads as abandoned, so no sweep is needed to see the
    project's pending runs right)."""
    return Context(store, store.get_project(project) if isinstance(project, str) else project, cls)


def _numerics_digest() -> str:
    """A digest of the ``mixers`` package's source: pickled fits and answers are only valid for the code that made
    them, so a deploy that changes a mixer misses the old cache entries instead of unpickling foreign objects."""
    root = Path(mixers.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


NUMERICS_DIGEST = _numerics_digest()


def cache_key(*parts: Any) -> str:
    """The cache key of ``parts`` under this version of the numerics."""
    return hashlib.sha256(json.dumps([NUMERICS_DIGEST, *parts], sort_keys=True, default=str).encode()).hexdigest()


def _lru_get(key: str) -> Any:
    with _lru_lock:
        if key in _lru:
            _lru.move_to_end(key)
            return _lru[key]
    return None


def _lru_put(key: str, value: Any) -> None:
    with _lru_lock:
        _lru[key] = value
        _lru.move_to_end(key)
        while len(_lru) > _LRU_SIZE:
            _lru.popitem(last=False)


def cached(
    store: Store, project_id: int, key: str, compute: Callable[[], T], mixer: str, count_hit: bool = True
) -> T:
    """Memoize ``compute()`` under ``key``: process LRU, then the database, then compute and store. A hit counts in
    ``mixopt_fit_cache_hits`` unless ``count_hit`` is off (an answer derived from a fit, not a fit)."""
    hit = _lru_get(key)
    if hit is not None:
        if count_hit:
            telemetry.FIT_CACHE_HITS.labels(mixer).inc()
        return hit
    blob = store.cache_get(key)
    if blob is not None:
        # Only this service writes the cache table, so unpickling it is loading our own data. An entry the
        # running code cannot load (a class that moved) is a miss, recomputed and overwritten below.
        try:
            value = pickle.loads(blob)
        except (AttributeError, ImportError, pickle.UnpicklingError, EOFError, TypeError):
            value = None
        if value is not None:
            _lru_put(key, value)
            if count_hit:
                telemetry.FIT_CACHE_HITS.labels(mixer).inc()
            return value
    value = compute()
    store.cache_put(project_id, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    _lru_put(key, value)
    return value


def fitted(
    store: Store, ctx: Context, cls: type[Mixer], config: MixerConfig, seed: int | None, timeout: float | Deadline
) -> OfflineMixer:
    key = cache_key("fit", ctx.project.uid, ctx.project.data_version, cls.name, config.model_dump(mode="json"), seed)

    def compute() -> OfflineMixer:
        def fit() -> OfflineMixer:
            mixer = cls(ctx.problem, config, seed)
            assert isinstance(mixer, OfflineMixer)
            return mixer.fit(ctx.observations)

        telemetry.FITS.labels(cls.name).inc()
        return mixer_call(lambda: run_limited(fit, timeout, ctx.project.uid))

    return cached(store, ctx.project.id, key, compute, cls.name)


def mixer_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except MixerError as exc:
        raise InvalidInput(str(exc), code="mixer_cannot_answer") from exc


def weights_dict(project: ProjectRecord, w: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(project.domain_names, w, strict=True)}


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if np.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def finite_or_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
