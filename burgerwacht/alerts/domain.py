"""The alerts domain: routes, the status-check job and the dispatch worker."""

from burgerwacht.alerts import api, jobs, worker
from burgerwacht.domain import Domain

DOMAIN = Domain(
    "alerts",
    apis=(api.api,),
    jobs=(jobs.check_stale_sends,),
    workers=(worker.start_worker,),
)
