"""``"config": {"reuse": true}`` on a proposal: the frozen ratios and free domains filled in from the project's
domain-set history (``mixers.reuse`` proposes in that space).

- ``frozen``: the newest stored recommendation made before the last change (its weights name that version's
  domains), mapped into the current set through the changes since (``mixers.domain_sets.map_weights``; a removed
  domain it used is dropped and the rest renormalized); with none stored, a fresh recommendation of the project's
  default mixer (else ``auto``) on the runs of the version before the last change.
- ``free``: the domains the changes since then left open (``affected_domains``: added ones, a split's parts, a
  merge's result, a removed domain's family siblings) that are still in the current set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from app.services.domains import map_runs
from app.services.fitting import make_problem, observations, parse_mixer
from mixers.base import MixerError, OfflineMixer
from mixers.domain_sets import affected_domains, map_weights
from mixers.reuse import renormalized
from store.errors import FieldError, InvalidInput
from store.records import DomainVersionRecord, ProjectRecord
from store.repository import Store

PAGE = 100


def _bad(msg: str) -> InvalidInput:
    return InvalidInput(msg, code="invalid_reuse", errors=[FieldError("config.reuse", msg)])


def with_reuse(
    store: Store, project: str | ProjectRecord, config: dict[str, Any] | None
) -> tuple[str | ProjectRecord, dict[str, Any] | None]:
    """``(project, config)`` for a recommendation or a proposal: unchanged unless the config asks ``reuse: true``,
    then the project's record (read once here, handed on) and the config filled by :func:`fill_reuse`."""
    if not config or config.get("reuse") is not True:
        return project, config
    record = store.get_project(project) if isinstance(project, str) else project
    return record, fill_reuse(store, record, config)


def fill_reuse(store: Store, project: ProjectRecord, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``config`` with ``reuse: true`` replaced by ``{"frozen", "free", "from_version", "source"}``; any other config
    unchanged. A project whose domain set never changed is a 422 naming ``config.reuse``."""
    if not config or config.get("reuse") is not True:
        return dict(config) if config is not None else None
    versions = store.domain_versions(project.id)
    if len(versions) < 2:
        raise _bad("reuse needs a change of the domain set (PATCH .../domains); this project has version 1 only")
    current = versions[-1]
    names = [d["name"] for d in current.domains]
    found = _stored_recommendation(store, project, versions)
    if found is None:
        weights, from_version, source = _fresh_recommendation(store, project, versions)
    else:
        weights, from_version, source = found
    chain = [v.change for v in versions if v.version > from_version and v.change]
    mapped = map_weights(weights, chain)
    frozen = mapped.weights if mapped.weights is not None else _through_removals(weights, chain)
    frozen = renormalized(frozen, names)
    free: list[str] = []
    after = [d["name"] for d in next(v for v in versions if v.version == from_version).domains]
    for v in versions:
        if v.version > from_version and v.change:
            after = [d["name"] for d in v.domains]
            free += [n for n in affected_domains(v.change, after) if n not in free]
    free = [n for n in free if n in names]
    out = dict(config)
    out["reuse"] = {"frozen": frozen, "free": free, "from_version": from_version, "source": source}
    return out


def _through_removals(weights: Mapping[str, float], chain: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``weights`` mapped through ``chain`` with a removed domain's weight simply dropped (a recommendation that
    used a removed domain keeps the ratios of the rest, Olmix's "no recomputation" for a removal)."""
    w = dict(weights)
    for change in chain:
        if change["op"] == "remove":
            for n in change["names"]:
                w.pop(n, None)
            continue
        step = map_weights(w, [change])
        w = step.weights if step.weights is not None else w
    return w


def _stored_recommendation(
    store: Store, project: ProjectRecord, versions: list[DomainVersionRecord]
) -> tuple[dict[str, float], int, str] | None:
    """The newest stored recommendation over an earlier version's domain set: its weights, that version, a note."""
    by_names = {frozenset(d["name"] for d in v.domains): v.version for v in versions[:-1]}
    token = None
    while True:
        page = store.list_recommendations(project.id, PAGE, token)
        for rec in page.items:
            weights = rec.response.get("weights")
            if not isinstance(weights, dict):
                continue
            version = by_names.get(frozenset(weights))
            if version is not None:
                return (
                    {str(k): float(v) for k, v in weights.items()},
                    version,
                    f"recommendation {rec.id} ({rec.mixer}) over domain-set version {version}",
                )
        if page.next_page_token is None:
            return None
        token = page.next_page_token


def _fresh_recommendation(
    store: Store, project: ProjectRecord, versions: list[DomainVersionRecord]
) -> tuple[dict[str, float], int, str]:
    """The default mixer's recommendation on the runs of the version before the last change (earlier runs mapped
    onto it)."""
    old = versions[-2]
    view = dataclasses.replace(project, domains=old.domains, domain_version=old.version)
    try:
        problem = make_problem(view)
    except ValueError:  # a family bound of the current set names no family of the old one
        problem = make_problem(dataclasses.replace(view, families=[]))
    runs = [r for r in store.all_runs(project.id) if r.domain_version <= old.version]
    obs = observations(view, runs, mapping=map_runs(store, view, runs))  # earlier runs mapped onto version old
    name = project.default_mixer or "auto"
    cls, cfg = parse_mixer(name, None)
    try:
        assert issubclass(cls, OfflineMixer)
        rec = cls(problem, cfg, 0).fit(obs).recommend()
    except MixerError as exc:
        raise _bad(
            f"no recommendation is stored from before the change and {name} cannot make one on the "
            f"{len(obs)} runs of version {old.version}: {exc}"
        ) from None
    weights = {n: float(w) for n, w in zip(problem.names, rec.weights, strict=True)}
    return weights, old.version, f"a fresh {name} recommendation on the {len(obs)} runs of version {old.version}"
