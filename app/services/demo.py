"""The demo project: the 512 + 256 RegMix proxy runs shipped in ``app/demo/regmix`` (MIT, Sea AI Lab)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.services import projects, runs, table_import
from app.services.inputs import DomainIn, ObjectiveIn, ProjectCreate, RunIn
from store.errors import NotFound
from store.records import ProjectRecord
from store.repository import Store

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo" / "regmix"
DEMO_PROJECT = "regmix-demo"
DOMAIN_PREFIX = "train_the_pile_"
TARGET_METRIC = "metric/the_pile_pile_cc_val_loss"
FIDELITY = {"params": 1e6, "tokens": 1e9}


def regmix_domains() -> list[DomainIn]:
    """The 17 Pile domains with their corpus token shares (relative counts: they set the prior)."""
    shares = pd.read_csv(DEMO_DIR / "domains.csv")
    return [
        DomainIn(name=str(name).removeprefix(DOMAIN_PREFIX), tokens=float(share))
        for name, share in zip(shares["domain"], shares["token_share"], strict=True)
    ]


def regmix_runs(project: ProjectRecord, split: str = "train") -> list[RunIn]:
    """RegMix runs of ``split`` (train: 512, test: 256), external ids ``<split>-<index>``."""
    loaded = table_import.read_table(
        DEMO_DIR / f"{split}_mixture_1m.csv",
        project,
        metrics_path=DEMO_DIR / f"{split}_pile_loss_1m.csv",
        key="index",
        domain_prefix=DOMAIN_PREFIX,
        metric_prefix="metric/",
        fidelity=FIDELITY,
    )
    return [r.model_copy(update={"external_id": f"{split}-{r.external_id}", "tags": {"split": split}}) for r in loaded]


def ensure_demo(store: Store, lease_seconds: float = 3600.0) -> ProjectRecord:
    """Create the demo project with the 512 train runs unless it exists (idempotent)."""
    try:
        return store.get_project(DEMO_PROJECT)
    except NotFound:
        pass
    project = projects.create_project(
        store,
        ProjectCreate(
            name=DEMO_PROJECT,
            description=(
                "RegMix proxy runs (Liu et al. 2024; MIT, Sea AI Lab): 1M-parameter models trained on 1B tokens "
                "of 17 Pile domains. Domain tokens are the corpus token shares (relative). Objective: Pile-CC "
                "validation loss."
            ),
            domains=regmix_domains(),
            objective=ObjectiveIn(metric=TARGET_METRIC, direction="minimize"),
            target_fidelity={"params": 1e9, "tokens": 2.5e10},
        ),
    )
    runs.ingest_runs(store, DEMO_PROJECT, regmix_runs(project), lease_seconds=lease_seconds, max_runs=10_000)
    return store.get_project(DEMO_PROJECT)
