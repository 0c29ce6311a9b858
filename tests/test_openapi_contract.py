"""OpenAPI tells the truth: problem+json error answers per operation, the registered
mixers named, full ``Allow`` lists on 405, and /docs and /redoc served without any network."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mixers import available

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
def spec(sqlite_client: TestClient) -> dict[str, Any]:
    return dict(sqlite_client.get("/openapi.json").json())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items()]


def test_every_api_operation_documents_its_errors_as_problems(spec: dict[str, Any]) -> None:
    api = [(m, p, op) for m, p, op in _operations(spec) if p.startswith("/api/")]
    assert len(api) >= 20
    for method, path, op in api:
        errors = {int(s): r for s, r in op["responses"].items() if s.startswith(("4", "5"))}
        assert {401, 403, 422} <= set(errors), (method, path, sorted(errors))
        for status, response in errors.items():
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (method, path, status)
        if "{name}" in path:
            assert 404 in errors, (method, path)
        if "requestBody" in op:
            assert {400, 413} <= set(errors), (method, path)
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # no 422 is documented as FastAPI's shape


def test_conflicts_are_documented_where_they_happen(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    assert "409" in paths["/api/v1/projects"]["post"]["responses"]
    assert "409" in paths["/api/v1/projects/{name}/runs"]["post"]["responses"]
    assert "409" in paths["/api/v1/projects/{name}/runs/{run_id}/result"]["post"]["responses"]
    assert "409" in paths["/api/v1/sessions/{session_id}/reports"]["post"]["responses"]
    assert "409" in paths["/api/v1/projects/{name}/runs:import"]["post"]["responses"]


def test_the_file_import_takes_a_multipart_upload(spec: dict[str, Any]) -> None:
    op = spec["paths"]["/api/v1/projects/{name}/runs:import"]["post"]
    [(media, body)] = op["requestBody"]["content"].items()
    assert media == "multipart/form-data"
    fields = spec["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"file", "metrics", "token_shares", "key", "domain_prefix", "metric_prefix", "fidelity", "format",
            "create", "objective", "preview"} <= set(fields)
    assert "line" in spec["components"]["schemas"]["ProblemFieldError"]["properties"]


def test_mixer_is_documented_with_the_registered_names(spec: dict[str, Any]) -> None:
    mixer = spec["components"]["schemas"]["MixerChoice"]["properties"]["mixer"]
    assert mixer["examples"] == list(available())
    assert all(name in mixer["description"] for name in available())
    assert spec["components"]["schemas"]["RecommendationIn"]["properties"]["mixer"]["examples"] == list(available())


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/projects/p1", "GET, PATCH, DELETE"),
        ("DELETE", "/api/v1/projects", "GET, POST"),
        ("GET", "/api/v1/projects/p1/runs/1/result", "POST"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_405_lists_every_allowed_method(sqlite_client: TestClient, method: str, path: str, allow: str) -> None:
    r = sqlite_client.request(method, path)
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == allow


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_the_app(sqlite_client: TestClient, page: str) -> None:
    html = sqlite_client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
    urls += re.findall(r"""(?:url|openapi_url)\s*:\s*['"]([^'"]+)['"]""", html.text)
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        assert sqlite_client.get(url).status_code == 200, url
    assert "cdn." not in html.text and "https://" not in html.text.replace("https://mixopt.dev", "")


def test_importance_publishes_the_agreed_fields(spec: dict[str, Any]) -> None:
    op = spec["paths"]["/api/v1/projects/{name}/importance"]["post"]
    schemas = spec["components"]["schemas"]
    body = schemas[op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"mixer", "config", "fidelity", "seed", "domain"} <= set(body["properties"])
    out = schemas[op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"mixer", "config", "method", "method_detail", "importance", "partial_dependence",
            "predicted_fidelity", "transfer"} <= set(out["properties"])
    assert {"domain", "value"} <= set(schemas["DomainImportanceOut"]["properties"])
    assert {"domain", "grid", "mean", "std"} <= set(schemas["PartialDependenceOut"]["properties"])
    assert {400, 404, 413, 422, 429, 504} <= {int(s) for s in op["responses"] if s[0] in "45"}
