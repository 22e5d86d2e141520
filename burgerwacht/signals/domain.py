"""The signals domain (Buurtsignaal): routes, rollups and reports, SIGNAAL by SMS and
the gebiedsscan import."""

from burgerwacht.domain import Domain
from burgerwacht.signals import api, cli, inbound, jobs

DOMAIN = Domain(
    "signals",
    apis=(api.api,),
    jobs=(jobs.rollup, jobs.weekly_report, jobs.retention),
    sms_handlers=(inbound.signal_by_sms,),
    erasure_hooks=(inbound.erase_number,),
    commands=(cli.import_gebiedsscan,),
)
