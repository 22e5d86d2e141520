"""The templates domain: alert templates with {placeholders} (issue 17)."""

from burgerwacht.domain import Domain
from burgerwacht.templates import api, cli

DOMAIN = Domain("templates", apis=(api.api,), commands=(cli.templates,))
