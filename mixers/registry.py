"""Mixers by name. Backends register themselves with ``@register`` when ``mixers`` is imported."""

from __future__ import annotations

from typing import Any, TypeVar

from mixers.base import Mixer, MixerConfig

_REGISTRY: dict[str, type[Mixer]] = {}

M = TypeVar("M", bound=type[Mixer])


def register(cls: M) -> M:
    """Class decorator adding a mixer under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"mixer {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get_mixer_class(name: str) -> type[Mixer]:
    """The mixer class for ``name``; ``KeyError`` if unknown."""
    return _REGISTRY[name]


def available() -> dict[str, type[Mixer]]:
    """All registered mixers, by name, in registration order."""
    return dict(_REGISTRY)


def parse_config(name: str, config: dict[str, Any] | None) -> MixerConfig:
    """Validate ``config`` against the mixer's pydantic model (raises ``pydantic.ValidationError``)."""
    return get_mixer_class(name).Config.model_validate(config or {})
