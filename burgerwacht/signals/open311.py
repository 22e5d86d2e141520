"""Open311 GeoReport v2 under ``/open311/v2/`` (XML and JSON, by extension).

* ``GET discovery``, ``GET services`` (the taxonomy: one service per category),
  ``GET services/{code}`` (definition; no extra attributes),
* ``POST requests`` creates a signal and returns its ``service_request_id``,
* ``GET requests/{id}`` and ``GET requests?service_request_id=a,b`` return the status
  and, as ``status_notes``, the public note triage wrote for the reporter (``public_note``
  in PATCH /api/v1/signals/{id}, numbers masked): no description, no address, no point,
  no internal notes (no personal data).
  Listing requests without ids is refused: it would publish microdata.

``api_key`` is a fieldworker/operator token (scope: its municipalities) or the
configured public key, rate-limited per client network in PostgreSQL (shared by every web
process). Fields identifying the reporter (email, phone, names, device and account
ids) are accepted and dropped, never stored. Errors follow GeoReport: a list of
``{code, description}`` (``<errors><error>`` in XML), not problem+json.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from burgerwacht import crypto
from burgerwacht.auth.service import authenticate
from burgerwacht.errors import DomainError
from burgerwacht.residents import service as residents
from burgerwacht.residents.address import parse_address_text
from burgerwacht.signals import intake, store
from burgerwacht.signals.periods import today
from burgerwacht.signals.taxonomy import taxonomy
from burgerwacht.web.api import Api, _bad_text
from burgerwacht.web.client import client_bucket
from burgerwacht.web.keys import POOL, SETTINGS
from burgerwacht.web.methods import allow_header, allowed_methods

log = logging.getLogger(__name__)

BASE = "/open311/v2"
FMT = "{format:json|xml}"
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
TOKEN_ROLES = frozenset({"fieldworker", "operator"})
MAX_IDS = 50
TAGS = ["open311"]


class GeoReportError(Exception):
    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


# ----------------------------------------------------------------------- rendering


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    el = ET.SubElement(parent, name)
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, list):
        for item in value:
            _xml_value(el, name[:-1] if name.endswith("s") else "item", item)
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, k, v)
    elif value is not None:
        el.text = str(value)


def render(
    fmt: str, root: str, item: str | None, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON as is; XML as ``<root><item>…</item>…</root>`` (or ``<root>…</root>``)."""
    if fmt == "xml":
        top = ET.Element(root)
        if item is None:
            for k, v in data.items():
                _xml_value(top, k, v)
        else:
            for entry in data:
                el = ET.SubElement(top, item)
                for k, v in entry.items():
                    _xml_value(el, k, v)
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode")
        return web.Response(
            text=body, status=status, content_type="text/xml", charset="utf-8", headers=headers
        )
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, default=str),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(
    fmt: str, status: int, description: str, headers: dict[str, str] | None = None
) -> web.Response:
    return render(fmt, "errors", "error", [{"code": status, "description": description}], status, headers)


def _fmt(request: web.Request) -> str:
    fmt = request.match_info.get("format")
    if fmt in ("json", "xml"):
        return fmt
    return "xml" if request.path.endswith(".xml") else "json"


def georeport(handler):
    """Every outcome of an Open311 route in GeoReport form, errors included."""

    async def wrapped(request: web.Request) -> web.Response:
        fmt = _fmt(request)
        try:
            bad = _bad_text([*request.query.keys(), *request.query.values()])
            if bad:  # PostgreSQL text cannot hold these: a 400 here, not a 500 later
                raise GeoReportError(400, bad)
            return await handler(request, fmt)
        except GeoReportError as exc:
            return error_response(fmt, exc.status, exc.description, exc.headers)
        except DomainError as exc:  # GeoReport answers input errors as 400, in its own format
            return error_response(fmt, 400, exc.detail)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(fmt, exc.status, exc.reason)
        except Exception:
            log.exception("open311 %s %s failed", request.method, request.path)
            return error_response(fmt, 500, "an unexpected error occurred")

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# ----------------------------------------------------------------------- helpers


