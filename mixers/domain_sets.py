"""Versioned domain sets: how a run's weights over an earlier domain set map onto the current one.

A project's domain set changes by one *change* at a time; each change makes a new numbered version. Changes are
plain dicts (as stored and sent over HTTP):

- ``{"op": "add", "domains": [{"name": ..., "tokens": ...}, ...]}``: new domains; an old run had weight 0 on
  them (exact).
- ``{"op": "remove", "names": [...]}``: a run with zero weight on every removed domain maps exactly; a run that
  trained on one is dropped (its loss depends on data the new set lacks).
- ``{"op": "split", "name": "web", "into": [{"name": "web/high", "tokens": ...}, ...]}``: the parent's weight is
  divided among the children by their token shares (equal shares where a child's tokens are unknown). This is
  an assumption (``assumed``) for a run with weight on the parent, exact for one without.
- ``{"op": "merge", "names": ["a", "b"], "into": {"name": "ab", ...}}``: the merged domain gets the sum (exact).

``map_weights`` chains the changes from a run's version to the current one; ``affected_domains`` names the
domains of the new set a change touched (what a reuse proposal varies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Change = Mapping[str, Any]
How = Literal["exact", "assumed", "dropped"]
_RANK = {"exact": 0, "assumed": 1, "dropped": 2}
ZERO = 1e-12


@dataclass(frozen=True)
class MappedWeights:
    """A run's weights in the current domain set (``None`` when dropped), how they were mapped and why."""

    weights: dict[str, float] | None
    how: How
    reason: str = ""


def split_shares(into: Sequence[Mapping[str, Any]]) -> list[float]:
    """The children's shares of a split parent: token shares, or equal shares when any child's tokens are
    unknown (or all zero)."""
    toks = [c.get("tokens") for c in into]
    if any(t is None or t <= 0 for t in toks):
        return [1.0 / len(into)] * len(into)
    total = float(sum(toks))  # type: ignore[arg-type]
    return [float(t) / total for t in toks]  # type: ignore[arg-type]


def apply_change(weights: Mapping[str, float], change: Change) -> MappedWeights:
    """One change applied to one run's weights (domain name -> weight)."""
    w = dict(weights)
    op = change["op"]
    if op == "add":
        for dom in change["domains"]:
            w.setdefault(dom["name"], 0.0)
        return MappedWeights(w, "exact")
    if op == "remove":
        used = [n for n in change["names"] if w.get(n, 0.0) > ZERO]
        if used:
            return MappedWeights(None, "dropped", f"trained on removed domain {used[0]!r}")
        for n in change["names"]:
            w.pop(n, None)
        return MappedWeights(w, "exact")
    if op == "split":
        parent = w.pop(change["name"], 0.0)
        for child, share in zip(change["into"], split_shares(change["into"]), strict=True):
            w[child["name"]] = parent * share
        if parent > ZERO:
            return MappedWeights(w, "assumed", f"{change['name']!r} divided by its parts' token shares")
        return MappedWeights(w, "exact")
    if op == "merge":
        total = sum(w.pop(n, 0.0) for n in change["names"])
        w[change["into"]["name"]] = total
        return MappedWeights(w, "exact")
    raise ValueError(f"unknown domain change op {op!r}")


def map_weights(weights: Mapping[str, float], changes: Sequence[Change]) -> MappedWeights:
    """``weights`` over an earlier domain set mapped through ``changes`` (oldest first): the worst mapping of
    the chain (``exact`` < ``assumed`` < ``dropped``), with the first reason that made it so."""
    out = MappedWeights(dict(weights), "exact")
    for change in changes:
        step = apply_change(out.weights or {}, change)
        if step.how == "dropped":
            return step
        how: How = out.how if _RANK[out.how] >= _RANK[step.how] else step.how
        out = MappedWeights(step.weights, how, out.reason or step.reason)
    return out


def affected_domains(change: Change, names_after: Sequence[str]) -> list[str]:
    """The domains of the new set (``names_after``) whose weight a change leaves open: the added ones, a split's
    parts, a merge's result; for a removal, the removed domains' siblings (names sharing their family prefix)."""
    op = change["op"]
    if op == "add":
        return [d["name"] for d in change["domains"]]
    if op == "split":
        return [c["name"] for c in change["into"]]
    if op == "merge":
        return [change["into"]["name"]]
    if op == "remove":
        prefixes = {n.rsplit("/", 1)[0] + "/" for n in change["names"] if "/" in n}
        return [n for n in names_after if any(n.startswith(p) for p in prefixes)]
    raise ValueError(f"unknown domain change op {op!r}")


def domains_after(domains: Sequence[Mapping[str, Any]], change: Change) -> list[dict[str, Any]]:
    """The domain list (dicts with ``name``, ``tokens``, bounds) after one change: added domains at the end, a
    split's parts and a merge's result where the (first) old domain was. Raises ``ValueError`` naming the first
    problem (an unknown or duplicate name, a split into fewer than 2, a merge of fewer than 2, an empty set)."""
    names = [d["name"] for d in domains]
    op = change["op"]
    out = [dict(d) for d in domains]
    if op == "add":
        new = [dict(d) for d in change["domains"]]
        out += new
    elif op == "remove":
        _require_known(change["names"], names)
        out = [d for d in out if d["name"] not in set(change["names"])]
    elif op == "split":
        _require_known([change["name"]], names)
        if len(change["into"]) < 2:
            raise ValueError("a split needs at least 2 parts")
        i = names.index(change["name"])
        out[i : i + 1] = [dict(c) for c in change["into"]]
    elif op == "merge":
        _require_known(change["names"], names)
        if len(set(change["names"])) < 2:
            raise ValueError("a merge needs at least 2 domains")
        into = dict(change["into"])
        if into.get("tokens") is None:
            toks = [d.get("tokens") for d in domains if d["name"] in set(change["names"])]
            if all(t is not None for t in toks):
                into["tokens"] = float(sum(t for t in toks if t is not None))
        first = min(names.index(n) for n in change["names"])
        kept = [d for d in out if d["name"] not in set(change["names"])]
        kept.insert(sum(1 for d in out[:first] if d["name"] not in set(change["names"])), into)
        out = kept
    else:
        raise ValueError(f"unknown domain change op {op!r}")
    seen: set[str] = set()
    for d in out:
        if d["name"] in seen:
            raise ValueError(f"duplicate domain name {d['name']!r}")
        seen.add(d["name"])
    if not out:
        raise ValueError("the domain set would be empty")
    return out


def _require_known(wanted: Sequence[str], names: Sequence[str]) -> None:
    for n in wanted:
        if n not in names:
            raise ValueError(f"unknown domain {n!r}")
