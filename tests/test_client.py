"""The Python client: against the real app in-process (FastAPI's TestClient is an httpx.Client), retries and
error parsing against httpx.MockTransport, and the online helper against scripted and real (aioli) sessions."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import mixers.aioli  # noqa: F401  (registers the online mixer "aioli" for the real-session test)
from mixopt import (
    Client,
    Conflict,
    ConnectionFailed,
    Directive,
    MixoptError,
    NotFound,
    OnlineMixing,
    RateLimited,
    ServerError,
    Session,
    Unauthorized,
    ValidationFailed,
)
from store.repository import Store
from tests.conftest import PROJECT, make_client

SPEC: dict[str, Any] = PROJECT
DOMAINS: list[dict[str, Any]] = SPEC["domains"]


@pytest.fixture
def mx(sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.delenv("MIXOPT_TOKEN", raising=False)
    return Client(http=sqlite_client)


@pytest.fixture
def p1(mx: Client) -> str:
    mx.create_project("p1", DOMAINS, SPEC["objective"], target_fidelity=SPEC["target_fidelity"])
    return "p1"


def count_requests(http: httpx.Client) -> list[str]:
    seen: list[str] = []
    http.event_hooks = {"request": [lambda r: seen.append(f"{r.method} {r.url.path}")], "response": []}
    return seen


def run(ext: str | None, web: float, code: float, books: float, loss: float | None = 3.0, **extra: Any) -> dict:
    body: dict[str, Any] = {"weights": {"web": web, "code": code, "books": books}, **extra}
    if loss is not None:
        body["metrics"] = {"loss": loss}
    if ext is not None:
        body["external_id"] = ext
    return body


def some_runs(n: int, prefix: str = "r") -> list[dict]:
    out = []
    for i in range(n):
        web = 0.2 + 0.6 * i / max(n - 1, 1)
        out.append(
            run(f"{prefix}{i}", web, 1 - web - 0.05, 0.05, loss=3.0 + web, fidelity={"params": 1e6 * (1 + i % 2)})
        )
    return out


# -- against the real app -------------------------------------------------------------------------


def test_project_crud(mx: Client) -> None:
    created = mx.create_project(
        "p1", ["web", {"name": "code", "max_weight": 0.8}], "loss", target_fidelity={"tokens": 1e9}
    )
    assert created.domain_names == ["web", "code"]
    assert created.domains[1].max_weight == 0.8 and created.domains[0].max_weight is None
    assert created.objective["metric"] == "loss" and created.objective["direction"] == "minimize"
    assert created.target_fidelity == {"tokens": 1e9} and created.created_at is not None
    assert mx.get_project("p1") == created
    for name in ("p2", "p3"):
        mx.create_project(name, ["a", "b"], {"metrics": {"x": 1, "y": 2}, "direction": "maximize"})
    listed = mx.list_projects(page_size=1)  # three pages
    assert sorted(p.name for p in listed) == ["p1", "p2", "p3"]
    assert next(p for p in listed if p.name == "p2").objective["direction"] == "maximize"

    updated = mx.update_project("p1", description="hello", target_fidelity={"tokens": 5e9})
    assert updated.description == "hello" and updated.target_fidelity == {"tokens": 5e9}
    assert updated.domain_names == ["web", "code"]  # untouched fields stay

    with pytest.raises(Conflict) as dup:
        mx.create_project("p1", ["web"], "loss")
    assert dup.value.status == 409 and dup.value.code == "project_exists"

    mx.delete_project("p1")
    with pytest.raises(NotFound) as gone:
        mx.get_project("p1")
    assert gone.value.code == "project_not_found" and "404" in str(gone.value)
    with pytest.raises(NotFound):
        mx.delete_project("p1")
    mx.delete_project("p1", missing_ok=True)
    assert sorted(p.name for p in mx.list_projects()) == ["p2", "p3"]


def test_add_runs_chunks_and_list_runs_pages(mx: Client, p1: str, sqlite_client: TestClient) -> None:
    runs = some_runs(25)
    seen = count_requests(sqlite_client)
    stored = mx.add_runs(p1, runs, chunk_size=10)
    assert seen == ["POST /api/v1/projects/p1/runs"] * 3
    assert [r.external_id for r in stored] == [r["external_id"] for r in runs]
    assert len({r.id for r in stored}) == 25 and all(r.status == "completed" for r in stored)
    assert stored[3].weights == pytest.approx(runs[3]["weights"]) and stored[3].metrics == {
        "loss": runs[3]["metrics"]["loss"]
    }

    # Re-sending the same runs (as a retry would) is a no-op.
    again = mx.add_runs(p1, runs, chunk_size=25)
    assert [r.id for r in again] == [r.id for r in stored]

    seen.clear()
    listed = list(mx.list_runs(p1, page_size=10))
    assert seen == ["GET /api/v1/projects/p1/runs"] * 3
    assert sorted(r.id for r in listed) == sorted(r.id for r in stored)
    page = mx.runs_page(p1, max_results=10)
    assert len(page.runs) == 10 and page.next_page_token
    assert len(mx.runs_page(p1, max_results=10, page_token=page.next_page_token).runs) == 10

    small = list(mx.list_runs(p1, fidelity={"params": 1e6}))
    assert len(small) == 13 and all(r.fidelity == {"params": 1e6} for r in small)
    assert list(mx.list_runs(p1, status="pending")) == []

    lazy = mx.list_runs(p1, page_size=5)
    seen.clear()
    next(lazy)
    assert len(seen) == 1  # pages are fetched only as the iterator advances


def test_validation_errors_carry_code_and_loc(mx: Client, p1: str) -> None:
    bad = some_runs(4)
    bad[2] = run("x2", -0.1, 0.9, 0.2)
    with pytest.raises(ValidationFailed) as exc:
        mx.add_runs(p1, bad)
    err = exc.value
    assert err.status == 422 and err.code
    assert "runs[2].weights.web" in [e.loc for e in err.errors]
    assert err.problem["status"] == 422
    assert list(mx.list_runs(p1)) == []  # all or nothing

    # In a later chunk the locations are renumbered to the caller's list; earlier chunks stay written.
    bad = some_runs(6)
    bad[4] = run("x4", 0.5, 0.5, 0.0, loss=math.nan)
    with pytest.raises(ValidationFailed) as exc:
        mx.add_runs(p1, bad, chunk_size=3)
    assert "runs[4].metrics.loss" in [e.loc for e in exc.value.errors]
    assert "runs[4].metrics.loss" in str(exc.value)
    assert len(list(mx.list_runs(p1))) == 3

    with pytest.raises(ValidationFailed) as exc:
        mx.recommend(p1, "no-such-mixer")
    assert exc.value.code == "unknown_mixer"
    with pytest.raises(NotFound):
        mx.get_run(p1, 999_999)
    with pytest.raises(ValueError):
        mx.add_runs(p1, bad, chunk_size=0)


def test_heartbeat_and_result(mx: Client, p1: str) -> None:
    pending = mx.add_run(p1, run("job-1", 0.5, 0.3, 0.2, loss=None))
    assert pending.status == "pending" and pending.lease_expires_at is not None
    beat = mx.heartbeat(p1, pending.id)
    assert beat.status == "running" and beat.lease_expires_at is not None
    assert beat.lease_expires_at >= pending.lease_expires_at

    done = mx.post_result(p1, pending.id, {"loss": np.float64(2.5)}, trajectory=[{"step": 10, "loss": 3.0}])
    assert done.status == "completed" and done.metrics == {"loss": 2.5}
    assert mx.post_result(p1, pending.id, {"loss": 2.5}, trajectory=[{"step": 10, "loss": 3.0}]).id == done.id
    with pytest.raises(Conflict):
        mx.post_result(p1, pending.id, {"loss": 9.0})
    assert mx.get_run(p1, pending.id).metrics == {"loss": 2.5}

    failed = mx.add_run(p1, run("job-2", 0.4, 0.4, 0.2, loss=None))
    assert mx.post_result(p1, failed.id, {"loss": 7.0}, status="failed").status == "failed"

    costed = mx.add_run(p1, run("job-3", 0.3, 0.4, 0.3, loss=None))
    assert mx.post_result(p1, costed.id, {"loss": 3.0}, cost=np.float64(1.5e15)).cost == 1.5e15


def test_embeddings_export_and_service_info(mx: Client, p1: str) -> None:
    rng = np.random.default_rng(0)
    stored = mx.put_embeddings(p1, "web", rng.normal(size=(4, 3)).astype(np.float32))
    assert stored.name == "web" and stored.shape == (4, 3) and len(stored.sha256) == 64
    mx.put_embeddings(p1, "target", rng.normal(size=(2, 3)))
    assert sorted(e.name for e in mx.list_embeddings(p1)) == ["target", "web"]
    with pytest.raises(ValidationFailed) as exc:
        mx.put_embeddings(p1, "nope", np.ones((2, 3)))
    assert exc.value.code == "unknown_set"

    mx.add_runs(p1, some_runs(3))
    csv = mx.export(p1, "csv").strip().splitlines()
    assert len(csv) == 4 and "web" in csv[0]
    settings, *lines = [json.loads(x) for x in mx.export(p1, "jsonl").strip().splitlines()]
    assert settings["project"]["name"] == p1
    assert sorted(x["external_id"] for x in lines) == ["r0", "r1", "r2"]

    assert mx.health()["status"] == "ok"
    assert "mixopt" in mx.version()
    info = {m.name: m for m in mx.mixers()}
    assert info["aioli"].kind == "online" and info["aioli"].config_schema["type"] == "object"


def test_auth_token_required(sqlite_store: Store, tmp_path: Path) -> None:
    with make_client(sqlite_store, tmp_path, auth=True) as http:
        with pytest.raises(Unauthorized) as exc:
            Client(http=http, token="").list_projects()
        assert exc.value.status == 401
        with pytest.raises(Unauthorized):
            Client(http=http, token="not-a-real-token").list_projects()


# -- retries and error parsing against a mock server ----------------------------------------------


class Script:
    """A mock server answering from a list of responses (or exceptions), recording the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"type": f"https://mixopt.dev/problems/{code}", "title": "x", "status": status, "detail": "d", "code": code}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json", **headers})


