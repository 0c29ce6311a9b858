"""What drives the objective on a project: a fitted offline mixer's per-domain importance and its partial
dependence on one domain (the numerics are :mod:`mixers.importance`; the mixer runs through
``app.services.fitting``, so the fit is shared with recommendations and predictions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from app.services.fitting import (
    Deadline,
    cache_key,
    cached,
    fitted,
    load_context,
    mixer_call,
    parse_mixer,
    run_limited,
)
from mixers.importance import DomainImportance, PartialDependence, domain_importance, partial_dependence, pd_grid
from store.errors import FieldError, InvalidInput
from store.records import ProjectRecord
from store.repository import Store

# Observed mixtures the importance and the partial dependence average over (a seeded sample beyond this).
MAX_PROBE_MIXTURES = 256


@dataclass(frozen=True)
class DomainValue:
    domain: str
    value: float


@dataclass(frozen=True)
class PartialDependenceAnswer:
    """The predicted objective with ``domain`` at each weight of ``grid`` (the others renormalised), averaged
    over the observed mixtures; ``std`` the mean predictive sd (None where the mixer gives none)."""

    domain: str
    grid: list[float]
    mean: list[float]
    std: list[float | None]


@dataclass(frozen=True)
class ImportanceAnswer:
    mixer: str
    config: dict[str, Any]
    method: str
    method_detail: str
    importance: list[DomainValue]  # descending
    partial_dependence: PartialDependenceAnswer | None
    predicted_fidelity: dict[str, float]
    transfer: str
    diagnostics: dict[str, Any] = field(default_factory=dict)


def probe_mixtures(weights: list[np.ndarray], d: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct observed mixtures ``(m, d)``, at most :data:`MAX_PROBE_MIXTURES` (a seeded sample); with no
    completed run, uniform draws on the simplex (a prior-only model is probed where it answers)."""
    if not weights:
        return rng.dirichlet(np.ones(d), size=MAX_PROBE_MIXTURES)
    x = np.unique(np.round(np.vstack(weights), 12), axis=0)
    if len(x) > MAX_PROBE_MIXTURES:
        x = x[np.sort(rng.choice(len(x), MAX_PROBE_MIXTURES, replace=False))]
    return x


def importance(
    store: Store,
    project: str | ProjectRecord,
    mixer: str,
    config: dict[str, Any] | None,
    fidelity: dict[str, float] | None,
    seed: int | None,
    domain: str | None,
    timeout: float,
) -> ImportanceAnswer:
    """Per-domain importance of ``mixer`` fitted on ``project`` (descending, summing to 1) and its partial
    dependence on ``domain`` (default: the most important one), both at ``fidelity`` (default: the target)."""
    deadline = Deadline(timeout)
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project, cls)
    names = ctx.project.domain_names
    if domain is not None and domain not in names:
        raise InvalidInput(
            f"unknown domain {domain!r}; the project's domains: {', '.join(names)}",
            code="unknown_domain",
            errors=[FieldError("domain", f"not a domain of the project: {domain!r}")],
        )
    seed = 0 if seed is None else seed
    base = (ctx.project.uid, ctx.project.data_version, cls.name, cfg.model_dump(mode="json"), seed, fidelity)

    @cache
    def probes() -> np.ndarray:
        """The mixtures probed: the observed ones (a seeded sample); read on a cache miss only."""
        return probe_mixtures([o.weights for o in ctx.observations], len(names), np.random.default_rng(seed))

    # The importance is cached apart from the partial dependence: another domain's curve costs only its own
    # predictions.
    def compute_importance() -> tuple[DomainImportance, dict[str, float], str, dict[str, Any] | None]:
        model = fitted(store, ctx, cls, cfg, seed, deadline)
        answer = mixer_call(lambda: model.fidelity_answer(fidelity))
        rng = np.random.default_rng(seed)
        imp = mixer_call(
            lambda: run_limited(lambda: domain_importance(model, probes(), rng, fidelity), deadline, ctx.project.uid)
        )
        return imp, dict(answer.fidelity), answer.transfer, ctx.domain_mapping

    # "importance/2": the cached tuple gained the domain mapping
    imp, predicted_fidelity, transfer, domain_mapping = cached(
        store, ctx.project.id, cache_key("importance/2", *base), compute_importance, cls.name
    )
    i = names.index(domain) if domain is not None else int(np.argmax(imp.values))

    def compute_pd() -> PartialDependence:
        model = fitted(store, ctx, cls, cfg, seed, deadline)
        lo, hi = ctx.problem.bounds()
        x = probes()
        grid = pd_grid(x, i, float(lo[i]), float(hi[i]))
        pd = mixer_call(
            lambda: run_limited(lambda: partial_dependence(model, x, i, grid, fidelity), deadline, ctx.project.uid)
        )
        if not np.all(np.isfinite(pd.mean)):
            raise InvalidInput("the mixer produced no finite prediction", code="mixer_cannot_answer")
        return pd

    pd = cached(store, ctx.project.id, cache_key("partial_dependence", *base, names[i]), compute_pd, cls.name)
    order = np.argsort(-imp.values, kind="stable")
    std: list[float | None] = [None] * len(pd.grid) if pd.std is None else [_finite(s) for s in pd.std]
    return ImportanceAnswer(
        mixer=cls.name,
        config=cfg.model_dump(mode="json"),
        method=imp.method,
        method_detail=imp.detail,
        importance=[DomainValue(names[j], float(imp.values[j])) for j in order],
        partial_dependence=PartialDependenceAnswer(
            names[pd.domain], [float(g) for g in pd.grid], [float(m) for m in pd.mean], std
        ),
        predicted_fidelity=predicted_fidelity,
        transfer=transfer,
        diagnostics={} if domain_mapping is None else {"domain_mapping": domain_mapping},
    )


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
