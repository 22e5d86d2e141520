"""Typed routes: one decorator declares a route's method, path, roles, request and
response models. The same declaration drives parsing (pydantic v2 → 422 with field
paths), access checks (401/403) and the OpenAPI 3.1 document, so nothing is written
twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema

from burgerwacht.auth.models import StaffUser
from burgerwacht.auth.service import authenticate
from burgerwacht.web.errors import PROBLEM_JSON, Problem, validation_problem
from burgerwacht.web.keys import POOL
from burgerwacht.web.methods import mark_fallback

USER = web.RequestKey("user", StaffUser)

Handler = Callable[..., Awaitable[Any]]


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: tuple[str, ...]
    roles: frozenset[str] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    form: type[BaseModel] | None
    response: Any
    status: int
    responses: dict[int, str] = field(default_factory=dict)
    content_type: str = "application/json"
    extra_content: dict[str, dict[str, Any]] = field(default_factory=dict)
    body_content: dict[str, dict[str, Any]] = field(default_factory=dict)
    public: bool = True
    #: Content of the error responses instead of problem+json (Open311 has its own).
    error_content: dict[str, dict[str, Any]] | None = None
    #: Extra parameters for the document only (routes that read them themselves).
    doc_params: list[dict[str, Any]] = field(default_factory=list)
    #: Answers only errors (see ``fallback`` in :meth:`Api.route`): no success response.
    fallback: bool = False
    #: A GET route that answers HEAD too (the same handler; aiohttp sends no body).
    head: bool = False


def _json_default(value: Any) -> Any:
    """Values json cannot write: models as pydantic writes them (aliases, JSON mode),
    dates and times as RFC 3339 (``T``, as pydantic writes them and as the OpenAPI
    ``date-time`` format requires), anything else as text. json calls this only for
    such values, so a large response is not walked twice (a summary's ~12,000 values
    took ~3 ms to copy before encoding)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json_dumps(value), status=status, content_type="application/json", headers=headers
    )


#: Deeper JSON than any request model needs is refused before validation (pydantic,
#: the NUL check and json itself recurse; a few kilobytes of brackets must not be a 500).
MAX_JSON_DEPTH = 32


class _Refused(ValueError):
    """JSON that Python's parser accepts but RFC 8259 or this API does not."""


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def loads_strict(raw: bytes) -> Any:
    """Parse a request body as RFC 8259 JSON in UTF-8 (a BOM is tolerated): no NaN or
    Infinity, no duplicate keys, at most MAX_JSON_DEPTH levels. Raises Problem(400)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(
            400, f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}", slug="invalid-json"
        ) from None
    try:
        data = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise Problem(
            400, f"JSON nested more than {MAX_JSON_DEPTH} levels deep", slug="invalid-json"
        ) from None
    except ValueError as exc:  # JSONDecodeError, _Refused, integers past Python's digit limit
        raise Problem(400, f"request body is not valid JSON: {exc}", slug="invalid-json") from None
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise Problem(400, f"JSON nested more than {MAX_JSON_DEPTH} levels deep", slug="invalid-json")
    return data


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


async def parse_json_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    data = await read_json_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, location="body") from None


async def read_json_body(request: web.Request) -> Any:
    """The request's JSON body, checked as every body is (media type, strict JSON, no NUL
    or lone surrogate, present), before any model reads it."""
    if request.content_type not in ("application/json", "") and not request.content_type.endswith("+json"):
        raise Problem(
            415,
            f"send the body as application/json, not {request.content_type}",
            slug="unsupported-media-type",
        )
    raw = await request.read()  # 413 past client_max_size
    data = loads_strict(raw) if raw else None
    bad = _bad_text(data)
    if bad:  # PostgreSQL text cannot hold these: refuse them here, not with a 500 later
        raise Problem(422, bad, slug="validation-error")
    if data is None:
        raise Problem(
            422,
            "request body is required",
            slug="validation-error",
            errors=[{"loc": "body", "msg": "Field required", "type": "missing"}],
        )
    return data


def _bad_text(value: Any) -> str | None:
    """Why some string in ``value`` (keys included) cannot be stored, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_PROBLEM
            if _SURROGATE.search(item):
                return SURROGATE_PROBLEM
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


_SURROGATE = re.compile(r"[\ud800-\udfff]")
NUL_PROBLEM = "text must not contain NUL characters (\\u0000)"
SURROGATE_PROBLEM = "text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is not a character"


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    list_fields = {
        name for name, f in model.model_fields.items() if getattr(f.annotation, "__origin__", None) is list
    }
    for key in request.query:
        values = request.query.getall(key)
        bad = _bad_text([key, *values])
        if bad:
            raise Problem(422, bad, slug="validation-error")
        data[key] = values if key in list_fields else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, location="query") from None


