"""A small campaign end to end: a real server, the Python client, the simulator."""

from __future__ import annotations

from pathlib import Path

from bench.server import running_server
from bench.sim import Job, fidelity, preset_world, run_many
from bench.sim.campaign import Oracle, run_campaign
from bench.sim.campaigns import FAST_REGMIX
from mixopt.client import Client


def test_campaign_spends_its_budget_through_the_api(tmp_path: Path) -> None:
    world = preset_world(3)
    [probe] = run_many([Job(world, world.prior(), fidelity(world, "small"), 0)], processes=1)
    budget = probe.cost * 16
    with running_server(tmp_path) as url:
        client = Client(url, timeout=300)
        trace = run_campaign(client, world, "regmix", "regmix", FAST_REGMIX, budget, 0, ["small"], Oracle(world),
                             batch=8)
        runs = list(client.list_runs("c-regmix-0"))
    assert trace.points[-1]["cost"] >= budget and trace.points[-2]["cost"] < budget
    assert len(runs) == trace.points[-1]["runs"] == 16
    assert {r.status for r in runs} == {"completed"} and all(r.proposal_id for r in runs)
    bests = [p["best"] for p in trace.points]
    assert bests == sorted(bests, reverse=True)  # best-found never gets worse
