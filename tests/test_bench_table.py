"""``python -m bench``: every benchmark names the results file its run writes, and its table reads it back."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest

from bench import common
from bench.__main__ import COLUMNS
from bench.common import RESULTS
from bench.registry import BY_NAME


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_benchmark_writes_the_file_reuse_reads_and_tabulates_it(name: str) -> None:
    bench = BY_NAME[name]
    module = importlib.import_module(bench.module)
    main_file = bench.results[0].removesuffix(".json")
    assert f'write_json("{main_file}"' in inspect.getsource(module)
    saved = RESULTS / bench.results[0]
    assert saved.exists(), f"{saved} is not committed"
    rows = module.table(json.loads(saved.read_text()))
    assert rows and all(set(COLUMNS) <= set(r) for r in rows)
    assert all(r["benchmark"] and r["value"] for r in rows)


def test_quick_runs_write_beside_the_full_results(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(common, "_quick", False)
    assert common.write_json("x", {"a": 1}) == tmp_path / "x.json"
    common.use_quick_results()
    assert common.write_json("x", {"a": 2}) == tmp_path / "quick" / "x.json"
    full = json.loads((tmp_path / "x.json").read_text())
    assert full["a"] == 1  # the full result is untouched


def test_every_results_file_is_stamped_with_commit_and_date(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(common, "_quick", False)
    saved = json.loads(common.write_json("x", {"a": 1}).read_text())
    assert {"commit", "date"} <= set(saved["stamp"]) and saved["a"] == 1
    assert len(saved["stamp"]["commit"].removesuffix("+dirty")) == 40
    assert saved["stamp"]["commit"].endswith("+dirty") == bool(saved["stamp"].get("dirty"))
    own = {"commit": "abc", "date": "2026-01-01T00:00:00+00:00"}
    assert json.loads(common.write_json("y", {"stamp": own}).read_text())["stamp"] == own  # a phase's own stamp
