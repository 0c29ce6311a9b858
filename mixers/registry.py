"""Mixers by name. The built-in backends are loaded by the registry on first use (``BUILTIN``); a backend of
one's own registers with ``@register`` when its module is imported."""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from mixers.base import Mixer, MixerConfig

#: Modules of the built-in backends, imported (and so registered) the first time the registry is read.
BUILTIN = ("mixers.aioli", "mixers.mfbo", "mixers.mixing_law", "mixers.ot", "mixers.regmix", "mixers.auto")

_REGISTRY: dict[str, type[Mixer]] = {}
_loaded = False

M = TypeVar("M", bound=type[Mixer])


def register(cls: M) -> M:
    """Class decorator adding a mixer under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"mixer {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN:
            importlib.import_module(module)
        _loaded = True


def get_mixer_class(name: str) -> type[Mixer]:
    """The mixer class for ``name``; ``KeyError`` if unknown."""
    _load_builtins()
    return _REGISTRY[name]


def available() -> dict[str, type[Mixer]]:
    """All registered mixers, by name, in registration order."""
    _load_builtins()
    return dict(_REGISTRY)


def parse_config(name: str, config: dict[str, Any] | None) -> MixerConfig:
    """Validate ``config`` against the mixer's pydantic model (raises ``pydantic.ValidationError``)."""
    return get_mixer_class(name).Config.model_validate(config or {})
