"""Every numeric field of every registered mixer's config is bounded and finite.

Before: ``ridge_alpha: Infinity``, ``top_k: 2**64``, ``proposal_strength_max: Infinity`` and aioli's
``round_steps``/``prior_steps``/``total_steps: 2**64`` were 500s, and ``kl_to_prior: Infinity`` was accepted and
echoed as null. The walk below posts Infinity and huge integers to each field of each mixer's published schema.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mixers import available

HUGE = [2**64, -(2**64), 2**63, 10**30]
INFINITE = ["Infinity", "-Infinity", "NaN"]  # sent as raw JSON tokens (Python's json reads them)


def _numeric_fields(schema: dict[str, Any]) -> dict[str, set[str]]:
    """field -> the JSON types it accepts among integer/number (through anyOf, e.g. ``int | None``)."""
    out: dict[str, set[str]] = {}
    for name, prop in schema.get("properties", {}).items():
        types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
        numeric = types & {"integer", "number"}
        if numeric:
            out[name] = numeric
    return out


def _bounded(prop: dict[str, Any]) -> bool:
    """Both ends bounded, directly or in the numeric member of an anyOf."""
    for p in [prop, *prop.get("anyOf", [])]:
        if "enum" in p or "const" in p:
            return True
        if p.get("type") in ("integer", "number"):
            low = "minimum" in p or "exclusiveMinimum" in p
            high = "maximum" in p or "exclusiveMaximum" in p
            return low and high
    return False


def _cases() -> list[tuple[str, str]]:
    return [
        (name, field)
        for name, cls in sorted(available().items())
        for field in sorted(_numeric_fields(cls.Config.model_json_schema()))
    ]


def test_the_walk_covers_every_mixer() -> None:
    assert {name for name, _ in _cases()} >= {"regmix", "mixing_law", "aioli", "ot", "mfbo"}


@pytest.mark.parametrize(("mixer", "field"), _cases())
def test_every_numeric_config_field_is_bounded_in_the_schema(mixer: str, field: str) -> None:
    prop = available()[mixer].Config.model_json_schema()["properties"][field]
    assert _bounded(prop), (mixer, field, prop)


@pytest.mark.parametrize(("mixer", "field"), _cases())
def test_infinite_and_huge_config_values_are_a_422(
    client: TestClient, project: dict[str, Any], mixer: str, field: str
) -> None:
    cls = available()[mixer]
    if cls.kind == "online":
        path, extra = "/api/v1/projects/p1/sessions", '"total_steps": 1000'
    else:
        path, extra = "/api/v1/projects/p1/proposals", '"n": 1'
    for value in [*INFINITE, *map(str, HUGE)]:
        raw = f'{{"mixer": "{mixer}", {extra}, "config": {{"{field}": {value}}}}}'
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (mixer, field, value, r.status_code, r.text)
        locs = [e["loc"] for e in r.json()["errors"]]
        assert any(loc.startswith(f"config.{field}") for loc in locs), (mixer, field, value, locs)
    listed = client.get("/api/v1/projects/p1/runs").json()["runs"]
    assert listed == []  # nothing proposed
    if cls.kind == "online":
        assert client.get("/api/v1/projects/p1/sessions").json()["sessions"] == []


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("proposals", {"mixer": "regmix", "n": 2**64}, "n"),
        ("proposals", {"mixer": "regmix", "seed": 2**64}, "seed"),
        ("sessions", {"mixer": "aioli", "total_steps": 2**64}, "total_steps"),
        ("evaluations", {"mixers": [{"mixer": "regmix"}], "folds": 2**64}, "folds"),
        ("recommendations", {"mixer": "regmix", "fidelity": {"tokens": "Infinity"}}, "fidelity.tokens"),
    ],
)
def test_request_numbers_are_bounded(
    client: TestClient, project: dict[str, Any], path: str, body: dict[str, Any], loc: str
) -> None:
    raw = json.dumps(body).replace('"Infinity"', "Infinity")
    r = client.post(f"/api/v1/projects/p1/{path}", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert any(e["loc"].startswith(loc) for e in r.json()["errors"]), r.text


def test_the_bounds_are_published(client: TestClient) -> None:
    schemas = {m["name"]: m["config_schema"] for m in client.get("/api/v1/mixers").json()}
    assert schemas["regmix"]["properties"]["top_k"]["maximum"] >= 128
    aioli = schemas["aioli"]["properties"]
    assert "maximum" in aioli["round_steps"] and "maximum" in aioli["prior_steps"]


@pytest.mark.parametrize(
    ("mixer", "config", "loc"),
    [
        ("mfbo", {"cost_exponents": {"tokens": 1e300}}, "config.cost_exponents.tokens"),  # was a 500 (overflow)
        ("mfbo", {"cost_exponents": {"tokens": "Infinity"}}, "config.cost_exponents.tokens"),
        ("regmix", {"train_fidelity": {"tokens": "Infinity"}}, "config.train_fidelity.tokens"),
    ],
)
def test_numbers_inside_config_maps_are_bounded(
    client: TestClient, project: dict[str, Any], mixer: str, config: dict[str, Any], loc: str
) -> None:
    raw = json.dumps({"mixer": mixer, "config": config, "n": 1}).replace('"Infinity"', "Infinity")
    r = client.post("/api/v1/projects/p1/proposals", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert any(e["loc"].startswith(loc) for e in r.json()["errors"]), r.text
