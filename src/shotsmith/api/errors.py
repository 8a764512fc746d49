"""One error type, one mapper, one body shape per contract.

Everything that can go wrong with a request becomes an `ApiError(kind, message,
param)`. `register_error_handlers` installs, once, the handlers that turn our
exceptions (and FastAPI's / Starlette's own) into an ApiError, and the contract
the request was addressed to decides the body:

    /v1/...           OpenAI:  {"error": {"message", "type", "param", "code"}}
    /api/paas/v4/...  Zhipu:   {"error": {"code": "1214", "message"}}
    everything else   native:  the OpenAI shape with shotsmith's codes

Messages name the field and the problem; a bad request is never a 5xx.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shotsmith.jobs.records import JobConflict, JobNotFound, QueueFull, QueueUnavailable
from shotsmith.errors import FieldError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    status: int
    openai_code: str
    zhipu_code: str


KINDS: dict[str, Kind] = {
    "invalid": Kind(400, "invalid_value", "1214"),
    "missing": Kind(400, "missing_required_parameter", "1213"),
    "bad_request": Kind(400, "invalid_request", "1210"),
    "unknown_model": Kind(400, "model_not_found", "1211"),
    "prompt_too_long": Kind(400, "string_above_max_length", "1261"),
    "too_costly": Kind(400, "request_too_costly", "1214"),
    "unauthenticated": Kind(401, "missing_api_key", "1001"),
    "invalid_key": Kind(401, "invalid_api_key", "1002"),
    "not_found": Kind(404, "not_found", "1214"),
    "method_not_allowed": Kind(405, "method_not_allowed", "1210"),
    "conflict": Kind(409, "conflict", "1210"),
    "too_large": Kind(413, "request_too_large", "1210"),
    "unsupported_media_type": Kind(415, "unsupported_media_type", "1210"),
    "rate_limited": Kind(429, "rate_limit_exceeded", "1302"),
    "unavailable": Kind(503, "unavailable", "500"),
    "internal": Kind(500, "internal_error", "500"),
}


class ApiError(Exception):
    def __init__(self, kind: str, message: str, param: str | None = None):
        super().__init__(message)
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind}")
        self.kind = kind
        self.message = message
        self.param = param

    @property
    def status(self) -> int:
        return KINDS[self.kind].status


# Wire schemas of the error bodies (for the OpenAPI document)

class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    error: OpenAIErrorDetail


class ZhipuErrorDetail(BaseModel):
    code: str
    message: str


class ZhipuErrorBody(BaseModel):
    error: ZhipuErrorDetail


def _responses(name: str, statuses) -> dict:
    # Explicit JSON content (not `model=`): FastAPI would otherwise document an error from a
    # file or text route under that route's media type. `error_schemas` adds the components.
    schema = {"$ref": f"#/components/schemas/{name}"}
    return {s: {"description": _DESCRIPTIONS[s], "content": {"application/json": {"schema": schema}}}
            for s in statuses}


def openai_responses(*statuses: int) -> dict:
    return _responses("OpenAIErrorBody", statuses)


def zhipu_responses(*statuses: int) -> dict:
    return _responses("ZhipuErrorBody", statuses)


def error_schemas() -> dict:
    """The error body schemas, as OpenAPI components."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema([(OpenAIErrorBody, "serialization"), (ZhipuErrorBody, "serialization")],
                                ref_template="#/components/schemas/{model}")
    return top["$defs"]


_DESCRIPTIONS = {400: "Invalid request (the message names the field)", 401: "Missing or wrong API key",
                 404: "No such job for this key", 405: "Method not allowed", 409: "Job in the wrong state",
                 413: "Body or image too large", 415: "Unsupported content type", 429: "Too many active jobs",
                 503: "A component is unavailable"}


def contract_of(path: str) -> str:
    if path.startswith("/v1/") or path == "/v1":
        return "openai"
    if path.startswith("/api/paas/v4"):
        return "zhipu"
    return "native"


