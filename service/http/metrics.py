"""Prometheus request counts and latency histograms, by endpoint (route template) and status."""

from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "clausewise_requests", "HTTP requests served.", ["endpoint", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "clausewise_request_duration_seconds",
            "HTTP request latency.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several uvicorn workers: add up what every worker process wrote.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Pure ASGI middleware: cheaper than BaseHTTPMiddleware and safe for streaming bodies."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            labels = (endpoint, scope.get("method", ""), str(status["code"]))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


def metrics_response(request: Request) -> Response:
    return request.app.state.metrics.render()
