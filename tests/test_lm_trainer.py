"""The reference PyTorch trainer (bench/lm) on tiny shards, on the CPU, driven end to end through a real
``mixopt serve``: offline proposals with posted results and cost, an online Aioli session, and a static
mixture from a recommendation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from bench.lm import drive
from bench.lm.corpus import sha256, split_documents, write_shards
from bench.lm.experiment import coarse_grid, create_project, natural
from bench.lm.model import GPTConfig
from bench.lm.pool import run_job
from bench.lm.trainer import Shards, TrainConfig, Trainer
from mixopt import Client
from tests.server import running_server

TINY = GPTConfig(seq_len=32, n_layer=1, n_head=2, d_model=32)


def _documents(alphabet: str, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(200, 400))) + "\n").encode() for _ in range(n)]


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three domains with different byte statistics, written by the corpus script's own writer."""
    out = tmp_path_factory.mktemp("shards")
    texts = {
        "digits": _documents("0123456789 ", 60, 0),
        "vowels": _documents("aeiou ", 60, 1),
        "mixed": _documents("abcxyz01 ", 30, 2),
    }
    write_shards(texts, out, train_bytes=8_000, val_bytes=2_000)
    return out


def _config(steps: int, seed: int = 0) -> TrainConfig:
    return TrainConfig(
        size=TINY,
        total_steps=steps,
        batch_size=8,
        lr=3e-3,
        warmup_steps=2,
        device="cpu",
        seed=seed,
        probe_seqs=4,
        eval_seqs=16,
    )


def test_corpus_split_is_disjoint_deterministic_and_capped() -> None:
    docs = [bytes([65 + i]) * 100 for i in range(20)]
    train, val = split_documents(docs, train_bytes=700, val_bytes=300)
    assert (train, val) == split_documents(docs, train_bytes=700, val_bytes=300)
    assert len(train) == 700 and 300 <= len(val) < 300 + 102
    assert not set(train.replace(b"\n", b"")) & set(val.replace(b"\n", b""))  # no document on both sides


def test_manifest_records_sizes_and_checksums(shards: Path) -> None:
    manifest = json.loads((shards / "manifest.json").read_text())
    assert set(manifest["domains"]) == {"digits", "vowels", "mixed"}
    for name, entry in manifest["domains"].items():
        for split in ("train", "val"):
            path = shards / f"{name}.{split}.bin"
            assert entry[split]["bytes"] == path.stat().st_size > 0
            assert entry[split]["sha256"] == sha256(path)


def test_sampler_follows_the_mixture_and_its_changes(shards: Path) -> None:
    trainer = Trainer(Shards.load(shards), _config(10))
    x, y = trainer.sample({"digits": 1.0})
    assert x.shape == y.shape == (8, TINY.seq_len)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one byte
    assert set(x.unique().tolist()) <= set(b"0123456789 \n")
    trainer.sample({"vowels": 1.0, "digits": 0.0})
    assert trainer.tokens_seen == {"digits": 8 * TINY.seq_len, "vowels": 8 * TINY.seq_len, "mixed": 0}
    with pytest.raises(ValueError, match="unknown domains"):
        trainer.sample({"nope": 1.0})


def test_schedule_warms_up_then_decays_to_the_floor(shards: Path) -> None:
    trainer = Trainer(Shards.load(shards), _config(100))
    c = trainer.cfg
    assert trainer.lr_at(0) == pytest.approx(c.lr / c.warmup_steps)
    assert trainer.lr_at(c.warmup_steps) == pytest.approx(c.lr)
    assert trainer.lr_at(c.total_steps) == pytest.approx(c.lr * c.min_lr_ratio)
    assert trainer.lr_at(50) < trainer.lr_at(10)


def test_training_lowers_every_domain_loss(shards: Path) -> None:
    trainer = Trainer(Shards.load(shards), _config(30))
    before = trainer.evaluate()
    assert before == trainer.evaluate()  # fixed validation windows: the same model gives the same losses
    after = drive.train_static(trainer, {"digits": 1, "vowels": 1, "mixed": 1})
    assert all(after[d] < before[d] - 0.5 for d in before), (before, after)


def test_three_drive_modes_through_a_real_server(shards: Path, tmp_path: Path) -> None:
    data = Shards.load(shards)
    domains = data.domains
    with running_server(tmp_path / "server") as url, Client(url) as client:
        create_project(client, "lm", domains, data.tokens)

        # (a) offline: a batch of proposals, each trained and posted with its cost.
        posted = drive.run_offline_batch(client, "lm", "regmix", 4, lambda: Trainer(data, _config(6)), seed=0)
        runs = list(client.list_runs("lm"))
        assert len(posted) == len(runs) == 4
        assert all(r.status == "completed" and r.cost and r.cost > 0 for r in runs)
        assert {f"val/{d}" for d in domains} | {"val/mean"} == set(runs[0].metrics)

        # (c) static: train at the recommendation (regmix fitted on the four runs).
        weights, losses = drive.train_recommended(client, "lm", "regmix", Trainer(data, _config(6)), seed=0)
        assert set(weights) == set(domains) and abs(sum(weights.values()) - 1) < 1e-6
        assert set(losses) == set(domains)

        # (b) online: an Aioli session followed by the worker the benchmark uses.
        steps = 30
        job = {
            "kind": "online",
            "data_dir": str(shards),
            "domains": domains,
            "size": TINY,
            "steps": steps,
            "batch": 8,
            "seed": 0,
            "device": "cpu",
            "url": url,
            "project": "lm",
            "aioli": {"lp_rounds": 1, "lp_steps": 2, "round_steps": 10, "eta": 1.0, "ema": None},
            "train": {"probe_seqs": 4, "eval_seqs": 16, "warmup_steps": 2},
        }
        res = run_job(job)
        session = client.get_session(res["record"]["session"])
        assert session.done and res["record"]["done"]
        assert res["record"]["reports"] == len(session.history) - 1 >= 4  # every due report was sent
        assert session.history[-1].step == steps
        assert res["record"]["final_weights"] != {d: 1 / 3 for d in domains}  # the mixer moved the mixture
        assert sum(res["tokens_seen"].values()) == steps * 8 * TINY.seq_len


def test_baseline_mixtures() -> None:
    assert natural(["a", "b"], {"a": 3, "b": 1}) == {"a": 0.75, "b": 0.25}
    grid = coarse_grid(["a", "b", "c"])
    assert len(grid) == 12 and all(max(w.values()) < 1 for w in grid)
