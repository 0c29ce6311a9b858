"""A fit that times out is cancelled and frees its worker; one project cannot take every worker; the configured
timeout is the whole request's. Test-only mixers, registered here and removed afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mixers import registry
from mixers.base import MixerConfig, OfflineMixer
from mixers.cancel import checkpoint
from mixers.types import FloatArray, Observation, PendingRun, Predictions, ProposedRun, Recommendation
from store.repository import Store
from tests.conftest import make_client

TIMEOUT = 1.0
SLACK = 0.6  # scheduling on a busy 2-core machine, the HTTP round trip


class SlowConfig(MixerConfig):
    fit_seconds: float = 30.0
    recommend_seconds: float = 0.0


class SlowMixer(OfflineMixer):
    """Busy-waits in small steps, counting them in ``ticks`` and calling ``checkpoint()`` between steps."""

    name = "slow_test"
    description = "test only: slow on purpose"
    Config: ClassVar[type[MixerConfig]] = SlowConfig
    config: SlowConfig
    ticks: ClassVar[int] = 0
    _lock = threading.Lock()

    @classmethod
    def _work(cls, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with cls._lock:
                SlowMixer.ticks += 1
            checkpoint()
            time.sleep(0.005)

    def fit(self, observations: Sequence[Observation]) -> SlowMixer:
        self._work(self.config.fit_seconds)
        return self

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        return Predictions(mean=np.zeros(len(mixtures)))

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        self._work(self.config.recommend_seconds)
        return Recommendation(weights=self.problem.prior(), predicted=1.0)

    def propose(self, n: int, fidelity: Mapping[str, float] | None = None, pending: Sequence[PendingRun] = (),
                candidates: FloatArray | None = None,
                fidelities: Sequence[Mapping[str, float]] | None = None) -> list[ProposedRun]:
        return []


class InstantMixer(SlowMixer):
    name = "instant_test"

    class Config(SlowConfig):
        fit_seconds: float = 0.0


@pytest.fixture
def limited(sqlite_store: Store, tmp_path: Path) -> Iterator[TestClient]:
    for cls in (SlowMixer, InstantMixer):
        registry.register(cls)
    try:
        with make_client(sqlite_store, tmp_path, fit_timeout_seconds=TIMEOUT, fits_per_project=2) as client:
            for name in ("busy", "other"):
                body = {"name": name, "domains": [{"name": "a"}, {"name": "b"}], "objective": {"metric": "loss"}}
                assert client.post("/api/v1/projects", json=body).status_code == 201
                runs = [{"weights": {"a": w, "b": 1 - w}, "metrics": {"loss": w}} for w in (0.1, 0.5, 0.9)]
                assert client.post(f"/api/v1/projects/{name}/runs", json={"runs": runs}).status_code == 201
            yield client
    finally:
        for cls in (SlowMixer, InstantMixer):
            registry._REGISTRY.pop(cls.name, None)


def _timed(client: TestClient, path: str, body: dict[str, Any]) -> tuple[Any, float]:
    start = time.monotonic()
    resp = client.post(path, json=body)
    return resp, time.monotonic() - start


def _ticks_stop() -> None:
    """The abandoned computations really stopped: the counter they bump does not move any more."""
    time.sleep(0.2)
    before = SlowMixer.ticks
    time.sleep(0.5)
    assert SlowMixer.ticks == before


def test_timed_out_fits_are_cancelled_and_free_their_workers(limited: TestClient) -> None:
    slow = {"mixer": "slow_test", "n": 4, "seed": 1}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: _timed(limited, "/api/v1/projects/busy/proposals", {**slow, "seed": i}),
                                range(4)))
    codes = sorted(resp.status_code for resp, _ in answers)
    assert codes == [429, 429, 504, 504], codes  # two slots per project: the rest are turned away at once
    for resp, seconds in answers:
        assert resp.headers["content-type"].startswith("application/problem+json")
        if resp.status_code == 504:
            assert resp.json()["code"] == "fit_timeout" and seconds < TIMEOUT + SLACK
        else:
            assert resp.json()["code"] == "too_many_fits" and int(resp.headers["Retry-After"]) > 0
    _ticks_stop()
    resp, seconds = _timed(limited, "/api/v1/projects/other/recommendations", {"mixer": "instant_test"})
    assert resp.status_code == 200, resp.text
    assert seconds < SLACK
    resp, _ = _timed(limited, "/api/v1/projects/busy/recommendations", {"mixer": "instant_test"})
    assert resp.status_code == 200, resp.text  # the busy project's slots are free again too


def test_the_timeout_covers_the_whole_request(limited: TestClient) -> None:
    """A fit and a recommendation that each fit in the limit but not together: 504 at the limit, not twice it."""
    body = {"mixer": "slow_test", "config": {"fit_seconds": 0.7, "recommend_seconds": 0.7}}
    resp, seconds = _timed(limited, "/api/v1/projects/busy/recommendations", body)
    assert resp.status_code == 504, resp.text
    assert seconds < TIMEOUT + SLACK
    _ticks_stop()


def test_an_evaluation_past_the_limit_is_cancelled(limited: TestClient) -> None:
    body = {"mixers": [{"mixer": "slow_test"}], "folds": 3}
    resp, seconds = _timed(limited, "/api/v1/projects/busy/evaluations", body)
    assert resp.status_code == 200, resp.text
    (slow,) = resp.json()["results"]
    assert slow["error"]["code"] == "fit_timeout"
    assert seconds < TIMEOUT + SLACK
    _ticks_stop()
