"""Fidelities as ``mfbo`` models them: which keys the runs name and vary (:class:`FidelityKeys`), and the
normalized log-fidelity features the GP takes beside the mixture (:class:`FidelityFeatures`).

Features are ``(log f_k - log target_k) / range_k`` over the keys the runs vary (the target sits at 0). A key
only the target names is dropped; a key every run names with one value, which the target does not name, is taken
at that value. Runs that name no fidelity at all are taken to be at the target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mixers.base import MixerError
from mixers.training import fidelity_size
from mixers.types import FloatArray, Observation, fidelity_key


class FidelityFeatures:
    """Map a fidelity dict to features ``(f,)``: ``(log value - log target) / range`` per modeled key.

    Keys the fidelity names beyond the modeled ones are ignored (the runs do not vary them, or do not name them);
    a modeled key it lacks is an error.
    """

    def __init__(self, keys: tuple[str, ...], center: FloatArray, scale: FloatArray) -> None:
        self.keys = keys
        self.center = center
        self.scale = scale

    @classmethod
    def none(cls) -> FidelityFeatures:
        """No fidelity features: the model sees the mixture alone."""
        return cls((), np.zeros(0), np.zeros(0))

    @classmethod
    def spanning(
        cls, keys: tuple[str, ...], fidelities: Sequence[Mapping[str, float]], target: Mapping[str, float]
    ) -> FidelityFeatures:
        """Features over ``keys`` centred at ``target``, scaled by the range of the log values of ``fidelities``
        and the target (1 where they do not vary)."""
        logs = np.array([log_fidelity(f, keys) for f in fidelities])
        center = log_fidelity(target, keys)
        span = np.ptp(np.vstack([logs, center[None, :]]), axis=0)
        return cls(keys, center, np.where(span > 1e-12, span, 1.0))

    def __call__(self, fidelity: Mapping[str, float], what: str = "fidelity") -> FloatArray:
        if not self.keys:
            return np.zeros(0)
        missing = [k for k in self.keys if k not in fidelity]
        if missing:
            raise MixerError(
                f"{what} {dict(fidelity)} does not name {missing}, which the runs vary; name the keys "
                f"{list(self.keys)}"
            )
        vals = np.array([float(fidelity[k]) for k in self.keys])
        if not np.all(np.isfinite(vals) & (vals > 0)):
            raise MixerError(f"{what} {dict(fidelity)}: fidelity values must be positive and finite")
        return np.asarray((np.log(vals) - self.center) / self.scale, dtype=np.float64)


def log_fidelity(fid: Mapping[str, float], keys: Sequence[str]) -> FloatArray:
    """``log fid[k]`` ``(len(keys),)``; the values must be positive and finite."""
    vals = np.array([float(fid[k]) for k in keys])
    if not np.all(np.isfinite(vals) & (vals > 0)):
        raise MixerError(f"fidelity {dict(fid)}: values must be positive and finite")
    return np.asarray(np.log(vals), dtype=np.float64)


def largest_fidelity(observations: Sequence[Observation]) -> dict[str, float]:
    """The fidelity with the largest sum of log values (ties: canonical key), ``{}`` without runs."""
    best: tuple[float, str] | None = None
    out: dict[str, float] = {}
    for o in observations:
        cand = (fidelity_size(o.fidelity), fidelity_key(o.fidelity))
        if best is None or cand > best:
            best, out = cand, {str(k): float(v) for k, v in o.fidelity.items()}
    return out


@dataclass(frozen=True)
class FidelityKeys:
    """The fidelity keys of the runs: those they vary (modeled) and those every run names with one value."""

    varying: tuple[str, ...] = ()
    constant: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, runs: Sequence[Observation]) -> FidelityKeys:
        """The keys of ``runs``, which must all name the same keys."""
        all_keys = tuple(sorted({str(k) for o in runs for k in o.fidelity}))
        for i, o in enumerate(runs):
            missing = [k for k in all_keys if k not in o.fidelity]
            if missing:
                raise MixerError(f"run {i} has no fidelity value for {missing}; runs must name the same keys "
                                 f"({list(all_keys)})")
        values = {k: {float(o.fidelity[k]) for o in runs} for k in all_keys}
        return cls(tuple(k for k in all_keys if len(values[k]) > 1),
                   {k: next(iter(values[k])) for k in all_keys if len(values[k]) == 1})

    @property
    def all(self) -> tuple[str, ...]:
        """Every key the runs name, sorted."""
        return tuple(sorted({*self.varying, *self.constant}))

    def effective(self, fidelity: Mapping[str, float]) -> dict[str, float]:
        """``fidelity`` over the keys the runs name: keys no run names are dropped, a key the runs do not vary
        and ``fidelity`` does not name is taken at the runs' value. Raises when a key the runs vary is missing."""
        if not self.varying and not self.constant:  # the runs name no fidelity: keep it as given
            return {str(k): float(v) for k, v in fidelity.items()}
        missing = [k for k in self.varying if k not in fidelity]
        if missing:
            raise MixerError(f"fidelity {dict(fidelity)} does not name {missing}, which the runs vary")
        out = dict(self.constant)
        out.update({str(k): float(v) for k, v in fidelity.items() if k in out or k in self.varying})
        return {k: out[k] for k in sorted(out)}

    def notes(self, fidelity: Mapping[str, float], what: str) -> list[str]:
        """Sentences on the keys of ``fidelity`` that the answer does not use as given."""
        notes = []
        named = set(self.varying) | set(self.constant)
        extra = sorted(set(fidelity) - named)
        if extra and named:
            notes.append(f"{what} names {extra}, which no run names: answered with the keys the runs use "
                         f"({sorted(named)})")
        for k, v in sorted(self.constant.items()):
            if k not in fidelity:
                notes.append(f"{what} does not name {k}: taken at the runs' {k}={v:g}")
            elif not math.isclose(float(fidelity[k]), v, rel_tol=1e-9):
                notes.append(f"{what} asks {k}={float(fidelity[k]):g}, but every run has {k}={v:g}: the runs "
                             f"cannot show how {k} matters, so the shift to {k}={float(fidelity[k]):g} is assumed, "
                             "not learned")
        return notes

    def unvaried_shift(self, fidelity: Mapping[str, float]) -> list[str]:
        """Keys the runs hold at one value that ``fidelity`` sets to another (a shift the runs cannot show)."""
        return [k for k, v in self.constant.items() if not math.isclose(fidelity.get(k, v), v, rel_tol=1e-9)]
