"""The benchmark registry explains ``bench/``: every benchmark is in it, the README index is generated from it, and
the freshness check finds results whose stamp is missing or whose measured code changed since."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
from pathlib import Path

import pytest

from bench import freshness, index
from bench.__main__ import README, check
from bench.common import REPO, RESULTS
from bench.registry import BENCHMARKS, BY_NAME, GROUPS, NOT_RESULTS, Benchmark


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_every_entry_names_a_runnable_module_and_what_it_saves() -> None:
    assert len(BY_NAME) == len(BENCHMARKS)
    files = [f for b in BENCHMARKS for f in b.results]
    assert len(files) == len(set(files)), "two benchmarks claim one results file"
    for b in BENCHMARKS:
        module = importlib.import_module(b.module)
        assert callable(module.run) and callable(module.table), b.name
        assert (REPO / b.path).is_file() and b.group in GROUPS, b.name
        assert b.run_command.startswith(f"python -m {b.module}"), b.name
        assert b.what and all(f.endswith(".json") for f in b.results) and all(f.endswith(".png") for f in b.figures)
        assert b.gpu == (b.group == "lm"), f"{b.name}: the GPU benchmarks are the ones in bench/lm"


def test_every_benchmark_module_is_registered() -> None:
    """A module under a group folder with both ``run`` and ``table`` is a benchmark; the registry lists it."""
    registered = {b.path for b in BENCHMARKS}
    for group in GROUPS:
        for path in sorted((REPO / "bench" / group).glob("*.py")):
            tree = ast.parse(path.read_text())
            defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            rel = path.relative_to(REPO).as_posix()
            assert not {"run", "table"} <= defined or rel in registered, f"{rel} is not in bench/registry.py"


def test_every_measured_path_exists() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git work tree")
    for b in BENCHMARKS:
        for spec in b.measures:
            assert _git(REPO, "ls-files", "--", spec), f"{b.name}: {spec} matches no tracked file"


def test_the_readme_index_is_the_registry() -> None:
    """``python -m bench --index`` wrote it; the results column follows git and is left out."""
    committed = index.section(README.read_text())
    assert index.comparable(committed) == index.comparable(index.render())
    assert all(f"| `{b.name}` | `{b.run_command}` |" in committed for b in BENCHMARKS)


def test_the_check_runs_on_this_repository() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git work tree")
    states = check()
    listed = [(s.benchmark, s.file) for s in states if s.benchmark]
    assert listed == [(b.name, f) for b in BENCHMARKS for f in b.results]
    assert {s.state for s in states} <= {freshness.CURRENT, freshness.STALE, freshness.UNSTAMPED,
                                         freshness.MISSING, freshness.UNREGISTERED}
    assert not [s.file for s in states if s.state == freshness.UNREGISTERED], "register it or list it in NOT_RESULTS"
    assert all((RESULTS / f).exists() for f in NOT_RESULTS)
    assert [f for b in BENCHMARKS for f in b.figures if not (RESULTS / f).exists()] == []
    cells = index.status_cells(states)
    assert set(cells) == set(BY_NAME) and all(cells.values())


def test_the_closure_follows_function_level_relative_and_package_imports(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for rel, text in {
        "pkg/__init__.py": "",
        "pkg/a.py": "import numpy\n\ndef f():\n    from pkg.sub import b\n",
        "pkg/sub/__init__.py": "from . import c\n",
        "pkg/sub/b.py": "",
        "pkg/sub/c.py": "from ..d import x\n",
        "pkg/d.py": "x = 1\n",
        "pkg/unused.py": "",
    }.items():
        (tmp_path / rel).write_text(text)
    assert freshness.import_closure(tmp_path, ["pkg/a.py"]) == {
        "pkg/a.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/b.py", "pkg/sub/c.py", "pkg/d.py"}


def test_the_check_finds_missing_stamps_and_changed_code(tmp_path: Path) -> None:
    root, results = tmp_path / "repo", tmp_path / "repo" / "results"
    for rel, text in {
        "pkg/__init__.py": "",
        "pkg/bench_x.py": "def run():\n    from pkg.lib import f\n",
        "pkg/lib.py": "from pkg import util\n\ndef f():\n    pass\n",
        "pkg/util.py": "",
        "pkg/other.py": "",
        "data/d.csv": "1\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _git(root.parent, "init", "-q", str(root))
    for key, value in (("user.email", "t@example.com"), ("user.name", "t"), ("commit.gpgsign", "false")):
        _git(root, "config", key, value)

    def commit(message: str) -> str:
        _git(root, "add", "-A", "--", "pkg", "data")
        _git(root, "commit", "-qm", message)
        return _git(root, "rev-parse", "HEAD")

    first = commit("one")
    results.mkdir()

    def save(name: str, payload: dict[str, object]) -> None:
        (results / name).write_text(json.dumps(payload))

    save("x.json", {"stamp": {"commit": first, "date": "2026-12-01T00:00:00+00:00"}, "v": 1})
    save("y.json", {"v": 1})
    save("z.json", {"stamp": {"commit": "f" * 40, "date": "2026-12-01"}})
    save("orphan.json", {})
    benches = [
        Benchmark("x", "pkg.bench_x", "x", ("x.json", "w.json"), measures=("data/",)),
        Benchmark("y", "pkg.other", "y", ("y.json",)),
        Benchmark("z", "pkg.other", "z", ("z.json",)),
    ]

    def states() -> dict[str, freshness.Freshness]:
        return {s.file: s for s in freshness.check(root, benches, results, not_results=())}

    got = states()
    assert {f: s.state for f, s in got.items()} == {
        "x.json": "current", "w.json": "missing", "y.json": "unstamped", "z.json": "stale",
        "orphan.json": "unregistered"}
    assert "not a commit" in got["z.json"].reason

    (root / "pkg" / "other.py").write_text("y = 2\n")
    commit("a file x does not import")
    assert states()["x.json"].current

    (root / "pkg" / "util.py").write_text("z = 3\n")  # reached through a function-level import, then a module one
    second = commit("code x measures")
    got = states()
    assert got["x.json"].state == "stale" and got["x.json"].changed == ("pkg/util.py",)
    assert first[:7] in got["x.json"].reason

    save("x.json", {"stamp": {"commit": second, "date": "2026-12-02T00:00:00+00:00"}})
    assert states()["x.json"].current
    # comments and docstrings are not code: the result stays current
    documented = '"""Helpers."""\nfrom pkg import util  # the utilities\n\ndef f():\n    """Nothing."""\n'
    (root / "pkg" / "lib.py").write_text(documented)
    assert states()["x.json"].current
    (root / "pkg" / "lib.py").write_text('"""Helpers."""\nfrom pkg import util\n\ndef f():\n    return 1\n')
    assert states()["x.json"].changed == ("pkg/lib.py",)
    _git(root, "checkout", "--", "pkg")
    (root / "data" / "d.csv").write_text("2\n")  # a measured data file, changed and not committed
    assert states()["x.json"].changed == ("data/d.csv",)
    _git(root, "checkout", "--", "data")
    # measured on a tree with uncommitted changes: stale when a changed file is measured (or unknown)
    dirty = {"commit": second + "+dirty", "date": "2026-12-02T00:00:00+00:00"}
    save("x.json", {"stamp": {**dirty, "dirty": ["pkg/other.py", "README.md"]}})
    assert states()["x.json"].current
    save("x.json", {"stamp": {**dirty, "dirty": ["pkg/other.py", "data/d.csv"]}})
    assert states()["x.json"].changed == ("data/d.csv",) and "uncommitted" in states()["x.json"].reason
    save("x.json", {"stamp": dirty})
    assert states()["x.json"].state == "stale"

    # several phases, each with its own stamp: stale when any phase is
    save("x.json", {"stamps": {"a": {"commit": second, "date": "d"}, "b": {"commit": first, "date": "d"}}})
    assert states()["x.json"].changed == ("pkg/util.py",)
