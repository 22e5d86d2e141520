"""Mijn Burgerwacht (issue 19): the resident's own page, its sign-in and sessions."""

from burgerwacht.domain import Domain
from burgerwacht.mijn import api, jobs, service

DOMAIN = Domain(
    "mijn",
    apis=(api.api,),
    jobs=(jobs.purge_mijn_sessions,),
    erasure_hooks=(service.erase_logins,),
    export_hooks={"mijn_logins": service.export_logins},
)
