"""The auth domain: staff users and their tokens (the ``user`` commands live in cli.py)."""

from burgerwacht.auth import api
from burgerwacht.domain import Domain

DOMAIN = Domain("auth", apis=(api.api,))
