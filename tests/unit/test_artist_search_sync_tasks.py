"""artist_search_sync tasks and schema: transform, collapse, changed-field logs, index writes.

The property test at the end drives random table histories through the Pipe's filter,
random batching and redelivery, and the two tasks, into a real EmbeddedIndex.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern

from schemas.artist_search_sync import (
    PIPE_FILTER_PATTERN,
    ArtistSearchDocument,
    IndexChanges,
    StreamRecord,
    artist_document,
    changed_fields,
    collapse,
    deserialize_image,
    normalize_key,
)
from sluice.in_process import lambda_context
from tasks.artist_search_sync import apply_to_index, prepare_batch
from tasks.artist_search_sync.errors import (
    InvalidArtistItemError,
    MalformedBatchError,
    SearchIndexWriteError,
)
from tasks.artist_search_sync.index import (
    BulkItemFailure,
    BulkResult,
    SearchHit,
    SearchIndexUnavailable,
)
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

REGION = "eu-west-2"
STREAM_ARN = (
    f"arn:aws:dynamodb:{REGION}:123456789012:table/TattooDirectory/stream/2026-01-01T00:00:00.000"
)
EXECUTION = "arn:aws:states:eu-west-2:123456789012:express:artist-search-sync:run-1:run-1"
SERIALIZER = TypeSerializer()
FILTER = EventPattern.load(json.dumps(PIPE_FILTER_PATTERN))


CONTEXT = lambda_context("PrepareBatch")


def dynamodb_json(item: dict[str, Any]) -> dict[str, Any]:
    return {name: SERIALIZER.serialize(value) for name, value in item.items()}


def artist(artist_id: str, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": f"ARTIST#{artist_id}",
        "SK": "METADATA",
        "artistId": artist_id,
        "artistName": f"Artist {artist_id}",
        "styles": {"Blackwork", "Fine Line"},
        "locationCity": "Leeds",
        "locationDisplay": "Leeds, UK",
        "studioName": "Northern Ink",
        "instagramHandle": f"@{artist_id}.ink",
        "rating": Decimal("4.7"),
        "reviewCount": Decimal(31),
        "latitude": Decimal("53.7997"),
        "longitude": Decimal("-1.5492"),
        "geohash": "gcwfhf",
        "gsi1pk": "STYLE#blackwork",  # not indexed
        "updatedAt": "2026-01-10T09:30:00Z",
    }
    item.update(fields)
    return item


def record(
    event_name: str,
    sequence: int,
    keys: dict[str, Any],
    *,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": 1767225600,
        "Keys": dynamodb_json(keys),
        "SequenceNumber": str(sequence),
        "SizeBytes": 256,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        change["NewImage"] = dynamodb_json(new)
    if old is not None:
        change["OldImage"] = dynamodb_json(old)
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
        "dynamodb": change,
    }


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"PK": item["PK"], "SK": item["SK"]}


def prepare(records: list[dict[str, Any]]) -> IndexChanges:
    return prepare_batch.prepare_batch({"correlationId": EXECUTION, "records": records})


# -- schema -----------------------------------------------------------------------------


def test_transform_decodes_the_image_and_normalizes_filters() -> None:
    item = artist(
        "a-1",
        styles={"Neo Traditional", "blackwork", "Black_Work"},
        specialties=["Cover-ups", " Script "],
        bio="Bold lines.",
    )
    document = artist_document(deserialize_image(dynamodb_json(item)))

    assert document.model_dump(mode="json") == {
        "artistId": "a-1",
        "name": "Artist a-1",
        "styles": ["black-work", "blackwork", "neo-traditional"],
        "specialties": ["Cover-ups", "Script"],
        "city": "Leeds",
        "cityKey": "leeds",
        "location": "Leeds, UK",
        "studioName": "Northern Ink",
        "instagramHandle": "@a-1.ink",
        "bio": "Bold lines.",
        "geo": {"lat": 53.7997, "lon": -1.5492},
        "geohash": "gcwfhf",
        "rating": 4.7,
        "reviewCount": 31,
        "updatedAt": "2026-01-10T09:30:00Z",
    }


def test_transform_falls_back_to_the_display_location_and_tolerates_missing_fields() -> None:
    item = {
        "PK": "ARTIST#a-2",
        "SK": "METADATA",
        "artistName": "Sam",
        "locationDisplay": "York, UK",
    }
    document = artist_document(deserialize_image(dynamodb_json(item)))

    assert (document.artistId, document.city, document.cityKey) == ("a-2", "York", "york")
    assert (document.styles, document.rating, document.geo, document.reviewCount) == (
        [],
        None,
        None,
        0,
    )
    assert normalize_key("  Newcastle upon Tyne ") == "newcastle-upon-tyne"


def test_changed_fields_names_added_removed_and_changed_attributes() -> None:
    old = deserialize_image(dynamodb_json(artist("a-1", bio="old")))
    new = deserialize_image(
        dynamodb_json(artist("a-1", rating=Decimal("4.9"), awards=["Best of Leeds"]))
    )
    assert changed_fields(old, new) == ["awards", "bio", "rating"]
    assert changed_fields(old, old) == []


def test_collapse_keeps_the_newest_record_per_artist_by_numeric_sequence() -> None:
    a1, a2 = artist("a1"), artist("a2")
    # 99…9 has fewer digits than 100…0: a string comparison would pick the wrong record.
    records = [
        StreamRecord.model_validate(r)
        for r in (
            record("INSERT", 10**21, key_of(a1), new=a1),
            record("MODIFY", 10**21 - 1, key_of(a1), new=a1, old=a1),
            record("INSERT", 5, key_of(a2), new=a2),
            record("INSERT", 6, {"PK": "ARTIST#a2", "SK": "IMAGE#1"}, new={"x": 1}),
        )
    ]
    newest = collapse(records)
    assert {k: r.dynamodb.SequenceNumber for k, r in newest.items()} == {
        "a1": str(10**21),
        "a2": "5",
    }


# -- PrepareBatch --------------------------------------------------------------------------


def test_modify_then_remove_in_one_batch_deletes_and_never_upserts() -> None:
    old, new = artist("a1"), artist("a1", artistName="Renamed")
    changes = prepare(
        [
            record("MODIFY", 101, key_of(new), new=new, old=old),
            record("REMOVE", 102, key_of(new), old=new),
        ]
    )
    assert (changes.upserts, changes.deletes) == ([], ["a1"])
    assert (changes.operations, changes.superseded, changes.ignored) == (1, 1, 0)


def test_batch_yields_one_operation_per_artist_and_ignores_other_items() -> None:
    a1, a2 = artist("a1"), artist("a2")
    a1_later = artist("a1", bio="Now booking.")
    changes = prepare(
        [
            record("INSERT", 1, key_of(a1), new=a1),
            record("INSERT", 2, {"PK": "STUDIO#s1", "SK": "METADATA"}, new={"name": "s"}),
            record("INSERT", 3, key_of(a2), new=a2),
            record("MODIFY", 4, key_of(a1), new=a1_later, old=a1),
            record("REMOVE", 5, key_of(artist("a9")), old=artist("a9")),
        ]
    )
    assert [d.artistId for d in changes.upserts] == ["a1", "a2"]
    assert changes.upserts[0].bio == "Now booking."
    assert changes.deletes == ["a9"]
    assert (changes.operations, changes.ignored, changes.superseded) == (3, 1, 1)
    assert changes.correlationId == EXECUTION


def test_invalid_artist_item_fails_the_batch_naming_artist_and_field() -> None:
    bad = artist("a1", rating=Decimal("7"))
    del bad["artistName"]
    with pytest.raises(InvalidArtistItemError) as raised:
        prepare([record("INSERT", 1, key_of(bad), new=bad)])
    assert "artist a1 (record event-1)" in str(raised.value)
    assert "artistName: Field required" in str(raised.value)
    assert "rating: Input should be less than or equal to 5" in str(raised.value)


def test_malformed_batch_names_the_field() -> None:
    broken = record("INSERT", 1, key_of(artist("a1")), new=artist("a1"))
    broken["dynamodb"]["SequenceNumber"] = "not-a-number"
    with pytest.raises(MalformedBatchError, match=r"records\.0\.dynamodb\.SequenceNumber"):
        prepare([broken])
    with pytest.raises(MalformedBatchError, match="records: Field required"):
        prepare_batch.prepare_batch({"correlationId": EXECUTION})
    keys_only = record("MODIFY", 2, key_of(artist("a1")))
    with pytest.raises(MalformedBatchError, match="NewImage is missing"):
        prepare([keys_only])


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Powertools' JSON log output of the flow's loggers."""
    buffer = io.StringIO()
    handler = prepare_batch.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    monkeypatch.setattr(handler, "stream", buffer)
    yield buffer


