"""Pure numerics for data-mixture optimization: the mixer interface, its registry and every backend.

The registry loads the built-in backends on first use (``mixers.registry.BUILTIN``). Nothing here imports
``app`` or ``store``.
"""

from mixers.base import Mixer, MixerConfig, MixerError, OfflineMixer, OnlineMixer
from mixers.registry import available, get_mixer_class, parse_config, register

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
