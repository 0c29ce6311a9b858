"""Online mixing end to end: the simulator trains a real run whose mixture a real ``mixopt serve`` process
steers through the Python client's online helper (issue: Aioli sessions)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.server import running_server
from bench.sim import Trainer, preset_world
from bench.sim.aioli import problem_of
from bench.sim.campaign import create_project
from mixers.aioli import AioliConfig, AioliMixer
from mixers.types import Report
from mixopt.client import Client

CONFIG = {"lp_rounds": 1, "lp_steps": 2, "round_steps": 16, "eta": 1.0}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    with running_server(tmp_path_factory.mktemp("aioli-e2e")) as base:
        yield base  # type: ignore[misc]


def test_simulated_training_run_follows_a_server_session(url: str) -> None:
    world = preset_world(3)
    trainer = Trainer(world, "small", seed=0)
    total = trainer.total_steps
    client = Client(url, timeout=60)
    create_project(client, "online", world)
    helper = client.online("online", "aioli", config=CONFIG, total_steps=total, seed=0)

    used: list[dict[str, float]] = []
    reported: list[tuple[int, dict[str, float]]] = []

    def evaluate() -> dict[str, float]:
        losses = trainer.evaluate()
        reported.append((trainer.step, losses))
        return losses

    first = trainer.evaluate()
    for step in range(total):
        assert trainer.step == step
        weights = helper.step(step, evaluate)
        used.append(weights)
        trainer.train(weights, 1)
    helper.step(total, evaluate)
    final = trainer.evaluate()

    # The run trained and the session ended with it.
    assert helper.done and trainer.step == total
    assert np.mean(list(final.values())) < np.mean(list(first.values())) - 0.5
    # Reports happened exactly at the directives' steps: the first before training, the last at the end,
    # and several per round (the sweeps), each once.
    steps = [s for s, _ in reported]
    assert steps[0] == 0 and steps[-1] == total and steps == sorted(set(steps))
    assert len(steps) > total // CONFIG["round_steps"] * 3
    # The sweeps trained on one-hot-like mixtures: every domain led the mixture at some step.
    leaders = {max(w, key=w.__getitem__) for w in used}
    assert leaders == set(world.names)

    # The server kept everything: every report, in order, with the directive each one produced.
    session = client.get_session(helper.session_id)
    assert session.done and session.step == total
    history = [e for e in session.history if e.losses is not None]
    assert [e.step for e in history] == steps
    for event, (_, losses) in zip(history, reported, strict=True):
        assert event.losses == pytest.approx(losses, rel=1e-12)
    assert session.directive.weights == pytest.approx(helper.weights)

    # The server ran the Aioli algorithm itself: the same reports through the mixer in this process give the
    # same directives (the weights the run trained at) and the same final mixture.
    mixer = AioliMixer(problem_of(world), AioliConfig(**CONFIG), seed=0)
    state, directive = mixer.start(total)
    replayed = []
    for step, losses in reported:
        assert directive.until_step == step
        replayed.append((directive.until_step, directive.weights))
        state, directive = mixer.observe(state, Report(step, np.array([losses[n] for n in world.names])))
    assert directive.done
    assert directive.weights == pytest.approx([helper.weights[n] for n in world.names], abs=1e-9)
    # the weights in force from one report to the next are those of the directive that asked for the next
    expected: list[dict[str, float]] = []
    for (prev, _), (until, w) in itertools.pairwise(replayed):
        expected += [world.weights_dict(w)] * (until - prev)
    assert len(expected) == total
    for got, want in zip(used, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-9)
