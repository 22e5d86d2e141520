"""The provider's webhooks: inbound SMS, status callbacks and the voice flows."""

from burgerwacht.domain import Domain
from burgerwacht.webhooks import api

DOMAIN = Domain("webhooks", apis=(api.api,))
