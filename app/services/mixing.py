"""Offline mixer use cases: recommend, predict, propose, evaluate; with the fit cache and time limits.

Fitted mixers are cached by a hash of (project data version, mixer, config, seed): in this process (LRU)
and in the database (pickled), so any API process reuses a fit. The data version is bumped by every write
to the project's runs, constraints or embeddings, so a cached fit is never stale.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

import numpy as np
from pydantic import ValidationError
from scipy.stats import spearmanr

import mixers
from app.services import telemetry
from app.services.runs import content_hash, normalize_weights, sweep_leases
from mixers import MixerError, OfflineMixer, get_mixer_class
from mixers.base import FoldJob, FoldRunner, Mixer, MixerConfig
from mixers.simplex import novel_mask
from mixers.types import DomainSpec, FloatArray, Objective, Observation, PendingRun, Problem, fidelity_key
from store.errors import DomainError, FieldError, InvalidInput
from store.records import OPEN_STATUSES, ProjectRecord, RunRecord
from store.repository import Store

T = TypeVar("T")
_LRU_SIZE = 16
_lru: OrderedDict[str, Any] = OrderedDict()
_lru_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mixopt-fit")


class FitTimeout(DomainError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the mixer did not finish within {seconds:g} s", "fit_timeout", [], 504)


def run_limited(fn: Callable[[], T], seconds: float) -> T:
    """Run CPU-heavy ``fn`` in the worker pool and wait at most ``seconds``.

    The caller is already off the event loop (sync routes run in a thread); the pool adds the time limit.
    A timed-out computation finishes in the background and its result is dropped.
    """
    future = _pool.submit(fn)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout as exc:
        raise FitTimeout(seconds) from exc


# -- building the mixer's view of a project ---------------------------------------------------------


def make_problem(project: ProjectRecord, embeddings: Mapping[str, np.ndarray] | None = None) -> Problem:
    obj = project.objective
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
        objective=Objective(metrics=dict(obj["metrics"]), direction=obj.get("direction", "minimize")),
        target_fidelity=project.target_fidelity,
        embeddings=dict(embeddings or {}),
    )


def weights_array(project: ProjectRecord, weights: Mapping[str, float]) -> np.ndarray:
    """``(d,)`` in the project's domain order."""
    return np.array([weights.get(n, 0.0) for n in project.domain_names], dtype=np.float64)


def observations(project: ProjectRecord, runs: Sequence[RunRecord]) -> list[Observation]:
    """Completed runs that carry every metric of the objective."""
    obj = make_problem(project).objective
    return [
        Observation(
            weights=weights_array(project, r.weights),
            fidelity=r.fidelity,
            metrics=r.metrics,
            cost=r.cost,
            trajectory=r.trajectory,
        )
        for r in runs
        if r.status == "completed" and obj.value(r.metrics) is not None
    ]


