"""Pure numerics for data-mixture optimization: the mixer interface, its registry and every backend.

Importing this package registers all built-in backends. Nothing here imports ``app`` or ``store``.
"""

from mixers.base import Mixer, MixerConfig, MixerError, OfflineMixer, OnlineMixer
from mixers.registry import available, get_mixer_class, parse_config, register

# Built-in backends register themselves on import.
from mixers import aioli, mfbo, mixing_law, ot, regmix  # noqa: F401  (isort: skip)

__all__ = [
    "Mixer",
    "MixerConfig",
    "MixerError",
    "OfflineMixer",
    "OnlineMixer",
    "available",
    "get_mixer_class",
    "parse_config",
    "register",
]
