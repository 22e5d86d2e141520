"""The domains this service is made of, listed once.

Everything a domain contributes (routes, jobs, SMS handlers, erasure and export hooks,
CLI commands, worker services) is in its ``DOMAIN`` (see ``burgerwacht/domain.py``).
The app factory (``web/app.py``), the scheduler, the SMS router
(``webhooks/inbound.py``), erasure and export (``residents/service.py``) and the CLI
(``cli.py``) loop over :data:`DOMAINS`; the order here is the order of the OpenAPI
document and of the SMS handlers (tips before signals: free text is a tip).
"""

from __future__ import annotations

from burgerwacht import metrics
from burgerwacht.alerts.domain import DOMAIN as ALERTS
from burgerwacht.areas.domain import DOMAIN as AREAS
from burgerwacht.audit.domain import DOMAIN as AUDIT
from burgerwacht.auth.domain import DOMAIN as AUTH
from burgerwacht.bulletins.domain import DOMAIN as BULLETINS
from burgerwacht.console.domain import DOMAIN as CONSOLE
from burgerwacht.council.domain import DOMAIN as COUNCIL
from burgerwacht.domain import Domain
from burgerwacht.effectiveness.domain import DOMAIN as EFFECTIVENESS
from burgerwacht.mijn.domain import DOMAIN as MIJN
from burgerwacht.participation.domain import DOMAIN as PARTICIPATION
from burgerwacht.photos.domain import DOMAIN as PHOTOS
from burgerwacht.public.domain import DOMAIN as PUBLIC
from burgerwacht.residents.domain import DOMAIN as RESIDENTS
from burgerwacht.scheduler import housekeeping
from burgerwacht.signals.domain import DOMAIN as SIGNALS
from burgerwacht.templates.domain import DOMAIN as TEMPLATES
from burgerwacht.tips.domain import DOMAIN as TIPS
from burgerwacht.web import system
from burgerwacht.webhooks.domain import DOMAIN as WEBHOOKS

SYSTEM = Domain("system", apis=(system.api,), jobs=(housekeeping,))
METRICS = Domain("metrics", apis=(metrics.api,))

DOMAINS: tuple[Domain, ...] = (
    SYSTEM,
    AUTH,
    AREAS,
    RESIDENTS,
    MIJN,
    AUDIT,
    ALERTS,
    TEMPLATES,
    TIPS,
    PUBLIC,
    PHOTOS,
    EFFECTIVENESS,
    SIGNALS,
    PARTICIPATION,
    COUNCIL,
    BULLETINS,
    WEBHOOKS,
    METRICS,
    CONSOLE,
)