def mock_client(script: Script, retries: int = 3, **kwargs: Any) -> tuple[Client, list[float]]:
    client = Client("http://mixopt.test", transport=httpx.MockTransport(script), retries=retries, **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


PROJECT_JSON = {
    "id": 1,
    "name": "p1",
    "description": "",
    "domains": [{"name": "web"}, {"name": "code"}],
    "objective": {"metric": "loss", "direction": "minimize"},
    "target_fidelity": None,
    "allow_missing_domains": False,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": None,
}


def run_json(i: int, status: str = "pending") -> dict:
    return {
        "id": i,
        "external_id": None,
        "weights": {"web": 0.5, "code": 0.5},
        "weights_sum": 1.0,
        "fidelity": {},
        "cost": None,
        "status": status,
        "metrics": {},
        "tags": {},
        "proposal_id": 7,
        "lease_expires_at": None,
        "created_at": None,
        "updated_at": None,
    }


def test_get_retries_503_with_growing_backoff_then_succeeds() -> None:
    script = Script(problem(503, "unavailable"), problem(503, "unavailable"), httpx.Response(200, json=PROJECT_JSON))
    client, sleeps = mock_client(script, backoff=0.5)
    assert client.get_project("p1").name == "p1"
    assert len(script.requests) == 3 and len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_retries_exhausted_raise_the_last_problem() -> None:
    script = Script(problem(502, "bad_gateway"))
    client, sleeps = mock_client(script, retries=2)
    with pytest.raises(ServerError) as exc:
        client.get_project("p1")
    assert exc.value.status == 502 and exc.value.code == "bad_gateway"
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_429_honours_retry_after() -> None:
    script = Script(problem(429, "rate_limited", **{"Retry-After": "7"}), httpx.Response(200, json={"status": "ok"}))
    client, sleeps = mock_client(script)
    assert client.health() == {"status": "ok"}
    assert sleeps == [7.0]

    script = Script(problem(429, "rate_limited", **{"Retry-After": "1"}))
    client, sleeps = mock_client(script, retries=1)
    with pytest.raises(RateLimited):
        client.health()
    assert sleeps == [1.0]


def test_post_proposal_is_not_retried_on_503_or_lost_response() -> None:
    script = Script(problem(503, "unavailable"), httpx.Response(201, json={"id": 1, "mixer": "m", "runs": []}))
    client, sleeps = mock_client(script)
    with pytest.raises(ServerError) as exc:
        client.propose("p1", "regmix", 4)
    assert exc.value.status == 503 and len(script.requests) == 1 and sleeps == []

    script = Script(httpx.ReadError("connection reset"))
    client, _ = mock_client(script)
    with pytest.raises(ConnectionFailed) as lost:
        client.propose("p1", "regmix", 4)
    assert lost.value.status == 0 and isinstance(lost.value.__cause__, httpx.ReadError)
    assert len(script.requests) == 1


def test_proposal_and_evaluation_carry_diagnostics_and_errors() -> None:
    diag = {"method": "active", "runs": [{"run_id": 1, "disagreement": 0.2, "plausibility": 0.9}]}
    body = {"id": 3, "mixer": "regmix", "config": {}, "seed": 1, "runs": [run_json(1)], "diagnostics": diag}
    evals = {"results": [
        {"mixer": "ot", "config": {}, "spearman": None, "mae": None, "regret": None, "n_runs": 3, "predicted": [],
         "actual": [1, 2, 3], "run_ids": [4, 5, 6], "error": {"code": "mixer_cannot_answer", "detail": "no emb"}},
        {"mixer": "regmix", "config": {}, "spearman": 0.5, "mae": 0.1, "regret": 0.0, "n_runs": 3,
         "predicted": [1.0, None, 2.0], "actual": [1, 2, 3], "run_ids": [4, 5, 6], "error": None},
    ]}
    script = Script(httpx.Response(201, json=body), httpx.Response(200, json=evals))
    client, _ = mock_client(script)
    proposal = client.propose("p1", "regmix", 1, seed=1)
    assert proposal.diagnostics == diag
    ot, reg = client.evaluate("p1", ["ot", "regmix"])
    assert ot.error == {"code": "mixer_cannot_answer", "detail": "no emb"} and ot.spearman is None
    assert reg.error is None and reg.predicted[0] == 1.0 and math.isnan(reg.predicted[1])


def test_unsent_request_is_retried_even_for_post() -> None:
    body = {"id": 3, "mixer": "regmix", "config": {}, "seed": 1, "runs": [run_json(1), run_json(2)]}
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json=body))
    client, sleeps = mock_client(script)
    proposal = client.propose("p1", "regmix", 2, seed=1)
    assert len(script.requests) == 2 and len(sleeps) == 1
    assert proposal.id == 3 and [r.id for r in proposal.runs] == [1, 2] and proposal.runs[0].proposal_id == 7


