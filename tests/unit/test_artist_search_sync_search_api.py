"""GET /artists/search against an EmbeddedIndex, with API Gateway HTTP API v2 payloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from http_api_events import get_event

from schemas.artist_search_sync import ArtistSearchDocument
from sluice.in_process import lambda_context
from tasks.artist_search_sync import search_api
from tasks.artist_search_sync.index import SearchIndexUnavailable
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

CONTEXT = lambda_context("ArtistSearchApi")


def http_event(params: dict[str, str] | str) -> dict[str, Any]:
    raw = params if isinstance(params, str) else urlencode(params)
    return get_event("GET /artists/search", "/artists/search", raw)


def call(params: dict[str, str] | str) -> tuple[int, dict[str, Any]]:
    response = search_api.handler(http_event(params), CONTEXT)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


ARTISTS = [
    ArtistSearchDocument(
        artistId="jo",
        name="Jo Blackwork",
        styles=["blackwork"],
        city="Leeds",
        cityKey="leeds",
        rating=4.2,
    ),
    ArtistSearchDocument(
        artistId="sam",
        name="Sam Reed",
        styles=["blackwork", "fine-line"],
        city="Leeds",
        cityKey="leeds",
        bio="Fine line and blackwork flash.",
        rating=4.9,
    ),
    ArtistSearchDocument(
        artistId="mo",
        name="Mo Koi",
        styles=["japanese"],
        city="York",
        cityKey="york",
        bio="Koi, dragons, back pieces.",
        rating=4.8,
    ),
]


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedIndex]:
    path = tmp_path / "artists.db"
    monkeypatch.setenv("SEARCH_BACKEND", "embedded")
    monkeypatch.setenv("SEARCH_INDEX_PATH", str(path))
    search_api.search_index.cache_clear()
    writer = EmbeddedIndex(path)  # the sync flow's process; the API reads the same file
    writer.bulk(ARTISTS, [])
    yield writer
    writer.close()
    search_api.search_index.cache_clear()


def test_returns_ranked_results_with_scores(index: EmbeddedIndex) -> None:
    status, body = call({"q": "blackwork", "limit": "5"})

    assert status == 200
    assert body["count"] == 2
    assert [r["artist"]["artistId"] for r in body["results"]] == ["jo", "sam"]
    assert body["results"][0]["score"] > body["results"][1]["score"] > 0
    assert body["results"][0]["artist"] == ARTISTS[0].model_dump(mode="json")
    assert body["query"] == {"q": "blackwork", "style": None, "city": None, "limit": 5}


def test_filters_alone_and_combined_with_text(index: EmbeddedIndex) -> None:
    status, body = call({"style": "Blackwork", "city": "leeds"})
    assert status == 200
    assert [r["artist"]["artistId"] for r in body["results"]] == ["sam", "jo"]  # by rating

    _, body = call({"q": "dragons", "city": "Leeds"})
    assert body == {
        "query": {"q": "dragons", "style": None, "city": "Leeds", "limit": 20},
        "count": 0,
        "results": [],
    }
    _, body = call({"q": "koi", "style": "japanese", "limit": "1"})
    assert [r["artist"]["artistId"] for r in body["results"]] == ["mo"]


def test_sees_writes_made_after_it_started(index: EmbeddedIndex) -> None:
    assert call({"q": "dotwork"})[1]["count"] == 0
    index.bulk([ArtistSearchDocument(artistId="lu", name="Lu Dots", styles=["dotwork"])], ["jo"])
    assert [r["artist"]["artistId"] for r in call({"q": "dotwork"})[1]["results"]] == ["lu"]
    assert [r["artist"]["artistId"] for r in call({"style": "blackwork"})[1]["results"]] == ["sam"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"q": "koi", "limit": "0"}, "limit", "greater than or equal to 1"),
        ({"q": "koi", "limit": "101"}, "limit", "less than or equal to 100"),
        ({"q": "koi", "limit": "ten"}, "limit", "valid integer"),
        ("q=koi&limit=5&limit=6", "limit", "give one value, not 2 (5,6)"),
        ({}, "q", "give at least one of q, style, city"),
        ({"q": "  ", "style": "", "city": ""}, "q", "give at least one of q, style, city"),
        ({"q": "x" * 201}, "q", "at most 200 characters"),
        ({"style": "s" * 51}, "style", "at most 50 characters"),
        ({"city": "!!!"}, "city", "must contain a letter or digit"),
    ],
    ids=[
        "limit-zero",
        "limit-over",
        "limit-text",
        "limit-repeated",
        "empty",
        "blank",
        "q-too-long",
        "style-too-long",
        "city-punctuation",
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    index: EmbeddedIndex, params: dict[str, str] | str, field: str, message: str
) -> None:
    status, body = call(params)

    assert status == 400
    assert body["field"] == field
    assert message in body["message"]
    assert body["message"].startswith(f"{field}: ")
    assert body["errors"][0]["field"] == field


def test_index_outage_is_503(index: EmbeddedIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    class Down:
        def search(self, *args: Any) -> list[Any]:
            raise SearchIndexUnavailable("HTTP 503")

    monkeypatch.setattr(search_api, "search_index_from_env", Down)
    search_api.search_index.cache_clear()
    status, body = call({"q": "koi"})
    assert status == 503
    assert "unavailable" in body["message"]


def test_unknown_route_is_404(index: EmbeddedIndex) -> None:
    event = http_event({"q": "koi"})
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/artists/find"
    assert search_api.handler(event, CONTEXT)["statusCode"] == 404


def test_the_api_publishes_its_openapi_document(index: EmbeddedIndex) -> None:
    event = http_event({})
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/artists/openapi.json"
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /artists/openapi.json"

    response = search_api.handler(event, CONTEXT)

    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    assert document["openapi"].startswith("3.")
    search = document["paths"]["/artists/search"]["get"]
    assert {p["name"] for p in search["parameters"]} == {"q", "style", "city", "limit"}
