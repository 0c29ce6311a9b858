"""PostgreSQL works out of the box: psycopg is a default dependency, and a missing driver is a
one-line error naming the package, not a traceback."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.settings import get_settings
from store import db

REPO = Path(__file__).resolve().parents[1]


def test_psycopg_is_a_default_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("psycopg[binary]") for d in project["dependencies"])
    assert project["optional-dependencies"]["postgres"] == ["psycopg[binary]>=3.1"]  # the old extra still works


@pytest.fixture
def no_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import psycopg`` fail as in an environment without the driver."""
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith(("psycopg.", "psycopg_"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)


@pytest.mark.usefixtures("no_psycopg")
def test_a_missing_driver_names_the_package() -> None:
    with pytest.raises(db.MissingDriverError, match=r"pip install 'psycopg\[binary\]'"):
        db.make_engine("postgresql+psycopg://u@127.0.0.1:1/x")


@pytest.mark.usefixtures("no_psycopg")
def test_the_cli_says_it_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIXOPT_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/x")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["projects"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "psycopg[binary]" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, ModuleNotFoundError)
