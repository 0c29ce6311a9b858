"""The import rules of DESIGN.md section 3, checked on the source (every import, also inside functions).

- ``mixers`` is pure numerics: no ``app``, ``store``, client, web framework or ORM.
- ``store`` is persistence only: no ``app``, ``mixers`` or client.
- ``app/services`` (the use cases) never reach up into the HTTP face or the CLI.
- The faces (routes, dashboard, CLI, auth) reach data and numerics through services: the repository, the engine,
  the ORM models and the mixers are off limits; only the app factory and the dependencies build the ``Store``.
- The client (``mixopt``) imports none of the server.
- ``bench`` talks to the service over HTTP or through the client: ``mixers`` and ``mixopt``, never ``app`` or ``store``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FACE = ("app.api", "app.main", "app.deps", "app.auth", "app.metrics", "app.dashboard", "app.cli", "app.schemas")
WEB = ("fastapi", "starlette", "uvicorn")

# (files, forbidden module prefixes, files of that group allowed to break the rule)
RULES: list[tuple[str, tuple[str, ...], frozenset[str]]] = [
    ("mixers/**/*.py", ("app", "store", "mixopt", "sqlalchemy", "alembic", *WEB), frozenset()),
    ("store/**/*.py", ("app", "mixers", "mixopt", *WEB), frozenset()),
    ("app/services/**/*.py", (*FACE, *WEB), frozenset()),
    (
        "app/[!s]*.py",  # the faces at the top of app/: auth, cli, dashboard, deps, main, metrics, problems, ...
        ("store.repository", "store.db", "store.models", "mixers"),
        frozenset({"app/main.py", "app/deps.py"}),  # the app factory and the dependencies build the Store
    ),
    ("app/api/**/*.py", ("store.repository", "store.db", "store.models", "mixers"), frozenset()),
    ("mixopt/**/*.py", ("app", "store", "mixers", "sqlalchemy", *WEB), frozenset()),
    ("bench/**/*.py", ("app", "store", "sqlalchemy", "alembic", *WEB), frozenset()),
]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in a file, including ``from x import y`` as ``x.y``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def breaks(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(pattern: str, forbidden: tuple[str, ...], allowed: frozenset[str]) -> list[str]:
    out = []
    for path in sorted(REPO.glob(pattern)):
        rel = path.relative_to(REPO).as_posix()
        if rel in allowed:
            continue
        out += [f"{rel}:{line} imports {mod}" for line, mod in imported_modules(path) if breaks(mod, forbidden)]
    return out


@pytest.mark.parametrize(("pattern", "forbidden", "allowed"), RULES, ids=[r[0] for r in RULES])
def test_import_rules(pattern: str, forbidden: tuple[str, ...], allowed: frozenset[str]) -> None:
    assert list(REPO.glob(pattern)), f"no files match {pattern}: the rule checks nothing"
    assert violations(pattern, forbidden, allowed) == []


def test_the_checker_sees_function_level_and_from_imports(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import numpy\n\ndef f():\n    from store.repository import Store\n    import app.main\n")
    mods = [m for _, m in imported_modules(src)]
    assert mods == ["numpy", "store.repository.Store", "app.main"]
    assert breaks("store.repository.Store", ("store.repository",)) and not breaks("storefront", ("store",))
