"""Counters of the use cases (prometheus_client), in the registry that ``/metrics`` exposes.

Services count what they do here; the HTTP face adds its request metrics to the same registry in ``app.metrics``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

RUNS_INGESTED = Counter("mixopt_runs_ingested", "runs written by bulk ingest", registry=REGISTRY)
FITS = Counter("mixopt_fits", "mixer fits computed (cache misses)", ["mixer"], registry=REGISTRY)
FIT_CACHE_HITS = Counter("mixopt_fit_cache_hits", "fitted mixers served from the cache", ["mixer"], registry=REGISTRY)
PROPOSALS = Counter("mixopt_proposals", "proposal batches created", ["mixer"], registry=REGISTRY)
PROPOSED_RUNS = Counter("mixopt_proposed_runs", "pending runs created by proposals", ["mixer"], registry=REGISTRY)
ABANDONED = Counter("mixopt_abandoned_runs", "runs whose lease expired", registry=REGISTRY)
RESULTS = Counter(
    "mixopt_run_results",
    "results posted to runs: stored (the run's one result) or replay (the same result again, a no-op)",
    ["status", "outcome"],
    registry=REGISTRY,
)
SESSION_REPORTS = Counter("mixopt_session_reports", "online-session reports applied", ["mixer"], registry=REGISTRY)