def test_idempotent_posts_are_retried() -> None:
    script = Script(httpx.ReadTimeout("slow"), problem(504, "gateway_timeout"), httpx.Response(200, json=run_json(5)))
    client, _ = mock_client(script)
    assert client.post_result("p1", 5, {"loss": 1.0}).id == 5
    assert len(script.requests) == 3

    directive = {"directive": {"weights": {"web": 1.0}, "until_step": 10, "done": False}}
    script = Script(problem(503, "unavailable"), httpx.Response(200, json=directive))
    client, _ = mock_client(script)
    assert client.report(1, 0, {"web": 3.0}) == Directive({"web": 1.0}, 10, False)
    assert len(script.requests) == 2

    # Ingest is retried only when every run has an external id (else a resend could duplicate runs).
    ok = httpx.Response(201, json={"runs": [run_json(1)], "next_page_token": None})
    script = Script(problem(503, "unavailable"), ok)
    client, _ = mock_client(script)
    assert [r.id for r in client.add_runs("p1", [run("a", 0.5, 0.5, 0.0)])] == [1]
    assert len(script.requests) == 2
    script = Script(problem(503, "unavailable"), ok)
    client, _ = mock_client(script)
    with pytest.raises(ServerError):
        client.add_runs("p1", [run(None, 0.5, 0.5, 0.0)])
    assert len(script.requests) == 1


