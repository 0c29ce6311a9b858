"""Are the saved results still the numbers of the code as it is? ``python -m bench --stale``.

A result is *current* when its stamp names a commit of this repository and nothing the benchmark measures (its
module's first-party import closure and the paths the registry names, see :mod:`bench.registry`) differs between
that commit and the working tree, nor was among the uncommitted files the stamp lists (``dirty``). Otherwise it is
*stale* (with the changed paths), *unstamped*, *missing*, or, for a JSON file no benchmark claims,
*unregistered*.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bench.registry import Benchmark

CURRENT, STALE, UNSTAMPED, MISSING, UNREGISTERED = "current", "stale", "unstamped", "missing", "unregistered"
# Plumbing every benchmark imports that never changes a figure: result files, stamps, progress bars.
NOT_MEASURED = frozenset({"bench/common.py"})


@dataclass(frozen=True)
class Freshness:
    """The state of one results file (``file`` relative to the results folder)."""

    benchmark: str
    file: str
    state: str
    reason: str
    changed: tuple[str, ...] = ()

    @property
    def current(self) -> bool:
        return self.state == CURRENT


def check(
    root: Path,
    benchmarks: Sequence[Benchmark],
    results: Path,
    not_results: Iterable[str] = (),
) -> list[Freshness]:
    """Every results file of ``benchmarks`` under ``results``, then the JSON files there nobody claims.

    ``root`` is the git work tree the benchmarks' modules and measured paths are relative to.
    """
    out: list[Freshness] = []
    for bench in benchmarks:
        specs = measured_paths(root, bench)
        out += [_file_state(root, bench.name, results, name, specs) for name in bench.results]
    claimed = {name for b in benchmarks for name in b.results} | set(not_results)
    for path in sorted(results.rglob("*.json")):
        rel = path.relative_to(results).as_posix()
        if rel not in claimed and not rel.startswith("quick/"):
            out.append(Freshness("", rel, UNREGISTERED, "no benchmark in bench/registry.py writes it"))
    return out


def measured_paths(root: Path, bench: Benchmark) -> list[str]:
    """Git pathspecs of what ``bench`` measures: the import closure of its module and of the Python files its
    ``measures`` match, plus those pathspecs themselves (folders and data files count as they are)."""
    files = [bench.path]
    for spec in bench.measures:
        if not spec.endswith("/"):
            files += [f for f in _git(root, "ls-files", "--", spec).splitlines() if f.endswith(".py")]
    closure = import_closure(root, files)
    return sorted((closure - NOT_MEASURED) | set(bench.measures))


def import_closure(root: Path, files: Iterable[str]) -> set[str]:
    """``files`` and every first-party module they import, transitively (paths relative to ``root``)."""
    seen: set[str] = set()
    todo = [f for f in files if (root / f).is_file()]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        todo += [dep for dep in _imports(root, rel) if dep not in seen]
    return seen


@cache
def _imports(root: Path, rel: str) -> tuple[str, ...]:
    """First-party files ``rel`` imports (every import statement, also inside functions), and their packages'
    ``__init__.py``."""
    tree = ast.parse((root / rel).read_text(), rel)
    package = rel.rsplit("/", 1)[0].replace("/", ".") if "/" in rel else ""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]  # ``from pkg import module``
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            stem = "/".join(parts[:k])
            for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                if (root / candidate).is_file():
                    found.add(candidate)
    return tuple(sorted(found))


def stamps_of(payload: Any) -> list[dict[str, str]]:
    """The stamps a results file carries: ``stamp``, ``stamps`` (one per phase) or a top-level commit and date."""
    if not isinstance(payload, Mapping):
        return []
    if isinstance(payload.get("stamp"), Mapping):
        return [dict(payload["stamp"])]
    if isinstance(payload.get("stamps"), Mapping):
        return [dict(s) for s in payload["stamps"].values() if isinstance(s, Mapping)]
    if "commit" in payload and "date" in payload:
        return [{"commit": str(payload["commit"]), "date": str(payload["date"])}]
    return []


def _file_state(root: Path, name: str, results: Path, file: str, specs: Sequence[str]) -> Freshness:
    path = results / file
    if not path.exists():
        return Freshness(name, file, MISSING, "never saved: run the benchmark")
    stamps = stamps_of(json.loads(path.read_text()))
    if not stamps:
        return Freshness(name, file, UNSTAMPED, "saved without a stamp; re-run to get one")
    for mark in stamps:
        commit = str(mark.get("commit", "unknown"))
        sha = commit.removesuffix("+dirty")
        if not _is_commit(root, sha):
            return Freshness(name, file, STALE, f"stamped with {commit[:12]}, not a commit of this repository")
        listed = _git(root, "diff", "--no-renames", "--name-only", sha, "--", *specs).splitlines()
        changed = tuple(f for f in listed if _code_changed(root, sha, f))
        if changed:
            return Freshness(name, file, STALE, f"changed since {sha[:7]}: {_listed(changed)}", changed)
        if commit.endswith("+dirty"):
            dirty = mark.get("dirty")
            touched = [f for f in dirty if _matches(f, specs)] if isinstance(dirty, list) else ["unknown files"]
            if touched:
                reason = f"measured with uncommitted changes to {_listed(touched)} on {sha[:7]}"
                return Freshness(name, file, STALE, reason, tuple(touched))
    latest = max(stamps, key=lambda s: str(s.get("date", "")))
    return Freshness(name, file, CURRENT, f"{str(latest['commit'])[:7]}, {str(latest.get('date', ''))[:10]}")


def _code_of(text: str) -> str | None:
    """A Python source's syntax tree without docstrings (comments are not in it); None when it does not parse."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _code_changed(root: Path, sha: str, path: str) -> bool:
    """Whether ``path`` changed between ``sha`` and the work tree in more than comments and docstrings."""
    if not path.endswith(".py"):
        return True
    now = root / path
    before = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=root, capture_output=True, text=True)
    if before.returncode != 0 or not now.exists():
        return True  # added or removed
    old, new = _code_of(before.stdout), _code_of(now.read_text())
    return old is None or new is None or old != new


def _matches(path: str, specs: Sequence[str]) -> bool:
    """Whether a file path falls under one of the pathspecs (a folder ``x/``, a glob, or a file)."""
    for spec in specs:
        if spec.endswith("/"):
            hit = path.startswith(spec)
        elif any(c in spec for c in "*?["):
            hit = fnmatch.fnmatchcase(path, spec)  # like git's pathspec glob, ``*`` crosses folders
        else:
            hit = path == spec or path.startswith(spec + "/")
        if hit:
            return True
    return False


def _listed(paths: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _is_commit(root: Path, sha: str) -> bool:
    if not sha or sha == "unknown":
        return False
    done = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=root, capture_output=True)
    return done.returncode == 0


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
