"""The audit domain: the daily check of the hash chain."""

from burgerwacht.audit import jobs
from burgerwacht.domain import Domain

DOMAIN = Domain("audit", jobs=(jobs.verify_audit_chain,))