def pending(project: ProjectRecord, runs: Sequence[RunRecord]) -> list[PendingRun]:
    return [
        PendingRun(weights=weights_array(project, r.weights), fidelity=r.fidelity)
        for r in runs
        if r.status in OPEN_STATUSES
    ]


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
            FieldError("config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]), e["msg"])
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
    """One offline request's view of a project. Runs and embeddings are read on first use, so a cache hit
    costs only the project lookup."""

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
    def observations(self) -> list[Observation]:
        return observations(self.project, self.runs)

    @cached_property
    def pending(self) -> list[PendingRun]:
        return pending(self.project, self.runs)


def load_context(store: Store, project_name: str, cls: type[Mixer]) -> Context:
    project = store.get_project(project_name)
    if sweep_leases(store, project.id):
        project = store.get_project(project_name)
    return Context(store, project, cls)


def _cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


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


def cached(store: Store, project_id: int, key: str, compute: Callable[[], T], mixer: str) -> T:
    """Memoize ``compute()`` under ``key``: process LRU, then the database, then compute and store."""
    hit = _lru_get(key)
    if hit is not None:
        telemetry.FIT_CACHE_HITS.labels(mixer).inc()
        return hit
    blob = store.cache_get(key)
    if blob is not None:
        # Only this service writes the cache table, so unpickling it is loading our own data.
        value = pickle.loads(blob)
        _lru_put(key, value)
        telemetry.FIT_CACHE_HITS.labels(mixer).inc()
        return value
    value = compute()
    store.cache_put(project_id, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    _lru_put(key, value)
    return value


def fitted(
    store: Store, ctx: Context, cls: type[Mixer], config: MixerConfig, seed: int | None, timeout: float
) -> OfflineMixer:
    key = _cache_key("fit", ctx.project.id, ctx.project.data_version, cls.name, config.model_dump(mode="json"), seed)

    def compute() -> OfflineMixer:
        def fit() -> OfflineMixer:
            mixer = cls(ctx.problem, config, seed)
            assert isinstance(mixer, OfflineMixer)
            return mixer.fit(ctx.observations)

        telemetry.FITS.labels(cls.name).inc()
        return _mixer_call(lambda: run_limited(fit, timeout))

    return cached(store, ctx.project.id, key, compute, cls.name)


def _mixer_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except MixerError as exc:
        raise InvalidInput(str(exc), code="mixer_cannot_answer") from exc


def _weights_dict(project: ProjectRecord, w: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(project.domain_names, w, strict=True)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if np.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# -- use cases --------------------------------------------------------------------------------------


def recommend(
    store: Store,
    project_name: str,
    mixer: str,
    config: dict[str, Any] | None,
    fidelity: dict[str, float] | None,
    seed: int | None,
    timeout: float,
) -> dict[str, Any]:
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project_name, cls)
    seed = 0 if seed is None else seed
    key = _cache_key(
        "rec", ctx.project.id, ctx.project.data_version, cls.name, cfg.model_dump(mode="json"), seed, fidelity
    )

    def compute() -> dict[str, Any]:
        model = fitted(store, ctx, cls, cfg, seed, timeout)
        rec = _mixer_call(lambda: run_limited(lambda: model.recommend(fidelity), timeout))
        predicted = _finite_or_none(rec.predicted)
        if predicted is None:
            raise InvalidInput("the mixer produced no finite prediction", code="mixer_cannot_answer")
        answer = _mixer_call(lambda: model.fidelity_answer(fidelity))
        diagnostics = dict(rec.diagnostics)
        if answer.note:
            diagnostics["transfer_note"] = answer.note
        return {
            "weights": _weights_dict(ctx.project, rec.weights),
            "predicted": predicted,
            "std": _finite_or_none(rec.std),
            "mixer": cls.name,
            "config": cfg.model_dump(mode="json"),
            "diagnostics": _jsonable(diagnostics),
            "predicted_fidelity": dict(answer.fidelity),
            "transfer": answer.transfer,
        }

    return cached(store, ctx.project.id, key, compute, cls.name)


def predict(
    store: Store,
    project_name: str,
    mixer: str,
    config: dict[str, Any] | None,
    fidelity: dict[str, float] | None,
    mixtures: Sequence[Mapping[str, float]],
    seed: int | None,
    timeout: float,
) -> dict[str, Any]:
    """``{predictions: [{mean, std}], predicted_fidelity, transfer, diagnostics}`` for ``mixtures``."""
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project_name, cls)
    x = mixture_matrix(ctx.project, mixtures, "mixtures")
    model = fitted(store, ctx, cls, cfg, 0 if seed is None else seed, timeout)
    pred = _mixer_call(lambda: run_limited(lambda: model.predict(x, fidelity), timeout))
    answer = _mixer_call(lambda: model.fidelity_answer(fidelity))
    std = pred.std if pred.std is not None else [None] * len(pred.mean)
    return {
        "predictions": [
            {"mean": _finite_or_none(float(m)), "std": _finite_or_none(s)} for m, s in zip(pred.mean, std, strict=True)
        ],
        "predicted_fidelity": dict(answer.fidelity),
        "transfer": answer.transfer,
        "diagnostics": {"transfer_note": answer.note} if answer.note else {},
    }


def default_fidelities(
    project: ProjectRecord,
    runs: Sequence[RunRecord],
    fidelity: dict[str, float] | None,
    fidelities: list[dict[str, float]] | None,
) -> tuple[list[dict[str, float]] | None, str]:
    """The fidelities offered to a mixer's ``propose`` and where they come from (DESIGN 5).

    The request's ``fidelity``/``fidelities`` (``request``); else the project's ladder (``project_ladder``); else
    the fidelities the project's completed and open runs use, most used first (``runs``); else, with no run yet,
    the target (``target``) or nothing (``none``). Never the target while runs or a ladder exist.
    """
    if fidelity is not None or fidelities:
        return fidelities, "request"
    if project.fidelities:
        return [dict(f) for f in project.fidelities], "project_ladder"
    counts: dict[str, tuple[int, dict[str, float]]] = {}
    for r in runs:
        if r.status == "completed" or r.status in OPEN_STATUSES:
            key = fidelity_key(r.fidelity)
            n, fid = counts.get(key, (0, dict(r.fidelity)))
            counts[key] = (n + 1, fid)
    if counts:
        order = sorted(counts, key=lambda k: (-counts[k][0], -_log_size(counts[k][1]), k))
        return [counts[k][1] for k in order], "runs"
    if project.target_fidelity:
        return [dict(project.target_fidelity)], "target"
    return None, "none"


def _log_size(fid: Mapping[str, float]) -> float:
    return float(sum(np.log(v) for v in fid.values() if v > 0))


class ProposalMade(NamedTuple):
    """What :func:`propose` created: the proposal row, its pending runs, where the fidelities offered to the mixer
    came from (:func:`default_fidelities`) and the mixer's diagnostics of how it chose the batch."""

    proposal: Any
    runs: list[RunRecord]
    fidelity_source: str
    diagnostics: dict[str, Any]


def propose(
    store: Store,
    project_name: str,
    mixer: str,
    config: dict[str, Any] | None,
    n: int,
    fidelity: dict[str, float] | None,
    fidelities: list[dict[str, float]] | None,
    candidates: Sequence[Mapping[str, float]] | None,
    seed: int | None,
    lease_seconds: float,
    timeout: float,
) -> ProposalMade:
    """Ask the mixer for ``n`` runs and create them ``pending`` in one transaction.

    Dedup is checked again inside the write transaction (which holds the project's write lock), so two
    concurrent proposals cannot create the same pending mixture twice. Returns the proposal, its runs, where the
    fidelities offered to the mixer came from (:func:`default_fidelities`) and the mixer's diagnostics of how the
    batch was chosen (``runs`` entries aligned with the created runs).
    """
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project_name, cls)
    pool = mixture_matrix(ctx.project, candidates, "candidates") if candidates else None
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    model = fitted(store, ctx, cls, cfg, seed, timeout)
    offered, source = default_fidelities(ctx.project, ctx.runs, fidelity, fidelities)
    if source in ("project_ladder", "runs") and not model.takes_default_fidelities():
        offered, source = None, "target"
    proposed = _mixer_call(
        lambda: run_limited(lambda: model.propose(n, fidelity, ctx.pending, pool, offered), timeout)
    )
    rows = []
    for p in proposed:
        w = _weights_dict(ctx.project, p.weights)
        fid = dict(p.fidelity)
        content = {
            "weights": {k: round(v, 12) for k, v in w.items()},
            "fidelity": fid,
            "status": "pending",
            "mixer": cls.name,
            "seed": seed,
        }
        rows.append(
            {
                "external_id": None,
                "weights": w,
                "weights_sum": 1.0,
                "fidelity": fid,
                "fidelity_key": fidelity_key(fid),
                "cost": None,
                "status": "pending",
                "metrics": {},
                "trajectory": None,
                "tags": {"mixer": cls.name},
                "content_hash": content_hash(content),
                "result_hash": None,
            }
        )
    proposal, runs = store.create_proposal(
        ctx.project.id,
        mixer=cls.name,
        config=cfg.model_dump(mode="json"),
        seed=seed,
        runs=rows,
        lease_seconds=lease_seconds,
        dedupe=lambda existing: _drop_known(ctx.project, rows, existing),
    )
    telemetry.PROPOSALS.labels(cls.name).inc()
    telemetry.PROPOSED_RUNS.labels(cls.name).inc(len(runs))
    return ProposalMade(proposal, runs, source, _proposal_diagnostics(ctx.project, proposed, runs))


