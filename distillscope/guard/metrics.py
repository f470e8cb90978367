"""Prometheus metrics of the guard: requests, latency, decisions, auth failures, log queue depth.

Each gateway owns its own ``CollectorRegistry`` (so several gateways in one process,
as in tests, never collide) and serves it at ``/metrics`` in Prometheus' text
format. Labels never carry an account, key or prompt: only the endpoint, the
HTTP status and the policy action, so cardinality stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_KNOWN_ENDPOINTS = {"/v1/chat/completions", "/v1/completions", "/v1/models"}


class GuardMetrics:
    """The guard's metrics in a private registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, queue_depth: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "distillscope_requests_total",
            "API requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "distillscope_request_latency_seconds",
            "Time from request to the end of the answer (streams included), by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "distillscope_guard_decisions_total",
            "Policy decisions, by action (allow, throttle, strip_logprobs, rate_limited, block).",
            ["action"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "distillscope_guard_auth_failures_total",
            "Requests refused for a missing, unknown or revoked API key.",
            registry=self.registry,
        )
        self.records_written = Counter(
            "distillscope_guard_log_records_written_total",
            "Exchanges committed to the log store.",
            registry=self.registry,
        )
        self.records_spilled = Counter(
            "distillscope_guard_log_records_spilled_total",
            "Exchanges the store refused or could not take before shutdown, kept in the spill file.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "distillscope_guard_log_queue_depth",
            "Exchanges waiting in memory to be written to the log store.",
            registry=self.registry,
        )
        if queue_depth is not None:
            self.queue_depth.set_function(queue_depth)

    @staticmethod
    def endpoint_label(endpoint: str | None) -> str:
        """The endpoint as a label; anything unexpected is 'other' (bounded cardinality)."""
        return endpoint if endpoint in _KNOWN_ENDPOINTS else "other"

    def observe_request(self, endpoint: str | None, status: int | None, latency_ms: float | None) -> None:
        label = self.endpoint_label(endpoint)
        self.requests.labels(label, str(status if status is not None else "unknown")).inc()
        if latency_ms is not None and latency_ms >= 0:
            self.latency.labels(label).observe(latency_ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
