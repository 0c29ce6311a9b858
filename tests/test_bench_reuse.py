"""``bench/sim/reuse.py`` on a tiny budget: every scenario's arms, what the v1 runs map to, the reuse arms' cost
and space, and the regrets and table read back from the evaluation."""

from __future__ import annotations

import pytest

from bench.sim import preset_world
from bench.sim import reuse as bench
from mixers.reuse import ReuseSpace


@pytest.mark.slow
def test_reuse_bench_arms_costs_and_regrets() -> None:
    world = preset_world(bench.WORLD_DOMAINS)
    by_name = {sc.name: sc for sc in bench.scenarios()}
    assert set(by_name) == {"add", "split", "remove", "remove_alone"}
    out = {}
    for name, sc in by_name.items():
        res = bench.one(world, sc, 0, 10, (0.3,), 1, None)
        new: bench.Setting = res["new"]
        assert res["k"] == 3
        assert res["costs"]["reuse 3"] == pytest.approx(res["costs"]["full"] * 3 / 10)
        for label, x in res["arms"].items():
            assert new.problem.feasible(x[None, :])[0], (name, label)
        space = ReuseSpace.build(new.problem, res["frozen"], res["free"])
        if space.k > 1:
            assert space.deviation(res["arms"]["reuse 3, reduced"][None, :])[0] < 1e-9
        out[name] = res
    assert out["add"]["free"] == ["web/b"] and out["add"]["mapped_runs"] == 10  # exact: weight 0 on web/b
    assert out["split"]["free"] == ["web/high", "web/low"] and out["split"]["mapped_runs"] == 10  # assumed
    assert out["remove"]["free"] == ["web/a", "web/c"]
    assert out["remove"]["mapped_runs"] < 10  # runs that trained on web/b are dropped
    assert out["remove_alone"]["free"] == [] and "reuse 3, reduced" not in out["remove_alone"]["arms"]
    # the split's v1 mixtures are the world's own: web pooled from web/a and misc by their tokens
    split_new: bench.Setting = out["split"]["new"]
    assert split_new.names[:2] == ["web/high", "web/low"]
    summary = bench._evaluate(world, by_name["add"], [out["add"]], 1, None)
    regrets = [r["regret_mean"] for r in summary["summary"].values()]
    assert min(regrets) >= 0.0 and summary["summary"]["full"]["cost_share"] == 1.0
    payload = {"scenarios": {"add": summary}, "noise": 0.002, "goal_fraction": 0.3, "seeds": 1}
    row = bench.table(payload)[0]
    assert row["value"].startswith("reuse 3, reduced") and row["ok"] in (True, False)
