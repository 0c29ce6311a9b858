"""Every recommendation says how far it lies from the runs: the nearest run's mixture and the compute beyond the
largest run; far answers carry a warning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixers.extrapolation import extrapolation
from mixers.types import Observation

SMALL = {"params": 1e6, "tokens": 1e8}


def runs() -> list[Observation]:
    return [Observation(weights=np.array(w), fidelity=SMALL, metrics={"loss": 1.0})
            for w in ([0.5, 0.5, 0.0], [0.2, 0.3, 0.5])] + [
        Observation(weights=np.array([1.0, 0.0, 0.0]), fidelity={"params": 1e9, "tokens": 1e12}, metrics={},
                    status="pending")]


def test_near_the_runs_at_their_scale_no_warning() -> None:
    out = extrapolation(np.array([0.45, 0.5, 0.05]), SMALL, runs())
    assert out["runs"] == 2  # the pending run does not count
    assert out["nearest_run_distance"] == pytest.approx(0.05)
    assert out["log_compute_beyond_largest_run"] == pytest.approx(0.0)
    assert not out["beyond_runs"] and "warning" not in out


def test_far_in_scale_and_mixture_says_so() -> None:
    target = {"params": 1e8, "tokens": 1e10}
    out = extrapolation(np.array([0.0, 0.0, 1.0]), target, runs())
    assert out["log_compute_beyond_largest_run"] == pytest.approx(math.log(1e4))
    assert out["compute_ratio_to_largest_run"] == pytest.approx(1e4)
    assert out["beyond_runs"] and "10000x the compute" in out["warning"] and "total variation" in out["warning"]


def test_no_completed_run() -> None:
    assert extrapolation(np.array([0.5, 0.5, 0.0]), SMALL, runs()[2:])["beyond_runs"]
