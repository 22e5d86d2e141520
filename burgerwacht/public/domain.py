"""The public page per alert (issue 17): ``/a/{token}`` and its tip form."""

from burgerwacht.domain import Domain
from burgerwacht.public import api, jobs

DOMAIN = Domain("public", apis=(api.api,), jobs=(jobs.purge_tip_rates,))