def test_fit_timeout_is_not_retried_and_plain_errors_parse() -> None:
    script = Script(problem(504, "fit_timeout"))
    client, _ = mock_client(script)
    with pytest.raises(ServerError) as exc:
        client.recommend("p1", "regmix")
    assert exc.value.code == "fit_timeout" and len(script.requests) == 1

    script = Script(httpx.Response(400, text="<html>bad proxy</html>"))
    client, _ = mock_client(script)
    with pytest.raises(MixoptError) as plain:
        client.get_project("p1")
    assert type(plain.value) is MixoptError
    assert plain.value.status == 400 and plain.value.code == "http_error" and "bad proxy" in plain.value.detail


def test_requests_carry_token_and_json_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = {
        "weights": {"web": 0.7, "code": 0.3},
        "predicted": 2.9,
        "std": None,
        "mixer": "m",
        "config": {},
        "diagnostics": {"runs": 12},
    }
    preds = {"predictions": [{"mean": 3.0, "std": 0.1}, {"mean": 2.0, "std": None}]}
    evals = {
        "results": [
            {
                "mixer": "m",
                "config": {"a": 1},
                "spearman": 0.9,
                "mae": 0.1,
                "regret": 0.0,
                "n_runs": 3,
                "predicted": [1, 2, 3],
                "actual": [1, 2, 4],
                "run_ids": [4, 5, 6],
            }
        ]
    }
    script = Script(httpx.Response(200, json=rec), httpx.Response(200, json=preds), httpx.Response(200, json=evals))
    client, _ = mock_client(script, token="s3cret")
    r = client.recommend("p1", "m", config={"k": np.int64(3)}, fidelity={"params": 1e6})
    assert r.weights == {"web": 0.7, "code": 0.3} and r.predicted == 2.9 and r.std is None
    numpy_mixture: dict[str, Any] = {"web": np.float32(0.5), "code": 0.5}  # numpy scalars are sent as numbers
    p = client.predict("p1", "m", [numpy_mixture, {"web": 1.0, "code": 0.0}])
    assert [x.mean for x in p] == [3.0, 2.0] and p[0].std == 0.1
    e = client.evaluate("p1", ["m", {"mixer": "m2", "config": {"a": 1}}], folds=3)
    assert e[0].spearman == 0.9 and e[0].run_ids == [4, 5, 6]

    bodies = [json.loads(req.content) for req in script.requests]
    assert bodies[0] == {"mixer": "m", "config": {"k": 3}, "fidelity": {"params": 1e6}}
    assert bodies[1]["mixtures"] == [{"web": 0.5, "code": 0.5}, {"web": 1.0, "code": 0.0}]
    assert bodies[2] == {"mixers": [{"mixer": "m"}, {"mixer": "m2", "config": {"a": 1}}], "folds": 3}
    assert [req.url.path for req in script.requests] == [
        "/api/v1/projects/p1/recommendations",
        "/api/v1/projects/p1/predictions",
        "/api/v1/projects/p1/evaluations",
    ]
    assert all(req.headers["authorization"] == "Bearer s3cret" for req in script.requests)

    monkeypatch.setenv("MIXOPT_TOKEN", "from-env")
    script = Script(httpx.Response(200, json={"status": "ok"}))
    client, _ = mock_client(script)
    client.health()
    assert script.requests[0].headers["authorization"] == "Bearer from-env"


