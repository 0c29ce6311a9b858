"""A low-rank bigram language model trained with Adam, in numpy.

The model predicts the next token from the previous one: ``logits(x) = E[x] @ U + b`` with ``E`` ``(V, r)``,
``U`` ``(r, V)``, ``b`` ``(V,)``; the rank ``r`` is its capacity, and ``params = 2 V r + V``.

Because the model only sees one token of context, a batch's cross-entropy and its gradient depend on the
batch only through its bigram counts ``C`` ``(V, V)``: ``loss = -sum(C * log_softmax(E U + b)) / sum(C)``
and ``dL/dlogits = (rowsum(C) * softmax - C) / sum(C)``. Training on counts is therefore exactly minibatch
training on the tokens, at a cost of ``O(V^2 r)`` per step whatever the batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]  # the model's parameters, gradients and batch counts


def n_params(vocab: int, rank: int) -> int:
    """Parameter count of the model: ``E`` and ``U`` plus the bias."""
    return 2 * vocab * rank + vocab


def rank_for_params(vocab: int, params: float) -> int:
    """The rank whose parameter count is closest to ``params`` (at least 1, at most ``vocab``)."""
    return int(min(vocab, max(1, round((params - vocab) / (2 * vocab)))))


def log_softmax(z: FloatArray) -> FloatArray:
    """Row-wise log-softmax of ``z`` ``(m, V)``."""
    m = z.max(axis=1, keepdims=True)
    return np.asarray(z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True)), dtype=np.float64)


@dataclass
class LowRankBigram:
    """Parameters (float32) ``emb`` ``(V, r)``, ``out`` ``(r, V)``, ``bias`` ``(V,)``."""

    emb: Float32Array
    out: Float32Array
    bias: Float32Array

    @classmethod
    def init(cls, vocab: int, rank: int, rng: np.random.Generator) -> LowRankBigram:
        scale = 1.0 / math.sqrt(rank)
        return cls(
            emb=rng.normal(0.0, 0.5, size=(vocab, rank)).astype(np.float32),
            out=rng.normal(0.0, 0.5 * scale, size=(rank, vocab)).astype(np.float32),
            bias=np.zeros(vocab, dtype=np.float32),
        )

    @property
    def vocab(self) -> int:
        return int(self.emb.shape[0])

    @property
    def rank(self) -> int:
        return int(self.emb.shape[1])

    def log_probs(self) -> FloatArray:
        """``log q(y | x)`` for every pair, ``(V, V)`` float64 (row ``x``, column ``y``)."""
        return log_softmax((self.emb @ self.out + self.bias).astype(np.float64))

    def loss_and_grads(self, counts: Float32Array) -> tuple[float, tuple[Float32Array, Float32Array, Float32Array]]:
        """Mean cross-entropy on float32 bigram ``counts`` ``(V, V)`` and its gradients for (emb, out, bias)."""
        z = self.emb @ self.out + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        norm = e.sum(axis=1, keepdims=True)
        rows = counts.sum(axis=1, keepdims=True)
        total = float(rows.sum())
        # loss = -sum C (z - log norm) / N, without forming log-probabilities
        loss = float((rows * np.log(norm)).sum() - (counts * z).sum()) / total
        dlogits = e * (rows / (norm * total)) - counts / total
        return loss, (dlogits @ self.out.T, self.emb.T @ dlogits, dlogits.sum(axis=0))

    def params(self) -> tuple[Float32Array, Float32Array, Float32Array]:
        return self.emb, self.out, self.bias


class Adam:
    """Adam (Kingma & Ba) with decoupled weight decay on the matrices, updating arrays in place."""

    def __init__(
        self,
        shapes: list[tuple[int, ...]],
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.m = [np.zeros(s, dtype=np.float32) for s in shapes]
        self.v = [np.zeros(s, dtype=np.float32) for s in shapes]
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0

    def step(self, params: tuple[Float32Array, ...], grads: tuple[Float32Array, ...], lr: float) -> None:
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            if self.weight_decay and p.ndim == 2:
                p *= 1.0 - lr * self.weight_decay
            p -= lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def lr_at(step: int, total: int, peak: float, warmup: int, final_frac: float = 0.1) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to ``final_frac * peak`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return peak * final_frac
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (final_frac + (1.0 - final_frac) * 0.5 * (1.0 + math.cos(math.pi * frac)))
