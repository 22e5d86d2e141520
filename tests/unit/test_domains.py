"""The explicit wiring: every domain's routes, jobs, SMS handlers, erasure hooks and
commands come from ``burgerwacht/domains.py``, with nothing registered on import."""

from __future__ import annotations

import subprocess
import sys

from burgerwacht import scheduler
from burgerwacht.domains import DOMAINS
from burgerwacht.web.app import all_specs


def test_domains_are_listed_once_with_unique_names():
    names = [d.name for d in DOMAINS]
    assert len(names) == len(set(names))
    assert {"alerts", "tips", "signals", "residents", "areas", "webhooks"} <= set(names)


def test_scheduler_runs_every_domains_jobs():
    assert set(scheduler.all_jobs()) == {
        "scheduler.housekeeping",
        "audit-verify",
        "residents-retention",
        "deliveries-partitions",
        "mijn-sessions-purge",
        "alerts-status-check",
        "tips-retention",
        "tips-media",
        "public-tip-rate-purge",
        "public-photo-purge",
        "signals.rollup",
        "signals.weekly_report",
        "signals.retention",
    }


def test_sms_handlers_and_erasure_hooks_come_from_the_domains():
    handlers = [h.__module__ for d in DOMAINS for h in d.sms_handlers]
    assert handlers == ["burgerwacht.tips.inbound", "burgerwacht.signals.inbound"]  # free text is a tip
    assert [h.__module__ for d in DOMAINS for h in d.fast_sms_handlers] == [
        "burgerwacht.residents.inbound",  # AANMELDEN bursts (enrolment fast path)
        "burgerwacht.tips.inbound",
    ]
    hooks = [h.__module__ for d in DOMAINS for h in d.erasure_hooks]
    assert hooks == ["burgerwacht.mijn.service", "burgerwacht.tips.service", "burgerwacht.signals.inbound"]


def test_every_route_is_mounted_once():
    keys = [(s.method, s.path) for s in all_specs()]
    assert len(keys) == len(set(keys))
    paths = {p for _, p in keys}
    for path in (
        "/api/v1/alerts",
        "/api/v1/tips",
        "/api/v1/signals/summary",
        "/twilio/sms",
        "/metrics",
        "/twilio/voice/code/{enrolment_id}",
        "/healthz",
        "/mijn",
        "/mijn/export.json",
    ):
        assert path in paths, path


def test_cli_lists_every_domains_commands():
    out = subprocess.run(
        [sys.executable, "-m", "burgerwacht", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("import-areas", "import-addresses", "import-gebiedsscan", "resident", "user", "migrate"):
        assert command in out, command
