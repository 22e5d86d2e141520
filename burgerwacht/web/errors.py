"""RFC 9457 problem details for every 4xx/5xx answer.

Services raise :class:`~burgerwacht.errors.DomainError`, route code raises its web-shaped
subclass :class:`Problem` (or aiohttp's ``HTTPException``); the middleware turns all of
them, and any unexpected exception, into ``application/problem+json``. An unexpected
exception is logged with the request id and answered 500 without internals.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from burgerwacht.db import outage
from burgerwacht.errors import DomainError
from burgerwacht.web.keys import REQUEST_ID, SETTINGS
from burgerwacht.web.methods import allow_header, allowed_methods

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://burgerwacht.nl/problems/"


class Problem(DomainError):
    """An error the web layer itself raises (bad path id, wrong content type): the same
    :class:`~burgerwacht.errors.DomainError`, with the argument order route code reads
    best (``Problem(404, "no alert 7", slug="not-found")``)."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status, slug, detail or "", title=title, errors=errors, headers=headers, **extra)


# A handler that knows the language a resident asked for sets it on the request; a
# DomainError with translations is then answered in that language.
LANGUAGE = web.RequestKey("language", str)


def problem_body(
    error: DomainError, language: str | None = None, instance: str | None = None
) -> dict[str, Any]:
    """The RFC 9457 document for ``error``."""
    doc: dict[str, Any] = {
        "type": PROBLEM_BASE + error.slug if error.slug else "about:blank",
        "title": error.title or HTTPStatus(error.status).phrase,
        "status": error.status,
    }
    detail = error.message(language)
    if detail:
        doc["detail"] = detail
    if instance:
        doc["instance"] = instance
    if error.errors is not None:
        doc["errors"] = error.errors
    if error.messages:  # every language, so a client can show the resident's own
        doc["message_nl"] = error.detail
        doc.update({f"message_{lang}": text for lang, text in error.messages.items()})
    doc.update(error.extra)
    return doc


def problem_response(problem: DomainError, request: web.Request | None = None) -> web.Response:
    language = request.get(LANGUAGE) if request is not None else None
    body = problem_body(problem, language, request.path if request is not None else None)
    if request is not None and REQUEST_ID in request:
        body["request_id"] = request[REQUEST_ID]
    return web.Response(
        status=problem.status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def validation_problem(exc: ValidationError, *, location: str = "body") -> Problem:
    """422 with one entry per field: ``{"loc": "body.target.radius_m", "msg": ...}``."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False):
        path = ".".join(str(p) for p in (location, *err["loc"]))
        errors.append({"loc": path, "msg": err["msg"], "type": err["type"]})
    first = errors[0] if errors else None
    detail = f"{first['loc']}: {first['msg']}" if first else "invalid request"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return Problem(422, detail, slug="validation-error", title="Validation failed", errors=errors)


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large", 401: "unauthorized"}


@web.middleware
async def problem_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except DomainError as error:
        return problem_response(error, request)
    except ValidationError as exc:
        return problem_response(validation_problem(exc), request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.reason if exc.text in (None, "", f"{exc.status}: {exc.reason}") else exc.text
        if exc.status == 413:
            detail = (
                f"request body is larger than the limit of {request.app[SETTINGS].http.max_body_bytes} bytes"
            )
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        status = exc.status
        if status == 405:  # aiohttp's Allow also lists the methods of catch-alls
            allowed = await allowed_methods(request)
            headers["Allow"] = allow_header(allowed)
            if not allowed:  # only a catch-all matched: nothing is here
                status, detail, headers = 404, "Not Found", {}
        return problem_response(
            Problem(status, detail, slug=_HTTP_SLUGS.get(status), headers=headers), request
        )
    except (asyncio.CancelledError, web.GracefulExit):
        raise
    except Exception as exc:
        if outage.unavailable(exc):  # expected and transient: one warning per outage, 503
            outage.noticed(exc, f"{request.method} {request.path}")
            return problem_response(
                Problem(
                    503,
                    "the database is unavailable; try again shortly",
                    slug="database-unavailable",
                    headers={"Retry-After": str(outage.RETRY_AFTER)},
                ),
                request,
            )
        log.exception(
            "unhandled error in %s %s",
            request.method,
            request.path,
            extra={"request_id": request.get(REQUEST_ID)},
        )
        return problem_response(
            Problem(
                500,
                "an unexpected error occurred; quote the request id when reporting it",
                slug="internal-error",
            ),
            request,
        )


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_FORM_ROUTES = ("/twilio/",)


@web.middleware
async def form_guard(request: web.Request, handler):
    """Read a provider webhook's form once, up front, so a malformed one (invalid UTF-8,
    broken multipart) is a 400 problem rather than an exception in the signature check
    that reads it first. aiohttp keeps the parsed form: handlers get it without reading
    again. (Only /twilio/ routes read forms; Open311 answers its own errors.)"""
    if request.method == "POST" and request.path.startswith(_FORM_ROUTES) and request.content_type in _FORMS:
        try:
            await request.post()
        except (UnicodeDecodeError, ValueError) as exc:
            reason = "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise Problem(400, f"the form body cannot be read: {reason}", slug="invalid-form") from None
    return await handler(request)
