"""The participation domain: coverage per area (routes) and the KWB import (command)."""

from burgerwacht.domain import Domain
from burgerwacht.participation import api, cli

DOMAIN = Domain("participation", apis=(api.api,), commands=(cli.import_kwb,))
