"""Online-mixing helper for a training loop (DESIGN.md sections 4.3 and 5, sessions).

A session hands out *directives* ``{weights, until_step, done}``: train at ``weights`` until ``until_step``
training steps are done, then evaluate every domain's validation loss and report it at that step; the answer
is the next directive. The first directive has ``until_step`` 0 (report before any training); ``done`` ends
the session with the final mixture. ``step`` below always counts the training steps completed so far::

    from mixopt.client import Client

    client = Client("http://127.0.0.1:8000")
    helper = client.online("my-project", mixer="aioli", config={"round_steps": 500}, total_steps=10_000)
    for step in range(10_000):
        weights = helper.step(step, evaluate_domains)   # calls evaluate_domains() only when a report is due
        train_one_step(sample_batch(weights))
    helper.step(10_000, evaluate_domains)                # the final report; the session is then done
    print(helper.done, helper.weights)

or, by hand::

    if helper.should_report(step):
        helper.report(step, evaluate_domains())
    weights = helper.weights

Call it every step: a report is only accepted at exactly ``until_step``. After a restart from a checkpoint,
``OnlineMixing.resume(client, session_id)`` picks the session up where the server has it. Reports are
idempotent by step, so the client retries them safely over a flaky network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mixopt.types import Directive, Session, SessionStart

__all__ = ["OnlineMixing", "SessionClient"]


class SessionClient(Protocol):
    """The part of :class:`mixopt.client.Client` the helper uses (a fake can stand in for tests)."""

    def start_session(
        self,
        project: str,
        mixer: str,
        config: Mapping[str, Any] | None = ...,
        total_steps: int | None = ...,
        initial_weights: Mapping[str, float] | None = ...,
        seed: int | None = ...,
        from_recommendation: Mapping[str, Any] | None = ...,
    ) -> Session: ...

    def report(self, session_id: int, step: int, losses: Mapping[str, float]) -> Directive: ...

    def get_session(self, session_id: int) -> Session: ...


class OnlineMixing:
    """Follows one session's directives from inside a training loop."""

    def __init__(
        self, client: SessionClient, session_id: int, directive: Directive, start: SessionStart | None = None
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.directive = directive
        self.session_start = start  # how the session started (None from a server that does not say)
        self.reports = 0  # reports sent by this helper

    @classmethod
    def start(
        cls,
        client: SessionClient,
        project: str,
        mixer: str = "aioli",
        config: Mapping[str, Any] | None = None,
        total_steps: int | None = None,
        initial_weights: Mapping[str, float] | None = None,
        seed: int | None = None,
        from_recommendation: Mapping[str, Any] | None = None,
    ) -> OnlineMixing:
        """Start a new session on the server and follow it.

        ``from_recommendation`` (``{"mixer": "regmix", "config": ...}``, not with ``initial_weights``) starts it
        from that offline mixer's recommendation on the project.
        """
        if from_recommendation is None:  # a client without the argument still serves a plain start
            session = client.start_session(project, mixer, config, total_steps, initial_weights, seed)
        else:
            session = client.start_session(
                project, mixer, config, total_steps, initial_weights, seed, from_recommendation
            )
        return cls(client, session.id, session.directive, session.start)

    @classmethod
    def resume(cls, client: SessionClient, session_id: int) -> OnlineMixing:
        """Follow an existing session from its current directive (e.g. after restarting from a checkpoint)."""
        session = client.get_session(session_id)
        return cls(client, session_id, session.directive, session.start)

    @property
    def start_source(self) -> str | None:
        """Which start the session used: ``uniform``, ``initial_weights`` or ``recommendation``."""
        return None if self.session_start is None else self.session_start.source

    @property
    def weights(self) -> dict[str, float]:
        """The mixture to train at now (domain name -> weight); the final mixture once :attr:`done`."""
        return dict(self.directive.weights)

    @property
    def until_step(self) -> int:
        """The step at which the next report is due."""
        return self.directive.until_step

    @property
    def done(self) -> bool:
        return self.directive.done

    def should_report(self, step: int) -> bool:
        """Whether losses must be reported before training past ``step`` (steps done so far).

        True from ``until_step`` on, so a loop that skipped the exact step fails loudly in :meth:`report`
        instead of training at stale weights forever.
        """
        return not self.done and step >= self.directive.until_step

    def report(self, step: int, losses: Mapping[str, Any]) -> dict[str, float]:
        """Send per-domain validation losses measured after ``step`` steps; returns the new weights.

        Raises ``ValueError`` when the session is done or ``step`` is not the due step (``until_step``).
        """
        if self.done:
            raise ValueError(f"session {self.session_id} is done; no more reports")
        if step != self.directive.until_step:
            raise ValueError(
                f"session {self.session_id} expects a report at step {self.directive.until_step}, not {step}; "
                "check should_report(step) every training step"
            )
        # float() accepts numpy scalars and 0-d torch tensors alike.
        clean = {str(k): float(v) for k, v in losses.items()}
        self.directive = self.client.report(self.session_id, step, clean)
        self.reports += 1
        return self.weights

    def step(self, step: int, eval_fn: Callable[[], Mapping[str, Any]]) -> dict[str, float]:
        """The weights to train step ``step`` at; calls ``eval_fn()`` (per-domain losses) only when a report is due."""
        if self.should_report(step):
            self.report(step, eval_fn())
        return self.weights

    def refresh(self) -> Directive:
        """Re-read the session's current directive from the server."""
        self.directive = self.client.get_session(self.session_id).directive
        return self.directive

    def __repr__(self) -> str:
        d = self.directive
        return f"OnlineMixing(session={self.session_id}, until_step={d.until_step}, done={d.done})"
