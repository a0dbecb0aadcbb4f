"""The one place domain errors become HTTP answers, plus body parsing and role checks."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.observability import logger
from chalicelib.store.dynamo import StoreError

STATUS = {
    errors.InvalidRequest: 400,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.BusinessRule: 422,
    errors.Busy: 503,
}
JSON: dict[str, str | list[str]] = {"Content-Type": "application/json"}
MAX_PATH_ID_BYTES = 256  # member ids and coupon codes are <= 64 characters
ModelT = TypeVar("ModelT", bound=BaseModel)
Repeated = dict[int, tuple[dict[str, Any], list[str]]]  # id(object) -> (the object, its repeated keys)


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str | list[str]] | None = None,
) -> Response:
    all_headers: dict[str, str | list[str]] = {**JSON, **(headers or {})}
    return Response(body=error_body(code, message, details), status_code=status, headers=all_headers)


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> str:
    """The one error format: {"error": {"code", "message", "details"}} (also `loyalty dev`'s own answers)."""
    return json.dumps({"error": {"code": code, "message": message, "details": details or []}}, ensure_ascii=False)


def _status_for(error: errors.LoyaltyError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]} for err in exc.errors()]


def parse(model: type[ModelT], request: Request) -> ModelT:
    raw = request.raw_body or b""
    if len(raw) > settings().max_body_bytes:
        raise HttpError(413, "payload_too_large", f"the body is larger than {settings().max_body_bytes} bytes")
    repeated: Repeated = {}
    try:
        data = json.loads(raw, object_pairs_hook=functools.partial(_object, repeated)) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise HttpError(
            400, "invalid_request", "the body is not valid JSON", [{"field": "body", "message": str(exc)}]
        ) from exc
    if repeated:
        fields = _repeated_fields(data, repeated) or ["body"]
        details = [{"field": field, "message": "appears more than once"} for field in fields]
        raise HttpError(400, "invalid_request", "the body repeats a field", details)
    if not isinstance(data, dict):
        raise HttpError(
            400,
            "invalid_request",
            "the body must be a JSON object",
            [{"field": "body", "message": "expected an object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HttpError(400, "invalid_request", "the request is not valid", validation_details(exc)) from exc


def _object(repeated: Repeated, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that notes its repeated keys: json.loads alone keeps the last value, so
    `"amount": "1.00", "amount": "9000.00"` would be read as 9000.00 without a word."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # Holding obj keeps its id: an outer repeated key may drop it, and a freed id could be reused.
            repeated.setdefault(id(obj), (obj, []))[1].append(key)
        obj[key] = value
    return obj


def _repeated_fields(data: Any, repeated: Repeated) -> list[str]:
    """The paths of the repeated keys ("lines.0.amount", as validation details name fields).
    Iterative: the body may be nested as deep as json.loads allows."""
    found: list[str] = []
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            if id(value) in repeated:
                found += [f"{path}{key}" for key in repeated[id(value)][1]]
            pending += [(f"{path}{key}.", item) for key, item in value.items()]
        elif isinstance(value, list):
            pending += [(f"{path}{index}.", item) for index, item in enumerate(value)]
    return sorted(set(found))


def parse_query(model: type[ModelT], request: Request) -> ModelT:
    try:
        return model.model_validate(dict(request.query_params or {}))
    except ValidationError as exc:
        raise HttpError(400, "invalid_request", "the query is not valid", validation_details(exc)) from exc


def caller_role(request: Request) -> str:
    context = request.context.get("authorizer") or {}
    return str(context.get("role") or "")


@dataclass(frozen=True)
class EndpointDoc:
    """What /openapi.json says of a route, recorded by `endpoint` (one source for code and docs)."""

    role: str | None
    status: int
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    summary: str


def endpoints(blueprint: Blueprint) -> Callable[..., Callable[[Callable[..., Any]], Callable[..., Response]]]:
    """The `endpoint` decorator of one blueprint's routes: `endpoint = endpoints(blueprint)`."""
    return functools.partial(endpoint, blueprint)


def endpoint(
    blueprint: Blueprint,
    role: str | None,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Wrap a route of `blueprint`: check the caller's role, parse and validate the body (passed as
    `body=`) and query (`query=`), turn the result into JSON and every error into the documented
    error body. `role=None` means public."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Response:
            request = blueprint.current_request
            try:
                if role is not None:
                    _check_role(caller_role(request), role)
                _check_path(kwargs)
                if body is not None:
                    kwargs["body"] = parse(body, request)
                if query is not None:
                    kwargs["query"] = parse_query(query, request)
                result = view(*args, **kwargs)
                if isinstance(result, Response):
                    return result
                return Response(body=json.dumps(result, ensure_ascii=False), status_code=status, headers=JSON)
            except HttpError as exc:
                return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
            except (errors.LoyaltyError, StoreError) as exc:
                return _error_answer(exc)
            except Exception:
                logger.exception("unhandled error")
                return error_response(500, "internal_error", "unexpected error; it has been logged")

        run.api_doc = EndpointDoc(role, status, body, query, (view.__doc__ or view.__name__).strip())  # type: ignore[attr-defined]
        return run

    return wrap


def _error_answer(exc: errors.LoyaltyError | StoreError) -> Response:
    if isinstance(exc, StoreError):  # a read, or a write outside member_write, still throttled after the SDK's retries
        exc = errors.Busy("the points store is busy, retry shortly")
    code = _status_for(exc)
    headers = {"Retry-After": "1"} if code == 503 else None
    return error_response(code, exc.code, exc.message, exc.details, headers)


def _check_path(params: dict[str, Any]) -> None:
    """Path ids longer than any id we issue cannot exist; DynamoDB would refuse them as keys
    (ValidationException, a 500) rather than find nothing."""
    for name, value in params.items():
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_ID_BYTES:
            code = "member_not_found" if name == "member_id" else "not_found"
            raise HttpError(404, code, f"no such {name}", [{"field": name, "message": "too long to exist"}])


# The key roles each route role admits: ops everything, a store key only the store routes.
ROLE_ADMITS = {"storefront": ("storefront", "ops"), "ops": ("ops",), "store": ("store", "ops")}


def _check_role(actual: str, needed: str) -> None:
    if not actual:
        raise HttpError(401, "unauthorized", "a valid API key is required")
    admitted = ROLE_ADMITS.get(needed, (needed,))
    if actual not in admitted:
        raise HttpError(403, "forbidden", f"this endpoint needs a key of role {' or '.join(admitted)}")


# Chalice's own answers, built by its request handler around our views (so `endpoint` never sees
# them), have the body {"Code": ..., "Message": ...}: a method the path does not have (405), a
# Content-Type other than JSON (415), an exception outside `endpoint` (500). Ours: {"error": ...}.
CHALICE_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",  # as the gateway answers its own 429 (infra/edge.py)
    500: "internal_error",
}


def chalice_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice middleware for "http", registered first (outermost): every answer of the app, on
    Lambda as in `loyalty dev`, is in our error format."""
    try:
        response = get_response(event)
    except Exception:  # from another middleware: Chalice would answer with its own 500 body
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "unexpected error; it has been logged")
    body = response.body
    if not (isinstance(body, dict) and set(body) == {"Code", "Message"}):
        return response  # ours: `endpoint` and the other routes answer with a serialised body
    return _from_chalice(response, str(getattr(event, "method", None) or "this method"))


def _from_chalice(response: Response, method: str) -> Response:
    status = response.status_code
    code = CHALICE_CODES.get(status, "error")
    message, details = str(response.body["Message"]), []
    headers = {name: value for name, value in response.headers.items() if name.lower() != "content-type"}
    if status == 405:
        allowed = str(response.headers.get("Allow", ""))
        message = f"this path does not take {method}"
        details = [{"field": "method", "message": f"allowed: {allowed}"}]
    elif status == 415:
        message = "the Content-Type header must be application/json"
        details = [{"field": "Content-Type", "message": "expected application/json"}]
    elif status == 500:
        message = "unexpected error; it has been logged"  # Chalice logged it with its traceback
    return error_response(status, code, message, details, headers)
