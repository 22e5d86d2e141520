"""Prometheus metrics (prometheus-client) and ``GET /metrics``."""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from burgerwacht.web.api import Api
from burgerwacht.web.errors import Problem
from burgerwacht.web.keys import POOL, SETTINGS

DELIVERIES = Counter(
    "burgerwacht_deliveries_total", "Delivery outcomes recorded by workers", ["state", "channel"]
)
CALLBACK_STATES = Counter(
    "burgerwacht_delivery_callbacks_total", "Delivery states set by provider callbacks", ["state", "channel"]
)
SEND_LATENCY = Histogram(
    "burgerwacht_send_seconds",
    "Provider request latency per send",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROVIDER_ERRORS = Counter("burgerwacht_provider_errors_total", "Provider errors by Twilio code", ["code"])
IN_FLIGHT_TARGET = Gauge(
    "burgerwacht_dispatch_in_flight_target",
    "Provider requests this worker may have in flight (rate x latency x headroom, AIMD on 429)",
    ["channel"],
)
PROVIDER_LATENCY = Gauge(
    "burgerwacht_provider_latency_seconds", "Moving average of the provider's answer time", ["channel"]
)
#: Seconds a reading of the queue gauges (and the workers' queue depth) is reused (scrapes from several Prometheus
#: servers, or a dashboard's refreshes, cost one query per period). The reading counts
#: every queued delivery: ~0.25 s with a national alert's two million queued.
QUEUE_CACHE_SECONDS = 15.0
QUEUE_DEPTH = Gauge(
    "burgerwacht_queue_depth",
    f"Deliveries due and waiting to be claimed (counted every {QUEUE_CACHE_SECONDS:g} s)",
)
QUEUE_OLDEST = Gauge("burgerwacht_queue_oldest_seconds", "Age of the oldest due delivery")
RATE_LIMIT_WAITS = Counter(
    "burgerwacht_rate_limit_waits_total", "Times a worker waited for a rate token", ["channel"]
)
CALLS_IN_PROGRESS = Gauge(
    "burgerwacht_calls_in_progress",
    "Alert calls in progress for all workers, as this worker last saw it (twilio.max_concurrent_calls)",
)
CALL_SLOT_WAITS = Counter(
    "burgerwacht_call_slot_waits_total", "Times a worker waited for a call to end (max_concurrent_calls)"
)
RECONCILIATIONS = Counter(
    "burgerwacht_reconciliations_total", "Unknown-outcome sends looked up at the provider", ["result"]
)
REPLICA_FALLBACKS = Counter(
    "burgerwacht_replica_fallbacks_total",
    "Analyst reads served by the primary because the read replica could not be reached",
)
WEBHOOKS = Counter("burgerwacht_webhooks_total", "Provider webhooks by type and result", ["type", "result"])
TIPS = Counter("burgerwacht_tips_total", "Tips received", ["channel"])
SIGNALS = Counter("burgerwacht_signals_total", "Neighbourhood signals received", ["source"])
# Per route: the route's template (/api/v1/alerts/{alert_id}), never the raw path, so ids
# and codes cannot blow up the label set; unmatched paths share one label.
HTTP_REQUESTS = Counter(
    "burgerwacht_http_requests_total",
    "HTTP requests by route template, method and status class",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "burgerwacht_http_request_seconds",
    "HTTP request latency by route template and method (event streams excluded)",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe_request(route: str, method: str, status: int, seconds: float | None) -> None:
    """Count one answered request; ``seconds`` None for streams (their length is not latency)."""
    HTTP_REQUESTS.labels(route, method, f"{status // 100}xx").inc()
    if seconds is not None:
        HTTP_LATENCY.labels(route, method).observe(seconds)


# The state of dispatch as the database holds it, so any one process's scrape shows it
# (the counters above live in the process that did the work: scrape every process).
# The same in every process: aggregate with max(), not sum().
DISPATCH_QUEUED = Gauge(
    "burgerwacht_dispatch_queued", "Deliveries queued, due or deferred (from the database)", ["channel"]
)
DISPATCH_SENDING = Gauge(
    "burgerwacht_dispatch_sending",
    "Deliveries claimed by a worker, in flight (from the database)",
    ["channel"],
)
DISPATCH_OLDEST = Gauge(
    "burgerwacht_dispatch_oldest_queued_seconds",
    "Age of the oldest due queued delivery (from the database)",
    ["channel"],
)
_CHANNELS = ("sms", "voice")
_queue_read_at = -math.inf


async def refresh_queue_gauges(pool: Any) -> None:
    """Read the queue gauges from the database unless read in the last few seconds; a
    database that is away leaves the last values (the scrape still answers)."""
    global _queue_read_at
    if time.monotonic() - _queue_read_at < QUEUE_CACHE_SECONDS:
        return
    _queue_read_at = time.monotonic()  # set first: scrapes arriving meanwhile reuse the last values
    from burgerwacht.alerts import store
    from burgerwacht.db import outage

    try:
        async with pool.acquire() as conn:
            rows = {r["channel"]: r for r in await store.queue_by_channel(conn)}
    except Exception as exc:
        if not outage.unavailable(exc):
            raise
        outage.noticed(exc, "GET /metrics")
        return
    for channel in _CHANNELS:
        row = rows.get(channel)
        DISPATCH_QUEUED.labels(channel).set(row["queued"] if row else 0)
        DISPATCH_SENDING.labels(channel).set(row["sending"] if row else 0)
        DISPATCH_OLDEST.labels(channel).set(float(row["oldest_age"] or 0) if row else 0.0)


ENROLMENT_REFUSALS = Counter(
    "burgerwacht_enrolment_code_refusals_total", "Enrolment code requests refused, by limit", ["limit"]
)
ENROLMENT_BUDGET_ALERTS = Counter(
    "burgerwacht_enrolment_budget_alerts_total",
    "Times more than enrolment.budget_alert_share of the daily code budget went out within an hour",
)

api = Api()


@api.get(
    "/metrics",
    summary="Prometheus metrics (text format)",
    tags=["system"],
    content_type="text/plain; version=0.0.4",
    responses={401: "metrics.token is set and was not given"},
)
async def metrics(request: web.Request):
    token = request.app[SETTINGS].metrics.token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Problem(401, "send the metrics token as a bearer token", slug="unauthorized")
    await refresh_queue_gauges(request.app[POOL])
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
