"""Every offline mixer says which fidelity its predictions and recommendations are for, and how they got there
(``observed`` / ``assumed`` / ``extrapolated``, DESIGN 5), on the contract problem: runs at LOW (tokens 1e8) and
HIGH (tokens 1e9), target at tokens 1e10 with params 1e8."""

from __future__ import annotations

import pytest

import mixers
from mixers.types import Observation, Problem, fidelity_key
from tests.mixers.conftest import HIGH, LOW

OFFLINE = sorted(n for n in mixers.available() if mixers.get_mixer_class(n).kind == "offline")
# mfbo: the runs all have params=1e6 and the target asks params=1e8, a shift the runs cannot show: assumed.
# auto: the runs span LOW and HIGH, so it answers as mfbo does.
EXPECTED_AT_TARGET = {"regmix": "assumed", "mixing_law": "assumed", "ot": "extrapolated", "mfbo": "assumed",
                      "auto": "assumed"}


@pytest.mark.parametrize("name", OFFLINE)
def test_fidelity_answer_of_every_offline_mixer(name: str, problem: Problem, observations: list[Observation]) -> None:
    cls = mixers.get_mixer_class(name)
    m = cls(problem, cls.Config(), 0).fit(observations)
    at_target = m.fidelity_answer()
    assert at_target.transfer == EXPECTED_AT_TARGET.get(name, at_target.transfer)
    assert at_target.transfer != "observed"  # no run is at the target
    assert fidelity_key(at_target.fidelity) == fidelity_key(dict(problem.target_fidelity or {}))
    if name in ("mfbo", "auto"):
        assert "params" in at_target.note
        assert m.fidelity_answer({"params": 1e6, "tokens": 1e10}).transfer == "extrapolated"  # tokens: learned
    if name in ("regmix", "mixing_law"):
        assert m.fidelity_answer(LOW).transfer == "observed"  # the fidelity with the most runs: the fit's
        assert m.fidelity_answer(HIGH).transfer == "assumed"
        # with the scale shift, the runs at HIGH carry the fit to the target (log-compute: params and tokens alike)
        shifted = cls(problem, cls.Config(scale_transfer="shift"), 0).fit(observations)
        assert shifted.fidelity_answer().transfer == "extrapolated"
        assert shifted.fidelity_answer(HIGH).transfer == "extrapolated"
    else:
        assert m.fidelity_answer(HIGH).transfer == "observed" and m.fidelity_answer(LOW).transfer == "observed"


def test_ot_with_one_data_size_assumes_the_transfer(problem: Problem, observations: list[Observation]) -> None:
    cls = mixers.get_mixer_class("ot")
    only_high = [o for o in observations if fidelity_key(o.fidelity) == fidelity_key(HIGH)]
    m = cls(problem, cls.Config(), 0).fit(only_high)
    assert m.fidelity_answer().transfer == "assumed"
    assert m.fidelity_answer(HIGH).transfer == "observed"
    between = {"params": 1e6, "tokens": 3e8}
    two = cls(problem, cls.Config(), 0).fit(observations)
    assert two.fidelity_answer(between).transfer == "extrapolated"