def _logged(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def test_modify_logs_changed_fields_with_the_execution_as_correlation_id(
    log_lines: io.StringIO,
) -> None:
    old = artist("a1", bio="Walk-ins welcome.")
    new = artist("a1", rating=Decimal("4.9"), instagramHandle="@jo.ink")
    event = {
        "correlationId": EXECUTION,
        "records": [record("MODIFY", 7, key_of(new), new=new, old=old)],
    }

    output = prepare_batch.handler(event, CONTEXT)

    assert [d["artistId"] for d in output["upserts"]] == ["a1"]
    [modified] = [line for line in _logged(log_lines) if line["message"] == "artist modified"]
    assert modified["changedFields"] == ["bio", "instagramHandle", "rating"]
    assert modified["artistId"] == "a1"
    assert modified["sequenceNumber"] == "7"
    assert modified["correlation_id"] == EXECUTION
    assert modified["level"] == "INFO"
    # Names only: values may be personal data.
    assert "@jo.ink" not in json.dumps(modified)


# -- ApplyToIndex -------------------------------------------------------------------------


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    embedded = EmbeddedIndex(tmp_path / "search" / "artists.db")
    yield embedded
    embedded.close()


def test_apply_upserts_deletes_and_a_missing_document_is_success(index: EmbeddedIndex) -> None:
    a1, a2 = artist("a1"), artist("a2")
    first = prepare(
        [record("INSERT", 1, key_of(a1), new=a1), record("INSERT", 2, key_of(a2), new=a2)]
    )
    assert apply_to_index.apply_to_index(first.model_dump(mode="json"), index).model_dump() == {
        "correlationId": EXECUTION,
        "upserted": 2,
        "deleted": 0,
        "notFound": 0,
    }

    second = prepare(
        [
            record("REMOVE", 3, key_of(a2), old=a2),
            record("REMOVE", 4, key_of(artist("never")), old=artist("never")),
        ]
    )
    result = apply_to_index.apply_to_index(second.model_dump(mode="json"), index)
    assert (result.deleted, result.notFound) == (1, 1)
    assert index.all_ids() == {"a1"}
    assert index.get("a1") == artist_document(deserialize_image(dynamodb_json(a1)))


@dataclass
class ScriptedIndex:
    """A SearchIndex whose bulk answers are scripted."""

    answers: list[BulkResult | Exception]
    calls: list[tuple[list[str], list[str]]] = field(default_factory=list)

    def ensure_index(self) -> None:
        pass

    def bulk(self, upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]) -> BulkResult:
        self.calls.append(([d.artistId for d in upserts], list(deletes)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def search(
        self, q: str | None, style: str | None, city: str | None, limit: int
    ) -> list[SearchHit]:
        return []

    def get(self, artist_id: str) -> ArtistSearchDocument | None:
        return None

    def count(self) -> int:
        return 0

    def all_ids(self) -> set[str]:
        return set()


def test_transient_errors_propagate_for_the_state_machine_to_retry() -> None:
    changes = prepare([record("INSERT", 1, key_of(artist("a1")), new=artist("a1"))])
    scripted = ScriptedIndex([SearchIndexUnavailable("HTTP 429")])
    with pytest.raises(SearchIndexUnavailable):
        apply_to_index.apply_to_index(changes.model_dump(mode="json"), scripted)


def test_rejected_documents_fail_with_a_typed_error_naming_them() -> None:
    changes = prepare([record("INSERT", 1, key_of(artist("a1")), new=artist("a1"))])
    rejected = BulkResult(
        failures=(BulkItemFailure("a1", "upsert", 400, "mapper_parsing_exception: bad geo"),)
    )
    with pytest.raises(SearchIndexWriteError, match=r"a1 \(upsert\): HTTP 400 mapper_parsing"):
        apply_to_index.apply_to_index(changes.model_dump(mode="json"), ScriptedIndex([rejected]))


def test_apply_rejects_an_artist_listed_twice() -> None:
    doc = artist_document(deserialize_image(dynamodb_json(artist("a1")))).model_dump(mode="json")
    with pytest.raises(MalformedBatchError, match="more than once"):
        apply_to_index.apply_to_index(
            {"correlationId": EXECUTION, "upserts": [doc], "deletes": ["a1"]}, ScriptedIndex([])
        )


def test_handler_uses_the_configured_embedded_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEARCH_BACKEND", "embedded")
    monkeypatch.setenv("SEARCH_INDEX_PATH", str(tmp_path / "idx.db"))
    apply_to_index.search_index.cache_clear()
    try:
        payload = prepare([record("INSERT", 1, key_of(artist("a1")), new=artist("a1"))])
        event = payload.model_dump(mode="json")
        assert apply_to_index.handler(event, CONTEXT)["upserted"] == 1
        assert EmbeddedIndex(tmp_path / "idx.db").all_ids() == {"a1"}
    finally:
        apply_to_index.search_index.cache_clear()


# -- Property: any history, filtered, batched and redelivered, ends with index == table -------

ARTIST_IDS = ("a1", "a2", "a3", "a4", "a5", "a6")
OTHER_KEYS = (
    ("ARTIST#a1", "IMAGE#1"),
    ("ARTIST#a2", "STYLE#blackwork"),
    ("STUDIO#s1", "METADATA"),
    ("STYLE#blackwork", "ARTIST#a3"),
    ("ARTIST#", "METADATA"),  # no id: not an artist item
)
KEYS = [(f"ARTIST#{a}", "METADATA") for a in ARTIST_IDS] + list(OTHER_KEYS)
STYLES = ("Blackwork", "Fine Line", "Neo Traditional", "Japanese", "Dotwork", "Realism")
CITIES = ("Leeds", "York", "Manchester", "Newcastle upon Tyne")
WORDS = ("bold", "lines", "cover-ups", "walk-ins", "botanical", "script", "colour")


@st.composite
def artist_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "artistName": draw(st.sampled_from(("Jo Ink", "Sam Black", "Ana Lima", "Kai"))),
    }
    styles = draw(st.sets(st.sampled_from(STYLES), max_size=3))
    if styles:
        fields["styles"] = styles if draw(st.booleans()) else sorted(styles)
    if draw(st.booleans()):
        fields["locationCity"] = draw(st.sampled_from(CITIES))
    if draw(st.booleans()):
        fields["rating"] = Decimal(draw(st.integers(0, 50))) / 10
    if draw(st.booleans()):
        fields["bio"] = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)))
    fields["reviewCount"] = Decimal(draw(st.integers(0, 500)))
    return fields


