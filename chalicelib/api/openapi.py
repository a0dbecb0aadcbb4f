"""The OpenAPI 3.1 document, built from the app's routes and the pydantic request models
(Chalice's own generator emits Swagger 2.0 with empty schemas)."""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from pydantic import BaseModel

from chalicelib.api.http import EndpointDoc

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
# With no Authorization header at all, API Gateway (and `chalice local`) refuse the request before
# the authorizer runs, with their own body: {"message": "Unauthorized"}.
GATEWAY_ERROR_SCHEMA = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
UNAUTHORIZED_SCHEMA = {"oneOf": [ERROR_REF, {"$ref": "#/components/schemas/GatewayError"}]}
ERRORS = {
    "400": "invalid_request: the body or query is not valid (field-level details)",
    "401": 'unknown or revoked API key; no Authorization header at all: the gateway\'s {"message": ...}',
    "403": "the key's role may not call this endpoint",
    "404": "member_not_found or another unknown id",
    "409": "conflict: the id was used with another body, or a duplicate phone/email",
    "413": "payload_too_large",
    "422": "a business rule refused the request (insufficient_points, tier_too_low, ...)",
    "503": "busy: retry after the Retry-After header",
}
# Answered by the app before any route runs, on every path, in the same error format.
APP_ERRORS = {
    "405": "method_not_allowed: this path has no operation for that method (the Allow header lists those it "
    "has); behind API Gateway the gateway answers first",
    "415": "unsupported_media_type: the Content-Type header is not application/json",
}
PUBLIC_ERRORS = ("400", "413", "503")  # what a route without a role can answer
ALLOW_HEADER = {"Allow": {"description": "the methods this path has", "schema": {"type": "string"}}}


def _error_responses(codes: dict[str, str]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, text in codes.items():
        schema = UNAUTHORIZED_SCHEMA if code == "401" else ERROR_REF
        responses[code] = {"description": text, "content": {"application/json": {"schema": schema}}}
        if code == "405":
            responses[code]["headers"] = ALLOW_HEADER
    return responses


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    return [
        {"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(method: str, entry: Any, components: dict[str, Any]) -> dict[str, Any]:
    doc: EndpointDoc | None = getattr(entry.view_function, "api_doc", None)
    if doc is None:
        return {}
    operation: dict[str, Any] = {
        "operationId": entry.view_name,
        "summary": doc.summary,
        "parameters": [
            {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}} for arg in entry.view_args
        ],
        "responses": {
            str(doc.status): {
                "description": "success",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_error_responses(
                {code: text for code, text in ERRORS.items() if doc.role is not None or code in PUBLIC_ERRORS}
            ),
            **_error_responses(APP_ERRORS),
        },
    }
    if doc.role is not None:
        operation["security"] = [{"apiKey": []}]
        operation["x-role"] = doc.role
    if doc.query is not None:
        operation["parameters"] += _query_parameters(doc.query)
    if doc.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(doc.body, components)}},
        }
    return operation


def build(app: Chalice) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, "GatewayError": GATEWAY_ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for path in sorted(app.routes):
        for method, entry in sorted(app.routes[path].items()):
            operation = _operation(method, entry, components)
            if operation:
                paths.setdefault(path, {})[method.lower()] = operation
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": {"description": "OpenAPI 3.1"}, **_error_responses(APP_ERRORS)},
        }
    }
    if "/ops" in app.routes:  # HTML, not JSON: described here rather than by `endpoint`
        paths["/ops"] = {
            "get": {
                "operationId": "ops_page",
                "summary": "The ops page: KPI cards and charts, tier and status distribution, stores. A shell "
                "without data, so without a key (a browser navigation cannot send one); its script reads "
                "GET /kpis with the ops key from the URL fragment or a form.",
                "responses": {
                    "200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                    **_error_responses(APP_ERRORS),
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Loyalty engine API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A key from `loyalty keys create`"}
            },
        },
    }
