"""Page tokens and links, without database or web imports (the alerts domain and its
dispatch worker use them to put the link in an SMS).

A token is 10 characters of base62 from :mod:`secrets` (~59 bits): short enough for an
SMS, too many to guess (the pages of unsent alerts answer 404 like unknown tokens).
"""

from __future__ import annotations

import re
import secrets

from burgerwacht.config import Settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_LENGTH = 10
#: What the routes match (any path segment, so every /a/… answers the page's own HTML
#: 404), and what a token looks like (checked before any query).
PAGE_ID_PATTERN = r"[^/]+"
TOKEN_RE = re.compile(r"[0-9A-Za-z]{8,32}")
#: Alert states whose page exists (drafts, alerts awaiting approval and cancelled ones have none).
SHOWN = frozenset({"sending", "active", "closed", "expired"})


def new_token() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_LENGTH))


def page_url(settings: Settings, token: str | None) -> str | None:
    """The page's full address (``public.short_url`` + ``/a/{token}``), None without a token."""
    return f"{settings.short_base}/a/{token}" if token else None


def photo_url(settings: Settings, token: str | None) -> str | None:
    """The address of the alert's photo (``public.short_url`` + ``/a/{token}/photo.jpg``);
    it answers once the alert was sent, as the page does. None without a token."""
    return f"{settings.short_base}/a/{token}/photo.jpg" if token else None


def public_url(settings: Settings, token: str | None, status: str, sent_at: object) -> str | None:
    """The page address as the alert's JSON shows it: only once the alert was sent and
    while its page exists."""
    return page_url(settings, token) if sent_at is not None and status in SHOWN else None