def _proposal_diagnostics(project: ProjectRecord, proposed: Sequence[Any], runs: Sequence[RunRecord]) -> dict[str, Any]:
    """The mixer's batch diagnostics (empty when it gives none), per-run entries matched to the created runs (a
    concurrent proposal may have taken some mixtures) and labelled with their ids."""
    diag = dict(getattr(proposed, "diagnostics", None) or {})
    per_run = diag.pop("runs", None)
    if per_run is not None and len(per_run) == len(proposed):
        by_key = {tuple(np.round(p.weights, 9)): entry for p, entry in zip(proposed, per_run, strict=True)}
        diag["runs"] = [
            {"run_id": r.id, **by_key.get(tuple(np.round(weights_array(project, r.weights), 9)), {})} for r in runs
        ]
    return _jsonable(diag)


def _drop_known(project: ProjectRecord, rows: list[dict[str, Any]], existing: list[RunRecord]) -> list[dict[str, Any]]:
    """Rows whose (mixture, fidelity) no completed or open run of the project holds yet."""
    keep = []
    for row in rows:
        same_fid = [r for r in existing if fidelity_key(r.fidelity) == row["fidelity_key"]]
        known = np.array([weights_array(project, r.weights) for r in same_fid]).reshape(-1, len(project.domains))
        if novel_mask(weights_array(project, row["weights"])[None, :], known, tol=1e-9)[0]:
            keep.append(row)
    return keep