async def require_user(request: web.Request, roles: frozenset[str]) -> StaffUser:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "send a staff token as 'Authorization: Bearer <token>'",
            slug="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="burgerwacht"'},
        )
    user = await authenticate(request.app[POOL], token.strip())
    if user is None:
        raise Problem(
            401,
            "the token is unknown, revoked or expired",
            slug="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="burgerwacht", error="invalid_token"'},
        )
    if user.role not in roles:
        raise Problem(
            403,
            f"role '{user.role}' may not do this; needed: {', '.join(sorted(roles))}",
            slug="forbidden-role",
        )
    request[USER] = user
    return user


def current_user(request: web.Request) -> StaffUser:
    return request[USER]


def check_scope(user: StaffUser, municipalities: Iterable[str | None]) -> None:
    """403 unless the user's scope covers every municipality named."""
    outside = sorted({m or "?" for m in municipalities if not user.can_access(m)})
    if outside:
        raise Problem(403, f"outside your scope: {', '.join(outside)}", slug="forbidden-scope")


class Api:
    """A collection of typed routes (one per domain sub-package)."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str = "",
        tags: Iterable[str] = (),
        roles: Iterable[str] | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        form: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        responses: dict[int, str] | None = None,
        content_type: str = "application/json",
        extra_content: dict[str, dict[str, Any]] | None = None,
        body_content: dict[str, dict[str, Any]] | None = None,
        raw_body: bool = False,
        fallback: bool = False,
        error_content: dict[str, dict[str, Any]] | None = None,
        doc_params: list[dict[str, Any]] | None = None,
        head: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare a route. The handler gets ``request`` plus ``body=``/``query=`` when
        declared; it returns a model/dict (serialised with ``status``) or a Response.
        ``raw_body`` leaves body parsing to the handler (declared for docs only);
        a ``fallback`` route only answers errors for paths no other route serves (its
        method is not listed in ``Allow``); ``head`` serves HEAD on a GET route as well."""
        role_set = frozenset(roles) if roles is not None else None

        def decorate(handler: Handler) -> Handler:
            async def wrapped(request: web.Request) -> web.StreamResponse:
                if role_set is not None:
                    await require_user(request, role_set)
                kwargs: dict[str, Any] = {}
                if body is not None and not raw_body:
                    kwargs["body"] = await parse_json_body(request, body)
                if query is not None:
                    kwargs["query"] = parse_query(request, query)
                result = await handler(request, **kwargs)
                if isinstance(result, web.StreamResponse):
                    return result
                return json_response(result, status)

            wrapped.__name__ = handler.__name__
            wrapped.__doc__ = handler.__doc__
            if fallback:
                mark_fallback(wrapped)
            self.specs.append(
                RouteSpec(
                    method=method.upper(),
                    path=path,
                    handler=wrapped,
                    summary=summary or (handler.__doc__ or "").strip().split("\n")[0],
                    tags=tuple(tags),
                    roles=role_set,
                    body=body,
                    query=query,
                    form=form,
                    response=response,
                    status=status,
                    responses=dict(responses or {}),
                    content_type=content_type,
                    extra_content=dict(extra_content or {}),
                    body_content=dict(body_content or {}),
                    error_content=error_content,
                    doc_params=list(doc_params or []),
                    fallback=fallback,
                    head=head and method.upper() == "GET",
                )
            )
            return handler

        return decorate

    def get(self, path: str, **kw: Any):
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any):
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any):
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.route("DELETE", path, **kw)

    def register(self, app: web.Application) -> None:
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, spec.handler)
            if spec.head:
                app.router.add_route("HEAD", spec.path, spec.handler)


# --------------------------------------------------------------------------- OpenAPI

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
_PARAM_PATTERN = re.compile(r"{([^}:]+)(?::([^}]*))?}")
#: Paths whose errors are problem documents (Open311 answers GeoReport errors of its own).
_PROBLEM_PREFIXES = ("/api/", "/twilio/")
_DEFAULT_ERRORS = {
    400: "Malformed request",
    401: "Missing or invalid token",
    403: "Outside role or scope",
    404: "No such resource",
    413: "Body too large",
    415: "Body is not application/json",
    422: "Validation failed",
}


#: No string the service stores may hold NUL (PostgreSQL text cannot; see _bad_text).
NO_NUL_PATTERN = r"^[^\u0000]*$"


def _path_param_schema(pattern: str | None) -> dict[str, Any]:
    """The schema of a path parameter from its aiohttp pattern: an enum for a list of
    literal words (``json|xml``), else the pattern anchored (``.*`` is any string)."""
    if not pattern or pattern in (".*", ".+"):
        return {"type": "string"} if pattern != ".+" else {"type": "string", "minLength": 1}
    if re.fullmatch(r"\w+(\|\w+)*", pattern):
        return {"type": "string", "enum": pattern.split("|")}
    return {"type": "string", "pattern": f"^(?:{pattern})$"}


