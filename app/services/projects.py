"""Create, read, update and delete projects."""

from __future__ import annotations

from typing import Any

import mixers
from app.services.domains import check_domains, check_families
from app.services.inputs import FamilyIn, ObjectiveIn, ProjectCreate, ProjectPatch
from store.errors import FieldError, InvalidInput
from store.records import (
    UNCHANGED,
    NewProject,
    Page,
    ProjectChanges,
    ProjectRecord,
    ProjectSummary,
    Unchanged,
)
from store.repository import Store


def objective_dict(obj: ObjectiveIn) -> dict[str, Any]:
    """Normal form: always ``{"metrics": {name: coef}, "direction": ...}`` (plus ``metric`` when single)."""
    if obj.metric is not None:
        return {"metric": obj.metric, "metrics": {obj.metric: 1.0}, "direction": obj.direction}
    return {"metrics": dict(obj.metrics or {}), "direction": obj.direction}


def check_ladder(ladder: list[dict[str, float]] | None, loc: str = "fidelities") -> list[dict[str, float]] | None:
    """The project's fidelity ladder, checked: every entry names the same keys and no entry repeats.

    Values are already positive and finite (the schema). Errors name ``fidelities[i]``.
    """
    if ladder is None:
        return None
    errors: list[FieldError] = []
    keys = set(ladder[0])
    seen: dict[str, int] = {}
    for i, fid in enumerate(ladder):
        if not fid:
            errors.append(FieldError(f"{loc}[{i}]", "a fidelity of the ladder must name at least one key"))
        elif set(fid) != keys:
            errors.append(FieldError(f"{loc}[{i}]", f"names keys {sorted(fid)}; every entry must name the keys of "
                                                    f"the first: {sorted(keys)}"))
        canon = ",".join(f"{k}={float(v):.6g}" for k, v in sorted(fid.items()))
        if canon in seen:
            errors.append(FieldError(f"{loc}[{i}]", f"repeats {loc}[{seen[canon]}]"))
        seen.setdefault(canon, i)
    if errors:
        raise InvalidInput(f"invalid fidelity ladder: {errors[0].loc}: {errors[0].msg}", code="invalid_fidelities",
                           errors=errors)
    return [{str(k): float(v) for k, v in f.items()} for f in ladder]


def check_default_mixer(name: str | None, loc: str = "default_mixer") -> str | None:
    """``name`` if it is a registered offline mixer (or None); else a 422 naming ``loc``."""
    if name is None:
        return None
    registered = mixers.available()
    offline = sorted(n for n, cls in registered.items() if cls.kind == "offline")
    if name not in offline:
        why = "is an online mixer" if name in registered else "is not a registered mixer"
        raise InvalidInput(
            f"{loc}: {name!r} {why}; the default must be one of {', '.join(offline)}",
            code="unknown_mixer",
            errors=[FieldError(loc, f"{name!r} {why}")],
        )
    return name


def create_project(store: Store, body: ProjectCreate) -> ProjectRecord:
    domains = check_domains(body.domains)
    return store.create_project(
        NewProject(
            name=body.name,
            description=body.description,
            domains=domains,
            objective=objective_dict(body.objective),
            target_fidelity=body.target_fidelity,
            fidelities=check_ladder(body.fidelities),
            allow_missing_domains=body.allow_missing_domains,
            default_mixer=check_default_mixer(body.default_mixer),
            families=check_families(body.families, domains),
        )
    )


def list_projects(
    store: Store, max_results: int, page_token: str | None, include_archived: bool = False
) -> Page[ProjectRecord]:
    return store.list_projects(max_results, page_token, include_archived)


def summaries(store: Store, projects: list[ProjectRecord]) -> dict[int, ProjectSummary]:
    """Run counts, best objective and last activity of each project, from one aggregate query."""
    return store.project_summaries(projects)


def get_project(store: Store, name: str) -> ProjectRecord:
    return store.get_project(name)


def update_project(store: Store, name: str, body: ProjectPatch) -> ProjectRecord:
    current = store.get_project(name)
    if body.domains is not None:
        names = [d.name for d in body.domains]
        if names != current.domain_names:
            raise InvalidInput(
                "domains can be updated but not added, removed or reordered (runs refer to them)",
                code="domains_changed",
                errors=[FieldError("domains", f"expected names {current.domain_names}")],
            )
    given = body.model_fields_set
    domains = current.domains if body.domains is None else check_domains(body.domains)
    families: list[dict[str, Any]] | Unchanged | None = UNCHANGED
    if "families" in given:
        families = check_families(body.families, domains)
    elif body.domains is not None and current.families:  # new domain bounds must still meet the family bounds
        check_families([FamilyIn.model_validate(f) for f in current.families], domains)
    changes = ProjectChanges(
        description=UNCHANGED if body.description is None else body.description,
        domains=UNCHANGED if body.domains is None else domains,
        objective=UNCHANGED if body.objective is None else objective_dict(body.objective),
        target_fidelity=body.target_fidelity if "target_fidelity" in given else UNCHANGED,
        fidelities=check_ladder(body.fidelities) if "fidelities" in given else UNCHANGED,
        allow_missing_domains=UNCHANGED if body.allow_missing_domains is None else body.allow_missing_domains,
        default_mixer=check_default_mixer(body.default_mixer) if "default_mixer" in given else UNCHANGED,
        families=families,
    )
    if changes == ProjectChanges():
        return current
    return store.update_project(name, changes)


def delete_project(store: Store, name: str, *, purge: bool = False, confirm: str | None = None) -> None:
    """Archive the project (recoverable with ``restore_project``); ``purge`` removes it and all it holds for good.

    A purge needs ``confirm`` equal to the project's name, so that no single stray call destroys data.
    """
    if not purge:
        store.archive_project(name)
        return
    if confirm != name:
        raise InvalidInput(
            "purging deletes the project and all its runs for good: pass confirm=<the project's name>",
            code="purge_unconfirmed",
            errors=[FieldError("confirm", f"must be {name!r} to purge")],
        )
    store.delete_project(name)


def restore_project(store: Store, name: str) -> ProjectRecord:
    return store.restore_project(name)
