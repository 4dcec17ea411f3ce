"""OpenSearchIndex against its HTTP contract: a loopback server records what opensearch-py sends.

No OpenSearch runs here. The server answers with scripted responses shaped like
OpenSearch's, so the real client, serializer, connection and SigV4 signer are exercised.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials

from schemas.artist_search_sync import ArtistSearchDocument
from tasks.artist_search_sync.index import (
    BulkItemFailure,
    BulkResult,
    SearchIndexError,
    SearchIndexUnavailable,
)
from tasks.artist_search_sync.index import opensearch as opensearch_index
from tasks.artist_search_sync.index.opensearch import INDEX_BODY, SEARCH_FIELDS, OpenSearchIndex

REGION = "eu-west-2"
CREDENTIALS = Credentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeOpenSearch:
    """Records requests; answers each with the next scripted (status, body)."""

    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, status: int, body: Any) -> None:
        self.script.append((status, body))


def _handler(fake: FakeOpenSearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            url = urlsplit(self.path)
            fake.requests.append(
                Request(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
            )
            status, body = fake.script.pop(0) if fake.script else (500, {"error": "unscripted"})
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenSearch]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = FakeOpenSearch()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def connect(url: str, service: str = "es") -> OpenSearchIndex:
    return OpenSearchIndex.connect(
        url, "artists", region=REGION, service=service, credentials=CREDENTIALS, timeout=5
    )


def doc(artist_id: str, name: str) -> ArtistSearchDocument:
    return ArtistSearchDocument(
        artistId=artist_id, name=name, styles=["blackwork"], city="Leeds", cityKey="leeds"
    )


SIGNATURE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/(?P<region>[\w-]+)/(?P<service>\w+)/"
    r"aws4_request, SignedHeaders=(?P<signed>[\w;-]+), Signature=[0-9a-f]{64}$"
)


def assert_signed(request: Request, service: str = "es") -> None:
    match = SIGNATURE.match(request.headers["authorization"])
    assert match, request.headers["authorization"]
    assert (match["region"], match["service"]) == (REGION, service)
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"} <= set(signed)
    assert re.fullmatch(r"\d{8}T\d{6}Z", request.headers["x-amz-date"])
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(request.body).hexdigest()
    assert request.headers["x-amz-security-token"] == "session-token"


def test_ensure_index_puts_the_mapping_and_tolerates_an_existing_index(
    fake: FakeOpenSearch,
) -> None:
    index = connect(fake.url)
    fake.answer(200, {"acknowledged": True, "shards_acknowledged": True, "index": "artists"})
    fake.answer(
        400,
        {
            "error": {
                "type": "resource_already_exists_exception",
                "reason": "index [artists/abc] already exists",
            },
            "status": 400,
        },
    )

    index.ensure_index()
    index.ensure_index()

    first, second = fake.requests
    assert (first.method, first.path) == ("PUT", "/artists")
    assert first.json() == INDEX_BODY
    assert first.json()["mappings"]["properties"]["cityKey"] == {"type": "keyword"}
    assert first.json()["mappings"]["properties"]["styles"]["type"] == "keyword"
    assert_signed(first)
    assert second.body == first.body


def test_ensure_index_other_errors_are_typed(fake: FakeOpenSearch) -> None:
    index = connect(fake.url)
    fake.answer(403, {"message": "no permissions for [indices:admin/create]"})
    with pytest.raises(SearchIndexError, match="HTTP 403") as raised:
        index.ensure_index()
    assert not isinstance(raised.value, SearchIndexUnavailable)


def test_bulk_sends_ndjson_and_a_missing_document_delete_is_success(fake: FakeOpenSearch) -> None:
    index = connect(fake.url, service="aoss")
    jo, sam = doc("jo", "Jo Blackwork"), doc("sam", "Sam Réed")
    fake.answer(
        200,
        {
            "took": 7,
            "errors": True,
            "items": [
                {"index": {"_index": "artists", "_id": "jo", "status": 201, "result": "created"}},
                {"index": {"_index": "artists", "_id": "sam", "status": 200, "result": "updated"}},
                {"delete": {"_index": "artists", "_id": "old", "status": 200, "result": "deleted"}},
                {
                    "delete": {
                        "_index": "artists",
                        "_id": "never",
                        "status": 404,
                        "result": "not_found",
                    }
                },
            ],
        },
    )

    result = index.bulk([jo, sam], ["old", "never"])

    assert result == BulkResult(upserted=2, deleted=1, not_found=1, failures=())
    [request] = fake.requests
    assert (request.method, request.path, request.query) == ("POST", "/artists/_bulk", {})
    expected = "".join(
        json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
        for line in (
            {"index": {"_id": "jo"}},
            jo.model_dump(mode="json"),
            {"index": {"_id": "sam"}},
            sam.model_dump(mode="json"),
            {"delete": {"_id": "old"}},
            {"delete": {"_id": "never"}},
        )
    )
    assert request.body.decode("utf-8") == expected
    assert '"name":"Sam Réed"' in request.body.decode("utf-8")
    assert_signed(request, service="aoss")


def test_bulk_item_rejections_are_failures_not_exceptions(fake: FakeOpenSearch) -> None:
    index = connect(fake.url)
    fake.answer(
        200,
        {
            "took": 3,
            "errors": True,
            "items": [
                {"index": {"_id": "jo", "status": 201}},
                {
                    "index": {
                        "_id": "sam",
                        "status": 400,
                        "error": {
                            "type": "mapper_parsing_exception",
                            "reason": "failed to parse field [geo]",
                        },
                    }
                },
            ],
        },
    )
    result = index.bulk([doc("jo", "Jo"), doc("sam", "Sam")], [])
    assert result.upserted == 1
    assert result.failures == (
        BulkItemFailure(
            "sam", "upsert", 400, "mapper_parsing_exception: failed to parse field [geo]"
        ),
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}),
        (503, {"error": {"type": "cluster_block_exception", "reason": "blocked"}}),
        (
            200,
            {
                "errors": True,
                "items": [
                    {"index": {"_id": "jo", "status": 201}},
                    {"index": {"_id": "sam", "status": 429, "error": {"type": "rejected"}}},
                ],
            },
        ),
    ],
    ids=["throttled", "unavailable", "item-throttled"],
)
def test_throttling_and_5xx_are_transient_and_not_retried_by_the_client(
    fake: FakeOpenSearch, status: int, body: Any
) -> None:
    index = connect(fake.url)
    fake.answer(status, body)
    with pytest.raises(SearchIndexUnavailable):
        index.bulk([doc("jo", "Jo"), doc("sam", "Sam")], [])
    assert len(fake.requests) == 1  # backoff belongs to the state machine


def test_a_bad_request_is_persistent(fake: FakeOpenSearch) -> None:
    index = connect(fake.url)
    fake.answer(400, {"error": {"type": "illegal_argument_exception", "reason": "bad"}})
    with pytest.raises(SearchIndexError, match="HTTP 400 illegal_argument_exception") as raised:
        index.bulk([doc("jo", "Jo")], [])
    assert not isinstance(raised.value, SearchIndexUnavailable)


def test_an_unreachable_endpoint_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    index = connect(f"http://127.0.0.1:{port}")
    with pytest.raises(SearchIndexUnavailable):
        index.bulk([doc("jo", "Jo")], [])


def test_an_empty_bulk_sends_nothing(fake: FakeOpenSearch) -> None:
    assert connect(fake.url).bulk([], []) == BulkResult()
    assert fake.requests == []


def test_search_sends_a_cross_field_query_with_exact_filters(fake: FakeOpenSearch) -> None:
    index = connect(fake.url)
    jo = doc("jo", "Jo Blackwork")
    fake.answer(
        200,
        {
            "took": 2,
            "hits": {
                "total": {"value": 1, "relation": "eq"},
                "max_score": 7.5,
                "hits": [
                    {"_index": "artists", "_id": "jo", "_score": 7.5, "_source": jo.model_dump()}
                ],
            },
        },
    )

    hits = index.search("black-work!", "Fine Line", "LEEDS", 5)

    assert [(h.artist_id, h.score, h.document) for h in hits] == [("jo", 7.5, jo)]
    [request] = fake.requests
    assert (request.method, request.path) in {
        ("POST", "/artists/_search"),
        ("GET", "/artists/_search"),
    }
    assert request.json() == {
        "size": 5,
        "query": {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": "black work",
                            "type": "cross_fields",
                            "operator": "and",
                            "fields": SEARCH_FIELDS,
                        }
                    }
                ],
                "filter": [{"term": {"styles": "fine-line"}}, {"term": {"cityKey": "leeds"}}],
            }
        },
        "sort": [{"_score": "desc"}, {"artistId": "asc"}],
    }
    assert "name^10" in SEARCH_FIELDS
    assert_signed(request)


def test_filter_only_search_sorts_by_rating_and_a_missing_index_is_empty(
    fake: FakeOpenSearch,
) -> None:
    index = connect(fake.url)
    fake.answer(
        404,
        {
            "error": {"type": "index_not_found_exception", "reason": "no such index [artists]"},
            "status": 404,
        },
    )
    assert index.search(None, None, "York", 10) == []
    assert fake.requests[0].json()["sort"][0] == {"rating": {"order": "desc", "missing": "_last"}}
    assert fake.requests[0].json()["query"] == {"bool": {"filter": [{"term": {"cityKey": "york"}}]}}


def test_get_count_and_all_ids(fake: FakeOpenSearch, monkeypatch: pytest.MonkeyPatch) -> None:
    index = connect(fake.url)
    jo = doc("jo", "Jo")
    fake.answer(200, {"_index": "artists", "_id": "jo", "found": True, "_source": jo.model_dump()})
    fake.answer(404, {"_index": "artists", "_id": "nobody", "found": False})
    fake.answer(200, {"count": 3})
    monkeypatch.setattr(opensearch_index, "PAGE_SIZE", 2)
    fake.answer(200, {"hits": {"hits": [{"_id": "a", "sort": ["a"]}, {"_id": "b", "sort": ["b"]}]}})
    fake.answer(200, {"hits": {"hits": [{"_id": "c", "sort": ["c"]}]}})

    assert index.get("jo") == jo
    assert index.get("nobody") is None
    assert index.count() == 3
    assert index.all_ids() == {"a", "b", "c"}

    paths = [(r.method, r.path) for r in fake.requests]
    assert paths[:3] == [
        ("GET", "/artists/_doc/jo"),
        ("GET", "/artists/_doc/nobody"),
        ("POST", "/artists/_count"),
    ]
    first_page, second_page = (r.json() for r in fake.requests[3:])
    assert first_page == {
        "size": 2,
        "_source": False,
        "query": {"match_all": {}},
        "sort": [{"artistId": "asc"}],
    }
    assert second_page["search_after"] == ["b"]


def test_service_is_inferred_from_the_endpoint() -> None:
    for endpoint, service in (
        ("https://abc123.eu-west-2.aoss.amazonaws.com", "aoss"),
        ("search-artists-xyz.eu-west-2.es.amazonaws.com", "es"),
    ):
        index = OpenSearchIndex.connect(endpoint, region=REGION, credentials=CREDENTIALS)
        [connection] = index.client.transport.connection_pool.connections
        assert connection.session.auth.service == service
        assert connection.host.startswith("https://")
