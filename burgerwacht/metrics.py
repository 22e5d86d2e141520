"""Prometheus metrics (prometheus-client) and ``GET /metrics``."""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from burgerwacht.web.api import Api
from burgerwacht.web.errors import Problem
from burgerwacht.web.keys import SETTINGS

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
QUEUE_DEPTH = Gauge("burgerwacht_queue_depth", "Deliveries due and waiting to be claimed")
QUEUE_OLDEST = Gauge("burgerwacht_queue_oldest_seconds", "Age of the oldest due delivery")
RATE_LIMIT_WAITS = Counter(
    "burgerwacht_rate_limit_waits_total", "Times a worker waited for a rate token", ["channel"]
)
RECONCILIATIONS = Counter(
    "burgerwacht_reconciliations_total", "Unknown-outcome sends looked up at the provider", ["result"]
)
WEBHOOKS = Counter("burgerwacht_webhooks_total", "Provider webhooks by type and result", ["type", "result"])
TIPS = Counter("burgerwacht_tips_total", "Tips received", ["channel"])
SIGNALS = Counter("burgerwacht_signals_total", "Neighbourhood signals received", ["source"])
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
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
