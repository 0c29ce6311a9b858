"""The registered mixers as the API lists them: names, kinds, descriptions and config schemas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import mixers


@dataclass(frozen=True)
class MixerEntry:
    name: str
    kind: Literal["offline", "online"]
    description: str
    config_schema: dict[str, Any]


def mixer_names() -> list[str]:
    """Names of the registered mixers, in registration order."""
    return list(mixers.available())


def mixer_catalog() -> list[MixerEntry]:
    """Every registered mixer, by name."""
    return [
        MixerEntry(name, cls.kind, cls.description, cls.Config.model_json_schema())
        for name, cls in sorted(mixers.available().items())
    ]
