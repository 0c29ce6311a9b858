"""Proxy runs on a world: a stateful ``Trainer`` (the mixture may change mid-run) and one-shot ``run``.

Fidelity is ``{"params": P, "tokens": T}``: ``P`` maps to the model rank (``params = 2 V r + V``) and ``T``
is the training budget in tokens; a step trains on ``batch_seqs`` documents of ``seq_len`` predicted
tokens, so a run has ``round(T / (batch_seqs * seq_len))`` steps under a warmup + cosine schedule.
Cost is reported in FLOP-like units, ``params * tokens trained``.

Metric names: ``"val/<domain>"`` is the validation loss (nats/token) on each domain's fixed validation
set and ``"target"`` the loss on the target's validation set.

Determinism: the model's initialization depends only on ``seed``; the batch of step ``k`` only on
``(seed, k)`` and the weights in force at that step (each sequence's domain is drawn by the mixture from
the same uniforms, so nearby mixtures see nearly the same data).
"""

from __future__ import annotations

import copy
import functools
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bench.sim.domains import FloatArray, World
from bench.sim.model import Adam, Float32Array, LowRankBigram, lr_at, n_params, rank_for_params

Weights = Mapping[str, float] | Sequence[float] | FloatArray | str
FidelityLike = Mapping[str, float] | str

FIDELITY_PRESETS: dict[str, tuple[int, int]] = {
    "small": (4, 2**18),
    "medium": (12, 2**20),
    "target": (32, 2**22),
}
"""Preset fidelities as ``(rank, tokens)``; ``fidelity(world, name)`` turns one into a fidelity dict."""

BATCH_SEQS = 64
PEAK_LR = 0.1  # peak learning rate at rank 1; a rank-r model uses PEAK_LR / sqrt(r)


def fidelity(world: World, name: str) -> dict[str, float]:
    """The preset fidelity ``name`` (``small``, ``medium``, ``target``) as ``{"params", "tokens"}``."""
    if name not in FIDELITY_PRESETS:
        raise ValueError(f"unknown fidelity {name!r}; presets: {list(FIDELITY_PRESETS)}")
    rank, tokens = FIDELITY_PRESETS[name]
    return {"params": float(n_params(world.vocab, rank)), "tokens": float(tokens)}


def resolve_fidelity(world: World, fid: FidelityLike) -> dict[str, float]:
    """A preset name or a ``{"params", "tokens"}`` mapping, checked, as a plain dict of floats."""
    if isinstance(fid, str):
        return fidelity(world, fid)
    missing = {"params", "tokens"} - set(fid)
    if missing:
        raise ValueError(f"fidelity needs 'params' and 'tokens', missing {sorted(missing)}")
    out = {k: float(v) for k, v in fid.items()}
    if not all(np.isfinite(v) and v > 0 for v in out.values()):
        raise ValueError("fidelity values must be positive and finite")
    return out


@functools.cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController  # ships with scikit-learn

    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """Context limiting BLAS to one thread: the model's small matrices run several times slower with
    OpenBLAS threads than without (measured on 2 cores), and parallelism comes from ``run_many``."""
    return _blas_controller().limit(limits=1, user_api="blas")