Progress = Callable[[int, int], None]
"""``progress(done, total)``: called after each finished fold of an evaluation (``total`` = mixers x folds)."""


def _fold_runner(timeout: float, tick: Callable[[], None]) -> FoldRunner:
    """A :data:`mixers.base.FoldRunner` on the worker pool: the jobs run concurrently, each within ``timeout``
    seconds of the previous result, and ``tick`` is called as each finishes."""

    def run(jobs: list[FoldJob]) -> list[FloatArray]:
        futures = [_pool.submit(job) for job in jobs]
        out = []
        try:
            for future in futures:
                try:
                    out.append(future.result(timeout=timeout))
                except FutureTimeout as exc:
                    raise FitTimeout(timeout) from exc
                tick()
        finally:
            for future in futures:
                future.cancel()
        return out

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
) -> list[dict[str, Any]]:
    """k-fold cross-validation of each mixer on the project's completed runs at one fidelity.

    Reports Spearman and MAE of out-of-fold predictions, and the regret of the top pick: the true objective
    of the run each mixer ranks best, minus the best true objective (in the objective's direction, >= 0).
    A mixer that cannot answer (a MixerError, e.g. ``ot`` without embeddings, or its time limit) gets
    ``error: {code, detail}`` in its own result; the others are scored. The mixers run side by side, each
    one's folds as jobs of the worker pool (:meth:`mixers.base.OfflineMixer.cross_val_predict`, where mixers
    share work between folds); ``progress`` hears of every finished fold.
    """
    parsed = [parse_mixer(name, cfg) for name, cfg in choices]
    project = store.get_project(project_name)
    runs = store.all_runs(project.id, ["completed"])
    problem = make_problem(project)
    if fidelity is None:
        keys = [fidelity_key(r.fidelity) for r in runs]
        fid_key = max(set(keys), key=keys.count) if keys else ""
    else:
        fid_key = fidelity_key(fidelity)
    used = [r for r in runs if fidelity_key(r.fidelity) == fid_key and problem.objective.value(r.metrics) is not None]
    if len(used) < folds:
        raise InvalidInput(
            f"{len(used)} completed runs at fidelity {fid_key!r}; need at least {folds} for {folds} folds",
            code="not_enough_runs",
            errors=[FieldError("folds", "more folds than runs")],
        )
    obs = observations(project, used)
    y = np.array([problem.objective.value(o.metrics) for o in obs], dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(obs))
    fold_of = np.empty(len(obs), dtype=int)
    fold_of[order] = np.arange(len(obs)) % folds
    fold_data = [
        ([o for o, f in zip(obs, fold_of, strict=True) if f != k],
         [o for o, f in zip(obs, fold_of, strict=True) if f == k])
        for k in range(folds)
    ]
    total = len(parsed) * folds
    done = [0]
    lock = threading.Lock()

    def tick() -> None:
        with lock:
            done[0] += 1
            count = done[0]
        if progress is not None:
            progress(count, total)

    emb = store.load_embeddings(project.id) if any(cls.needs_embeddings for cls, _ in parsed) else None
    target_fid = used[0].fidelity

    def one_mixer(cls: type[Mixer], cfg: MixerConfig) -> tuple[np.ndarray | None, dict[str, str] | None]:
        try:
            model = cls(make_problem(project, emb if cls.needs_embeddings else None), cfg, seed)
            assert isinstance(model, OfflineMixer)
            parts = model.cross_val_predict(fold_data, target_fid, _fold_runner(timeout, tick))
        except MixerError as exc:
            return None, {"code": "mixer_cannot_answer", "detail": str(exc)}
        except FitTimeout as exc:
            return None, {"code": exc.code, "detail": str(exc)}
        pred = np.full(len(obs), np.nan)
        for k, part in enumerate(parts):
            pred[fold_of == k] = part
        return pred, None

    # One thread per mixer drives its folds; the folds themselves run in the shared worker pool.
    with ThreadPoolExecutor(max_workers=len(parsed), thread_name_prefix="mixopt-eval") as drivers:
        outcomes = list(drivers.map(lambda pc: one_mixer(*pc), parsed))
    results = []
    best_true = (y * problem.objective.sign).min() * problem.objective.sign
    for (cls, cfg), (pred, error) in zip(parsed, outcomes, strict=True):
        base = {"mixer": cls.name, "config": cfg.model_dump(mode="json"), "n_runs": len(obs), "actual": y.tolist(),
                "run_ids": [r.id for r in used]}
        if pred is None:
            results.append({**base, "spearman": None, "mae": None, "regret": None, "predicted": [], "error": error})
            continue
        ok = np.isfinite(pred)
        rho = spearmanr(pred[ok], y[ok]).statistic if ok.sum() > 2 else float("nan")
        pick = int(np.nanargmin(pred * problem.objective.sign)) if ok.any() else None
        regret = abs(y[pick] - best_true) if pick is not None else None
        results.append(
            {
                **base,
                "spearman": _finite_or_none(float(rho)),
                "mae": _finite_or_none(float(np.nanmean(np.abs(pred - y)))),
                "regret": _finite_or_none(regret),
                "predicted": [float(v) if np.isfinite(v) else None for v in pred],
                "error": None,
            }
        )
    return results


def mixer_catalog() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "kind": cls.kind,
            "description": cls.description,
            "config_schema": cls.Config.model_json_schema(),
        }
        for name, cls in sorted(mixers.available().items())
    ]
