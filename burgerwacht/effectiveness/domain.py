"""The effectiveness domain: alert figures per level and month, and the joint picture."""

from burgerwacht.domain import Domain
from burgerwacht.effectiveness import api

DOMAIN = Domain("effectiveness", apis=(api.api,))