class Trainer:
    """One training run of the low-rank bigram model on a world, driven step by step.

    ``train(weights, steps)`` trains ``steps`` steps at a mixture; ``evaluate()`` gives every domain's
    validation loss; ``target_loss()`` the target's. The learning-rate schedule spans the fidelity's token
    budget (``total_steps``); training past it keeps the final learning rate.
    """

    def __init__(
        self,
        world: World,
        fid: FidelityLike,
        seed: int = 0,
        *,
        batch_seqs: int = BATCH_SEQS,
        peak_lr: float | None = None,
    ) -> None:
        self.world = world
        self.fidelity = resolve_fidelity(world, fid)
        self.seed = int(seed)
        self.rank = rank_for_params(world.vocab, self.fidelity["params"])
        self.params = n_params(world.vocab, self.rank)
        self.batch_seqs = batch_seqs
        self.batch_tokens = batch_seqs * world.spec.seq_len
        self.total_steps = max(1, round(self.fidelity["tokens"] / self.batch_tokens))
        self.peak_lr = PEAK_LR / np.sqrt(self.rank) if peak_lr is None else float(peak_lr)
        self.warmup = max(1, min(50, self.total_steps // 10))
        self.model = LowRankBigram.init(world.vocab, self.rank, np.random.default_rng([self.seed, 0]))
        self.opt = Adam([p.shape for p in self.model.params()])
        self.step = 0
        self.domain_tokens = np.zeros(world.n, dtype=np.int64)
        self._n_docs = np.diff(world.doc_offsets)
        self._val_totals = world.val_counts.sum(axis=1)
        self._target_total = world.target_val_counts.sum()
        self._cache: tuple[int, NDArray[np.float64]] | None = None

    @property
    def tokens_seen(self) -> int:
        return self.step * self.batch_tokens

    @property
    def cost(self) -> float:
        """FLOP-like cost so far: ``params * tokens trained``."""
        return float(self.params) * float(self.tokens_seen)

    def batch_counts(self, weights: FloatArray, step: int) -> tuple[Float32Array, NDArray[np.intp]]:
        """Bigram counts ``(V, V)`` of step ``step``'s batch at ``weights`` ``(n,)``, and its domains ``(B,)``."""
        rng = np.random.default_rng([self.seed, 1, step])
        u, r = rng.random(self.batch_seqs), rng.random(self.batch_seqs)
        cum = np.cumsum(weights)
        doms = np.searchsorted(cum / cum[-1], u, side="right")
        doms = np.minimum(doms, int(np.flatnonzero(weights > 0)[-1]))
        rows = self.world.doc_offsets[doms] + (r * self._n_docs[doms]).astype(np.int64)
        docs = self.world.docs[rows]
        v = self.world.vocab
        pairs = docs[:, :-1].astype(np.int64) * v + docs[:, 1:]
        counts = np.bincount(pairs.ravel(), minlength=v * v).astype(np.float32).reshape(v, v)
        return counts, doms

    def clone(self) -> Trainer:
        """An independent copy of this run (model, optimizer and step), sharing the world."""
        other = copy.copy(self)
        other.model = copy.deepcopy(self.model)
        other.opt = copy.deepcopy(self.opt)
        other.domain_tokens = self.domain_tokens.copy()
        return other

    def train(self, weights: Weights, steps: int) -> float:
        """Train ``steps`` steps at ``weights``; returns the mean training loss over them (nan if 0 steps)."""
        w = self.world.mixture(weights)
        with _one_blas_thread():
            return self._train(w, int(steps))

    def _train(self, w: FloatArray, steps: int) -> float:
        losses = []
        for _ in range(steps):
            counts, doms = self.batch_counts(w, self.step)
            loss, grads = self.model.loss_and_grads(counts)
            lr = lr_at(self.step, self.total_steps, self.peak_lr, self.warmup)
            self.opt.step(self.model.params(), grads, lr)
            self.domain_tokens += np.bincount(doms, minlength=self.world.n) * self.world.spec.seq_len
            self.step += 1
            losses.append(loss)
        return float(np.mean(losses)) if losses else float("nan")

    def _neg_logp(self) -> NDArray[np.float64]:
        if self._cache is None or self._cache[0] != self.step:
            with _one_blas_thread():
                self._cache = (self.step, -self.model.log_probs().ravel())
        return self._cache[1]

    def evaluate(self) -> dict[str, float]:
        """Validation loss of every domain, ``{domain: nats/token}``."""
        losses = self.world.val_counts @ self._neg_logp() / self._val_totals
        return {name: float(x) for name, x in zip(self.world.names, losses, strict=True)}

    def target_loss(self) -> float:
        """Validation loss on the target distribution (nats/token)."""
        return float(self.world.target_val_counts @ self._neg_logp() / self._target_total)

    def metrics(self) -> dict[str, float]:
        """``{"val/<domain>": loss, ..., "target": loss}``."""
        out = {f"val/{name}": loss for name, loss in self.evaluate().items()}
        out["target"] = self.target_loss()
        return out


@dataclass(frozen=True)
class RunResult:
    """A finished proxy run: final ``metrics``, ``cost`` (params x tokens), and the ``trajectory``
    (``[{"step", "tokens", "val/<domain>"..., "target"}]``, the shape the HTTP API takes)."""

    metrics: dict[str, float]
    cost: float
    trajectory: list[dict[str, float]]
    weights: dict[str, float] = field(default_factory=dict)
    fidelity: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    seconds: float = 0.0


def run(world: World, weights: Weights, fid: FidelityLike = "small", seed: int = 0, n_points: int = 8) -> RunResult:
    """Train one proxy run at a fixed mixture, evaluating ``n_points`` times along the way (the last at the end)."""
    start = time.perf_counter()
    trainer = Trainer(world, fid, seed)
    w = world.mixture(weights)
    n_points = max(1, min(n_points, trainer.total_steps))
    marks = np.linspace(0, trainer.total_steps, n_points + 1).round().astype(int)[1:]
    trajectory: list[dict[str, float]] = []
    for mark in marks:
        trainer.train(w, int(mark) - trainer.step)
        trajectory.append({"step": trainer.step, "tokens": trainer.tokens_seen, **trainer.metrics()})
    metrics = {k: v for k, v in trajectory[-1].items() if k not in ("step", "tokens")}
    return RunResult(
        metrics=metrics,
        cost=trainer.cost,
        trajectory=trajectory,
        weights={name: float(x) for name, x in zip(world.names, w, strict=True)},
        fidelity=trainer.fidelity,
        seed=trainer.seed,
        seconds=time.perf_counter() - start,
    )


class Job(NamedTuple):
    """Arguments of one ``run``."""

    world: World
    weights: Weights
    fidelity: FidelityLike = "small"
    seed: int = 0


def _run_job(job: Job) -> RunResult:
    return run(job.world, job.weights, job.fidelity, job.seed)


def run_many(
    jobs: Iterable[Job | tuple[Any, ...]], processes: int = 2, on_done: Callable[[], object] | None = None
) -> list[RunResult]:
    """Run proxy runs in a process pool (results in input order); ``processes <= 1`` runs them here.

    Worlds travel as their spec and are rebuilt once per worker (forked workers inherit the cache).
    ``on_done`` is called after each result (a progress bar's advance).
    """
    items = [j if isinstance(j, Job) else Job(*j) for j in jobs]
    done = on_done or (lambda: None)
    out: list[RunResult] = []
    if processes <= 1 or len(items) <= 1:
        for j in items:
            out.append(_run_job(j))
            done()
        return out
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
        for res in pool.map(_run_job, items, chunksize=max(1, len(items) // (4 * processes))):
            out.append(res)
            done()
    return out


def target_gaps(
    world: World,
    answers: Mapping[str, Sequence[FloatArray]],
    fid: FidelityLike = "target",
    processes: int = 2,
    on_done: Callable[[], object] | None = None,
) -> tuple[dict[str, list[float]], float, float]:
    """Train every mixture of ``answers`` (label -> mixtures ``(d,)``) and the world's own target mixture at
    ``fid`` (seed 0); returns each label's gaps ``loss / best - 1`` in input order, the best loss (over all of
    them) and the world's own mixture's loss."""
    flat = [(label, w) for label, ws in answers.items() for w in ws]
    evals = run_many(
        [Job(world, world.weights_dict(w), fid, 0) for _, w in flat]
        + [Job(world, world.weights_dict("relevance"), fid, 0)],
        processes=processes, on_done=on_done,
    )
    losses = [float(r.metrics["target"]) for r in evals]
    best = min(losses)
    gaps: dict[str, list[float]] = {label: [] for label in answers}
    for (label, _), loss in zip(flat, losses, strict=False):
        gaps[label].append(loss / best - 1)
    return gaps, best, losses[-1]