# -- the online helper ----------------------------------------------------------------------------


class FakeSessions:
    """Stands in for Client's session calls, handing out scripted directives and checking report steps."""

    def __init__(self, directives: list[Directive]) -> None:
        self.directives = directives
        self.reports: list[tuple[int, dict[str, float]]] = []

    def _session(self, directive: Directive) -> Session:
        return Session(1, "p", "aioli", {}, "done" if directive.done else "active", 0, 10, directive.weights, directive)

    def start_session(self, project: str, mixer: str, *args: Any) -> Session:
        return self._session(self.directives[0])

    def report(self, session_id: int, step: int, losses: Mapping[str, float]) -> Directive:
        expected = self.directives[len(self.reports)].until_step
        assert step == expected, f"report at {step}, expected {expected}"
        self.reports.append((step, dict(losses)))
        return self.directives[len(self.reports)]

    def get_session(self, session_id: int) -> Session:
        return self._session(self.directives[len(self.reports)])


SCRIPT = [
    Directive({"a": 0.5, "b": 0.5}, 0),
    Directive({"a": 0.9, "b": 0.1}, 3),
    Directive({"a": 0.2, "b": 0.8}, 7),
    Directive({"a": 0.3, "b": 0.7}, 10),
    Directive({"a": 0.6, "b": 0.4}, 10, done=True),
]


