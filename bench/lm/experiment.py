"""Shared pieces of the LM benchmarks: settings, projects on a running server, job lists, summaries."""

from __future__ import annotations

import itertools
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.lm.corpus import DEFAULT_OUT
from mixopt import Client

SEEDS = (0, 1, 2)


def data_dir() -> Path:
    """The shards: ``$MIXOPT_LM_DATA`` or ``bench/lm/data`` (build them with ``python -m bench.lm.corpus``)."""
    path = Path(os.environ.get("MIXOPT_LM_DATA", DEFAULT_OUT))
    if not (path / "manifest.json").exists():
        raise SystemExit(f"no shards in {path}: run `python -m bench.lm.corpus --out {path}` first")
    return path


@dataclass(frozen=True)
class Scale:
    """One training scale: model size, steps and batch (sequences of the size's ``seq_len`` bytes)."""

    size: str
    steps: int
    batch: int

    def job(self) -> dict[str, Any]:
        return {"size": self.size, "steps": self.steps, "batch": self.batch}


@dataclass
class Arm:
    """All runs of one schedule in one setting, by seed."""

    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def means(self) -> list[float]:
        return [r["mean"] for r in sorted(self.runs, key=lambda r: r["seed"])]

    def summary(self) -> dict[str, Any]:
        domains = sorted(self.runs[0]["losses"])
        per_domain = {d: statistics.fmean(r["losses"][d] for r in self.runs) for d in domains}
        means = self.means()
        return {
            "mean": statistics.fmean(means),
            "std": statistics.stdev(means) if len(means) > 1 else 0.0,
            "per_seed": means,
            "per_domain": per_domain,
            "seconds": statistics.fmean(r["seconds"] for r in self.runs),
        }


def create_project(
    client: Client,
    name: str,
    domains: Sequence[str],
    tokens: Mapping[str, int],
    target: Mapping[str, float] | None = None,
) -> None:
    """A project whose objective is the mean per-domain validation loss (``val/<domain>``, weight ``1/d``)."""
    client.delete_project(name, missing_ok=True)
    client.create_project(
        name,
        [{"name": d, "tokens": float(tokens[d])} for d in domains],
        {"metrics": {f"val/{d}": 1.0 / len(domains) for d in domains}, "direction": "minimize"},
        target_fidelity=None if target is None else dict(target),
    )


def uniform(domains: Sequence[str]) -> dict[str, float]:
    return {d: 1.0 / len(domains) for d in domains}


def natural(domains: Sequence[str], tokens: Mapping[str, int]) -> dict[str, float]:
    """Token-proportional mixture (each domain's share of the full corpus's bytes)."""
    total = sum(tokens[d] for d in domains)
    return {d: tokens[d] / total for d in domains}


def coarse_grid(domains: Sequence[str], step: float = 0.25) -> list[dict[str, float]]:
    """Mixtures on a simplex grid of ``step``, without the vertices (a single domain never wins a mean loss)."""
    k = round(1 / step)
    out = []
    for c in itertools.product(range(k + 1), repeat=len(domains)):
        if sum(c) == k and max(c) < k:
            out.append({d: ci / k for d, ci in zip(domains, c, strict=True)})
    return out


def aioli_config(steps: int) -> dict[str, Any]:
    """The Aioli config used on every setting: five rounds per run, two sweeps of four steps per domain, the
    simulator benchmark's step size (eta 1, cumulative update: with eta 0.2 the normalized A barely moves the
    mixture). Runs shorter than 300 steps (CPU checks) get one sweep of two steps and three rounds."""
    if steps < 300:
        return {"lp_rounds": 1, "lp_steps": 2, "round_steps": max(steps // 3, 2 * 7 + 1), "eta": 1.0, "ema": None}
    return {"lp_rounds": 2, "lp_steps": 4, "round_steps": max(steps // 5, 8 * 7 + 1), "eta": 1.0, "ema": None}