def error_body(contract: str, error: ApiError) -> dict:
    kind = KINDS[error.kind]
    # A message may quote what the client sent; it must still encode as UTF-8 JSON.
    error.message = error.message.encode("utf-8", "replace").decode("utf-8")
    if error.param is not None:
        error.param = error.param.encode("utf-8", "replace").decode("utf-8")
    if contract == "zhipu":
        return {"error": {"code": kind.zhipu_code, "message": error.message}}
    error_type = "invalid_request_error" if kind.status < 500 else "server_error"
    if kind.status == 429:
        error_type = "rate_limit_error"
    code = kind.openai_code if contract == "openai" else error.kind
    return {"error": {"message": error.message, "type": error_type, "param": error.param, "code": code}}


def error_response(request: Request, error: ApiError) -> JSONResponse:
    headers = {}
    if 400 <= error.status < 500 and error.status != 429:
        headers["x-should-retry"] = "false"  # both SDKs obey this: a bad request stays bad
    if error.status == 405:
        headers["allow"] = request.scope.get("shotsmith_allow", "")
        headers = {k: v for k, v in headers.items() if v}
    return JSONResponse(error_body(contract_of(request.url.path), error), status_code=error.status,
                        headers=headers)


def from_field_error(exc: FieldError) -> ApiError:
    """A typed request error keeps its kind and field; the message is only for people."""
    return ApiError(exc.kind, str(exc), exc.field or None)


def from_validation_errors(errors: list[dict], *, drop: tuple[str, ...] = ("body", "query", "path")) -> ApiError:
    """Pydantic / FastAPI errors -> one ApiError naming every field at fault."""
    from shotsmith.spec import error_kind

    parts, first_field, kind = [], None, None
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if str(p) not in drop]
        field = ".".join(loc)
        original = (err.get("ctx") or {}).get("error")
        message = str(original) if isinstance(original, FieldError) else str(err.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if err.get("type") == "missing":
            message = "is required"
        elif err.get("type") == "extra_forbidden":
            message = "is not a known field"
        if kind is None:  # the first error decides the kind, by its type
            kind = error_kind({**err, "loc": loc})[1]
        first_field = first_field or field or None
        parts.append(message if not field or message.startswith(field) else f"{field}: {message}")
    return ApiError(kind or "invalid", "; ".join(parts) or "invalid request", first_field)


def register_error_handlers(app: FastAPI) -> None:
    """Install every handler once; each returns the contract's error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError):
        return error_response(request, from_validation_errors(list(exc.errors())))

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError):
        return error_response(request, from_validation_errors(exc.errors()))

    @app.exception_handler(FieldError)
    async def _field(request: Request, exc: FieldError):
        return error_response(request, from_field_error(exc))

    @app.exception_handler(JobNotFound)
    async def _not_found(request: Request, exc: JobNotFound):
        return error_response(request, ApiError("not_found", f"no video/job with id '{_short(exc.job_id)}' "
                                                "for this API key", "id"))

    @app.exception_handler(JobConflict)
    async def _conflict(request: Request, exc: JobConflict):
        return error_response(request, ApiError("conflict", str(exc)))

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, exc: QueueFull):
        return error_response(request, ApiError("rate_limited", str(exc)))

    @app.exception_handler(QueueUnavailable)
    async def _queue_down(request: Request, exc: QueueUnavailable):
        return error_response(request, ApiError("unavailable", str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            error = ApiError("not_found", f"no route {request.method} {_short(request.url.path)}")
        elif exc.status_code == 405:
            request.scope["shotsmith_allow"] = _allowed_methods(request)
            error = ApiError("method_not_allowed", f"method {request.method} is not allowed on "
                             f"{_short(request.url.path)}")
        elif exc.status_code == 401:
            error = ApiError("unauthenticated", str(exc.detail))
        else:
            kind = next((k for k, v in KINDS.items() if v.status == exc.status_code), "bad_request")
            error = ApiError(kind, str(exc.detail))
        return error_response(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, ApiError("internal", f"internal error ({type(exc).__name__}); "
                                                "see the server log"))


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette names only the first route's). A
    fixed path (/v1/videos/extensions) has its own methods, as documented, not those of a
    templated route its text also fits (/v1/videos/{video_id})."""
    path = request.scope.get("path", "")
    matches = [(regex, methods) for regex, methods in getattr(request.app.state, "route_table", ())
               if regex.match(path)]
    fixed = [methods for regex, methods in matches if not regex.groupindex]
    methods: set[str] = set().union(*(fixed or [methods for _, methods in matches]))
    return ", ".join(sorted(methods))


def _short(text: str, limit: int = 120) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."