def test_online_step_follows_scripted_directives() -> None:
    fake = FakeSessions(SCRIPT)
    helper = OnlineMixing.start(fake, "p", "aioli", total_steps=10)
    evaluated: list[int] = []
    trained: list[dict[str, float]] = []

    def losses_at(step: int) -> Callable[[], dict[str, Any]]:
        def fn() -> dict[str, Any]:
            evaluated.append(step)
            return {"a": np.float32(1.0 + step), "b": 2.0}

        return fn

    for step in range(10):
        trained.append(helper.step(step, losses_at(step)))
        assert not helper.done
    assert helper.step(10, losses_at(10)) == SCRIPT[4].weights
    assert helper.done and not helper.should_report(11)
    assert evaluated == [0, 3, 7, 10] and [s for s, _ in fake.reports] == [0, 3, 7, 10]
    assert fake.reports[1][1] == {"a": 4.0, "b": 2.0} and all(type(v) is float for v in fake.reports[1][1].values())
    assert trained[:3] == [SCRIPT[1].weights] * 3 and trained[3:7] == [SCRIPT[2].weights] * 4
    assert trained[7:] == [SCRIPT[3].weights] * 3
    with pytest.raises(ValueError, match="done"):
        helper.report(10, {"a": 1.0, "b": 1.0})


def test_online_manual_reporting_and_resume() -> None:
    fake = FakeSessions(SCRIPT)
    helper = OnlineMixing.start(fake, "p")
    assert helper.should_report(0) and helper.weights == SCRIPT[0].weights
    helper.report(0, {"a": 1.0, "b": 1.0})
    assert [helper.should_report(s) for s in (1, 2, 3, 4)] == [False, False, True, True]
    with pytest.raises(ValueError, match="expects a report at step 3"):
        helper.report(4, {"a": 1.0, "b": 1.0})  # a skipped step fails loudly, nothing is sent
    assert len(fake.reports) == 1
    helper.weights["a"] = 0.0  # a copy: the helper's directive is unchanged
    assert helper.weights == SCRIPT[1].weights

    resumed = OnlineMixing.resume(fake, helper.session_id)
    assert resumed.until_step == 3 and resumed.weights == SCRIPT[1].weights
    assert resumed.step(3, lambda: {"a": 0.5, "b": 0.5}) == SCRIPT[2].weights


def simulated_losses(exposure: np.ndarray) -> dict[str, float]:
    """Per-domain loss falls with the steps spent on that domain, and a little with all steps."""
    total = exposure.sum()
    return {
        d["name"]: float(3.0 - 0.4 * np.log1p(e) - 0.1 * np.log1p(total))
        for d, e in zip(DOMAINS, exposure, strict=True)
    }


def test_online_real_aioli_session(mx: Client, p1: str) -> None:
    total = 60
    helper = mx.online(
        p1, "aioli", config={"lp_rounds": 1, "lp_steps": 2, "round_steps": 20}, total_steps=total, seed=0
    )
    assert helper.until_step == 0 and not helper.done
    names = [d["name"] for d in DOMAINS]
    exposure = np.zeros(len(names))
    reported: list[int] = []

    def make_eval(step: int) -> Callable[[], dict[str, float]]:
        def fn() -> dict[str, float]:
            reported.append(step)
            return simulated_losses(exposure)

        return fn

    mixtures = []
    for step in range(total):
        w = helper.step(step, make_eval(step))
        mixtures.append([w[n] for n in names])
        exposure += np.array(mixtures[-1])
    helper.step(total, make_eval(total))
    assert helper.done and reported[0] == 0 and reported[-1] == total
    assert reported == sorted(set(reported)) and len(reported) > 3

    arr = np.array(mixtures)
    assert np.allclose(arr.sum(axis=1), 1.0) and (arr >= -1e-12).all()
    assert (arr[:, 1] <= 0.8 + 1e-9).all() and (arr[:, 2] <= 0.2 + 1e-9).all()  # code max_weight, books epoch cap
    assert len({tuple(np.round(m, 6)) for m in mixtures}) > 1  # sweeps and updates change the mixture

    session = mx.get_session(helper.session_id)
    assert session.done and session.step == total and session.total_steps == total
    assert [e.step for e in session.history if e.losses is not None] == reported
    assert [s.id for s in mx.list_sessions(p1)] == [helper.session_id]

    # A report replayed at an applied step returns the stored directive (so retries are safe)...
    last = session.history[-1]
    assert last.losses is not None
    assert mx.report(helper.session_id, last.step, last.losses) == helper.directive
    # ...while other losses at that step, or a step the session did not ask for, are rejected with a problem.
    with pytest.raises(Conflict):
        mx.report(helper.session_id, last.step, {n: 1.0 for n in names})

    other = mx.start_session(p1, "aioli", config={"lp_rounds": 1, "lp_steps": 2, "round_steps": 20}, total_steps=10)
    assert other.directive.until_step == 0 and other.status == "active"
    with pytest.raises(ValidationFailed) as exc:
        mx.report(other.id, 5, {n: 1.0 for n in names})
    assert exc.value.code == "unexpected_step" and [e.loc for e in exc.value.errors] == ["step"]


