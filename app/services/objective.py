"""Whether runs report a project's objective: the metrics it is made of, found in a completed run's metrics.

A batch of completed runs none of which reports the objective, sent to a project none of whose completed runs
reports it either, is refused (``objective_not_reported``, 422): every run would be stored and then ignored by
every mixer (the usual cause is a misspelt ``--objective`` or metric column). Runs without the objective's metrics
are fine once the project has runs that report it (auxiliary metrics, partial evaluations), and a batch of open
runs is never refused: they report nothing yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from store.errors import FieldError, InvalidInput
from store.records import ProjectRecord

MAX_SHOWN = 10


def objective_metrics(objective: Mapping[str, Any]) -> list[str]:
    """The metric names the objective is made of (one for ``metric``, every term of a weighted sum)."""
    return list(objective.get("metrics") or ({objective["metric"]: 1.0} if objective.get("metric") else {}))


def objective_loc(objective: Mapping[str, Any]) -> str:
    """The field that names the objective's metric(s) in a project's settings."""
    return "objective.metric" if objective.get("metric") else "objective.metrics"


def reports(metrics: Mapping[str, float], objective: Mapping[str, Any]) -> bool:
    """Whether a run's ``metrics`` hold every metric the objective is made of."""
    names = objective_metrics(objective)
    return bool(names) and all(n in metrics for n in names)


def missing_reason(objective: Mapping[str, Any]) -> str:
    """``no completed run reports metric 'x'`` (or the metrics of a weighted sum)."""
    names = objective_metrics(objective)
    what = f"metric {names[0]!r}" if len(names) == 1 else "every metric of " + ", ".join(map(repr, names))
    return f"no completed run reports {what}"


def found_text(found: Iterable[str]) -> str:
    names = sorted(set(found))
    if not names:
        return "the completed runs report no metric"
    shown = ", ".join(names[:MAX_SHOWN]) + (f" and {len(names) - MAX_SHOWN} more" if len(names) > MAX_SHOWN else "")
    return f"the completed runs report: {shown}"


def check_batch(
    project: ProjectRecord, completed_metrics: Sequence[Mapping[str, float]], project_reports_it: bool
) -> None:
    """Refuse a batch whose completed runs (their ``metrics``) all lack the objective, when the project has no
    completed run that reports it (``project_reports_it``); see the module."""
    objective = project.objective
    if not completed_metrics or project_reports_it or any(reports(m, objective) for m in completed_metrics):
        return
    raise_not_reported(objective, (name for m in completed_metrics for name in m))


def raise_not_reported(objective: Mapping[str, Any], found: Iterable[str]) -> None:
    found_msg = found_text(found)
    msg = f"{missing_reason(objective)} of the project's objective; {found_msg}"
    raise InvalidInput(
        f"{msg}. Nothing was written: fix the objective (or the metric names) and send the runs again",
        code="objective_not_reported",
        errors=[FieldError(objective_loc(objective), msg)],
    )
