"""What a recommendation's predicted objective is compared with, at the fidelity the prediction is for.

A prediction at one scale says nothing against a run at another: the comparison is with the best completed run at
``predicted_fidelity`` (kind ``observed``); when no run completed there, with the model's own prediction, at
``predicted_fidelity``, for the best run of the largest fidelity that has completed runs (kind ``predicted``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.services.domains import map_runs
from app.services.fitting import cache_key, cached, objective_of
from app.services.mixing import predict
from mixers import MixerError
from mixers.training import fidelity_size
from mixers.types import fidelity_key
from store.errors import DomainError
from store.records import ProjectRecord
from store.repository import Store


@dataclass(frozen=True)
class Comparison:
    """``delta`` = predicted - ``value`` (negative: the recommendation is predicted lower than the run)."""

    kind: Literal["observed", "predicted"]
    fidelity: dict[str, float]
    value: float
    run_id: int | None
    delta: float
    detail: str


def fidelity_text(fidelity: Mapping[str, float]) -> str:
    """``params=1e8, tokens=2e10``: short numbers, no ``e+09``."""

    def short(v: float) -> str:
        text = f"{float(v):.3g}"
        mantissa, _, exp = text.partition("e")
        return f"{mantissa}e{int(exp)}" if exp else text

    return ", ".join(f"{k}={short(v)}" for k, v in sorted(fidelity.items())) or "no fidelity"


def compare(
    store: Store,
    project: ProjectRecord,
    mixer: str,
    config: dict[str, Any] | None,
    seed: int | None,
    predicted: float,
    predicted_fidelity: dict[str, float],
    timeout: float,
) -> Comparison | None:
    """The comparison of a recommendation of ``mixer`` predicting ``predicted`` at ``predicted_fidelity``; None when
    no run completed anywhere, or the model cannot predict the run compared with. Memoized like the recommendation
    it goes with (same project data, mixer, config and seed): a cached recommendation reads no runs for it."""
    key = cache_key(
        "comparison", project.uid, project.data_version, mixer, config, seed, predicted_fidelity, predicted
    )
    # kept as a 1-tuple so that "nothing to compare with" is cached too (the cache takes None for a miss)
    found = cached(
        store,
        project.id,
        key,
        lambda: (_compare(store, project, mixer, config, seed, predicted, predicted_fidelity, timeout),),
        mixer,
        count_hit=False,
    )
    return found[0]


def _compare(
    store: Store,
    project: ProjectRecord,
    mixer: str,
    config: dict[str, Any] | None,
    seed: int | None,
    predicted: float,
    predicted_fidelity: dict[str, float],
    timeout: float,
) -> Comparison | None:
    # the best completed run at each fidelity: the projects list's summary query, one per project
    bests = {fidelity_key(b.fidelity): b for b in store.project_summaries([project])[project.id].best_by_fidelity}
    if not bests:
        return None
    at = fidelity_text(predicted_fidelity)
    here = bests.get(fidelity_key(predicted_fidelity))
    if here is not None:
        return Comparison(
            kind="observed",
            fidelity=dict(predicted_fidelity),
            value=here.value,
            run_id=here.run_id,
            delta=predicted - here.value,
            detail=f"the best of {here.n_completed} completed runs at {at} (run #{here.run_id}, observed "
            f"{here.value:.5g})",
        )
    sign = objective_of(project).sign
    largest = max(bests.values(), key=lambda b: (fidelity_size(b.fidelity), -sign * b.value))
    run, observed = store.get_run(project.id, largest.run_id), largest.value
    weights = map_runs(store, project, [run]).weights_of(run)  # a run of an older domain version: mapped
    if weights is None:
        return None
    try:
        answer = predict(store, project.name, mixer, config, predicted_fidelity, [weights], seed, timeout)
    except (MixerError, DomainError):
        return None
    mean = answer.predictions[0].mean
    if mean is None:
        return None
    return Comparison(
        kind="predicted",
        fidelity=dict(predicted_fidelity),
        value=mean,
        run_id=run.id,
        delta=predicted - mean,
        detail=f"no completed run at {at}: the model's prediction there for run #{run.id}, the best at "
        f"{fidelity_text(run.fidelity)} (observed {observed:.5g} at that fidelity)",
    )
