"""What the HTTP API functions share: JSON answers, 400s naming the field, the OpenAPI route.

Each API is a Powertools `APIGatewayHttpResolver(enable_validation=True)`: its routes
declare their query and body models, and Powertools validates a request before the route
runs. `validation_errors_as_400` turns Powertools' 422 into this project's 400::

    {"message": "limit: Input should be ...", "field": "limit",
     "errors": [{"field": "limit", "message": "Input should be ..."}]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths

from tasks.common.powertools import lambda_handler

# Where Powertools says a value came from: the first part of an error's location.
_SOURCES = ("query", "body", "path", "header", "cookie")


def http_app(
    openapi_path: str,
    title: str,
    *,
    model_param: str | None = None,
    whole_request_field: str = "<request>",
) -> APIGatewayHttpResolver:
    """A validating resolver whose validation errors are 400s naming the field (see
    `validation_errors_as_400`), serving its OpenAPI document at OPENAPI_PATH. That route
    comes first, so a later ``/prefix/<param>`` route does not take it for a parameter."""
    app = APIGatewayHttpResolver(enable_validation=True)
    validation_errors_as_400(app, model_param=model_param, whole_request_field=whole_request_field)
    publish_openapi(app, openapi_path, title=title)
    return app


def http_handler(
    app: APIGatewayHttpResolver, logger: Logger, tracer: Tracer
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler resolving APP's routes (correlation id: the API's request id)."""

    @lambda_handler(logger, tracer, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler


def json_response(status: HTTPStatus, body: Any) -> Response[Any]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
    )


def bad_request(errors: list[dict[str, str]], **extra: Any) -> Response[Any]:
    """400 with every error; the message lists them as ``field: message``."""
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return json_response(HTTPStatus.BAD_REQUEST, {"message": message, **extra, "errors": errors})


def repeated_parameters(raw_query: str, names: Iterable[str]) -> list[dict[str, str]]:
    """An error for each of NAMES given more than once in RAW_QUERY."""
    given = parse_qs(raw_query, keep_blank_values=True)
    return [
        {
            "field": name,
            "message": f"give one value, not {len(given[name])} ({','.join(given[name])})",
        }
        for name in names
        if len(given.get(name, ())) > 1
    ]


def field_name(loc: tuple[Any, ...] | list[Any], model_param: str | None = None) -> str:
    """An error location as a dotted field name, without the source (and, for a model bound
    to a whole query or body, without the parameter's own name)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    if parts and model_param is not None and parts[0] == model_param:
        parts = parts[1:]
    return ".".join(parts)


def validation_errors_as_400(
    app: APIGatewayHttpResolver,
    *,
    model_param: str | None = None,
    whole_request_field: str = "<request>",
) -> None:
    """Answer APP's request validation errors with a 400 naming each field. MODEL_PARAM is
    the route parameter a model binds the whole query or body to; an error of the whole
    model (a rule across fields) is reported as WHOLE_REQUEST_FIELD."""

    @app.exception_handler(RequestValidationError)
    def _bad_request(exc: RequestValidationError) -> Response[Any]:
        errors = [
            {
                "field": field_name(err["loc"], model_param) or whole_request_field,
                "message": str(err["msg"]).removeprefix("Value error, "),
            }
            for err in exc.errors()
        ]
        return bad_request(errors, field=errors[0]["field"])


def publish_openapi(app: APIGatewayHttpResolver, path: str, *, title: str) -> None:
    """Serve APP's OpenAPI document (built from its routes and models) at ``GET PATH``."""

    @app.get(path, include_in_schema=False)
    def _openapi() -> Response[Any]:
        return Response(
            status_code=HTTPStatus.OK.value,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title=title, version="1.0.0"),
        )
