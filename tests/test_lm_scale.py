"""The CPU smoke path of ``bench.lm.scale``: every phase with tiny GPTs on tiny shards, through a real
``mixopt serve``: proxy runs at two sizes posting every loss (targets included), each arm's answer for two larger
sizes, the hand-off session from ``auto``'s recommendation reporting the target, and the report's replay of
``auto``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench import common
from bench.lm import scale
from bench.lm.corpus import write_shards
from bench.lm.experiment import Scale


def _documents(alphabet: str, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(200, 400))) + "\n").encode() for _ in range(n)]


@pytest.fixture
def tiny_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    alphabets = ["0123456789 ", "aeiou ", "abcxyz01 ", "{}();=int ", "qwerty \n", "the cat sat ", "=head1 pod "]
    texts = {name: _documents(alpha, 40, i) for i, (name, alpha) in
             enumerate(zip([*scale.DOMAINS, *scale.TARGETS], alphabets, strict=True))}
    data = tmp_path / "shards"
    manifest = write_shards(texts, data, train_bytes=6_000, val_bytes=1_500)
    assert set(manifest["domains"]) == {*scale.DOMAINS, *scale.TARGETS}
    monkeypatch.setenv("MIXOPT_LM_DATA", str(data))
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(scale, "QUICK", scale.Setup(
        proxies=((Scale("tiny", 6, 8), 8), (Scale("tiny", 12, 8), 7)),
        sizes=(Scale("tiny", 10, 8), Scale("tiny", 14, 8)),
    ))
    monkeypatch.setattr(scale, "SEEDS", (0, 1))
    return tmp_path


@pytest.mark.slow
def test_every_phase_end_to_end_on_the_cpu(tiny_corpus: Path) -> None:
    scale.run_phase("medium", quick=True, procs=2)
    plan = json.loads(scale.plan_path(quick=True).read_text())
    assert [r["rung"] for r in plan["proxy_runs"]].count(1) == 7
    assert all({"kernel_docs", "perl_pod"} <= set(r["losses"]) for r in plan["proxy_runs"])  # targets scored
    first, last = plan["sizes"]
    answer = plan["sizes"][last]["arms"]["auto"]
    chosen = answer["diagnostics"]["auto"]["mixer"]  # runs at 2 fidelities: chosen by ranking the larger one's
    assert chosen in ("regmix", "mixing_law", "mfbo") and answer["weights"] == plan["sizes"][last]["arms"][chosen][
        "weights"]
    scale.run_phase("large", quick=True, procs=2, arms=["auto", chosen, "uniform", "natural", "best_proxy"])
    large = json.loads((common.results_dir() / "lm" / "scale_large.json").read_text())
    assert large["arms"]["_aliases"] == {chosen: "auto"}  # the same mixture is trained once
    assert large["arms"]["auto"] == large["arms"][chosen] and len(large["arms"]["uniform"]) == 2
    scale.run_phase("handoff", quick=True, procs=2)
    handoff = json.loads((common.results_dir() / "lm" / "scale_handoff.json").read_text())["arms"]
    for run in handoff["aioli_handoff"]:
        assert run["record"]["start"] == "recommendation"
        assert all("val/kernel_docs" in t["losses"] for t in run["record"]["trajectory"])
    report = scale.report(quick=True)
    for size in (first, last):
        # auto answers exactly as the mixer it chose on the same runs (the arm trained in the medium phase may
        # differ in the last digits here: the replay imports the runs, and tiny models' losses are nearly equal)
        assert report["auto_replay"][size]["max_abs_difference_to_mixer"] == 0.0
        assert set(report["sizes"][size]["auto"]) == {"target", "weighted", "domains"}
    assert "seed_size_pairs_won" in report["goals"]
    assert (common.results_dir() / "lm" / "scale.png").exists()
    assert scale.table(report)[0]["value"]


@pytest.mark.slow
def test_aioli_at_the_paper_protocol_on_the_cpu(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.lm import aioli_paper as paper

    monkeypatch.setattr(paper, "SEEDS", (0, 1))
    payload = paper.run(quick=True, procs=2)
    res = payload["settings"]["code_prose"]
    assert set(res["arms"]) == {"aioli", "uniform"} and len(res["arms"]["aioli"]["per_seed"]) == 2
    # every report's mixture is kept: sweeps (a smoothed one-hot: 0.5 on one domain) and the rounds' mixtures
    steps = [t["step"] for t in res["trajectories"][0]]
    assert steps == sorted(steps) and steps[-1] == payload["scale"]["steps"]
    assert any(max(t["weights"].values()) >= 0.5 for t in res["trajectories"][0])
    row = paper.table(payload)[0]
    assert row["value"] == f"{res['arms']['aioli']['mean']:.4f}"
    assert row["ok"] == (payload["below_uniform_settings"] >= 2)
    assert (common.results_dir() / "lm" / "aioli_paper.png").exists()
