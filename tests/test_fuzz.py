"""Schemathesis against the app's own OpenAPI schema: no 5xx, and every 4xx is problem JSON.

Bounded for CI: a few examples per operation, on a SQLite store with one project and some runs, so that paths
with ``{name}`` reach real code.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.main import create_app
from app.settings import Settings
from store import db
from store.repository import Store

warnings.filterwarnings("ignore", category=DeprecationWarning)

_tmp = Path(tempfile.mkdtemp(prefix="mixopt-fuzz-"))
_url = f"sqlite:///{_tmp / 'mixopt.db'}"
db.upgrade(_url)
_store = Store(db.make_engine(_url))
_store.create_project(
    {
        "name": "p1",
        "description": "",
        "domains": [{"name": "a"}, {"name": "b"}],
        "objective": {"metrics": {"loss": 1.0}, "direction": "minimize"},
        "target_fidelity": None,
        "allow_missing_domains": False,
    }
)
app = create_app(Settings(data_dir=_tmp, fit_timeout_seconds=20), store=_store, auth=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schemathesis.check
def problem_json_for_4xx(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if 400 <= response.status_code < 500:
        assert response.headers.get("content-type", [""])[0].startswith("application/problem+json"), (
            f"{case.method} {case.path} -> {response.status_code} without problem JSON"
        )
        body = response.json()
        assert {"type", "title", "status", "detail", "code"} <= set(body)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_generated_input(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[schemathesis.checks.not_a_server_error, problem_json_for_4xx])
