"""Schemathesis against the app's own OpenAPI schema: every built-in check (no 5xx, documented status codes,
content types and response schemas, negative data rejected, 405 with ``Allow``...), and every 4xx is problem JSON.

Bounded for CI: a few examples per operation, on a SQLite store with one project and some runs, so that paths
with ``{name}`` reach real code. ``MIXOPT_FUZZ_EXAMPLES=500`` (opt-in, e.g. before a release) runs that many
examples per operation instead.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from app.main import create_app
from app.settings import Settings
from store import db
from store.records import NewProject
from store.repository import Store

warnings.filterwarnings("ignore", category=DeprecationWarning)

CI_EXAMPLES = 6
EXAMPLES = int(os.environ.get("MIXOPT_FUZZ_EXAMPLES") or CI_EXAMPLES)
if EXAMPLES < 1:
    raise ValueError(f"MIXOPT_FUZZ_EXAMPLES must be a positive number of examples per operation, not {EXAMPLES}")

_tmp = Path(tempfile.mkdtemp(prefix="mixopt-fuzz-"))
_url = f"sqlite:///{_tmp / 'mixopt.db'}"
db.upgrade(_url)
_store = Store(db.make_engine(_url))
_store.create_project(
    NewProject(
        name="p1",
        domains=[{"name": "a"}, {"name": "b"}],
        objective={"metrics": {"loss": 1.0}, "direction": "minimize"},
    )
)
app = create_app(Settings(data_dir=_tmp, fit_timeout_seconds=20), store=_store, auth=False)
# Every built-in check runs. positive_data_acceptance also accepts 409 and 422 for schema-valid input: rules that
# JSON Schema cannot state (weights sum to 1 over the project's domains, a registered mixer of the right kind, a
# page token this server issued, a fidelity filter's syntax) answer 422 problems naming the field, and a replayed
# external_id with other content is a 409. 400, 413 and 5xx on schema-valid input still fail it.
CONFIG = SchemathesisConfig.from_str(
    """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


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
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_generated_input(case: schemathesis.Case) -> None:
    # checks=None: schemathesis's whole default set, plus ours
    case.call_and_validate(additional_checks=[problem_json_for_4xx])
