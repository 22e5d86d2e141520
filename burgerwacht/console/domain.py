"""The web console's pages and static files."""

from burgerwacht.console import api
from burgerwacht.domain import Domain

DOMAIN = Domain("console", apis=(api.api,))
