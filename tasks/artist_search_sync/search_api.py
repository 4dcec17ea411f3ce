"""`GET /artists/search?q=&style=&city=&limit=`: ranked artists from the search index.

API Gateway HTTP API, payload v2. `q` is free text (every word must match; best first),
`style` and `city` are exact filters (case and punctuation insensitive), `limit` is 1-100
(default 20). At least one of q, style, city is required; a bad parameter is a 400 that
names it (Powertools validates the query against `SearchQuery`), and an index outage is a
503. `GET /artists/openapi.json` is the API's OpenAPI document.

    $ curl 'http://127.0.0.1:4566/artists/search?q=blackwork&city=Leeds&limit=5'
    {"query": {...}, "count": 2, "results": [{"score": 7.1, "artist": {"artistId": ...}}]}
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from schemas.artist_search_sync import FLOW, SearchQuery, SearchResponse, SearchResult
from tasks.artist_search_sync.index import SearchIndex, SearchIndexUnavailable
from tasks.artist_search_sync.index.backends import search_index_from_env
from tasks.common.http_api import (
    bad_request,
    http_app,
    http_handler,
    json_response,
    repeated_parameters,
)
from tasks.common.powertools import powertools

logger, tracer, metrics = powertools(FLOW)
# The "at least one of" rule belongs to no single field; q is the main one.
app = http_app(
    "/artists/openapi.json", "Artist search", model_param="query", whole_request_field="q"
)


@functools.cache
def search_index() -> SearchIndex:
    return search_index_from_env()


@app.get("/artists/search", summary="Ranked artists matching q, style and city")
def search_artists(query: Annotated[SearchQuery, Query()]) -> Response[Any]:
    # Powertools would take the first of a repeated parameter; one value each is the contract.
    repeated = repeated_parameters(app.current_event.raw_query_string, SearchQuery.model_fields)
    if repeated:
        return bad_request(repeated, field=repeated[0]["field"])
    try:
        hits = search_index().search(query.q, query.style, query.city, query.limit)
    except SearchIndexUnavailable as exc:
        logger.warning("search index unavailable", extra={"cause": str(exc)})
        return json_response(
            HTTPStatus.SERVICE_UNAVAILABLE, {"message": "search is unavailable, retry"}
        )
    response = SearchResponse(
        query=query,
        count=len(hits),
        results=[SearchResult(score=hit.score, artist=hit.document) for hit in hits],
    )
    return json_response(HTTPStatus.OK, response.model_dump(mode="json"))


handler = http_handler(app, logger, tracer)
