"""The layer rules of ``layers.toml`` (DESIGN.md section 3) hold on every module, function-level imports included.

The rules themselves live in ``layers.toml`` as import-linter contracts; this file runs them, checks that every
module of ``app`` is placed in a part (so a new file cannot slip past the rules), and checks that the checker sees
the imports we rely on it to see.
"""

from __future__ import annotations

import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from importlinter import cli

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "layers.toml"

# Composition roots: they wire the parts together, so they are the only app modules outside every face rule.
COMPOSITION_ROOTS = {"app", "app.main", "app.deps", "app.local", "app.settings"}


def contracts() -> list[dict[str, object]]:
    return list(tomllib.loads(RULES.read_text())["tool"]["importlinter"]["contracts"])


def lint(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    return code, capsys.readouterr().out


def test_every_layer_rule_holds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = lint(RULES, capsys)
    assert code == 0, out


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def covered(module: str, prefixes: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_every_app_module_belongs_to_a_part() -> None:
    sources = [str(m) for c in contracts() for m in c.get("source_modules", [])]  # type: ignore[attr-defined]
    loose = [
        name
        for path in sorted((REPO / "app").rglob("*.py"))
        if (name := module_name(path)) not in COMPOSITION_ROOTS and not covered(name, sources)
    ]
    assert loose == [], f"place these modules in a contract of layers.toml: {loose}"


def test_the_rules_name_real_modules() -> None:
    for contract in contracts():
        for field in ("source_modules", "ancestors"):
            for module in contract.get(field, []):  # type: ignore[attr-defined]
                path = REPO / Path(*str(module).split("."))
                assert path.is_dir() or path.with_suffix(".py").is_file(), f"{contract['name']}: no module {module}"


def test_the_checker_sees_function_level_imports_and_circles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "toy"
    for sub in ("numerics", "web", "other"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "numerics" / "solver.py").write_text("def solve():\n    from toy.web import routes\n    return routes\n")
    (pkg / "web" / "routes.py").write_text("import toy.other.x\n")
    (pkg / "other" / "x.py").write_text("import toy.web.routes\n")
    config = tmp_path / "rules.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["toy"]

            [[tool.importlinter.contracts]]
            name = "numerics stay pure"
            type = "forbidden"
            source_modules = ["toy.numerics"]
            forbidden_modules = ["toy.web"]

            [[tool.importlinter.contracts]]
            name = "no circles"
            type = "acyclic_siblings"
            ancestors = ["toy"]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out = lint(config, capsys)
    assert code != 0
    assert "numerics stay pure BROKEN" in out and "toy.numerics.solver -> toy.web.routes" in out
    assert "no circles BROKEN" in out
    sys.modules.pop("toy", None)
