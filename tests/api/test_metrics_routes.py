"""/metrics counts requests and their latency per route template, method and status
class, never per raw path (ids would grow the label set without end)."""

from __future__ import annotations

import re


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_requests_are_counted_per_route_template(client, op):
    before = await (await client.get("/metrics")).text()
    for alert_id in (987654, 987655, 987656):
        assert (await client.get(f"/api/v1/alerts/{alert_id}", headers=op)).status == 404
    assert (await client.get("/no/such/path/31612345678")).status == 404
    assert (await client.get("/healthz")).status == 200
    text = await (await client.get("/metrics")).text()
    route = "/api/v1/alerts/{alert_id}"
    counted = _value(text, "burgerwacht_http_requests_total", route=route, method="GET", status="4xx")
    assert (
        counted - _value(before, "burgerwacht_http_requests_total", route=route, method="GET", status="4xx")
        == 3
    )
    assert _value(text, "burgerwacht_http_requests_total", route="unmatched", status="4xx") >= 1
    assert _value(text, "burgerwacht_http_requests_total", route="/healthz", method="GET", status="2xx") >= 1
    assert _value(text, "burgerwacht_http_request_seconds_count", route=route, method="GET") >= 3
    assert "987654" not in text and "31612345678" not in text
