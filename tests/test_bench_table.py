"""``python -m bench``: every benchmark names the results file its run writes, and its table reads it back."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest

from bench import common
from bench.__main__ import BENCHMARKS, COLUMNS
from bench.common import RESULTS


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_writes_the_file_reuse_reads_and_tabulates_it(name: str) -> None:
    module_name, result_file = BENCHMARKS[name]
    module = importlib.import_module(module_name)
    assert f'write_json("{result_file}"' in inspect.getsource(module)
    saved = RESULTS / f"{result_file}.json"
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
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}  # the full result is untouched
