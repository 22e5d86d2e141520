"""The bulletins domain: buurt bulletins to residents who opted in (terugkoppeling)."""

from burgerwacht.bulletins import api, service
from burgerwacht.domain import Domain

DOMAIN = Domain("bulletins", apis=(api.api,), export_hooks={"bulletins": service.export})
