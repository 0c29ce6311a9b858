"""``mixopt import`` of the shipped RegMix files, and export -> import round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import DEMO


def mixopt(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIXOPT_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


REGMIX_IMPORT = (
    "import",
    "rm",
    str(DEMO / "train_mixture_1m.csv"),
    "--metrics",
    str(DEMO / "train_pile_loss_1m.csv"),
    "--key",
    "index",
    "--domain-prefix",
    "train_the_pile_",
    "--fidelity",
    "params=1e6",
    "--fidelity",
    "tokens=1e9",
)


def test_import_regmix_train_files(tmp_path: Path) -> None:
    proc = mixopt(
        tmp_path,
        *REGMIX_IMPORT,
        "--create",
        "--objective",
        "metric/the_pile_pile_cc_val_loss",
        "--token-shares",
        str(DEMO / "domains.csv"),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["runs"] == 512
    out = mixopt(tmp_path, "export", "rm", "--format", "jsonl")
    runs = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert len(runs) == 512
    mix = pd.read_csv(DEMO / "train_mixture_1m.csv").set_index("index")
    loss = pd.read_csv(DEMO / "train_pile_loss_1m.csv").set_index("index")
    for r in runs:
        idx = int(r["external_id"])
        assert len(r["weights"]) == 17 and len(r["metrics"]) == 13
        assert r["fidelity"] == {"params": 1e6, "tokens": 1e9}
        raw = {c.removeprefix("train_the_pile_"): v for c, v in mix.loc[idx].items()}
        assert r["weights_sum"] == pytest.approx(sum(raw.values()), abs=1e-12)
        for name, w in raw.items():
            assert r["weights"][name] * r["weights_sum"] == pytest.approx(w, abs=1e-12)
        for metric, value in loss.loc[idx].items():
            assert r["metrics"][metric] == value  # bit-exact
    # Idempotent: importing the same files again adds nothing.
    again = mixopt(tmp_path, *REGMIX_IMPORT, "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["total_runs"] == 512

    # CSV export -> import into a new project gives the same runs back.
    csv_path = tmp_path / "rm.csv"
    assert mixopt(tmp_path, "export", "rm", "-o", str(csv_path)).returncode == 0
    back = mixopt(
        tmp_path,
        "import",
        "rm2",
        str(csv_path),
        "--create",
        "--objective",
        "metric/the_pile_pile_cc_val_loss",
        "--format",
        "json",
    )
    assert back.returncode == 0, back.stderr
    runs2 = [json.loads(line) for line in mixopt(tmp_path, "export", "rm2", "--format", "jsonl").stdout.splitlines()]
    for a, b in zip(runs, runs2, strict=True):
        assert (a["external_id"], a["metrics"], a["fidelity"], a["status"]) == (
            b["external_id"],
            b["metrics"],
            b["fidelity"],
            b["status"],
        )
        assert a["weights_sum"] == pytest.approx(b["weights_sum"], abs=1e-12)
        for k in a["weights"]:
            assert a["weights"][k] == pytest.approx(b["weights"][k], abs=1e-12)


def test_import_reports_bad_files_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("index,train_a,train_b,loss\n1,0.5,0.5,3.0\n2,0.9,0.5,2.0\n")
    proc = mixopt(
        tmp_path,
        "import",
        "x",
        str(bad),
        "--create",
        "--domain-prefix",
        "train_",
        "--objective",
        "loss",
        "--key",
        "index",
    )
    assert proc.returncode == 1
    assert "runs[1].weights" in proc.stderr
    listed = mixopt(tmp_path, "runs", "x", "--format", "json")
    assert json.loads(listed.stdout) == []


def test_cli_evaluate_scores_the_mixers_that_can_answer(tmp_path: Path) -> None:
    """``mixopt evaluate``: ``ot`` (no embeddings) reports its error in its row; the law is still scored."""
    imported = mixopt(tmp_path, *REGMIX_IMPORT, "--create", "--objective", "metric/the_pile_pile_cc_val_loss",
                      "--token-shares", str(DEMO / "domains.csv"))
    assert imported.returncode == 0, imported.stderr
    proc = mixopt(tmp_path, "evaluate", "rm", "--mixer", "ot", "--mixer", "mixing_law", "--folds", "3",
                  "--format", "json")
    assert proc.returncode == 0, proc.stderr
    ot, law = json.loads(proc.stdout)
    assert ot["mixer"] == "ot" and ot["spearman"] is None and ot["error"].startswith("mixer_cannot_answer")
    assert law["error"] is None and law["spearman"] > 0.9
