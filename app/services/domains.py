"""Family bounds and versioned domain sets: checking a project's family bounds, changing its domain set (one
numbered version per change, ``mixers.domain_sets``), and mapping runs from older versions onto the current one.

A run keeps the version it was trained on. The offline use cases read runs of older versions through
:func:`map_runs`: exact where the change says nothing about the run's data (an added domain, a merge, a removed
domain it had no weight on), assumed for a split parent's weight (divided by the parts' token shares), and
dropped when it trained on a removed domain. Their answers then carry ``diagnostics.domain_mapping``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from app.services.inputs import (
    MAX_DOMAINS,
    AddDomainsIn,
    DomainIn,
    FamilyIn,
    MergeDomainsIn,
    RemoveDomainsIn,
    SplitDomainIn,
)
from mixers.domain_sets import domains_after, map_weights
from mixers.families import build_families
from mixers.family_bounds import bounded_families, check_feasible
from store.errors import FieldError, InvalidInput
from store.records import OPEN_STATUSES, DomainVersionRecord, NewDomainVersion, ProjectRecord, RunRecord
from store.repository import Store

DomainChange = AddDomainsIn | RemoveDomainsIn | SplitDomainIn | MergeDomainsIn
_TOL = 1e-9


# -- domain and family bounds -----------------------------------------------------------------------


def check_domains(domains: list[DomainIn], loc: str = "domains") -> list[dict[str, Any]]:
    """The domains in their stored form: names unique, and the bounds leave some mixture feasible (else 422
    ``invalid_domains`` naming ``domains[i].name`` or ``domains``)."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, dom in enumerate(domains):
        if dom.name in seen:
            errors.append(FieldError(f"{loc}[{i}].name", f"duplicate domain name {dom.name!r}"))
        seen.add(dom.name)
    lo = sum(d.min_weight or 0.0 for d in domains)
    hi = sum(1.0 if d.max_weight is None else d.max_weight for d in domains)
    if lo > 1 + 1e-9:
        errors.append(FieldError(loc, f"the min_weight values sum to {lo:.4g} > 1: no mixture is feasible"))
    if hi < 1 - 1e-9:
        errors.append(FieldError(loc, f"the max_weight values sum to {hi:.4g} < 1: no mixture is feasible"))
    if errors:
        raise InvalidInput(errors[0].msg, code="invalid_domains", errors=errors)
    return [d.model_dump() for d in domains]


def _invalid_families(errors: list[FieldError], code: str = "invalid_families") -> InvalidInput:
    return InvalidInput(f"{errors[0].loc}: {errors[0].msg}", code=code, errors=errors)


def check_families(
    families: Sequence[FamilyIn] | None, domains: Sequence[Mapping[str, Any]], loc: str = "families"
) -> list[dict[str, Any]] | None:
    """The family bounds in their stored form, checked against ``domains``: every name is a family of the domain
    names (else 422 ``families[i].name``), named once, and some mixture meets every family bound together with
    the domains' own bounds (else 422 naming the family, or ``families`` when only their combination fails)."""
    if not families:
        return None
    names = [str(d["name"]) for d in domains]
    known = {f.name: f for f in build_families(names)}
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, fam in enumerate(families):
        if fam.name not in known:
            errors.append(
                FieldError(
                    f"{loc}[{i}].name",
                    f"{fam.name!r} is no family of the domains (a family is a "
                    "name prefix before '/', e.g. dclm of dclm/web)",
                )
            )
        elif fam.name in seen:
            errors.append(FieldError(f"{loc}[{i}].name", f"family {fam.name!r} is named twice"))
        seen.add(fam.name)
    if errors:
        raise _invalid_families(errors)
    lo = np.array([d.get("min_weight") or 0.0 for d in domains], dtype=np.float64)
    hi = np.array([1.0 if d.get("max_weight") is None else d["max_weight"] for d in domains], dtype=np.float64)
    for i, fam in enumerate(families):
        members = list(known[fam.name].members)
        if fam.max_weight is not None and lo[members].sum() > fam.max_weight + _TOL:
            errors.append(
                FieldError(
                    f"{loc}[{i}].max_weight",
                    f"its domains' min_weight values sum to {lo[members].sum():.4g} > {fam.max_weight:.4g}",
                )
            )
        if fam.min_weight is not None and hi[members].sum() < fam.min_weight - _TOL:
            errors.append(
                FieldError(
                    f"{loc}[{i}].min_weight",
                    f"its domains' max_weight values sum to {hi[members].sum():.4g} < {fam.min_weight:.4g}",
                )
            )
    if errors:
        raise _invalid_families(errors)
    specs = build_families(names, {f.name: (f.min_weight, f.max_weight) for f in families})
    try:  # the mixers' own check (a linear program): what is accepted here is what every mixer can search
        check_feasible(lo, hi, bounded_families(specs))
    except ValueError:
        raise _invalid_families(
            [FieldError(loc, "no mixture meets every family bound together with the domains' bounds")]
        ) from None
    return [{"name": f.name, "min_weight": f.min_weight, "max_weight": f.max_weight} for f in families]


