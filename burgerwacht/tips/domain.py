"""The tips domain: routes, retention, tips by SMS, and what erasure and the export do
with a resident's tips."""

from burgerwacht.domain import Domain
from burgerwacht.tips import api, inbound, jobs, service

DOMAIN = Domain(
    "tips",
    apis=(api.api,),
    jobs=(jobs.purge_tips, jobs.fetch_media),
    fast_sms_handlers=(inbound.tip_sms_fast,),
    sms_handlers=(inbound.empty_tip,),
    erasure_hooks=(service.on_erasure,),
    export_hooks={"tips": service.export_tips},
)
