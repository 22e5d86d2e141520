"""Delivery states move forward only; a provider callback can never move one back.

queued → sending → sent → delivered | undelivered | failed, and queued → expired |
cancelled | skipped. Only the worker that holds a claim may put a 'sending' row back to
'queued' (a retry), and only through its own claim.
"""

from __future__ import annotations

RANK = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "expired": 3,
    "cancelled": 3,
    "skipped": 3,
}
TERMINAL = frozenset(s for s, r in RANK.items() if r == 3)
REACHED = frozenset({"sent", "delivered"})

# Twilio MessageStatus → delivery state
SMS_STATUS = {
    "accepted": "sending",
    "queued": "sending",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "read": "delivered",
}
# Twilio CallStatus → delivery state
CALL_STATUS = {
    "queued": "sending",
    "initiated": "sending",
    "ringing": "sent",
    "in-progress": "sent",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def moves_forward(old: str, new: str) -> bool:
    return old not in TERMINAL and RANK[new] > RANK[old]
