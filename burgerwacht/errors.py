"""One error family for every domain: :class:`DomainError`.

A service raises ``DomainError(status, slug, detail)`` when a request cannot be done;
it knows nothing of HTTP beyond the status number it suggests. The web layer's problem
middleware (``burgerwacht/web/errors.py``) turns it into RFC 9457 problem details; the
SMS and voice paths read ``detail`` (or :meth:`DomainError.message` for a resident's
language). No ``_problem`` adapters, no try/re-raise in route handlers.

- ``slug`` becomes the problem ``type`` URI (``https://burgerwacht.nl/problems/<slug>``).
- ``field`` names the offending input (``"category"``, ``"query.to"``); it becomes one
  ``errors`` entry so generated clients can point at the field. A bare name is taken to
  be in the body.
- ``messages`` holds the same text in other languages (``{"en": "..."}``) for errors a
  resident reads; ``detail`` is the Dutch (default) text. The answer is in the language
  the request asked for (see :meth:`message`).
- ``headers`` go on the HTTP answer (``Retry-After`` for limits).
- Anything else in ``extra`` becomes a member of the problem document.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that cannot be done, with the status, slug and text to answer it."""

    def __init__(
        self,
        status: int,
        slug: str | None,
        detail: str,
        *,
        field: str | None = None,
        messages: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.field = field
        self.messages = messages or {}
        self.headers = headers or {}
        self.title = title
        self.extra = extra
        if errors is None and field is not None:
            loc = field if "." in field else f"body.{field}"
            errors = [{"loc": loc, "msg": detail, "type": slug or "invalid"}]
        self.errors = errors

    def message(self, language: str | None = None) -> str:
        """The text in ``language`` when there is one, else ``detail`` (Dutch)."""
        return self.messages.get(language or "", self.detail)
