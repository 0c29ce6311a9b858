"""Prometheus metrics (prometheus_client), exposed at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("mixopt_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=REGISTRY)
ERRORS = Counter("mixopt_http_errors", "HTTP responses with status >= 400", ["route", "status"], registry=REGISTRY)
LATENCY = Histogram("mixopt_http_request_seconds", "request latency", ["route"], registry=REGISTRY)
RUNS_INGESTED = Counter("mixopt_runs_ingested", "runs written by bulk ingest", registry=REGISTRY)
FITS = Counter("mixopt_fits", "mixer fits computed (cache misses)", ["mixer"], registry=REGISTRY)
FIT_CACHE_HITS = Counter("mixopt_fit_cache_hits", "fitted mixers served from the cache", ["mixer"], registry=REGISTRY)
PROPOSALS = Counter("mixopt_proposals", "proposal batches created", ["mixer"], registry=REGISTRY)
PROPOSED_RUNS = Counter("mixopt_proposed_runs", "pending runs created by proposals", ["mixer"], registry=REGISTRY)
ABANDONED = Counter("mixopt_abandoned_runs", "runs whose lease expired", registry=REGISTRY)
SESSION_REPORTS = Counter("mixopt_session_reports", "online-session reports applied", ["mixer"], registry=REGISTRY)
