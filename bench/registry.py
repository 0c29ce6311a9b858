"""Every benchmark, what it measures and what it saves: the one list ``python -m bench`` runs, the README index is
generated from (``python -m bench --index``) and the freshness check reads (``python -m bench --stale``).

``measures`` names the code and data a benchmark's numbers depend on beyond its own module, as git pathspecs
(``*`` may cross folders, so ``mixers/mfbo*`` is the module or the package). A Python file, the benchmark's own
module included, brings along every first-party module it imports (followed transitively, function-level imports
too); a folder (``app/``) or a data file counts as itself. So a benchmark that drives the server over HTTP names the
server's folders and the mixers it asks for; one that calls a mixer in-process needs to name only its data.
"""

from __future__ import annotations

from dataclasses import dataclass

DEMO = "app/demo/regmix/"  # the RegMix 1M runs, read by path or served by ``mixopt serve --demo``
SERVER = ("app/", "store/")  # what a benchmark over HTTP measures besides the mixers it calls
SERVICES = ("app/services/",)  # the use cases behind the routes a campaign drives
GROUPS = {
    "service": "the running server, over HTTP or the client (latency, ingest, heavy requests, memory)",
    "micro": "one mixer call in-process on fixed data (speed, and the model's accuracy on that data)",
    "replay": "mixers in-process against recorded outcomes (the RegMix runs, the cached simulator pool)",
    "sim": "the proxy-run simulator and what is trained on it (campaigns, online mixing, answers across scale)",
    "lm": "the PyTorch reference trainer on Debian text and the mixers judged on it (GPU)",
}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: ``module`` has ``run()`` (writes ``results``) and ``table(payload)`` (summary rows).

    ``results`` are JSON files under ``bench/results`` (the first is the one ``table`` reads; the others come from
    other options or phases of the same module), ``figures`` the PNG plots beside them.
    """

    name: str
    module: str
    what: str
    results: tuple[str, ...]
    figures: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    gpu: bool = False
    command: str = ""  # when ``python -m <module>`` alone is not how the saved results were made
    minutes: float = 1.0  # wall time of one full run: on 2 shared CPU cores, or on one H200 for the GPU ones

    @property
    def needs(self) -> str:
        return f"{'GPU' if self.gpu else 'CPU'}, ~{self.minutes:g} min"

    @property
    def group(self) -> str:
        return self.module.split(".")[1]

    @property
    def path(self) -> str:
        """The module's file, relative to the repository."""
        return self.module.replace(".", "/") + ".py"

    @property
    def run_command(self) -> str:
        return self.command or f"python -m {self.module}"