def families_view(project: ProjectRecord) -> list[dict[str, Any]]:
    """Every family the domain names imply (outer before inner): ``{name, domains, min_weight, max_weight}``."""
    names = project.domain_names
    known = {f.name for f in build_families(names)}  # stored bounds always name one; a stray one is not shown
    specs = build_families(names, {k: v for k, v in project.family_bounds().items() if k in known})
    return [
        {
            "name": f.name,
            "domains": [names[i] for i in f.members],
            "min_weight": f.min_weight,
            "max_weight": f.max_weight,
        }
        for f in specs
    ]


# -- changing the domain set ------------------------------------------------------------------------


def change_dict(change: DomainChange) -> dict[str, Any]:
    """The change as stored and as ``mixers.domain_sets`` reads it (no note)."""
    return change.model_dump(exclude={"note"})


def _field_of(change: DomainChange, message: str) -> str:
    """The field of ``change`` that a ``domains_after`` error (``message``) is about."""
    quoted = message.split("'")[1] if message.count("'") >= 2 else None
    if isinstance(change, AddDomainsIn):
        hits = [i for i, d in enumerate(change.domains) if d.name == quoted]
        dups = hits[1:] or hits  # a name twice in the list: the second; a name already there: the first
        return f"domains[{dups[0]}].name" if dups else "domains"
    if isinstance(change, SplitDomainIn):
        if message.startswith("unknown"):
            return "name"
        hits = [i for i, d in enumerate(change.into) if d.name == quoted]
        return f"into[{hits[-1]}].name" if hits else "into"
    if isinstance(change, MergeDomainsIn) and message.startswith("duplicate"):
        return "into.name"
    names = change.names
    hits = [i for i, n in enumerate(names) if n == quoted]
    return f"names[{hits[0]}]" if hits else "names"


def _bad_change(loc: str, msg: str) -> InvalidInput:
    return InvalidInput(
        f"invalid domain change: {loc}: {msg}", code="invalid_domain_change", errors=[FieldError(loc, msg)]
    )


def _list_field(change: DomainChange) -> str:
    return {"add": "domains", "remove": "names", "split": "into", "merge": "into"}[change.op]