OPERATION = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), artist_fields()),
    st.tuples(st.just("update"), st.sampled_from(KEYS), artist_fields()),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just({})),
)


@dataclass
class Table:
    """A DynamoDB table with a NEW_AND_OLD_IMAGES stream, as far as the stream shows it."""

    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _emit(self, name: str, key: tuple[str, str], new: Any, old: Any) -> None:
        keys = {"PK": key[0], "SK": key[1]}
        self.records.append(record(name, next(self.sequence), keys, new=new, old=old))

    def put(self, key: tuple[str, str], fields: dict[str, Any]) -> None:
        new = {"PK": key[0], "SK": key[1], **fields}
        old = self.items.get(key)
        if old == new:
            return  # DynamoDB writes no stream record when nothing changed
        self.items[key] = new
        self._emit("INSERT" if old is None else "MODIFY", key, new, old)

    def update(self, key: tuple[str, str], fields: dict[str, Any]) -> None:
        # A conditional update (attribute_exists(PK)): partial changes to an existing item.
        old = self.items.get(key)
        if old is not None:
            self.put(key, {**{k: v for k, v in old.items() if k not in ("PK", "SK")}, **fields})

    def delete(self, key: tuple[str, str]) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            self._emit("REMOVE", key, None, old)

    def artists(self) -> dict[str, dict[str, Any]]:
        return {
            pk.removeprefix("ARTIST#"): item
            for (pk, sk), item in self.items.items()
            if pk.startswith("ARTIST#") and pk != "ARTIST#" and sk == "METADATA"
        }