async def _params(request: web.Request) -> dict[str, str]:
    """Query string plus the body (form-encoded, multipart or JSON), body winning."""
    out: dict[str, str] = {k: v for k, v in request.query.items()}
    if request.method != "POST":
        return out
    ctype = request.content_type
    if ctype == "application/json":
        try:
            data = await request.json()
        except (ValueError, RecursionError):  # bad JSON or UTF-8, huge integers, deep nesting
            raise GeoReportError(400, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise GeoReportError(400, "request body must be a JSON object")
        out.update({str(k): "" if v is None else str(v) for k, v in data.items()})
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        try:
            form = await request.post()
        except ValueError:  # not UTF-8, a broken multipart body
            raise GeoReportError(400, "request body is not a valid form (UTF-8, form-encoded)") from None
        out.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        raise GeoReportError(400, f"send the request as application/x-www-form-urlencoded, not {ctype}")
    bad = _bad_text([*out.keys(), *out.values()])
    if bad:
        raise GeoReportError(400, bad)
    return out


def _service(cat: Any) -> dict[str, Any]:
    tax = taxonomy()
    words = [k.rstrip("*") for k in cat.keywords]
    return {
        "service_code": cat.code,
        "service_name": cat.name,
        "description": f"{tax.groups[cat.group].name}: {cat.name}",
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(words[:12]),
        "group": tax.groups[cat.group].name,
    }


async def _jurisdiction(request: web.Request, params: dict[str, str]) -> str | None:
    code = params.get("jurisdiction_id", "").strip().upper()
    if not code:
        return None
    if not re.fullmatch(r"GM\d{4}", code):
        raise GeoReportError(
            404, f"jurisdiction_id {code!r} not found; use a municipality code such as GM0363"
        )
    async with request.app[POOL].acquire() as conn:
        if await store.area(conn, code) is None:
            raise GeoReportError(404, f"jurisdiction_id {code} not found")
    return code


def _client_key(request: web.Request) -> str:
    secret = request.app[SETTINGS].security.secret_key
    return crypto.keyed_hash(secret, "open311-rate", client_bucket(request)).hex()[:32]


async def _authorise(request: web.Request, api_key: str) -> tuple[str, Any]:
    """('public', None) for the rate-limited public key, ('user', StaffUser) for a token."""
    settings = request.app[SETTINGS].signals
    if not api_key:
        raise GeoReportError(403, "api_key was not provided")
    public = settings.open311_public_key
    if public and hmac.compare_digest(api_key.encode(), public.encode()):
        hits, left = await store.rate_hit(request.app[POOL], _client_key(request))
        if hits > settings.open311_requests_per_minute:
            raise GeoReportError(
                429,
                f"rate limit of {settings.open311_requests_per_minute} requests per minute exceeded; "
                f"retry in {left} s",
                {"Retry-After": str(left)},
            )
        return "public", None
    user = await authenticate(request.app[POOL], api_key)
    if user is None or user.role not in TOKEN_ROLES:
        raise GeoReportError(403, "api_key is invalid")
    return "user", user


def _float(params: dict[str, str], name: str) -> float | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise GeoReportError(400, f"{name} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise GeoReportError(400, f"{name} must be a finite number")
    return value


def _request_view(row: Any, agency: str) -> dict[str, Any]:
    """Status only: nothing a third party could use to find the reporter."""
    tax = taxonomy()
    cat = tax.categories.get(row["category"])
    return {
        "service_request_id": row["public_id"],
        "status": row["status"],
        "status_notes": row["public_note"],  # the public note triage set (never status_notes)
        "service_name": cat.name if cat else row["category"],
        "service_code": row["category"],
        "description": None,
        "agency_responsible": agency,
        "service_notice": "",
        "requested_datetime": row["created_at"].isoformat(),
        "updated_datetime": row["updated_at"].isoformat(),
        "expected_datetime": None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


async def _agency(conn: Any, municipality: str) -> str:
    row = await store.area(conn, municipality)
    return f"Gemeente {row['name']}" if row else municipality


# ----------------------------------------------------------------------- routes


async def discovery(request: web.Request, fmt: str) -> web.Response:
    """Service discovery for this GeoReport v2 endpoint."""
    base = request.app[SETTINGS].public_base + BASE
    doc = {
        "changeset": "2026-01-01T00:00:00Z",
        "contact": "Neem contact op met uw gemeente.",
        "key_service": "API keys: a fieldworker token of the municipality, or the public key for civic apps.",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base,
                "changeset": "2026-01-01T00:00:00Z",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(fmt, "discovery", None, doc)


async def services(request: web.Request, fmt: str) -> web.Response:
    """The taxonomy as GeoReport services (one per category)."""
    municipality = await _jurisdiction(request, dict(request.query))
    cats = taxonomy().categories_for(municipality)
    return render(fmt, "services", "service", [_service(c) for c in cats])


async def service_definition(request: web.Request, fmt: str) -> web.Response:
    """A service's definition: no extra attributes (metadata is false)."""
    municipality = await _jurisdiction(request, dict(request.query))
    code = request.match_info["service_code"]
    if taxonomy().category(code, municipality) is None:
        raise GeoReportError(404, f"service_code {code} not found")
    return render(fmt, "service_definition", None, {"service_code": code, "attributes": []})


async def post_request(request: web.Request, fmt: str) -> web.Response:
    """Create a service request: a signal with source open311."""
    params = await _params(request)
    _kind, user = await _authorise(request, params.get("api_key", "").strip())
    jurisdiction = await _jurisdiction(request, params)
    code = params.get("service_code", "").strip()
    if not code:
        raise GeoReportError(400, "service_code was not provided")
    lat, lon = _float(params, "lat"), _float(params, "long")
    address_string = params.get("address_string", "").strip()
    description = params.get("description", "").strip()
    if len(description) > 4000:
        raise GeoReportError(400, "description is longer than 4000 characters")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if lat is not None or lon is not None:
            if lat is None or lon is None:
                raise GeoReportError(400, "give both lat and long")
            if not (50.5 <= lat <= 53.8 and 3.0 <= lon <= 7.5):
                raise GeoReportError(400, "lat/long lie outside the Netherlands (WGS84 degrees expected)")
            x, y = intake.point_to_rd(lat, lon)
            place = await intake.place_of_point(conn, x, y)
            location = (x, y)
        elif address_string:
            query = parse_address_text(address_string)
            if query is None:
                raise GeoReportError(400, "address_string needs a postcode and house number, e.g. 1234 AB 5")
            address = await residents.find_address(conn, query)
            if address is None:
                raise GeoReportError(400, f"address {query.label} not found")
            place = await intake.place_of_buurt(conn, address["buurt_code"])
            location = None
        else:
            raise GeoReportError(400, "a location is required: lat and long, or address_string")
        if place is None:
            raise GeoReportError(400, "the location lies outside every known buurt")
        if jurisdiction and jurisdiction != place.municipality_code:
            raise GeoReportError(400, f"the location lies outside jurisdiction {jurisdiction}")
        if user is not None and not user.can_access(place.municipality_code):
            raise GeoReportError(403, f"api_key may not report in {place.municipality_code}")
        if taxonomy().category(code, place.municipality_code) is None:
            raise GeoReportError(400, f"service_code {code} not found")
        row = await intake.create_signal(
            conn,
            place=place,
            category=code,
            severity=None,
            observed_on=today(),
            source="open311",
            text=description or None,
            location=location,
            created_by="open311:public" if user is None else f"open311:{user.actor}",
            audit_actor=None if user is None else user.actor,
        )
    notice = "Bedankt voor uw melding. De gemeente gebruikt signalen om de buurtaanpak te bepalen."
    return render(
        fmt,
        "service_requests",
        "request",
        [{"service_request_id": row["public_id"], "service_notice": notice, "account_id": None}],
    )


async def get_request(request: web.Request, fmt: str) -> web.Response:
    """One service request's status."""
    async with request.app[POOL].acquire() as conn:
        row = await store.signal_by_public_id(conn, request.match_info["service_request_id"])
        if row is None:
            raise GeoReportError(404, "service_request_id not found")
        agency = await _agency(conn, row["municipality_code"])
    return render(fmt, "service_requests", "request", [_request_view(row, agency)])


async def get_requests(request: web.Request, fmt: str) -> web.Response:
    """Several requests' status by id; listing without ids is not offered."""
    raw = request.query.get("service_request_id", "").strip()
    if not raw:
        raise GeoReportError(
            400,
            "service_request_id was not provided: this server does not list service requests, "
            "because a list of requests by place and date would identify reporters",
        )
    ids = [i.strip() for i in raw.split(",") if i.strip()][: MAX_IDS + 1]
    if len(ids) > MAX_IDS:
        raise GeoReportError(400, f"at most {MAX_IDS} service_request_id values at once")
    out = []
    async with request.app[POOL].acquire() as conn:
        for public_id in ids:
            row = await store.signal_by_public_id(conn, public_id)
            if row is not None:
                out.append(_request_view(row, await _agency(conn, row["municipality_code"])))
    return render(fmt, "service_requests", "request", out)


async def not_found(request: web.Request, fmt: str) -> web.Response:
    """Anything else under /open311/v2/: a GeoReport 404 (or 405 with the methods the
    path does answer, as OPTIONS lists them)."""
    allowed = await allowed_methods(request)
    if allowed:
        listed = allow_header(allowed)
        raise GeoReportError(405, f"{request.method} is not allowed here; use {listed}", {"Allow": listed})
    if not re.search(r"\.(json|xml)$", request.path):
        raise GeoReportError(404, "unknown resource; GeoReport paths end in .json or .xml")
    raise GeoReportError(404, "unknown resource")


#: GeoReport errors: a list of {code, description}, or <errors><error> in XML.
ERRORS_JSON = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
ERROR_CONTENT = {"application/json": {"schema": ERRORS_JSON}, "text/xml": {"schema": {"type": "string"}}}
_OBJECT = {"type": "object"}
_LIST = {"type": "array", "items": {"type": "object"}}
_JURISDICTION = {
    "name": "jurisdiction_id",
    "in": "query",
    "required": False,
    "description": "A municipality code (GM0363); an unknown one is a 404",
    "schema": {"type": "string"},
}
_TEXT = r"^[^\u0000]*$"
#: The fields of POST requests.{format}, form-encoded or as a JSON object. Fields that
#: would identify the reporter (email, phone, names, device and account ids) are
#: accepted and dropped. A location is required: lat and long, or address_string.
REQUEST_FIELDS: dict[str, Any] = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        "api_key": {
            "type": "string",
            "minLength": 1,
            "pattern": _TEXT,
            "description": "A fieldworker/operator token or the public key",
        },
        "service_code": {"type": "string", "minLength": 1, "pattern": r"^[a-z0-9_]+$"},
        "jurisdiction_id": {"type": "string", "pattern": r"^GM\d{4}$"},
        "lat": {"type": "number", "minimum": 50.5, "maximum": 53.8, "description": "WGS84, with long"},
        "long": {"type": "number", "minimum": 3.0, "maximum": 7.5, "description": "WGS84, with lat"},
        "address_string": {
            "type": "string",
            "pattern": _TEXT,
            "description": "A postcode and house number, e.g. 1234 AB 5 (instead of lat/long)",
        },
        "description": {"type": "string", "maxLength": 4000, "pattern": _TEXT},
        "media_url": {"type": "string", "pattern": _TEXT, "description": "Accepted, not stored"},
        "address_id": {"type": "string", "pattern": _TEXT},
        "email": {"type": "string", "pattern": _TEXT, "description": "Accepted, never stored"},
        "device_id": {"type": "string", "pattern": _TEXT, "description": "Accepted, never stored"},
        "account_id": {"type": "string", "pattern": _TEXT, "description": "Accepted, never stored"},
        "first_name": {"type": "string", "pattern": _TEXT, "description": "Accepted, never stored"},
        "last_name": {"type": "string", "pattern": _TEXT, "description": "Accepted, never stored"},
        "phone": {"type": "string", "pattern": _TEXT, "description": "Accepted, never stored"},
    },
    "anyOf": [{"required": ["lat", "long"]}, {"required": ["address_string"]}],
}


def register(api: Api) -> None:
    """Add the Open311 routes to the signals route collection."""
    ids = {
        "name": "service_request_id",
        "in": "query",
        "required": True,
        "description": f"Comma-separated request ids, at most {MAX_IDS}",
        "schema": {"type": "string", "minLength": 1, "pattern": r"^[^\u0000]*[^\s,\u0000][^\u0000]*$"},
    }
    # (method, path, handler, summary, JSON success schema, documented errors, extra params)
    routes = [
        (
            "GET",
            f"{BASE}/discovery.{FMT}",
            discovery,
            "GeoReport service discovery",
            _OBJECT,
            {404: "Unknown format"},
            [],
        ),
        (
            "GET",
            f"{BASE}/services.{FMT}",
            services,
            "GeoReport services: the signal taxonomy",
            _LIST,
            {404: "Unknown format or jurisdiction_id"},
            [_JURISDICTION],
        ),
        (
            "GET",
            f"{BASE}/services/{{service_code:[a-z0-9_]+}}.{FMT}",
            service_definition,
            "GeoReport service definition",
            _OBJECT,
            {404: "Unknown service_code, format or jurisdiction_id"},
            [_JURISDICTION],
        ),
        (
            "POST",
            f"{BASE}/requests.{FMT}",
            post_request,
            "GeoReport: submit a service request (creates a signal)",
            _LIST,
            {
                400: "A missing or invalid field, or a location outside every known buurt",
                403: "api_key missing or invalid, or outside its municipalities",
                404: "Unknown format or jurisdiction_id",
                413: "Body too large",
                429: "Rate limit of the public key exceeded (see Retry-After)",
            },
            [],
        ),
        (
            "GET",
            f"{BASE}/requests.{FMT}",
            get_requests,
            "GeoReport: status of requests by id",
            _LIST,
            {400: "service_request_id missing or too many ids", 404: "Unknown format"},
            [ids],
        ),
        (
            "GET",
            f"{BASE}/requests/{{service_request_id:[A-Za-z0-9_-]+}}.{FMT}",
            get_request,
            "GeoReport: status of one request (no personal data)",
            _LIST,
            {404: "Unknown service_request_id or format"},
            [],
        ),
        (
            "GET",
            f"{BASE}/{{tail:[\\s\\S]*}}",  # any rest, newlines included
            not_found,
            "GeoReport error for unknown paths",
            None,
            {404: "Unknown resource", 405: "Method not allowed"},
            [],
        ),
        (
            "POST",
            f"{BASE}/{{tail:[\\s\\S]*}}",  # any rest, newlines included
            not_found,
            "GeoReport error for unknown paths",
            None,
            {404: "Unknown resource", 405: "Method not allowed"},
            [],
        ),
    ]
    body = {
        "application/x-www-form-urlencoded": {"schema": REQUEST_FIELDS},
        "application/json": {"schema": REQUEST_FIELDS},
    }
    for method, path, handler, summary, ok_schema, errors, params in routes:
        api.route(
            method,
            path,
            summary=summary,
            tags=TAGS,
            content_type="application/json",
            extra_content={
                "application/json": {"schema": ok_schema or {}},
                "text/xml": {"schema": {"type": "string"}},
            },
            body_content=body if handler is post_request else None,
            responses={400: "A parameter holds NUL or a lone surrogate", **errors},
            error_content=ERROR_CONTENT,
            doc_params=params,
            fallback=handler is not_found,
        )(georeport(handler))