def test_online_starts_from_an_offline_recommendation(mx: Client, p1: str) -> None:
    config = {"lp_rounds": 1, "lp_steps": 2, "round_steps": 20}
    with pytest.raises(ValidationFailed) as exc:  # no runs yet: regmix cannot recommend
        mx.online(p1, "aioli", config=config, total_steps=60, from_recommendation={"mixer": "regmix"})
    assert [e.loc for e in exc.value.errors] == ["from_recommendation"] and mx.list_sessions(p1) == []
    rng = np.random.default_rng(1)
    runs = []
    for i, w in enumerate(rng.dirichlet(np.ones(3), size=12)):
        runs.append(run(f"r{i}", w[0], w[1], w[2], loss=3.0 - w[0] + 0.5 * w[2]))
    mx.add_runs(p1, runs)
    regmix: dict[str, Any] = {"model": "linear", "n_candidates": 2000}
    choice = {"mixer": "regmix", "config": regmix}
    rec = mx.recommend(p1, "regmix", regmix)
    helper = mx.online(p1, "aioli", config=config, total_steps=60, from_recommendation=choice)
    assert helper.start_source == "recommendation" and helper.session_start is not None
    assert helper.session_start.recommendation is not None
    assert helper.session_start.recommendation["mixer"] == "regmix"
    assert helper.weights == pytest.approx(rec.weights) and helper.session_start.weights == helper.weights
    assert OnlineMixing.resume(mx, helper.session_id).start_source == "recommendation"
    plain = mx.start_session(p1, "aioli", config=config, total_steps=60, initial_weights=rec.weights)
    assert plain.start is not None and plain.start.source == "initial_weights"
    with pytest.raises(ValidationFailed) as both:
        mx.start_session(
            p1, "aioli", config=config, total_steps=60, initial_weights=rec.weights, from_recommendation=choice
        )
    assert both.value.code == "conflicting_start"


def test_client_context_manager_closes_owned_pool() -> None:
    script = Script(httpx.Response(200, json={"status": "ok"}))
    with Client("http://mixopt.test", transport=httpx.MockTransport(script)) as client:
        assert client.health() == {"status": "ok"}
    with pytest.raises(RuntimeError):
        client.health()


def test_importance_names_the_driving_domain_and_its_partial_dependence(mx: Client, p1: str) -> None:
    rng = np.random.default_rng(4)
    mx.add_runs(p1, [run(f"r{i}", w[0], w[1], w[2], loss=3.0 - w[0]) for i, w in
                     enumerate(rng.dirichlet(np.ones(3), size=24))])
    imp = mx.importance(p1, "regmix", {"model": "lightgbm", "n_estimators": 100}, domain="books")
    assert imp.method == "lightgbm_shap" and imp.method_detail
    assert next(iter(imp.importance)) == "web" and sum(imp.importance.values()) == pytest.approx(1.0)
    assert imp.partial_dependence is not None and imp.partial_dependence.domain == "books"
    assert len(imp.partial_dependence.grid) == len(imp.partial_dependence.mean) == len(imp.partial_dependence.std)
    assert imp.transfer in ("observed", "assumed", "extrapolated") and imp.predicted_fidelity
    with pytest.raises(ValidationFailed) as exc:
        mx.importance(p1, "regmix", domain="nope")
    assert [e.loc for e in exc.value.errors] == ["domain"]
