"""``python -m bench``: every benchmark names the results file its run writes, and its table reads it back."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest

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
