"""OASIS Common Alerting Protocol (CAP) 1.2: import alerts from operators' tools, export
alerts, closing messages and cancellations for them."""

from burgerwacht.cap.cap import (
    CAP_NS,
    FIELD_ELEMENTS,
    LEVELS,
    MISSING_PERSON_LEVELS,
    CapError,
    export_cap,
    parse_cap,
    validate_cap,
)

__all__ = [
    "CAP_NS",
    "FIELD_ELEMENTS",
    "LEVELS",
    "MISSING_PERSON_LEVELS",
    "CapError",
    "export_cap",
    "parse_cap",
    "validate_cap",
]
