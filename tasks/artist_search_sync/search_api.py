"""`GET /artists/search?q=&style=&city=&limit=`: ranked artists from the search index.

API Gateway HTTP API, payload v2. `q` is free text (every word must match; best first),
`style` and `city` are exact filters (case and punctuation insensitive), `limit` is 1-100
(default 20). At least one of q, style, city is required; a bad parameter is a 400 that
names it, and an index outage is a 503.

    $ curl 'http://127.0.0.1:4566/artists/search?q=blackwork&city=Leeds&limit=5'
    {"query": {...}, "count": 2, "results": [{"score": 7.1, "artist": {"artistId": ...}}]}
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from schemas.artist_search_sync import FLOW, SearchQuery, SearchResponse, SearchResult
from tasks.artist_search_sync.index import SearchIndex, SearchIndexUnavailable
from tasks.artist_search_sync.index.backends import search_index_from_env

logger = Logger(service=FLOW)
tracer = Tracer(service=FLOW)
app = APIGatewayHttpResolver()


@functools.cache
def search_index() -> SearchIndex:
    return search_index_from_env()


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body
    )


def _bad_request(exc: ValidationError) -> Response[dict[str, Any]]:
    errors = [
        {
            # The "at least one of" rule belongs to no single field; q is the main one.
            "field": ".".join(str(p) for p in err["loc"]) or "q",
            "message": err["msg"].removeprefix("Value error, "),
        }
        for err in exc.errors(include_url=False)
    ]
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return _json(
        HTTPStatus.BAD_REQUEST, {"message": message, "field": errors[0]["field"], "errors": errors}
    )


@app.get("/artists/search")
def search_artists() -> Response[dict[str, Any]]:
    params = app.current_event.query_string_parameters or {}
    try:
        query = SearchQuery.model_validate(params)
    except ValidationError as exc:
        return _bad_request(exc)
    try:
        hits = search_index().search(query.q, query.style, query.city, query.limit)
    except SearchIndexUnavailable as exc:
        logger.warning("search index unavailable", extra={"cause": str(exc)})
        return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"message": "search is unavailable, retry"})
    response = SearchResponse(
        query=query,
        count=len(hits),
        results=[SearchResult(score=hit.score, artist=hit.document) for hit in hits],
    )
    return _json(HTTPStatus.OK, response.model_dump(mode="json"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