def _no_nul_strings(node: Any) -> None:
    """Add NO_NUL_PATTERN to every free string schema (no pattern, enum, const or
    format of its own): the service refuses NUL in any text with a 422."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & node.keys():
            node["pattern"] = NO_NUL_PATTERN
        for value in node.values():
            _no_nul_strings(value)
    elif isinstance(node, list):
        for value in node:
            _no_nul_strings(value)


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def build_openapi(specs: list[RouteSpec], *, title: str, version: str, server_url: str) -> dict[str, Any]:
    models: dict[tuple[type[BaseModel], str], None] = {}
    for s in specs:
        for m, mode in ((s.body, "validation"), (s.form, "validation"), (s.query, "validation")):
            if m is not None:
                models[(m, mode)] = None
        if _is_model(s.response):
            models[(s.response, "serialization")] = None
    key_map, defs = models_json_schema(list(models), ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "loc": {"type": "string"},
                        "msg": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            },
        },
    }

    def schema_of(t: Any, mode: str = "serialization") -> dict[str, Any]:
        if _is_model(t):
            return key_map[(t, mode)]
        if t is None:
            return {}
        return TypeAdapter(t).json_schema(ref_template="#/components/schemas/{model}", mode=mode)

    paths: dict[str, dict[str, Any]] = {}
    for s in specs:
        oa_path = _PARAM.sub(r"{\1}", s.path)
        op: dict[str, Any] = {
            "operationId": f"{s.method.lower()}_{s.handler.__name__}",
            "summary": s.summary,
            "tags": list(s.tags),
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_param_schema(pattern)}
            for name, pattern in _PARAM_PATTERN.findall(s.path)
        ]
        if s.query is not None:
            q_schema = s.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(q_schema.get("required", []))
            for name, prop in q_schema.get("properties", {}).items():
                param = {"name": name, "in": "query", "required": name in required, "schema": prop}
                if "description" in prop:
                    param["description"] = prop["description"]
                params.append(param)
        params.extend(s.doc_params)
        if params:
            op["parameters"] = params
        if s.body is not None:
            content = {"application/json": {"schema": schema_of(s.body, "validation")}}
            content.update(s.body_content)
            op["requestBody"] = {"required": True, "content": content}
        elif s.form is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": schema_of(s.form, "validation")},
                    **s.body_content,
                },
            }
        elif s.body_content:
            op["requestBody"] = {"required": True, "content": dict(s.body_content)}
        ok: dict[str, Any] = {"description": "OK" if s.status < 300 else "Accepted"}
        if s.content_type == "application/json":
            if s.response is not None:
                ok["content"] = {"application/json": {"schema": schema_of(s.response)}}
        else:
            ok["content"] = {s.content_type: {"schema": {"type": "string"}}}
        if s.extra_content:
            ok.setdefault("content", {}).update(s.extra_content)
        responses: dict[str, Any] = {} if s.fallback else {str(s.status): ok}
        errors = dict(s.responses)
        if s.body is not None or s.query is not None:
            errors.setdefault(422, _DEFAULT_ERRORS[422])
            errors.setdefault(413, _DEFAULT_ERRORS[413])
        if s.body is not None and s.content_type == "application/json":
            errors.setdefault(400, _DEFAULT_ERRORS[400])  # not JSON (loads_strict)
            errors.setdefault(415, _DEFAULT_ERRORS[415])
        if _PARAM.search(s.path) and s.path.startswith(_PROBLEM_PREFIXES):
            errors.setdefault(404, _DEFAULT_ERRORS[404])  # an id the route does not know
        if s.roles is not None:
            errors.setdefault(401, _DEFAULT_ERRORS[401])
            errors.setdefault(403, _DEFAULT_ERRORS[403])
            op["security"] = [{"bearer": []}]
        error_content = s.error_content or {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        for code, desc in sorted(errors.items()):
            responses[str(code)] = {"description": desc, "content": error_content}
        if s.roles is not None:
            op["description"] = f"Roles: {', '.join(sorted(s.roles))}."
        op["responses"] = responses
        paths.setdefault(oa_path, {})[s.method.lower()] = op
        if s.head:
            paths[oa_path]["head"] = {
                **op,
                "operationId": f"head_{s.handler.__name__}",
                "summary": f"The headers of GET {oa_path} without its body",
                "responses": {
                    code: {
                        "description": r["description"],
                        **({"headers": r["headers"]} if "headers" in r else {}),
                    }
                    for code, r in responses.items()
                },
            }

    _no_nul_strings(paths)
    _no_nul_strings(schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Burgerwacht: geo-targeted alerts, tips and neighbourhood signals. "
            "Errors are RFC 9457 problem details.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
