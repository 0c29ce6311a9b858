"""The reference trainer: a small GPT on byte-level domain shards, sampling batches from a mixture that may
change at any step, with per-domain validation loss.

    data = Shards.load("bench/lm/data", ["python", "man", "dictionary"])
    trainer = Trainer(data, TrainConfig(size="small", total_steps=2000, device="cuda"))
    for step in range(trainer.cfg.total_steps):
        trainer.train_step({"python": 0.5, "man": 0.3, "dictionary": 0.2})
    print(trainer.evaluate())            # {"python": 1.21, "man": 1.35, "dictionary": 1.52}  (nats per byte)

Optimization: AdamW (weight decay on matrices only), linear warm-up then cosine decay to ``min_lr_ratio`` of the
peak, gradient clipping at 1; bf16 autocast on CUDA (fp32 on CPU). A batch of ``batch_size`` sequences draws
each sequence's domain from the mixture (multinomial counts), then a uniform random window of that domain's
train shard. Validation reads fixed, non-overlapping windows of each domain's val shard, so two evaluations of
the same weights give the same number (the online mixer compares losses a few steps apart).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.lm.model import GPT, SIZES, GPTConfig


@dataclass
class Shards:
    """Each domain's train and val bytes as uint8 tensors ``(n,)``, and its size in the full corpus; ``targets``
    are val shards of held-out text sets that are scored but never trained on."""

    train: dict[str, torch.Tensor]
    val: dict[str, torch.Tensor]
    tokens: dict[str, int] = field(default_factory=dict)  # bytes of the whole domain before the shard cap
    targets: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def domains(self) -> list[str]:
        return list(self.train)

    @classmethod
    def load(
        cls, data_dir: str | Path, domains: Sequence[str] | None = None, targets: Sequence[str] = ()
    ) -> Shards:
        """Read ``<domain>.{train,val}.bin`` and ``manifest.json`` written by :mod:`bench.lm.corpus`; of
        ``targets`` only the val shards (a name may not be both a domain and a target)."""
        root = Path(data_dir)
        manifest = json.loads((root / "manifest.json").read_text())["domains"]
        names = list(domains) if domains is not None else [n for n in manifest if n not in targets]
        if set(names) & set(targets):
            raise ValueError(f"{sorted(set(names) & set(targets))} are both training domains and targets")
        unknown = [n for n in [*names, *targets] if n not in manifest]
        if unknown:
            raise ValueError(f"unknown domains {unknown}; the shards have {sorted(manifest)}")

        def read(name: str, split: str) -> torch.Tensor:
            return torch.from_numpy(np.fromfile(root / f"{name}.{split}.bin", dtype=np.uint8))

        return cls(
            train={n: read(n, "train") for n in names},
            val={n: read(n, "val") for n in names},
            tokens={n: int(manifest[n].get("source_bytes", manifest[n]["train"]["bytes"])) for n in names},
            targets={n: read(n, "val") for n in targets},
        )


@dataclass
class TrainConfig:
    size: str | GPTConfig = "small"
    total_steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    seed: int = 0
    probe_seqs: int = 32  # val windows per domain for quick evaluations (online reports)
    eval_seqs: int = 512  # val windows per domain for the final evaluation

    @property
    def model(self) -> GPTConfig:
        return SIZES[self.size] if isinstance(self.size, str) else self.size


class Trainer:
    """One model, its optimizer and schedule, and a sampler over ``data``'s domains."""

    def __init__(self, data: Shards, cfg: TrainConfig) -> None:
        self.data = data
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        mcfg = cfg.model
        self.seq_len = mcfg.seq_len
        self.model = GPT(mcfg).to(self.device)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        cuda = self.device.type == "cuda"
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr,
            betas=(0.9, 0.95),
            fused=cuda,
        )
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cuda)
        self.train_data = {n: t.to(self.device) for n, t in data.train.items()}
        self.val_data = {n: t.to(self.device) for n, t in data.val.items()}
        self.target_data = {n: t.to(self.device) for n, t in data.targets.items()}
        self._window = torch.arange(self.seq_len + 1, device=self.device)
        self.step = 0
        self.tokens_seen = {n: 0 for n in data.domains}
        self.train_seconds = 0.0

    # -- schedule and sampling --------------------------------------------------------------------

    def lr_at(self, step: int) -> float:
        """Linear warm-up to ``lr``, then cosine decay to ``min_lr_ratio * lr`` at ``total_steps``."""
        c = self.cfg
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        frac = min(1.0, (step - c.warmup_steps) / max(1, c.total_steps - c.warmup_steps))
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))

    def mixture(self, weights: Mapping[str, float]) -> np.ndarray:
        """``weights`` (domain -> weight, missing ones 0) as probabilities ``(d,)`` in ``data.domains`` order."""
        unknown = set(weights) - set(self.data.domains)
        if unknown:
            raise ValueError(f"weights name unknown domains {sorted(unknown)}")
        p = np.array([max(0.0, float(weights.get(n, 0.0))) for n in self.data.domains])
        if p.sum() <= 0:
            raise ValueError("weights must have a positive sum")
        return p / p.sum()

    def sample(self, weights: Mapping[str, float]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch ``(B, T)`` of inputs and ``(B, T)`` next-byte targets drawn from the mixture."""
        counts = self.rng.multinomial(self.cfg.batch_size, self.mixture(weights))
        parts = []
        for name, c in zip(self.data.domains, counts, strict=True):
            if c == 0:
                continue
            data = self.train_data[name]
            starts = torch.randint(0, len(data) - self.seq_len - 1, (int(c),), generator=self.gen, device=self.device)
            parts.append(data[starts[:, None] + self._window])
            self.tokens_seen[name] += int(c) * self.seq_len
        seqs = torch.cat(parts).long()
        return seqs[:, :-1], seqs[:, 1:]

    # -- training and evaluation ------------------------------------------------------------------

    def train_step(self, weights: Mapping[str, float]) -> float:
        """One optimizer step on a batch from ``weights``; returns the training loss (synchronizes)."""
        t0 = time.perf_counter()
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        x, y = self.sample(weights)
        self.model.train()
        with self.autocast:
            loss = self.model.loss(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        value = float(loss.item())
        self.train_seconds += time.perf_counter() - t0
        return value

    @torch.no_grad()
    def evaluate(self, n_seqs: int | None = None, targets: bool = True) -> dict[str, float]:
        """Mean next-byte loss (nats) of each domain (and, with ``targets``, each held-out target) on its first
        ``n_seqs`` val windows (``eval_seqs`` if None)."""
        n_seqs = self.cfg.eval_seqs if n_seqs is None else n_seqs
        self.model.eval()
        out: dict[str, float] = {}
        sets = {**self.val_data, **self.target_data} if targets else self.val_data
        for name, data in sets.items():
            n = min(n_seqs, (len(data) - 1) // self.seq_len)
            starts = torch.arange(n, device=self.device) * self.seq_len
            seqs = data[starts[:, None] + self._window].long()
            total = torch.zeros((), device=self.device)
            for chunk in seqs.split(256):
                with self.autocast:
                    total += self.model.loss(chunk[:, :-1], chunk[:, 1:], reduction="none").sum()
            out[name] = float(total.item()) / n
        return out

    def probe(self, targets: bool = False) -> dict[str, float]:
        """The quick evaluation an online mixer is sent: ``probe_seqs`` windows per domain (and target)."""
        return self.evaluate(self.cfg.probe_seqs, targets=targets)

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.seq_len

    def fidelity(self) -> dict[str, float]:
        """This run's scale as mixopt fidelity: parameters and training tokens at ``total_steps``."""
        return {"params": float(self.model.n_params()), "tokens": float(self.cfg.total_steps * self.tokens_per_step)}

    def flops(self) -> float:
        """Training compute ``6 N D`` of the whole run (the cost posted to mixopt)."""
        f = self.fidelity()
        return 6.0 * f["params"] * f["tokens"]
