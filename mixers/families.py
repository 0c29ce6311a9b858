"""Domain families: the hierarchy that ``/`` in domain names implies (``dclm/web/high`` is in ``dclm/web`` and
``dclm``).

``build_families(names, bounds)`` gives every family of a domain list, all prefix levels, each with its member
indices and the bounds a project sets on it; a domain without ``/`` is in no family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mixers.types import FamilySpec

FamilyBounds = Mapping[str, tuple[float | None, float | None]]


def family_path(name: str) -> list[str]:
    """The families of one domain name, outermost first: ``"a/b/c"`` -> ``["a", "a/b"]``; ``"a"`` -> ``[]``."""
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]


def build_families(names: Sequence[str], bounds: FamilyBounds | None = None) -> tuple[FamilySpec, ...]:
    """Every family of ``names`` (in order of first appearance, outer before inner), members as indices into
    ``names``; ``bounds`` maps a family name to ``(min_weight, max_weight)``. A bound naming no family of ``names``
    is a ``ValueError``."""
    members: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        for fam in family_path(name):
            members.setdefault(fam, []).append(i)
    bounds = bounds or {}
    unknown = sorted(set(bounds) - set(members))
    if unknown:
        raise ValueError(f"no domain is in family {unknown[0]!r}")
    return tuple(FamilySpec(fam, tuple(idx), *bounds.get(fam, (None, None))) for fam, idx in members.items())


def top_family(name: str) -> str:
    """The outermost family of a name, or the name itself when it has none (what the dashboard colours by)."""
    return name.split("/", 1)[0]
