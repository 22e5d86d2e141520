"""The residents domain: enrolment routes, retention of their records, the AVG export command.

(The resident keywords, STOP/VERWIJDER/AANMELDEN, are the SMS router's first stop:
``webhooks/inbound.py`` asks residents before any domain's handler; AANMELDEN with an
address has a fast path, ``residents/inbound.py``.)"""

from burgerwacht.domain import Domain
from burgerwacht.residents import api, cli, inbound, jobs

DOMAIN = Domain(
    "residents",
    apis=(api.api,),
    jobs=(jobs.purge_resident_records, jobs.make_delivery_partitions),
    commands=(cli.resident,),
    fast_sms_handlers=(inbound.enrol_sms_fast,),
)
