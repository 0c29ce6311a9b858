"""Helpers shared by the benchmarks: result files, a scratch PostgreSQL database, progress bars."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

RESULTS = Path(__file__).resolve().parent / "results"
PG_ADMIN = os.environ.get("MIXOPT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_quick = False


def use_quick_results() -> None:
    """Send this process's results to ``bench/results/quick/`` (git-ignored): quick runs never overwrite the
    full results that README tables quote."""
    global _quick
    _quick = True


def results_dir() -> Path:
    path = RESULTS / "quick" if _quick else RESULTS
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig: Any, name: str) -> Path:
    """Save a matplotlib figure as ``<results>/<name>.png``."""
    path = results_dir() / f"{name}.png"
    fig.savefig(path, dpi=120)
    return path


def write_json(name: str, payload: dict[str, Any]) -> Path:
    path = results_dir() / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


@contextmanager
def scratch_postgres() -> Iterator[str | None]:
    """A fresh PostgreSQL database (psycopg URL without driver prefix), dropped afterwards; None if unreachable."""
    import psycopg

    name = f"mixopt_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        yield None
        return
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stamp() -> dict[str, str]:
    """Commit (``+dirty`` with uncommitted changes to tracked files) and UTC date of a result.
    ``$MIXOPT_BENCH_COMMIT`` overrides the commit on a machine whose copy of the tree has no history of it (the
    lent GPU machine)."""
    date = datetime.now(UTC).isoformat(timespec="seconds")
    if os.environ.get("MIXOPT_BENCH_COMMIT"):
        return {"commit": os.environ["MIXOPT_BENCH_COMMIT"], "date": date}
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    return {"commit": commit + ("+dirty" if dirty else ""), "date": date}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]
