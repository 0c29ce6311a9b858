"""Which mixers can answer offline requests on a project, and why the others cannot.

The dashboard pre-checks only the mixers that can answer (a cross-validation that includes one that cannot
would spend its time and then fail), and shows the reason next to the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import mixers
from app.services.objective import missing_reason
from store.repository import Store


@dataclass(frozen=True)
class Availability:
    """Whether a mixer can answer offline requests on a project, and if not, why."""

    name: str
    kind: Literal["offline", "online"]
    available: bool
    reason: str | None


def mixer_availability(store: Store, project_name: str) -> list[Availability]:
    """Every registered mixer, in the catalog's (name) order."""
    project = store.get_project(project_name)
    summary = store.project_summaries([project])[project.id]
    embedded = set(store.embedding_index(project.id))
    out = []
    for name, cls in sorted(mixers.available().items()):
        reason: str | None = None
        if cls.kind != "offline":
            reason = "an online mixer: it steers one training run through a session, not fitted to past runs"
        elif missing := [n for n in cls.required_embedding_sets(project.domain_names) if n not in embedded]:
            sets = "every domain" + "".join(f" and the {n}" for n in cls.extra_embedding_sets)
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            reason = f"needs an embedding set for {sets}; missing: {shown}"
        if reason is None and summary.completed == 0:
            reason = "no completed run yet: nothing to fit or cross-validate"
        elif reason is None and summary.best_value is None:
            # completed runs exist, but none reports the objective: a mixer would see none of them
            reason = f"{missing_reason(project.objective)} of the objective: nothing to fit or cross-validate"
        out.append(Availability(name, cls.kind, reason is None, reason))
    return out
