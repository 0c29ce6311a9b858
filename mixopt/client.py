"""Python client for the mixopt HTTP API (DESIGN.md section 5), built on ``httpx``.

Needs only ``httpx`` (and ``numpy`` for :meth:`Client.put_embeddings`); it never imports the server package::

    from mixopt.client import Client

    with Client("http://127.0.0.1:8000", token="...") as mx:
        mx.create_project("demo", ["web", "code", "books"], "loss")
        mx.add_runs("demo", [{"external_id": "r1", "weights": {"web": 0.5, "code": 0.3, "books": 0.2},
                              "metrics": {"loss": 3.1}}])
        rec = mx.recommend("demo", "regmix")
        print(rec.weights, rec.predicted)

Retries: connection errors, 429 (honouring ``Retry-After``) and 502/503/504 are retried with exponential backoff,
but only for calls that are safe to repeat: reads, ``PUT``/``PATCH``/``DELETE``, heartbeats, results (idempotent
by content), session reports (idempotent by step), run ingestion when every run carries an ``external_id``, and
recommendations/predictions/evaluations (they change nothing but a cache). Proposals and session starts create
state, so they are retried only when the connection could not be opened (the request was never sent).
A server-side fit timeout (504 ``fit_timeout``) is never retried: it would only time out again.

Every error answer raises :class:`MixoptError` (or a subclass by status) parsed from the RFC 9457 problem body.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from mixopt.errors import (
    Conflict,
    ConnectionFailed,
    FieldError,
    Forbidden,
    MixoptError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
)
from mixopt.online import OnlineMixing
from mixopt.transport import API, MAX_RUNS_PER_REQUEST, Transport
from mixopt.types import (
    JSON,
    Directive,
    Domain,
    DomainVersion,
    EmbeddingSet,
    Evaluation,
    EvaluationResult,
    Family,
    Fidelity,
    Importance,
    ImportResult,
    MixerInfo,
    Prediction,
    Project,
    Proposal,
    Recommendation,
    Run,
    RunPage,
    Session,
    SessionEvent,
    SessionStart,
    Weights,
)
from mixopt.uploads import Part, file_format, send, split
from mixopt.wire import (
    domain_body,
    fidelity_query,
    mixer_choice,
    objective_body,
    segment,
    shift_run_locs,
    with_values,
)

__all__ = [
    "Client", "Conflict", "ConnectionFailed", "Directive", "Domain", "DomainVersion", "EmbeddingSet",
    "EvaluationResult", "Family",
    "FieldError", "Forbidden", "ImportResult", "MixerInfo", "MixoptError", "NotFound", "Prediction", "Project",
    "Proposal", "RateLimited", "Recommendation", "Run", "RunPage", "ServerError", "Session", "SessionEvent",
    "SessionStart", "Unauthorized", "ValidationFailed",
]


# -- the client -----------------------------------------------------------------------------------


class Client(Transport):
    """Synchronous client of one mixopt server.

    ``base_url`` defaults to ``$MIXOPT_URL`` or ``http://127.0.0.1:8000``; ``token`` to ``$MIXOPT_TOKEN``.
    ``retries`` extra attempts for retryable failures, waiting ``backoff * 2**attempt`` seconds (times a random
    factor in [0.5, 1]) or the server's ``Retry-After``. ``transport`` is handed to ``httpx.Client`` (e.g. a
    ``MockTransport``); ``http`` is an existing ``httpx.Client`` to use instead (e.g. FastAPI's ``TestClient``;
    it is not closed by :meth:`close`, and its own base URL and timeout apply).
    """

    # -- service ----------------------------------------------------------------------------------

    def health(self) -> JSON:
        """``GET /healthz``: the process is up."""
        return dict(self._json("GET", "/healthz"))

    def ready(self) -> JSON:
        """``GET /readyz``: the database answers and its schema is at head (raises :class:`ServerError` if not)."""
        return dict(self._json("GET", "/readyz", idempotent=False))

    def version(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._json("GET", "/version").items()}

    def mixers(self) -> list[MixerInfo]:
        """The mixer catalog: name, ``offline``/``online``, description, JSON schema of the config."""
        return [MixerInfo.from_json(m) for m in self._json("GET", f"{API}/mixers")]

    # -- projects ---------------------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        domains: Sequence[str | Mapping[str, Any] | Domain],
        objective: str | Mapping[str, Any],
        target_fidelity: Fidelity | None = None,
        description: str = "",
        allow_missing_domains: bool = False,
        fidelities: Sequence[Fidelity] | None = None,
        families: Sequence[Mapping[str, Any]] | None = None,
    ) -> Project:
        """Create a project. ``domains``: names or ``{name, tokens?, min_weight?, max_weight?, max_epochs?}``;
        ``objective``: a metric name to minimize, or ``{metric | metrics, direction}``; ``fidelities``: the
        ladder proposals use when a request names no fidelity; ``families``: bounds on family totals,
        ``[{name, min_weight?, max_weight?}]``. 409 :class:`Conflict` if the name exists."""
        body = with_values(
            {
                "name": name,
                "description": description,
                "domains": [domain_body(d) for d in domains],
                "objective": objective_body(objective),
                "allow_missing_domains": allow_missing_domains,
            },
            target_fidelity=None if target_fidelity is None else dict(target_fidelity),
            fidelities=None if fidelities is None else [dict(f) for f in fidelities],
            families=None if families is None else [dict(f) for f in families],
        )
        return Project.from_json(self._json("POST", f"{API}/projects", body=body))

    def get_project(self, name: str) -> Project:
        return Project.from_json(self._json("GET", self._project_path(name)))

    def list_projects(self, page_size: int = 100, include_archived: bool = False) -> list[Project]:
        """Every project the token may see (all pages); ``include_archived`` adds the archived (deleted) ones."""
        out: list[Project] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": page_size, "page_token": token}
            if include_archived:
                params["include_archived"] = "true"
            page = self._json("GET", f"{API}/projects", params=params)
            out.extend(Project.from_json(p) for p in page["projects"])
            token = page.get("next_page_token")
            if not token:
                return out

    def update_project(
        self,
        name: str,
        *,
        description: str | None = None,
        domains: Sequence[str | Mapping[str, Any] | Domain] | None = None,
        objective: str | Mapping[str, Any] | None = None,
        target_fidelity: Fidelity | None = None,
        allow_missing_domains: bool | None = None,
        fidelities: Sequence[Fidelity] | None = None,
        default_mixer: str | None = None,
        clear_default_mixer: bool = False,
        families: Sequence[Mapping[str, Any]] | None = None,
    ) -> Project:
        """Change the given fields (``None``: keep). ``domains`` must keep the names and order; ``fidelities``
        replaces the project's fidelity ladder; ``default_mixer`` sets the project's default offline mixer
        (``clear_default_mixer`` removes it); ``families`` replaces the family bounds (``[]`` removes them)."""
        body = with_values(
            {},
            description=description,
            domains=None if domains is None else [domain_body(d) for d in domains],
            objective=None if objective is None else objective_body(objective),
            target_fidelity=None if target_fidelity is None else dict(target_fidelity),
            allow_missing_domains=allow_missing_domains,
            fidelities=None if fidelities is None else [dict(f) for f in fidelities],
            default_mixer=default_mixer,
            families=None if families is None else [dict(f) for f in families],
        )
        if clear_default_mixer:
            body["default_mixer"] = None
        return Project.from_json(self._json("PATCH", self._project_path(name), body=body))

    def change_domains(self, project: str, change: Mapping[str, Any], note: str = "") -> Project:
        """Change the domain set by one step (a new version): ``{"op": "add", "domains": [...]}``, ``{"op":
        "remove", "names": [...]}``, ``{"op": "split", "name": ..., "into": [...]}`` or ``{"op": "merge", "names":
        [...], "into": {...}}``; ``note`` goes into the change log."""
        body = {**dict(change), **({"note": note} if note else {})}
        return Project.from_json(self._json("PATCH", f"{self._project_path(project)}/domains", body=body))

    def domain_versions(self, project: str) -> list[DomainVersion]:
        """Every version of the project's domain set with its change, oldest first."""
        page = self._json("GET", f"{self._project_path(project)}/domains/versions")
        return [DomainVersion.from_json(v) for v in page["items"]]

    def delete_project(self, name: str, missing_ok: bool = False, purge: bool = False) -> None:
        """Archive a project (``restore_project`` brings it back); ``purge`` removes it and everything in it for good.

        Needs an admin token. ``missing_ok`` ignores a 404 (e.g. after a retried delete).
        """
        params = {"purge": "true", "confirm": name} if purge else None
        try:
            self.request("DELETE", self._project_path(name), params=params)
        except NotFound:
            if not missing_ok:
                raise

    def restore_project(self, name: str) -> Project:
        """Bring back an archived project with all it held (admin token)."""
        return Project.from_json(self._json("POST", f"{self._project_path(name)}/restore"))

    # -- runs -------------------------------------------------------------------------------------

    def add_runs(
        self, project: str, runs: Sequence[Mapping[str, Any]], chunk_size: int = MAX_RUNS_PER_REQUEST
    ) -> list[Run]:
        """Ingest runs (``{external_id?, weights, fidelity?, cost?, status?, metrics?, trajectory?, tags?}``) in
        requests of at most ``chunk_size``. Each request is all-or-nothing; when one fails, the earlier chunks
        stay written (re-sending them is a no-op when they carry ``external_id``). Returns the stored runs."""
        if not 1 <= chunk_size <= MAX_RUNS_PER_REQUEST:
            raise ValueError(f"chunk_size must be in 1..{MAX_RUNS_PER_REQUEST}")
        out: list[Run] = []
        path = f"{self._project_path(project)}/runs"
        for start in range(0, len(runs), chunk_size):
            chunk = [dict(r) for r in runs[start : start + chunk_size]]
            # Without an external id the server cannot recognize a resent run, so a retry could duplicate it.
            safe = all(r.get("external_id") for r in chunk)
            try:
                page = self._json("POST", path, body={"runs": chunk}, idempotent=safe)
            except MixoptError as exc:
                if start == 0 or not exc.errors:
                    raise
                raise shift_run_locs(exc, start) from exc
            out.extend(Run.from_json(r) for r in page["runs"])
        return out

    def add_run(self, project: str, run: Mapping[str, Any]) -> Run:
        return self.add_runs(project, [run])[0]

    def runs_page(
        self,
        project: str,
        status: str | None = None,
        fidelity: Fidelity | str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """One page of runs (``fidelity`` filters by exact fidelity, e.g. ``{"params": 1e6}``)."""
        page = self._json(
            "GET",
            f"{self._project_path(project)}/runs",
            params={
                "status": status,
                "fidelity": fidelity_query(fidelity),
                "max_results": max_results,
                "page_token": page_token,
            },
        )
        return RunPage([Run.from_json(r) for r in page["runs"]], page.get("next_page_token"))

    def list_runs(
        self,
        project: str,
        status: str | None = None,
        fidelity: Fidelity | str | None = None,
        page_size: int = 1000,
    ) -> Iterator[Run]:
        """Every matching run, fetching pages of ``page_size`` lazily as the iterator advances."""
        token: str | None = None
        while True:
            page = self.runs_page(project, status, fidelity, page_size, token)
            yield from page.runs
            token = page.next_page_token
            if not token:
                return

    def get_run(self, project: str, run_id: int) -> Run:
        return Run.from_json(self._json("GET", f"{self._project_path(project)}/runs/{int(run_id)}"))

    def delete_run(self, project: str, run_id: int, missing_ok: bool = False) -> None:
        """Remove one run for good (e.g. one stored with bad data). Needs an admin token.

        ``missing_ok`` ignores a 404 (e.g. after a retried delete).
        """
        try:
            self.request("DELETE", f"{self._project_path(project)}/runs/{int(run_id)}")
        except NotFound:
            if not missing_ok:
                raise

    def heartbeat(self, project: str, run_id: int, tags: Mapping[str, Any] | None = None) -> Run:
        """Renew a pending run's lease (call it well within the server's lease time while training); ``tags``
        are merged into the run's tags (e.g. ``{"log": path}``). 409 :class:`Conflict` once the run is finished
        or abandoned."""
        path = f"{self._project_path(project)}/runs/{int(run_id)}/heartbeat"
        body = {"tags": dict(tags)} if tags else None
        return Run.from_json(self._json("POST", path, body=body, idempotent=True))

    def post_result(
        self,
        project: str,
        run_id: int,
        metrics: Mapping[str, float],
        trajectory: Sequence[Mapping[str, Any]] | None = None,
        status: Literal["completed", "failed"] = "completed",
        cost: float | None = None,
    ) -> Run:
        """Complete a pending run; re-posting the same result is a no-op, a different one is 409 Conflict.

        ``cost``: what the run cost (the ``mfbo`` mixer's cost model learns from it)."""
        body = with_values(
            {"metrics": dict(metrics), "status": status},
            trajectory=None if trajectory is None else [dict(p) for p in trajectory],
            cost=cost,
        )
        path = f"{self._project_path(project)}/runs/{int(run_id)}/result"
        return Run.from_json(self._json("POST", path, body=body, idempotent=True))

    def import_file(
        self,
        project: str,
        path: str | os.PathLike[str],
        *,
        metrics: str | os.PathLike[str] | None = None,
        key: str | None = None,
        domain_prefix: str = "",
        metric_prefix: str | None = None,
        fidelity: Fidelity | None = None,
        format: Literal["csv", "jsonl"] | None = None,
        create: bool = False,
        objective: str | None = None,
        token_shares: str | os.PathLike[str] | None = None,
        preview: bool = False,
        part_rows: int = MAX_RUNS_PER_REQUEST,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Import runs from a CSV or JSON-lines file (``POST .../runs:import``): the server reads it.

        The options are the CLI's ``import`` flags (see :class:`~mixopt.types.ImportResult` for the answer).
        Rows already stored are skipped, so importing again is a no-op. Each request is one transaction; a file of
        more than ``part_rows`` rows goes in parts of that many (each skips what is stored when it arrives, and
        when one fails the parts before it stay written); ``progress(rows done, rows)`` hears of each part.
        """
        source = Path(path)
        data = source.read_bytes()
        fmt = format or file_format(source.name, data[:64])
        form = with_values(
            {"domain_prefix": domain_prefix, "format": fmt},
            key=key,
            metric_prefix=metric_prefix,
            fidelity=fidelity_query(fidelity) if fidelity else None,
            create="true" if create else None,
            objective=objective,
            preview="true" if preview else None,
        )
        extra = {name: (Path(p).name, Path(p).read_bytes()) for name, p in
                 (("metrics", metrics), ("token_shares", token_shares)) if p is not None}
        url = f"{self._project_path(project)}/runs:import"

        def post(part: Part) -> JSON:
            files = {"file": (source.name, part.data), **extra}
            # Rows already stored are skipped, so a part sent again changes nothing: safe to retry.
            return dict(self._json("POST", url, files=files, form=form, idempotent=True))

        return send(split(data, fmt, part_rows), post, progress)

    def export(self, project: str, format: Literal["csv", "jsonl"] = "csv") -> str:
        """All runs of the project as CSV or JSON lines."""
        return self.request("GET", f"{self._project_path(project)}/export", params={"format": format}).text

    # -- mixers -----------------------------------------------------------------------------------

    def propose(
        self,
        project: str,
        mixer: str,
        n: int = 1,
        config: Mapping[str, Any] | None = None,
        fidelity: Fidelity | None = None,
        fidelities: Sequence[Fidelity] | None = None,
        candidates: Sequence[Weights] | None = None,
        seed: int | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Proposal:
        """Ask ``mixer`` for ``n`` runs to train next; they are created ``pending`` (not retried: not idempotent),
        each with ``tags`` (their ``mixer`` tag stays the mixer's name)."""
        body = with_values(
            {"mixer": mixer, "n": n},
            config=None if config is None else dict(config),
            fidelity=None if fidelity is None else dict(fidelity),
            fidelities=None if fidelities is None else [dict(f) for f in fidelities],
            candidates=None if candidates is None else [dict(c) for c in candidates],
            seed=seed,
            tags=None if tags is None else dict(tags),
        )
        return Proposal.from_json(self._json("POST", f"{self._project_path(project)}/proposals", body=body))

    def recommend(
        self,
        project: str,
        mixer: str,
        config: Mapping[str, Any] | None = None,
        fidelity: Fidelity | None = None,
        seed: int | None = None,
    ) -> Recommendation:
        """The mixer's best mixture at ``fidelity`` (default: the project's target fidelity)."""
        body = with_values(
            {"mixer": mixer},
            config=None if config is None else dict(config),
            fidelity=None if fidelity is None else dict(fidelity),
            seed=seed,
        )
        path = f"{self._project_path(project)}/recommendations"
        return Recommendation.from_json(self._json("POST", path, body=body, idempotent=True))

    def predict(
        self,
        project: str,
        mixer: str,
        mixtures: Sequence[Weights],
        config: Mapping[str, Any] | None = None,
        fidelity: Fidelity | None = None,
        seed: int | None = None,
    ) -> list[Prediction]:
        """Predicted objective of each mixture, in input order."""
        body = with_values(
            {"mixer": mixer, "mixtures": [dict(m) for m in mixtures]},
            config=None if config is None else dict(config),
            fidelity=None if fidelity is None else dict(fidelity),
            seed=seed,
        )
        page = self._json("POST", f"{self._project_path(project)}/predictions", body=body, idempotent=True)
        return [Prediction.from_json(p, page) for p in page["predictions"]]

    def evaluate(
        self,
        project: str,
        mixers: Sequence[str | Mapping[str, Any]],
        folds: int = 5,
        fidelity: Fidelity | None = None,
        seed: int | None = None,
    ) -> list[EvaluationResult]:
        """Cross-validate mixers (names or ``{mixer, config}``) on the completed runs: Spearman, MAE, regret."""
        body = with_values(
            {"mixers": [mixer_choice(m) for m in mixers], "folds": folds},
            fidelity=None if fidelity is None else dict(fidelity),
            seed=seed,
        )
        page = self._json("POST", f"{self._project_path(project)}/evaluations", body=body, idempotent=True)
        return [EvaluationResult.from_json(r) for r in page["results"]]

    def compare(
        self,
        project: str,
        mixers: Sequence[str | Mapping[str, Any]],
        folds: int = 5,
        fidelity: Fidelity | None = None,
        seed: int | None = None,
        default_mixer: str | None = None,
    ) -> Evaluation:
        """:meth:`evaluate` with the whole answer: the fidelity evaluated, the fidelities that could be chosen and the
        winner (best mean Spearman over folds unless ``default_mixer`` is within one standard error of it)."""
        body = with_values(
            {"mixers": [mixer_choice(m) for m in mixers], "folds": folds},
            fidelity=None if fidelity is None else dict(fidelity),
            seed=seed,
            default_mixer=default_mixer,
        )
        return Evaluation.from_json(
            self._json("POST", f"{self._project_path(project)}/evaluations", body=body, idempotent=True)
        )

    def recommendations(self, project: str, max_results: int | None = None) -> list[Recommendation]:
        """The stored recommendations of ``project``, newest first (all of them, or the newest ``max_results``)."""
        items = self._history(project, "recommendations", max_results)
        return [Recommendation.from_json(r) for r in items]

    def evaluations(self, project: str, max_results: int | None = None) -> list[Evaluation]:
        """The stored evaluations of ``project``, newest first (all of them, or the newest ``max_results``)."""
        return [Evaluation.from_json(e) for e in self._history(project, "evaluations", max_results)]

    def _history(self, project: str, kind: str, max_results: int | None) -> list[JSON]:
        out: list[JSON] = []
        token: str | None = None
        while True:
            want = 1000 if max_results is None else min(1000, max_results - len(out))
            params: dict[str, Any] = {"max_results": want}
            if token:
                params["page_token"] = token
            page = self._json("GET", f"{self._project_path(project)}/{kind}", params=params)
            out.extend(page[kind])
            token = page.get("next_page_token")
            if not token or (max_results is not None and len(out) >= max_results):
                return out

    def importance(
        self,
        project: str,
        mixer: str,
        config: Mapping[str, Any] | None = None,
        fidelity: Fidelity | None = None,
        seed: int | None = None,
        domain: str | None = None,
    ) -> Importance:
        """Which domains drive the mixer's predicted objective on ``project`` (shares summing to 1, most important
        first) and its partial dependence on ``domain`` (default: the most important one)."""
        body = with_values(
            {"mixer": mixer},
            config=None if config is None else dict(config),
            fidelity=None if fidelity is None else dict(fidelity),
            seed=seed,
            domain=domain,
        )
        return Importance.from_json(
            self._json("POST", f"{self._project_path(project)}/importance", body=body, idempotent=True)
        )

    # -- embeddings -------------------------------------------------------------------------------

    def put_embeddings(self, project: str, set_name: str, array: Any) -> EmbeddingSet:
        """Store an ``(n, dim)`` array for a domain (or ``"target"``), sent as ``.npy`` bytes. Needs numpy."""
        import numpy as np  # only this method needs numpy

        buf = io.BytesIO()
        np.save(buf, np.asarray(array), allow_pickle=False)
        path = f"{self._project_path(project)}/embeddings/{segment(set_name)}"
        resp = self.request("PUT", path, content=buf.getvalue(), content_type="application/octet-stream")
        return EmbeddingSet.from_json(resp.json())

    def list_embeddings(self, project: str) -> list[EmbeddingSet]:
        return [EmbeddingSet.from_json(e) for e in self._json("GET", f"{self._project_path(project)}/embeddings")]

    # -- online sessions --------------------------------------------------------------------------

    def start_session(
        self,
        project: str,
        mixer: str,
        config: Mapping[str, Any] | None = None,
        total_steps: int | None = None,
        initial_weights: Weights | None = None,
        seed: int | None = None,
        from_recommendation: Mapping[str, Any] | None = None,
    ) -> Session:
        """Start an online-mixing session; its ``directive`` says what to train first.

        It starts from uniform, from ``initial_weights``, or (not with them) from an offline mixer's
        recommendation on the project: ``from_recommendation={"mixer": "regmix", "config": {...},
        "fidelity": {...}}`` (the hand-off from static proportions learned on short runs). ``Session.start``
        says which start was used.
        """
        body = with_values(
            {"mixer": mixer},
            config=None if config is None else dict(config),
            total_steps=total_steps,
            initial_weights=None if initial_weights is None else dict(initial_weights),
            from_recommendation=None if from_recommendation is None else dict(from_recommendation),
            seed=seed,
        )
        return Session.from_json(self._json("POST", f"{self._project_path(project)}/sessions", body=body))

    def report(self, session_id: int, step: int, losses: Mapping[str, float]) -> Directive:
        """Report per-domain validation losses at ``step`` (the last directive's ``until_step``)."""
        body = {"step": int(step), "losses": {str(k): v for k, v in losses.items()}}
        page = self._json("POST", f"{API}/sessions/{int(session_id)}/reports", body=body, idempotent=True)
        return Directive.from_json(page["directive"])

    def get_session(self, session_id: int) -> Session:
        """The session's state and its history of reports and directives."""
        return Session.from_json(self._json("GET", f"{API}/sessions/{int(session_id)}"))

    def list_sessions(self, project: str) -> list[Session]:
        return [Session.from_json(s) for s in self._json("GET", f"{self._project_path(project)}/sessions")["sessions"]]

    def online(
        self,
        project: str,
        mixer: str = "aioli",
        config: Mapping[str, Any] | None = None,
        total_steps: int | None = None,
        initial_weights: Weights | None = None,
        seed: int | None = None,
        from_recommendation: Mapping[str, Any] | None = None,
    ) -> OnlineMixing:
        """Start a session and wrap it in an :class:`~mixopt.online.OnlineMixing` helper for a training loop.

        ``from_recommendation={"mixer": "regmix"}`` starts it from that offline mixer's recommendation
        (see :meth:`start_session`); ``helper.start_source`` and ``helper.session_start`` say which start was used.
        """
        return OnlineMixing.start(self, project, mixer, config, total_steps, initial_weights, seed, from_recommendation)