# Shrinking a 500-step history can take minutes; let Hypothesis finish and report it.
@pytest.mark.timeout(900)
@settings(
    max_examples=25,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    operations=st.integers(0, 500).flatmap(lambda n: st.lists(OPERATION, min_size=n, max_size=n)),
    batch_sizes=st.lists(st.integers(1, 10), min_size=1, max_size=20),
    redeliver=st.lists(st.booleans(), min_size=1, max_size=20),
    injected_failures=st.integers(0, 3),
    sequence_offset=st.integers(1, 600),
)
def test_any_history_leaves_the_index_equal_to_the_tables_artists(
    tmp_path: Path,
    operations: list[tuple[str, tuple[str, str], dict[str, Any]]],
    batch_sizes: list[int],
    redeliver: list[bool],
    injected_failures: int,
    sequence_offset: int,
) -> None:
    # Sequence numbers gain a digit somewhere in the history, as real ones do.
    table = Table(sequence=itertools.count(10**20 - sequence_offset))
    for action, key, fields in operations:
        if action == "put":
            table.put(key, fields)
        elif action == "update":
            table.update(key, fields)
        else:
            table.delete(key)

    delivered = [r for r in table.records if FILTER.matches_event(r)]
    assert all(r["dynamodb"]["Keys"]["SK"] == {"S": "METADATA"} for r in delivered)

    path = tmp_path / f"property-{next(_EXAMPLES)}.db"
    index = FlakyIndex(EmbeddedIndex(path), failures=injected_failures)
    try:
        position, sizes, again = 0, itertools.cycle(batch_sizes), itertools.cycle(redeliver)
        while position < len(delivered):
            batch = delivered[position : position + next(sizes)]
            position += len(batch)
            for _ in range(2 if next(again) else 1):  # at-least-once: a batch may come twice
                changes = prepare(batch).model_dump(mode="json")
                while True:  # the state machine's Retry on SearchIndexUnavailable
                    try:
                        apply_to_index.apply_to_index(changes, index)
                        break
                    except SearchIndexUnavailable:
                        continue

        expected = {
            artist_id: artist_document(deserialize_image(dynamodb_json(item)))
            for artist_id, item in table.artists().items()
        }
        assert index.all_ids() == set(expected)
        assert index.count() == len(expected)
        for artist_id, document in expected.items():
            assert index.get(artist_id) == document
    finally:
        index.close()


_EXAMPLES = itertools.count()


class FlakyIndex:
    """An index whose next `failures` bulk calls are outages (`SearchIndexUnavailable`,
    which the state machine retries) that apply nothing."""

    def __init__(self, index: EmbeddedIndex, failures: int) -> None:
        self.index, self.failures = index, failures

    def bulk(self, upserts: Any, deletes: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise SearchIndexUnavailable(f"outage ({self.failures} more)")
        return self.index.bulk(upserts, deletes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)
