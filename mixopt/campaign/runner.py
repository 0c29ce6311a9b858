"""The campaign runner: rounds of proposals, each run trained by an executor, leases kept alive by heartbeats,
every result posted exactly once, a recommendation at the end. It talks to the server only through
:class:`mixopt.Client`.

A campaign is a name: every run it proposes carries the tag ``campaign`` (and ``round``, ``executor``; at each
launch ``attempt`` and ``log``, the attempt's folder). A runner started on a campaign that already has runs
picks up those still open (``pending``, ``running``, or ``abandoned`` without a result) before it proposes
anything, and counts the campaign's earlier proposals as rounds done: so Ctrl-C, a crash or a lost machine
leave it resumable with the same command.

Who trains what: a proposal's runs are new pending runs that no other proposal hands out, so runners on one
project never train the same run through their proposals. Runs of one campaign carry a ``holder`` tag (the
runner holding them, renewed with every heartbeat; empty once released on Ctrl-C). A runner that finds open
runs held by another holder waits two of that holder's heartbeat intervals and refuses (:class:`CampaignBusy`)
if their leases were renewed meanwhile: only a silent (dead) holder's runs are taken over. Before posting, a
runner reads the run: one that already has a result is left alone, and the server keeps the first result of a
run anyway (a second, different one is a 409).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mixopt.campaign.executor import Executor
from mixopt.campaign.local import LocalExecutor
from mixopt.campaign.spec import Outcome, RunSpec, Trainer, render_command
from mixopt.client import Client
from mixopt.errors import Conflict, MixoptError
from mixopt.types import Project, Recommendation, Run

OPEN = ("pending", "running")
RESUMABLE = (*OPEN, "abandoned")  # abandoned runs have no result yet: the server still takes one
FINISHED = ("completed", "failed")


class CampaignBusy(RuntimeError):
    """Another runner is alive on this campaign (its leases are being renewed)."""


@dataclass
class CampaignState:
    """What a progress display shows; ``best`` maps a fidelity's text to ``(objective, run id)``."""

    campaign: str
    rounds: int
    round: int = 0  # rounds started (proposed or resumed), 1-based once running
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    resumed: int = 0
    best: dict[str, tuple[float, int]] = field(default_factory=dict)
    message: str = ""


@dataclass
class CampaignResult:
    """What a runner did: outcomes of the runs it trained, by run id; results it posted and those it found
    already posted; the recommendation (or why there is none); whether Ctrl-C stopped it."""

    campaign: str
    project: str
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    posted: int = 0
    already_posted: int = 0
    rounds: int = 0
    recommendation: Recommendation | None = None
    recommendation_error: str | None = None
    interrupted: bool = False


@dataclass
class _Flight:
    run: Run
    spec: RunSpec
    handle: Any


def fidelity_text(fidelity: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(fidelity.items())) or "(none)"


def objective_value(objective: Mapping[str, Any], metrics: Mapping[str, float]) -> float | None:
    """The project's objective of a run's metrics (a metric or a weighted sum), None when a metric is missing."""
    if objective.get("metric"):
        value = metrics.get(str(objective["metric"]))
        return None if value is None else float(value)
    weights = objective.get("metrics") or {}
    if not weights or any(m not in metrics for m in weights):
        return None
    return float(sum(float(w) * metrics[m] for m, w in weights.items()))


