"""HTTP request metrics (prometheus_client), beside the services' counters; all exposed at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from app.services.telemetry import REGISTRY

REQUESTS = Counter("mixopt_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=REGISTRY)
ERRORS = Counter("mixopt_http_errors", "HTTP responses with status >= 400", ["route", "status"], registry=REGISTRY)
LATENCY = Histogram("mixopt_http_request_seconds", "request latency", ["route"], registry=REGISTRY)

__all__ = ["ERRORS", "LATENCY", "REGISTRY", "REQUESTS"]
