"""The OpenSearch search index (AWS): a domain or Serverless collection, signed with SigV4."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import boto3
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth, RequestsHttpConnection
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from schemas.artist_search_sync import ArtistSearchDocument, normalize_key
from tasks.artist_search_sync import index as port

OPENSEARCH_ENDPOINT_ENV = "OPENSEARCH_ENDPOINT"
OPENSEARCH_INDEX_ENV = "OPENSEARCH_INDEX"
OPENSEARCH_SERVICE_ENV = "OPENSEARCH_SERVICE"
DEFAULT_INDEX_NAME = "artists"

_TEXT = {"type": "text", "analyzer": "artist_text"}
INDEX_BODY: dict[str, Any] = {
    "settings": {
        "analysis": {
            "analyzer": {
                # Close to the embedded index's `porter unicode61 remove_diacritics`.
                "artist_text": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding", "porter_stem"],
                }
            }
        }
    },
    "mappings": {
        # New item attributes stay in _source without changing the mapping.
        "dynamic": False,
        "properties": {
            "artistId": {"type": "keyword"},
            "name": {**_TEXT, "fields": {"raw": {"type": "keyword"}}},
            "styles": {"type": "keyword", "fields": {"text": _TEXT}},
            "specialties": _TEXT,
            "city": _TEXT,
            "cityKey": {"type": "keyword"},
            "location": _TEXT,
            "studioName": _TEXT,
            "instagramHandle": {"type": "keyword", "fields": {"text": _TEXT}},
            "bio": _TEXT,
            "geo": {"type": "geo_point"},
            "geohash": {"type": "keyword"},
            "rating": {"type": "float"},
            "reviewCount": {"type": "integer"},
            "updatedAt": {"type": "date"},
        },
    },
}
_QUERY_FIELDS = {
    "name": "name",
    "studioName": "studioName",
    "styles": "styles.text",
    "specialties": "specialties",
    "city": "city",
    "location": "location",
    "instagramHandle": "instagramHandle.text",
    "bio": "bio",
}
SEARCH_FIELDS = [f"{_QUERY_FIELDS[name]}^{boost:g}" for name, boost in port.FIELD_BOOSTS.items()]
PAGE_SIZE = 1000


def _status(exc: TransportError) -> int | None:
    return exc.status_code if isinstance(exc.status_code, int) else None


def _error_type(exc: TransportError) -> str:
    return str(exc.error or "")


def _missing_index(exc: NotFoundError) -> bool:
    return _error_type(exc) == "index_not_found_exception"


def _transient_status(status: int) -> bool:
    return status == 429 or status >= 500


class OpenSearchIndex:
    """An OpenSearch domain (`es`) or Serverless collection (`aoss`) index, signed with SigV4.

    The client never retries (max_retries=0): the state machine's Retry owns backoff, so
    the attempts show in the execution history.
    """

    def __init__(self, client: OpenSearch, index: str) -> None:
        self.client = client
        self.index = index

    @classmethod
    def connect(
        cls,
        endpoint: str,
        index: str = DEFAULT_INDEX_NAME,
        *,
        region: str,
        service: str | None = None,
        credentials: Any = None,
        timeout: float = 10.0,
    ) -> OpenSearchIndex:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if not url.hostname:
            raise port.SearchIndexError(f"{OPENSEARCH_ENDPOINT_ENV} {endpoint!r} has no host")
        https = url.scheme == "https"
        if service is None:
            service = "aoss" if url.hostname.endswith(".aoss.amazonaws.com") else "es"
        if credentials is None:
            credentials = boto3.Session().get_credentials()
        client = OpenSearch(
            hosts=[{"host": url.hostname, "port": url.port or (443 if https else 80)}],
            # RequestsAWSV4SignerAuth is AWSV4SignerAuth's current name (botocore SigV4).
            http_auth=RequestsAWSV4SignerAuth(credentials, region, service),
            use_ssl=https,
            verify_certs=https,
            connection_class=RequestsHttpConnection,
            timeout=timeout,
            max_retries=0,
            retry_on_timeout=False,
        )
        return cls(client, index)

    @classmethod
    def from_env(cls) -> OpenSearchIndex:
        endpoint = os.environ.get(OPENSEARCH_ENDPOINT_ENV)
        if not endpoint:
            raise port.SearchIndexError(f"{OPENSEARCH_ENDPOINT_ENV} is required for opensearch")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise port.SearchIndexError("AWS_REGION is required to sign OpenSearch requests")
        return cls.connect(
            endpoint,
            os.environ.get(OPENSEARCH_INDEX_ENV) or DEFAULT_INDEX_NAME,
            region=region,
            service=os.environ.get(OPENSEARCH_SERVICE_ENV) or None,
        )

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except OpenSearchConnectionError as exc:  # includes timeouts and TLS failures
            raise port.SearchIndexUnavailable(f"{action}: {exc}") from exc
        except TransportError as exc:
            status = _status(exc)
            message = f"{action}: HTTP {status} {_error_type(exc)}"
            if status is not None and _transient_status(status):
                raise port.SearchIndexUnavailable(message) from exc
            raise port.SearchIndexError(message) from exc

    def ensure_index(self) -> None:
        with self._errors(f"create index {self.index}"):
            try:
                self.client.indices.create(index=self.index, body=INDEX_BODY)
            except RequestError as exc:
                # Another cold start created it first: the index is there, as wanted.
                if _error_type(exc) != "resource_already_exists_exception":
                    raise

    def bulk(
        self, upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]
    ) -> port.BulkResult:
        port.check_disjoint(upserts, deletes)
        if not upserts and not deletes:
            return port.BulkResult()
        body: list[dict[str, Any]] = []
        for doc in upserts:
            body.append({"index": {"_id": doc.artistId}})
            body.append(doc.model_dump(mode="json"))
        for artist_id in deletes:
            body.append({"delete": {"_id": artist_id}})
        with self._errors("bulk"):
            response = self.client.bulk(body=body, index=self.index)
        return _bulk_result(response)

    def search(
        self, q: str | None, style: str | None, city: str | None, limit: int
    ) -> list[port.SearchHit]:
        if q is not None and q.strip() and not port.query_terms(q):
            return []
        with self._errors("search"):
            try:
                response = self.client.search(
                    index=self.index, body=search_body(q, style, city, limit)
                )
            except NotFoundError as exc:
                if _missing_index(exc):
                    return []
                raise
        return [
            port.SearchHit(
                artist_id=hit["_id"],
                score=float(hit.get("_score") or 0.0),
                document=ArtistSearchDocument.model_validate(hit["_source"]),
            )
            for hit in response["hits"]["hits"]
        ]

    def get(self, artist_id: str) -> ArtistSearchDocument | None:
        with self._errors("get"):
            try:
                response = self.client.get(index=self.index, id=artist_id)
            except NotFoundError:
                return None
        return ArtistSearchDocument.model_validate(response["_source"])

    def count(self) -> int:
        with self._errors("count"):
            try:
                response = self.client.count(index=self.index)
            except NotFoundError as exc:
                if _missing_index(exc):
                    return 0
                raise
        return int(response["count"])

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        after: list[Any] | None = None
        while True:
            # search_after on the keyword id works on domains and Serverless (no scroll there).
            body: dict[str, Any] = {
                "size": PAGE_SIZE,
                "_source": False,
                "query": {"match_all": {}},
                "sort": [{"artistId": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            with self._errors("list ids"):
                try:
                    response = self.client.search(index=self.index, body=body)
                except NotFoundError as exc:
                    if _missing_index(exc):
                        return ids
                    raise
            hits = response["hits"]["hits"]
            ids.update(hit["_id"] for hit in hits)
            if len(hits) < PAGE_SIZE:
                return ids
            after = hits[-1]["sort"]


def search_body(q: str | None, style: str | None, city: str | None, limit: int) -> dict[str, Any]:
    """The `_search` request: all query words must match (across fields), filters are exact."""
    filters: list[dict[str, Any]] = []
    if style is not None:
        filters.append({"term": {"styles": normalize_key(style)}})
    if city is not None:
        filters.append({"term": {"cityKey": normalize_key(city)}})
    if q is not None and q.strip():
        match = {
            "multi_match": {
                "query": " ".join(port.query_terms(q)),
                "type": "cross_fields",
                "operator": "and",
                "fields": SEARCH_FIELDS,
            }
        }
        return {
            "size": limit,
            "query": {"bool": {"must": [match], "filter": filters}},
            "sort": [{"_score": "desc"}, {"artistId": "asc"}],
        }
    return {
        "size": limit,
        "query": {"bool": {"filter": filters}},
        "sort": [
            {"rating": {"order": "desc", "missing": "_last"}},
            {"reviewCount": "desc"},
            {"artistId": "asc"},
        ],
    }


def _bulk_result(response: dict[str, Any]) -> port.BulkResult:
    """Per-item outcomes: delete-404 is success; 429/5xx items make the whole bulk transient."""
    upserted = deleted = not_found = 0
    failures: list[port.BulkItemFailure] = []
    transient: list[str] = []
    for item in response.get("items", []):
        ((action, result),) = item.items()
        status = int(result.get("status", 0))
        artist_id = str(result.get("_id"))
        operation = "delete" if action == "delete" else "upsert"
        if 200 <= status < 300:
            if operation == "delete":
                deleted += 1
            else:
                upserted += 1
        elif operation == "delete" and status == 404:
            not_found += 1
        elif _transient_status(status):
            transient.append(f"{artist_id}: HTTP {status}")
        else:
            error = result.get("error")
            reason = (
                f"{error.get('type')}: {error.get('reason')}"
                if isinstance(error, dict)
                else str(error)
            )
            failures.append(port.BulkItemFailure(artist_id, operation, status, reason))
    if transient:
        # Retrying the whole bulk is safe: the items that did succeed are idempotent.
        raise port.SearchIndexUnavailable(f"bulk items throttled or failed: {', '.join(transient)}")
    return port.BulkResult(
        upserted=upserted, deleted=deleted, not_found=not_found, failures=tuple(failures)
    )