class CampaignRunner:
    """Run a campaign on ``project``: ``rounds`` proposals of ``batch`` runs from ``mixer`` (its ``config``),
    at the fidelities the server picks (``fidelities`` given, else the project's ladder), each trained by
    ``trainer`` (a command template or a callable; see :mod:`mixopt.campaign.spec`) on ``executor`` (default:
    :class:`~mixopt.campaign.local.LocalExecutor`), at most ``parallel`` at once.

    ``seed`` makes the proposals reproducible: a round's proposal gets ``seed + runs the campaign proposed
    before it``. ``heartbeat_every`` seconds between heartbeats (well under the server's lease).
    ``on_progress(state)`` hears of every change. Attempts write under ``workdir/<campaign>/run-<id>/``.
    """

    def __init__(
        self,
        client: Client,
        project: str,
        trainer: Trainer,
        *,
        campaign: str | None = None,
        mixer: str = "regmix",
        config: Mapping[str, Any] | None = None,
        rounds: int = 3,
        batch: int = 8,
        parallel: int = 1,
        executor: Executor | None = None,
        fidelities: list[dict[str, float]] | None = None,
        seed: int | None = None,
        workdir: str | os.PathLike[str] = ".mixopt-campaigns",
        heartbeat_every: float = 30.0,
        poll_every: float = 0.05,
        recommend: bool = True,
        on_progress: Callable[[CampaignState], None] | None = None,
    ) -> None:
        if rounds < 0 or batch < 1 or parallel < 1:
            raise ValueError("rounds must be >= 0, batch and parallel >= 1")
        if heartbeat_every <= 0 or poll_every <= 0:
            raise ValueError("heartbeat_every and poll_every must be > 0")
        self.client, self.project, self.trainer = client, project, trainer
        self.campaign = campaign or mixer
        self.mixer, self.config = mixer, None if config is None else dict(config)
        self.rounds, self.batch, self.parallel = rounds, batch, parallel
        self._own_executor = executor is None
        self.executor: Executor = executor if executor is not None else LocalExecutor(parallel)
        self.fidelities, self.seed = fidelities, seed
        self.workdir = Path(workdir).resolve()
        self.heartbeat_every, self.poll_every = heartbeat_every, poll_every
        self.recommend, self.on_progress = recommend, on_progress
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.state = CampaignState(self.campaign, rounds)
        self._project_info: Project | None = None
        self._index: dict[int, int] = {}  # run id -> place in the campaign's sequence

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> CampaignResult:
        """Run the campaign to its end (or until Ctrl-C: then the in-flight attempts are stopped, the runs
        released for a later runner, and ``interrupted`` is set). Raises :class:`CampaignBusy`, or
        :class:`~mixopt.errors.MixoptError` when the server refuses (e.g. a bad mixer config)."""
        if isinstance(self.trainer, str):
            render_command(self.trainer, self._dummy_spec(), lenient=True)  # a bad template fails before anything
        self._project_info = self.client.get_project(self.project)
        result = CampaignResult(self.campaign, self.project)
        known = self._campaign_runs()
        self._check_not_busy(known)
        for r in known:
            self._note_completed(r)
        proposals = sorted({r.proposal_id for r in known if r.proposal_id is not None})
        queue = sorted((r for r in known if r.status in RESUMABLE), key=lambda r: r.id)
        self.state.round = len(proposals)
        self.state.resumed = len(queue)
        self.state.done = sum(r.status == "completed" for r in known)
        self.state.failed = sum(r.status == "failed" for r in known)
        flights: list[_Flight] = []
        last_beat = time.monotonic()
        self._tell(f"resuming {len(queue)} open run(s)" if queue else "starting")
        try:
            while True:
                if not queue and not flights:
                    if self.state.round >= self.rounds:
                        break
                    queue = self._propose()
                    continue
                while queue and len(flights) < self.parallel:
                    flight = self._launch(queue.pop(0))
                    if flight is not None:
                        flights.append(flight)
                for flight in list(flights):
                    outcome = self.executor.poll(flight.handle)
                    if outcome is not None:
                        flights.remove(flight)
                        self.state.queued, self.state.running = len(queue), len(flights)
                        self._finish(flight, outcome, result)
                self.state.queued, self.state.running = len(queue), len(flights)
                if time.monotonic() - last_beat >= self.heartbeat_every:
                    self._beat(flights, queue)
                    last_beat = time.monotonic()
                time.sleep(self.poll_every)
        except KeyboardInterrupt:
            result.interrupted = True
            self._release(flights, queue)
        finally:
            if self._own_executor:
                self.executor.close()
        result.rounds = self.state.round
        if not result.interrupted and self.recommend:
            self._tell("recommending")
            try:
                result.recommendation = self.client.recommend(self.project, self.mixer, self.config)
            except MixoptError as exc:
                result.recommendation_error = f"{exc.code}: {exc.detail}"
        self._tell("interrupted: run the same command to resume" if result.interrupted else "done")
        return result

    # -- steps ------------------------------------------------------------------------------------

    def _campaign_runs(self) -> list[Run]:
        runs = [r for r in self.client.list_runs(self.project) if r.tags.get("campaign") == self.campaign]
        runs.sort(key=lambda r: r.id)
        self._index = {r.id: i for i, r in enumerate(runs)}
        return runs

    def _check_not_busy(self, runs: list[Run]) -> None:
        held = [r for r in runs if r.status in OPEN and r.tags.get("holder") not in (None, "", self.holder)]
        if not held:
            return
        wait = 2 * max(float(r.tags.get("heartbeat_every") or self.heartbeat_every) for r in held) + 0.5
        self._tell(f"{len(held)} open run(s) held by {held[0].tags['holder']}: checking for {wait:.0f} s that "
                   "its runner is gone")
        time.sleep(wait)
        for r in held:
            now = self.client.get_run(self.project, r.id)
            if now.status in OPEN and now.lease_expires_at != r.lease_expires_at:
                raise CampaignBusy(
                    f"campaign {self.campaign!r} on {self.project!r} is being run by {now.tags.get('holder')}: "
                    f"run {r.id}'s lease was renewed while waiting; stop that runner or use another --campaign"
                )

    def _propose(self) -> list[Run]:
        self.state.round += 1
        seed = None if self.seed is None else self.seed + len(self._index)
        self._tell(f"round {self.state.round}/{self.rounds}: asking {self.mixer} for {self.batch} runs")
        proposal = self.client.propose(
            self.project, self.mixer, n=self.batch, config=self.config, fidelities=self.fidelities, seed=seed,
            tags={"campaign": self.campaign, "round": self.state.round, "executor": self.executor.name,
                  "holder": self.holder, "heartbeat_every": self.heartbeat_every},
        )
        for r in sorted(proposal.runs, key=lambda r: r.id):
            self._index.setdefault(r.id, len(self._index))
        return sorted(proposal.runs, key=lambda r: r.id)

    def _dummy_spec(self) -> RunSpec:
        return RunSpec(self.project, self.campaign, 0, {}, {}, 1, 0, 1, str(self.workdir))

    def _launch(self, run: Run) -> _Flight | None:
        attempt = int(run.tags.get("attempt") or 0) + 1
        spec = RunSpec(
            project=self.project,
            campaign=self.campaign,
            run_id=run.id,
            weights=dict(run.weights),
            fidelity=dict(run.fidelity),
            attempt=attempt,
            index=self._index.get(run.id, 0),
            round=int(run.tags.get("round") or self.state.round),
            workdir=str(self.workdir / self.campaign / f"run-{run.id}" / f"attempt-{attempt}"),
        )
        tags = {"attempt": attempt, "log": self.executor.location(spec), "executor": self.executor.name,
                "holder": self.holder, "heartbeat_every": self.heartbeat_every}
        try:
            run = self.client.heartbeat(self.project, run.id, tags)
        except Conflict:
            current = self.client.get_run(self.project, run.id)
            if current.status in FINISHED:  # someone posted it meanwhile: nothing to train
                return None
            # abandoned: its lease ran out, but the server still takes its one result; train it unleased
        handle = self.executor.submit(spec, self.trainer)
        self._tell(f"run {run.id} started (attempt {attempt})")
        return _Flight(run, spec, handle)

    def _finish(self, flight: _Flight, outcome: Outcome, result: CampaignResult) -> None:
        run_id = flight.run.id
        result.outcomes[run_id] = outcome
        current = self.client.get_run(self.project, run_id)
        if current.status in FINISHED:  # posted by an earlier runner or attempt: the first result stands
            result.already_posted += 1
            self._tell(f"run {run_id} already has a result ({current.status}); not posting")
            return
        tags: dict[str, Any] = {}
        if outcome.node:
            tags["node"] = outcome.node
        if outcome.status == "failed":
            tags["error"] = (outcome.reason or "failed")[-1000:]
        if tags:
            with contextlib.suppress(Conflict):  # abandoned: the result is still taken, the tags are not
                self.client.heartbeat(self.project, run_id, tags)
        try:
            posted = self.client.post_result(self.project, run_id, outcome.metrics, status=outcome.status,
                                             cost=outcome.cost)
        except Conflict:
            result.already_posted += 1
            return
        result.posted += 1
        if outcome.status == "completed":
            self.state.done += 1
            self._note_completed(posted)
            self._tell(f"run {run_id} completed")
        else:
            self.state.failed += 1
            self._tell(f"run {run_id} failed: {(outcome.reason or '').splitlines()[0][:120]}")

    def _beat(self, flights: list[_Flight], queue: list[Run]) -> None:
        """Renew the leases of runs in flight, and of queued runs whose lease would run out before long."""
        soon = datetime.now(UTC).timestamp() + 3 * self.heartbeat_every
        due = [f.run for f in flights] + [
            r for r in queue if r.lease_expires_at is not None and r.lease_expires_at.timestamp() < soon
        ]
        for run in due:
            with contextlib.suppress(Conflict):  # finished or abandoned meanwhile: the post sorts it out
                self.client.heartbeat(self.project, run.id)

    def _release(self, flights: list[_Flight], queue: list[Run]) -> None:
        """Ctrl-C: stop the attempts in flight and mark their runs (and the queued ones) free for the next runner."""
        for flight in flights:
            with contextlib.suppress(Exception):
                self.executor.cancel(flight.handle)
        for run in [f.run for f in flights] + queue:
            with contextlib.suppress(MixoptError):
                self.client.heartbeat(self.project, run.id, {"holder": ""})

    # -- progress ---------------------------------------------------------------------------------

    def _note_completed(self, run: Run) -> None:
        if run.status != "completed" or self._project_info is None:
            return
        value = objective_value(self._project_info.objective, run.metrics)
        if value is None:
            return
        key = fidelity_text(run.fidelity)
        sign = -1.0 if self._project_info.objective.get("direction") == "maximize" else 1.0
        best = self.state.best.get(key)
        if best is None or sign * value < sign * best[0]:
            self.state.best[key] = (value, run.id)

    def _tell(self, message: str) -> None:
        self.state.message = message
        if self.on_progress is not None:
            self.on_progress(self.state)


def run_campaign(client: Client, project: str, trainer: Trainer, **options: Any) -> CampaignResult:
    """``CampaignRunner(client, project, trainer, **options).run()``."""
    return CampaignRunner(client, project, trainer, **options).run()
