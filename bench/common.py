"""Helpers shared by the benchmarks: where things are, stamped result files and figures, a scratch PostgreSQL
database, progress bars."""

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

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATA = REPO / "bench" / "data"  # inputs the benchmarks build once and commit (the simulator pool)
DEMO_DATA = REPO / "app" / "demo" / "regmix"  # the RegMix 1M runs: CSV files, read by path
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
    """Save a matplotlib figure as ``<results>/<name>.png``, its stamp in the PNG's text fields."""
    path = results_dir() / f"{name}.png"
    mark = stamp()
    fig.savefig(path, dpi=120, metadata={"Source": f"mixopt commit {mark['commit']}", "Creation Time": mark["date"]})
    return path


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``<results>/<name>.json`` with a ``stamp`` (see :func:`stamp`) unless the payload carries its own."""
    path = results_dir() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = payload if "stamp" in payload or "stamps" in payload else {"stamp": stamp(), **payload}
    path.write_text(json.dumps(stamped, indent=2, default=float) + "\n")
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


def stamp() -> dict[str, Any]:
    """Commit and UTC date of a result. With uncommitted changes to tracked files outside ``bench/results``
    (results written earlier in the same session are outputs, not the code measured), the commit gets ``+dirty``
    and ``dirty`` lists those files, so the freshness check can tell whether any of them is measured.
    ``$MIXOPT_BENCH_COMMIT`` overrides the commit on a machine whose copy of the tree has no history of it (the
    lent GPU machine)."""
    date = datetime.now(UTC).isoformat(timespec="seconds")
    if os.environ.get("MIXOPT_BENCH_COMMIT"):
        return {"commit": os.environ["MIXOPT_BENCH_COMMIT"], "date": date}
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = _git("diff", "HEAD", "--name-only", "--", ".", ":(exclude)bench/results").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "date": date}
    if not dirty:
        return {"commit": commit, "date": date}
    return {"commit": commit + "+dirty", "date": date, "dirty": dirty}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]
