"""How far an answer lies from the runs behind it: in the mixture (the nearest run) and in scale (log-compute
beyond the largest run), for the diagnostics of every recommendation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixers.scale_shift import log_compute_gap
from mixers.types import FloatArray, Observation

#: Beyond these the diagnostics say so in words: the mixture is far from every run (total variation), or the
#: requested fidelity is more than ten times the compute of the largest run.
FAR_MIXTURE = 0.25
FAR_SCALE = math.log(10.0)


def extrapolation(
    weights: FloatArray, fidelity: Mapping[str, float] | None, runs: Sequence[Observation]
) -> dict[str, Any]:
    """``weights`` ``(d,)`` of an answer for ``fidelity`` against the completed ``runs``: the total-variation
    distance to the nearest run's mixture (any fidelity, and at the largest run fidelity), the log-compute gap
    from the largest run fidelity, and ``beyond_runs`` / ``warning`` when either is large."""
    done = [o for o in runs if o.status == "completed"]
    if not done:
        return {"runs": 0, "beyond_runs": True, "warning": "no completed run: the answer rests on the prior alone"}
    x = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in done])
    tv = 0.5 * np.abs(x - np.asarray(weights, dtype=np.float64)[None, :]).sum(axis=1)
    out: dict[str, Any] = {"runs": len(done), "nearest_run_distance": float(tv.min())}
    gaps: list[float] = []
    if fidelity:
        gaps = [g for o in done if (g := log_compute_gap(fidelity, o.fidelity)) is not None]
    if gaps:
        gap = min(gaps)  # from the run fidelity closest below (or above: negative) the requested one
        out["log_compute_beyond_largest_run"] = gap
        out["compute_ratio_to_largest_run"] = math.exp(gap)
    words = []
    if tv.min() > FAR_MIXTURE:
        words.append(f"the mixture is {tv.min():.2f} (total variation) from the nearest run")
    if gaps and min(gaps) > FAR_SCALE:
        words.append(f"the fidelity asks {math.exp(min(gaps)):.0f}x the compute of the largest run")
    out["beyond_runs"] = bool(words) or bool(gaps and min(gaps) > 0)
    if words:
        out["warning"] = "extrapolation: " + "; ".join(words) + "; treat the answer as a hypothesis to check"
    return out