@dataclass(frozen=True)
class Tool:
    """A command beside the benchmarks: it builds data or prints a report, and saves no stamped result."""

    command: str
    what: str
    gpu: bool = False


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "ingest", "bench.service.ingest",
        "bulk ingest of runs (17 weights, 13 metrics) over HTTP on SQLite and PostgreSQL, against the bare driver "
        "inserting the same rows; target over 5,000 / 3,000 runs/s",
        ("ingest.json",), ("ingest.png",), SERVER,
        minutes=1,
    ),
    Benchmark(
        "latency", "bench.service.latency",
        "a cached `regmix` recommendation (p50 < 20 ms, p99 < 100 ms) and a session report round trip (p50 < 10 ms) "
        "over HTTP, against `GET /healthz` on the same server",
        ("latency.json",), (), (*SERVER, DEMO, "mixers/regmix.py", "mixers/aioli.py"),
        minutes=1,
    ),
    Benchmark(
        "regmix", "bench.micro.regmix",
        "`regmix` fit on 512 x 17 RegMix runs + 100,000 candidates + top-128 (target under 2 s), against a plain "
        "pandas + LightGBM script",
        ("regmix_speed.json",), (), (DEMO,),
        minutes=3,
    ),
    Benchmark(
        "regmix_blend", "bench.replay.regmix_blend",
        "test Spearman of `regmix`'s blend against LightGBM and the mixing law alone, by training-set size on the "
        "RegMix runs and across fidelity on a simulator world",
        ("regmix_blend.json",), ("regmix_blend.png",), (DEMO,),
        minutes=4,
    ),
    Benchmark(
        "coverage", "bench.replay.coverage",
        "held-out coverage of the 68% and 95% intervals of each offline mixer's sd (goal: within 10 points of "
        "nominal): fitted on the 512 RegMix train runs against the 256 test runs, the 5-fold evaluation on the 512, "
        "and a simulator world with runs at two fidelities",
        ("coverage.json",), ("coverage.png",), (DEMO, "bench/sim/"),
        minutes=6,
    ),
    Benchmark(
        "evaluate", "bench.service.evaluate",
        "a 5-fold evaluation of `regmix`, `mixing_law`, `mfbo` on the 512 demo runs over HTTP, as a multiple of one "
        "cold `regmix` recommendation (goal at most 3x); refits per fold in-process beside it",
        ("evaluate_speed.json",), (),
        (*SERVER, DEMO, "mixers/regmix.py", "mixers/mixing_law.py", "mixers/mfbo*", "mixers/evaluation.py"),
        minutes=4,
    ),
    Benchmark(
        "heavy", "bench.service.heavy",
        "`regmix` proposals of n=1000 against n=8 (within 3x) and a 5-fold evaluation on 39 domains x 2,000 runs, "
        "`/healthz` p99 meanwhile (under 100 ms), SQLite and PostgreSQL",
        ("heavy.json",), ("heavy.png",), (*SERVER, "mixers/regmix.py", "mixers/evaluation.py"),
        minutes=2,
    ),
    Benchmark(
        "large_bodies", "bench.service.large_bodies",
        "server RSS before and after 6-70 MB trajectory and embedding bodies, and the worst `/healthz` latency "
        "meanwhile (no target: a record)",
        ("large_bodies.json",), (), SERVER,
        minutes=1,
    ),
    Benchmark(
        "dashboard_scale", "bench.service.dashboard_scale",
        "the dashboard's Analysis tab in Chromium on a 39-domain project at 1,000 / 3,000 / 10,000 runs: time to "
        "interactive (goal under 2 s at 10,000) and the longest main-thread task, against the dashboard before the "
        "scale work (its files at an earlier commit, same browser and server)",
        ("dashboard_scale.json",), ("dashboard_scale.png",), (*SERVER, "app/static/"),
        minutes=8,
    ),
    Benchmark(
        "regmix_pool", "bench.replay.regmix_pool",
        "active against random `regmix` proposals from the 512 RegMix train runs as a pool: test Spearman after "
        "64 / 128 / 256 revealed (goal: active at 128 matches random at 256)",
        ("regmix_pool_replay.json",), (), (DEMO,), command="python -m bench.replay.regmix_pool --seeds 5",
        minutes=2,
    ),
    Benchmark(
        "regmix_reuse", "bench.replay.regmix_reuse",
        "reuse after adding a domain hidden from the v1 swarm (Pile-CC, Wikipedia) on the RegMix runs, pool replay, "
        "against a full new swarm of the v1 swarm's size; regret of the answer under a judge fitted on all 768 runs",
        ("regmix_reuse.json",), ("regmix_reuse.png",), (DEMO,),
        minutes=6,
    ),
    Benchmark(
        "ot", "bench.micro.ot",
        "one `ot` distance, 17 x 1000 x 384 vs 1000 vectors (target under 1 s), cached, 64 batched, and a "
        "recommendation, against POT's `emd2` and `sinkhorn2`",
        ("ot.json",),
        minutes=1,
    ),
    Benchmark(
        "mfbo", "bench.micro.mfbo",
        "`mfbo` fit + batch of 8 over 300 observations at two fidelities (target under 5 s), against scikit-learn's "
        "GP + top 8; the GP's Spearman on the RegMix runs",
        ("mfbo.json",), (), (DEMO,),
        minutes=1,
    ),
    Benchmark(
        "mfbo_pool", "bench.replay.mfbo_pool",
        "runs revealed until `mfbo` finds a top-1% run among the 512 RegMix train runs, against random order",
        ("mfbo_pool_replay.json",), (), (DEMO,),
        minutes=1,
    ),
    Benchmark(
        "mfbo_mf_pool", "bench.replay.mfbo_mf_pool",
        "mean cost to a top-3 target run, `mfbo` on a three-rung ladder of the cached simulator pool (weak and "
        "strong worlds), against single-fidelity `mfbo` and random order",
        ("mfbo_mf_pool_replay.json",), ("mfbo_mf_pool_replay.png",), ("bench/data/mf_pool.json",),
        command="python -m bench.replay.mfbo_mf_pool --seeds 40",
        minutes=16,
    ),
    Benchmark(
        "aioli", "bench.sim.aioli",
        "final mean validation loss of Aioli's schedule against uniform, natural and a static grid on simulator "
        "worlds of 2 to 7 domains, 3 seeds",
        ("aioli.json",), ("aioli.png",),
        minutes=4,
    ),
    Benchmark(
        "law_trust", "bench.sim.law_trust",
        "gap at the target fidelity of `mixing_law`'s answer (vertex, trust region, domain laws) and `regmix` from "
        "256 small simulator runs (goal under 2%); `--domains 5` and `7` for the other worlds",
        ("law_trust.json", "law_trust_5d.json", "law_trust_7d.json"),
        ("law_trust.png", "law_trust_5d.png", "law_trust_7d.png"),
        minutes=3,
    ),
    Benchmark(
        "reuse_sim", "bench.sim.reuse",
        "reuse after a domain-set change (add, split, remove with and without family siblings) against a full new "
        "swarm on the 7-domain simulator world: proxy compute of the new runs and regret of the recommendation at "
        "the target fidelity (goal: within noise or 5% of the full swarm's gap at <= 30% of its compute)",
        ("reuse_sim.json",), ("reuse_sim.png",),
        minutes=10,
    ),
    Benchmark(
        "families", "bench.sim.families",
        "family-aware `regmix`/`mixing_law` features (family totals, repetition at the target) and `auto`'s choice "
        "on a 31-domain family world (gap at the target, held-out Spearman, uniform and prior baselines) and on the "
        "RegMix runs with families by Pile source kind (held-out Spearman, plain vs family totals)",
        ("families.json",), ("families.png",), (DEMO,),
        minutes=5,
    ),
    Benchmark(
        "swarm_diag", "bench.sim.swarm_diag",
        "why the family world's answers lose to uniform: the swarm's coverage, the search, small-to-target transfer, "
        "the repetition penalty; swarm recipes (uniform-centred draws, higher Dirichlet strengths) x `regmix` "
        "`candidate_centers`, gap at the target; `candidate_centers` on the RegMix runs (oracle-scored answers)",
        ("swarm_diag.json",), (), (DEMO,),
        minutes=9,
    ),
    Benchmark(
        "campaigns", "bench.sim.campaigns",
        "target-fidelity cost until within 1% of the best loss: `mfbo`, `regmix`, `mixing_law`, BO and random "
        "campaigns through a real server on the simulator (goal under 1/5 of random)",
        ("campaigns.json",), ("campaigns.png",),
        (*SERVICES, "mixers/mfbo*", "mixers/regmix.py", "mixers/mixing_law.py"),
        minutes=50,
    ),
    Benchmark(
        "campaign_runner", "bench.sim.campaign_runner",
        "overhead per run of `mixopt campaign run`'s runner (local executor) against launching the same command by "
        "hand (goal under 1 s), and a 3-round simulator campaign driven by the runner against the campaign loop "
        "with the same seed (same proposals, same recommendation)",
        ("campaign_runner.json",), ("campaign_runner.png",), (*SERVICES, "mixers/regmix.py"),
        minutes=2,
    ),
    Benchmark(
        "scale_sim", "bench.sim.scale",
        "gap at the target fidelity of `auto`'s answer and each arm's from small + medium simulator proxies, 5 "
        "draws (goal: below uniform, natural and the best small run)",
        ("scale_sim.json",), ("scale_sim.png",),
        minutes=2,
    ),
    Benchmark(
        "lm_aioli", "bench.lm.aioli",
        "Aioli through a real server on the GPT, 3 three-domain settings x 3 seeds, against uniform, natural and "
        "the best of a coarse grid",
        ("lm/aioli.json",), ("lm/aioli.png",), (*SERVICES, "mixers/aioli.py"), gpu=True,
        command="python -m bench.lm.aioli --procs 12 --steps 1000",
        minutes=5,
    ),
    Benchmark(
        "lm_campaign", "bench.lm.campaign",
        "`regmix` on 48 small GPT runs, its recommendation trained at the medium size against uniform, natural, "
        "the best proxy run and Aioli, 3 seeds",
        ("lm/campaign.json",), ("lm/campaign.png",), (*SERVICES, "mixers/regmix.py", "mixers/aioli.py"), gpu=True,
        command="python -m bench.lm.campaign --procs 12",
        minutes=5,
    ),
    Benchmark(
        "lm_mfbo", "bench.lm.mfbo",
        "`mfbo` choosing each GPT proxy run's mixture and model size, its recommendation trained at the target "
        "against uniform and natural, 3 seeds",
        ("lm/mfbo.json",), ("lm/mfbo.png",), (*SERVICES, "mixers/mfbo*"), gpu=True,
        command="python -m bench.lm.mfbo --procs 14",
        minutes=3,
    ),
    Benchmark(
        "lm_scale", "bench.lm.scale",
        "every arm's answer on a held-out target at two GPT sizes above the proxies, and the Aioli hand-off from "
        "the recommendation (goal: below uniform, natural and the best proxy on 5 of 6 seed-size pairs)",
        ("lm/scale.json", "lm/scale_plan.json", "lm/scale_medium.json", "lm/scale_large.json",
         "lm/scale_handoff.json"),
        ("lm/scale.png", "lm/scale_handoff.png"),
        (*SERVICES, "mixers/auto.py", "mixers/regmix.py", "mixers/mixing_law.py", "mixers/mfbo*",
         "mixers/aioli.py"),
        gpu=True,
        command="python -m bench.lm.scale --phase {medium,large,handoff,report}",
        minutes=20,
    ),
    Benchmark(
        "lm_aioli_paper", "bench.lm.aioli_paper",
        "Aioli at its paper's settings for 4000 steps against uniform, 3 settings x 3 seeds (goal: below uniform "
        "in 2 of 3)",
        ("lm/aioli_paper.json",), ("lm/aioli_paper.png",), (*SERVICES, "mixers/aioli.py"), gpu=True,
        command="python -m bench.lm.aioli_paper --procs 18",
        minutes=5,
    ),
)

BY_NAME = {b.name: b for b in BENCHMARKS}

TOOLS: tuple[Tool, ...] = (
    Tool("python -m bench.sim --domains 5 --weights uniform --fidelity small", "one simulator run, printed as JSON"),
    Tool("python -m bench.sim.report", "the simulator's measured behaviour (the figures of the Simulator section)"),
    Tool("python -m bench.replay.mf_pool", "rebuild `bench/data/mf_pool.json`, the pool `mfbo_mf_pool` replays "
         "(about 10 minutes)"),
    Tool("python -m bench.lm.corpus", "fetch the Debian packages and write the GPT's byte shards"),
    Tool("python -m bench.lm.speed", "the GPU pool's throughput for a number of worker processes", gpu=True),
)

# JSON files under bench/results that are not a benchmark's result, and why.
NOT_RESULTS = {
    "summary.json": "the table of the last `python -m bench` run",
    "lm/manifest.json": "checksums of the text shards the first LM results were trained on",
    "lm/manifest_scale.json": "checksums of the text shards the LM scale results were trained on",
}
