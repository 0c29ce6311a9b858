"""Many small training runs at once: a pool of worker processes sharing one GPU (or the CPU).

Each worker process imports torch once and runs jobs one after another; a job is a plain dict, so it crosses the
process boundary as is. Every job trains with the functions of :mod:`bench.lm.drive`, talking to a real
``mixopt serve`` at ``job["url"]`` where it needs the service (online sessions, proposed runs).

Job fields: ``kind`` (``static`` | ``online`` | ``proposed``), ``data_dir``, ``domains``, ``targets`` (held-out
text sets scored but never trained on; optional), ``size``, ``steps``,
``batch``, ``seed``, ``device``; ``weights`` (static, proposed); ``url``, ``project`` (online, proposed);
``run_id`` (proposed); ``aioli`` config (online). The result adds ``losses``, ``mean``, ``seconds`` (wall time of
the job), ``train_seconds`` and, online, the session ``record``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

Job = dict[str, Any]

_DATA_CACHE: dict[tuple[str, tuple[str, ...]], Any] = {}


def run_job(job: Job) -> Job:
    """Run one job in this process (the pool calls it in a worker; tests may call it directly)."""
    import torch

    from bench.lm import drive
    from bench.lm.trainer import Shards, TrainConfig, Trainer
    from mixopt import Client

    torch.backends.cuda.matmul.allow_tf32 = True
    targets = tuple(job.get("targets", ()))
    key = (job["data_dir"], (*job["domains"], "|", *targets))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = Shards.load(job["data_dir"], job["domains"], targets)
    cfg = TrainConfig(
        size=job["size"],
        total_steps=int(job["steps"]),
        batch_size=int(job["batch"]),
        seed=int(job["seed"]),
        device=job.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"),
        **job.get("train", {}),
    )
    t0 = time.perf_counter()
    trainer = Trainer(_DATA_CACHE[key], cfg)
    out: Job = {}
    kind = job["kind"]
    if kind == "static":
        losses = drive.train_static(trainer, job["weights"])
    else:
        with Client(job["url"], retries=5) as client:
            if kind == "online":
                losses, out["record"] = drive.train_online(
                    client, job["project"], trainer, job.get("aioli"), seed=int(job["seed"]),
                    from_recommendation=job.get("from_recommendation"), report_targets=job.get("report_targets", ()),
                )
            elif kind == "proposed":
                metrics = drive.train_proposed_run(client, job["project"], int(job["run_id"]), job["weights"], trainer)
                losses = {k.removeprefix("val/"): v for k, v in metrics.items() if k != "val/mean"}
            else:
                raise ValueError(f"unknown job kind {kind!r}")
    domain_losses = [v for k, v in losses.items() if k not in targets]
    out.update(
        losses=losses,
        mean=sum(domain_losses) / len(domain_losses),  # over the training domains; targets are in ``losses``
        seconds=time.perf_counter() - t0,
        train_seconds=trainer.train_seconds,
        params=trainer.model.n_params(),
        tokens=trainer.fidelity()["tokens"],
        tokens_seen=trainer.tokens_seen,
    )
    return {**job, **out}


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # many workers share the cores


class Pool:
    """``Pool(procs)`` runs jobs in ``procs`` spawned worker processes; ``map`` yields results as they finish."""

    def __init__(self, procs: int) -> None:
        self.procs = procs
        self.executor = ProcessPoolExecutor(procs, mp_context=get_context("spawn"), initializer=_init_worker)

    def submit(self, job: Job) -> Future[Job]:
        return self.executor.submit(run_job, job)

    def map(self, jobs: Iterable[Job], on_done: Callable[[Job], None] | None = None) -> Iterator[Job]:
        futures = [self.submit(j) for j in jobs]
        for fut in as_completed(futures):
            res = fut.result()
            if on_done is not None:
                on_done(res)
            yield res

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