def change_domains(store: Store, name: str, change: DomainChange) -> ProjectRecord:
    """Apply one change to the project's domain set as a new version (the project's domains, version and data
    version move together). Every problem is a 422 ``invalid_domain_change`` naming the field; nothing is
    written then."""
    project = store.get_project(name)
    try:
        after = domains_after(project.domains, change_dict(change))
    except ValueError as exc:
        raise _bad_change(_field_of(change, str(exc)), str(exc)) from None
    where = _list_field(change)
    if len(after) > MAX_DOMAINS:
        raise _bad_change(where, f"the domain set would have {len(after)} domains; at most {MAX_DOMAINS}")
    try:
        checked = [DomainIn.model_validate(d) for d in after]
    except ValidationError as exc:  # a stored domain's bounds no longer fit (cannot happen for checked input)
        raise _bad_change(where, str(exc.errors()[0]["msg"])) from None
    try:
        domains = check_domains(checked)
    except InvalidInput as exc:
        raise _bad_change(where, exc.errors[0].msg if exc.errors else exc.detail) from None
    try:
        check_families([FamilyIn.model_validate(f) for f in project.families], domains)
    except InvalidInput as exc:
        bad = exc.errors[0]
        which = bad.loc.split("]")[0].split("[")[-1] if "[" in bad.loc else None
        fam = project.families[int(which)]["name"] if which is not None and which.isdigit() else None
        detail = f"the bound on family {fam!r}: {bad.msg}" if fam else bad.msg
        raise _bad_change(where, f"{detail} (change the project's families first)") from None
    return store.add_domain_version(
        project.id,
        NewDomainVersion(project.domain_version + 1, domains, change_dict(change), change.note),
    )


def domain_versions(store: Store, name: str) -> list[DomainVersionRecord]:
    return store.domain_versions(store.get_project(name).id)


# -- runs of older versions -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMapping:
    """How runs of older versions map onto the current version ``version``: per run id, the weights in the current
    domain set (``None``: dropped), how (``exact``, ``assumed``, ``dropped``) and why."""

    version: int
    weights: Mapping[int, dict[str, float] | None]
    how: Mapping[int, str]
    reasons: Mapping[int, str]

    def weights_of(self, run: RunRecord) -> dict[str, float] | None:
        """The run's weights in the current domain set (as stored for a run of the current version)."""
        return self.weights.get(run.id, run.weights)

    def diagnostics(self, runs: Iterable[RunRecord]) -> dict[str, Any] | None:
        """``domain_mapping`` over ``runs`` (the runs an answer read), or None when all are at ``version``."""
        old = [r for r in runs if r.id in self.how]
        if not old:
            return None
        counts = {"exact": 0, "assumed": 0, "dropped": 0}
        for r in old:
            counts[self.how[r.id]] += 1
        notes = list(dict.fromkeys(self.reasons[r.id] for r in old if self.reasons[r.id]))
        return {
            "version": self.version,
            "counts": counts,
            "assumed_run_ids": [r.id for r in old if self.how[r.id] == "assumed"],
            "dropped_run_ids": [r.id for r in old if self.how[r.id] == "dropped"],
            "notes": notes,
        }


def map_runs(store: Store, project: ProjectRecord, runs: Sequence[RunRecord]) -> RunMapping:
    """Map every run of an older version through the chain of changes since (reads the versions only when such a
    run exists)."""
    current = project.domain_version
    old = [r for r in runs if r.domain_version < current]
    if not old:
        return RunMapping(current, {}, {}, {})
    changes = {v.version: v.change for v in store.domain_versions(project.id)}
    weights: dict[int, dict[str, float] | None] = {}
    how: dict[int, str] = {}
    reasons: dict[int, str] = {}
    for r in old:
        chain = [changes[v] for v in range(r.domain_version + 1, current + 1) if changes.get(v)]
        mapped = map_weights(r.weights, chain)  # type: ignore[arg-type]
        weights[r.id], how[r.id], reasons[r.id] = mapped.weights, mapped.how, mapped.reason
    return RunMapping(current, weights, how, reasons)


def used_runs(runs: Sequence[RunRecord], objective_value: Any, with_open: bool) -> list[RunRecord]:
    """The runs an offline mixer reads: completed ones reporting the objective, and the open ones (``with_open``:
    a proposal plans around them)."""
    return [
        r
        for r in runs
        if (with_open and r.status in OPEN_STATUSES)
        or (r.status == "completed" and objective_value(r.metrics) is not None)
    ]
