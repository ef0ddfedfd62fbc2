"""``GET /metrics``: Prometheus text, from what every request's ``PreLLMResult`` says.

A pure ASGI middleware times each request and counts it by route, status,
strategy and team when its response has ended (a stream's last byte included);
the route hands it the result with ``observe(request, result)`` (or, for a stream,
by passing its events through ``observed(request, events)``). Stage latencies
(small, large, total, and the proxy's own overhead: total minus the model calls),
tokens and spend by model and role, small-model fallbacks and redactions by kind
come from the result; budget left per team is read from the state store at each
scrape. With ``--workers N`` every process writes to ``PROMETHEUS_MULTIPROC_DIR``
and a scrape adds them up (``prellm serve`` sets the directory up).

Protected by the master key when auth is on, unless ``--metrics-public``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..models import PreLLMResult
from .auth import principal_of
from .errors import HTTPError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RESULT = "prellm_result"  # where observe() leaves the result in the ASGI scope's state
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
FALLBACKS = {  # fallback_reason text -> a label with a bounded set of values
    "continuation": "agent_continuation",
    "invalid": "invalid_output",
    "validation": "invalid_output",
    "json": "invalid_output",
    "timeout": "timeout",
    "timed out": "timeout",
    "unreachable": "unreachable",
    "connect": "unreachable",
}


class Metrics:
    """The server's metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "prellm_requests",
            "HTTP requests by route, status, strategy and team",
            ["route", "status", "strategy", "team"],
            registry=r,
        )
        self.latency = Histogram(
            "prellm_stage_duration_seconds",
            "Time per stage: small, large (model calls), total (the request), overhead (total "
            "minus model calls)",
            ["stage"],
            buckets=BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "prellm_tokens", "Tokens by model, role and kind", ["model", "role", "kind"], registry=r
        )
        self.spend = Counter(
            "prellm_spend_usd", "Spend in USD by model and role", ["model", "role"], registry=r
        )
        self.fallbacks = Counter(
            "prellm_small_model_fallbacks",
            "Requests sent to the large model unprocessed, by reason",
            ["reason"],
            registry=r,
        )
        self.redactions = Counter(
            "prellm_redactions", "Values redacted before leaving, by kind", ["kind"], registry=r
        )

    def record(self, route: str, status: int, seconds: float, result: Any, principal: Any) -> None:
        r = result if isinstance(result, PreLLMResult) else None
        team = (principal.team_name if principal is not None else None) or "none"
        strategy = r.strategy if r else "none"
        self.requests.labels(route, str(status), strategy, team).inc()
        if r is None:
            return
        self.latency.labels("total").observe(seconds)
        by_role: dict[str, float] = {}
        for s in r.stages:
            by_role[s.role] = by_role.get(s.role, 0.0) + s.ms / 1000
            self.tokens.labels(s.model, s.role, "prompt").inc(s.prompt_tokens)
            self.tokens.labels(s.model, s.role, "completion").inc(s.completion_tokens)
            if s.cost_usd:
                self.spend.labels(s.model, s.role).inc(s.cost_usd)
        for role, spent in by_role.items():
            self.latency.labels(role).observe(spent)
        self.latency.labels("overhead").observe(max(0.0, seconds - sum(by_role.values())))
        if reason := r.decomposition.fallback_reason:
            self.fallbacks.labels(fallback_label(reason)).inc()
        for kind, n in r.redactions.items():
            self.redactions.labels(kind).inc(n)

    def exposition(self, teams: Any = None) -> bytes:
        registry = self.registry
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if teams is not None:
            scrape = CollectorRegistry()
            scrape.register(_Both(registry, TeamBudgets(teams)))
            return generate_latest(scrape)
        return generate_latest(registry)


def fallback_label(reason: str) -> str:
    text = reason.lower()
    return next((label for word, label in FALLBACKS.items() if word in text), "other")


class TeamBudgets:
    """``prellm_team_budget_remaining_usd`` and spend per team, read at scrape time."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        left = GaugeMetricFamily(
            "prellm_team_budget_remaining_usd",
            "Budget left in the team's current period (teams with a budget)",
            labels=["team"],
        )
        spent = GaugeMetricFamily(
            "prellm_team_spend_usd", "Spend in the team's current budget period", labels=["team"]
        )
        try:
            teams = self.registry.teams()
        except Exception:  # the store is down: /metrics still answers, without these
            teams = []
        for t in teams:
            spent.add_metric([t["name"]], t["spent_usd"])
            if t.get("budget_usd") is not None:
                left.add_metric([t["name"]], max(0.0, t["budget_usd"] - t["spent_usd"]))
        return [left, spent]


class _Both:
    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for c in self.collectors:
            yield from c.collect()


class MetricsMiddleware:
    """Times and counts every request once its response has ended."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._paths: set[str] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        done = False

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done = True
                self._record(scope, status, time.perf_counter() - t0)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not done:  # the client went away, or the app failed before answering
                self._record(scope, status, time.perf_counter() - t0)

    def _record(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        path = getattr(scope.get("route"), "path", None) or self._known(scope)
        state = scope.get("state") or {}
        self.metrics.record(path, status, seconds, state.get(RESULT), state.get("principal"))

    def _known(self, scope: dict[str, Any]) -> str:
        """A request refused before routing (401, 413): its path if it is a route's, else
        "other" (clients choose paths; labels must stay few)."""
        if self._paths is None:
            routes = getattr(scope.get("app"), "routes", ())
            self._paths = {getattr(r, "path", "") for r in routes}
        return scope["path"] if scope["path"] in self._paths else "other"


def observe(request: Request, result: PreLLMResult) -> PreLLMResult:
    """The hook: the route hands the request's result to the metrics (returns it unchanged)."""
    request.scope.setdefault("state", {})[RESULT] = result
    return result


async def observed(request: Request, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A stream's events, passed through; its final PreLLMResult goes to the metrics."""
    async with aclosing(events) as source:  # type: ignore[type-var]
        async for event in source:
            if isinstance(event, PreLLMResult):
                observe(request, event)
            yield event


def install_metrics(app: FastAPI, public: bool = False) -> Metrics:
    """``GET /metrics`` and the middleware that feeds it. ``public``: no key needed."""
    metrics = Metrics()
    app.state.metrics = metrics
    if public:
        app.state.public_paths = {*getattr(app.state, "public_paths", ()), "/metrics"}
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        principal = principal_of(request)
        if principal is not None and not principal.admin:
            raise HTTPError(403, "the master key is required", "permission_error", "admin_only")
        from ..store import BudgetTracker

        teams = None if os.environ.get("PRELLM_NO_LEDGER") else BudgetTracker.shared().keys
        return Response(metrics.exposition(teams), media_type=CONTENT_TYPE_LATEST)

    return metrics
