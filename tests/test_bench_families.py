"""``bench.sim.families``: the family world (topics as scarce high / plentiful low twins, the plain worlds unchanged),
the documented repetition penalty, and a smoke run of the benchmark's quick path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import common
from bench.sim import WorldSpec, build_world, fidelity, preset_world
from bench.sim import families as fam
from mixers.families import build_families


def test_family_world_has_topics_as_high_and_low_twins() -> None:
    world = build_world(fam.WORLD)
    assert world.n == 31
    names = list(world.names)
    assert [n for n in names if n.endswith("/high")] == [f"t{k}/high" for k in range(13)]
    assert [n for n in names if n.endswith("/low")] == [f"t{k}/low" for k in range(13)]
    assert {world.roles[names.index(f"t{k}/low")] for k in range(13)} == {"low"}
    high = np.array([names.index(f"t{k}/high") for k in range(13)])
    low = np.array([names.index(f"t{k}/low") for k in range(13)])
    assert world.relevance[low].sum() == 0 and world.relevance[high].sum() > 0.5
    target = fidelity(world, "target")["tokens"]
    assert world.tokens[high].max() < 0.1 * target < world.tokens[low].min()  # highs scarce at the target budget
    assert len(build_families(world.names)) == 13


def test_plain_worlds_are_unchanged_by_the_family_option() -> None:
    world = preset_world(6)
    assert world.names == ("d0", "d1", "d2", "d3", "d4", "noise") and WorldSpec().families == 0
    with pytest.raises(ValueError, match="family world"):
        WorldSpec(n_domains=6, families=4)


def test_repetition_penalty_is_zero_within_one_epoch_and_grows_with_repeats() -> None:
    world = build_world(fam.WORLD)
    target = fidelity(world, "target")["tokens"]
    assert world.tokens.sum() > target  # so the token-share prior reads every domain less than once
    assert fam.repetition_penalty(world, world.prior())[0] == 0.0
    j = int(np.argmin(world.tokens))
    w = np.full(world.n, 0.0)
    w[j], w[-1] = 0.5, 0.5
    e = 0.5 * target / world.tokens[j]
    assert fam.repetition_penalty(world, w)[0] == pytest.approx(fam.PENALTY * 0.5 * (1 - 1 / e) ** 2)
    w2 = w.copy()
    w2[j], w2[-1] = 0.7, 0.3
    assert fam.repetition_penalty(world, w2)[0] > fam.repetition_penalty(world, w)[0]


def test_quick_run_writes_every_arm_and_the_regmix_comparison(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(common, "_quick", False)
    monkeypatch.setattr(fam, "QUICK_RUNS", 56)
    monkeypatch.setattr(fam, "QUICK_HELD_OUT", 8)
    monkeypatch.setattr(fam, "ARMS", {k: fam.ARMS[k] for k in ("regmix", "regmix families+epochs")})
    payload = fam.run(quick=True, processes=2)
    assert (tmp_path / "quick" / "families.json").exists() and (tmp_path / "quick" / "families.png").exists()
    s = payload["simulator"]["summary"]
    assert set(s) == {"regmix", "regmix families+epochs", "uniform", "prior", "world's target mixture"}
    assert min(r["gap_mean"] for r in s.values()) >= 0.0
    assert all(len(s[k]["held_out_spearman"]) == 1 for k in ("regmix", "regmix families+epochs"))
    rg = payload["regmix"]
    assert len(rg["families"]["academic"]) == 5 and set(rg["spearman"]) == {"regmix", "mixing_law"}
    assert fam.table(
        {**payload, "simulator": {**payload["simulator"], "summary": {**s, "auto": s["regmix families+epochs"]}}}
    )
