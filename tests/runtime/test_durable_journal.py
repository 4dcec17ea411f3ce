"""The durable state's journal (sluice/durable/journal.py): a flush answers once the marks
made before it are on disk, requests that end during a commit share the next one, items
appended between two flushes are one row, and a request that only reads waits for no
commit; an event's end follows the marks made before it; the store (store.py) writes any
number of rows in one transaction."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from sluice.durable import reads_only
from sluice.durable.events import PendingEvents
from sluice.durable.journal import FLUSH_ATTEMPTS, READ_ATTEMPTS, Journal
from sluice.durable.store import CHUNK, Store
from sluice.put_events import envelope
from sluice.triggers.rule_events import target_input
from sluice.triggers.specs import RuleTargetSpec


class _CountedStore(Store):
    """Counts commits; the first one waits until `release` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits = 0
        self.committing = threading.Event()
        self.release = threading.Event()

    def write(self, changes: Iterable[tuple[str, str, bytes | None]]) -> int:
        self.commits += 1
        self.committing.set()
        assert self.release.wait(30)
        return super().write(changes)


def test_a_flush_answers_with_its_marks_on_disk_and_nothing_new_costs_no_commit(
    tmp_path: Path,
) -> None:
    store = _CountedStore(tmp_path / "state.sqlite")
    store.release.set()
    journal = Journal(store)
    journal.mark("sqs", "m-1", lambda: b"first")
    journal.mark("sqs", "m-1", lambda: b"second")  # marked twice: one row, its last state
    journal.flush()
    assert store.load("sqs") == [("m-1", b"second")]
    journal.flush()
    assert store.commits == 1


def test_flushes_queued_behind_a_commit_share_the_next_one(tmp_path: Path) -> None:
    store = _CountedStore(tmp_path / "state.sqlite")
    journal = Journal(store)
    journal.mark("s3", "a", lambda: b"a")
    first = threading.Thread(target=journal.flush)
    first.start()
    assert store.committing.wait(30)  # the first flush is committing "a"
    for key in ("b", "c", "d"):
        journal.mark("s3", key, key.encode)
    queued = [threading.Thread(target=journal.flush) for _ in range(3)]
    for thread in queued:
        thread.start()
    store.release.set()
    for thread in [first, *queued]:
        thread.join(30)
    assert store.load("s3") == [("a", b"a"), ("b", b"b"), ("c", b"c"), ("d", b"d")]
    assert store.commits == 2  # "a", then one commit for the three queued requests


def test_items_appended_between_two_flushes_are_one_new_row(tmp_path: Path) -> None:
    store = _CountedStore(tmp_path / "state.sqlite")
    store.release.set()
    journal = Journal(store)

    def row(group: str, items: list[int]) -> tuple[str, bytes]:
        return f"{group}/{items[0]}", json.dumps(items).encode()

    journal.append("history", "x", 1, row)
    journal.append("history", "x", 2, row)
    journal.append("history", "y", 1, row)
    journal.flush()
    journal.append("history", "x", 3, row)
    journal.flush()
    assert store.load("history") == [("x/1", b"[1, 2]"), ("x/3", b"[3]"), ("y/1", b"[1]")]
    assert store.commits == 2


def test_a_write_of_more_rows_than_one_statement_binds_keeps_every_change(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    keys = [f"{i:04d}" for i in range(3 * CHUNK + 1)]
    assert store.write(("s3", key, key.encode()) for key in keys) == len(keys)
    changes = [("s3", key, None) for key in keys[::2]] + [("s3", keys[1], b"again")]
    assert store.write(changes) == len(keys[::2]) + 1
    store.close()

    reopened = Store(tmp_path / "state.sqlite")
    expected = [(key, b"again" if key == keys[1] else key.encode()) for key in keys[1::2]]
    assert reopened.load("s3") == expected
    reopened.close()


@pytest.mark.parametrize(
    ("environ", "reads"),
    [
        ({"HTTP_X_AMZ_TARGET": "AWSStepFunctions.ListExecutions"}, True),
        ({"HTTP_X_AMZ_TARGET": "AWSStepFunctions.GetExecutionHistory"}, True),
        ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}, True),
        ({"HTTP_X_AMZ_TARGET": "AWSStepFunctions.StartExecution"}, False),
        ({"HTTP_X_AMZ_TARGET": "AWSStepFunctions.GetActivityTask"}, False),
        ({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, False),
        ({"REQUEST_METHOD": "GET", "QUERY_STRING": ""}, True),
        ({"REQUEST_METHOD": "GET", "QUERY_STRING": "Action=PurgeQueue"}, False),
        ({"REQUEST_METHOD": "PUT", "QUERY_STRING": ""}, False),
    ],
)
def test_only_requests_that_change_nothing_answer_without_a_commit(
    environ: dict[str, str], reads: bool
) -> None:
    assert reads_only(environ) is reads


def _changing(reads: int, value: bytes) -> Callable[[], bytes]:
    """A snapshot that fails its first READS reads, as one taken while another thread
    changes the entity does."""
    failures = iter(range(reads))

    def snapshot() -> bytes:
        if next(failures, None) is not None:
            raise RuntimeError("dictionary changed size during iteration")
        return value

    return snapshot


def test_a_flush_answers_only_once_an_entity_it_could_not_read_is_on_disk(
    tmp_path: Path,
) -> None:
    """An entity still changing after READ_ATTEMPTS reads is read again at the next flush;
    the request whose change it holds must not answer before then (it answered at once,
    its change not on disk, so a crash right after could lose what it had answered)."""
    store = Store(tmp_path / "state.sqlite")
    journal = Journal(store)
    journal.mark("dynamodb", "item-1", _changing(READ_ATTEMPTS, b"whole"))
    journal.mark("dynamodb", "item-2", lambda: b"other")
    journal.flush()
    assert sorted(store.load("dynamodb")) == [("item-1", b"whole"), ("item-2", b"other")]


def test_an_entity_that_never_reads_does_not_hold_a_flush_for_ever(tmp_path: Path) -> None:
    store = _CountedStore(tmp_path / "state.sqlite")
    store.release.set()
    journal = Journal(store)

    def broken() -> bytes:
        raise RuntimeError("unreadable")

    journal.mark("sqs", "m-1", broken)
    journal.mark("sqs", "m-2", lambda: b"fine")
    journal.flush()
    assert store.load("sqs") == [("m-2", b"fine")]
    assert store.commits == FLUSH_ATTEMPTS


def test_an_events_end_is_written_with_the_marks_made_before_it_never_before(
    tmp_path: Path,
) -> None:
    """A rule's delivery waits for no commit: the end of an event is a mark made after the
    delivery's StartExecution marked its execution, so it reaches the disk in the same
    flush as that execution or a later one. A crash before that flush leaves the event
    saved, to be delivered again (at least once), never an event gone whose execution is
    not on disk."""
    store = Store(tmp_path / "state.sqlite")
    journal = Journal(store)
    pending = PendingEvents(store, journal)
    pending.add([({"id": "e-1", "time": "2026-12-05T10:00:00Z"}, "sales")])
    journal.mark("executions", "run-1", lambda: b"started by e-1")
    pending.done("e-1")
    assert [event["id"] for event, _ in pending.saved()] == ["e-1"]  # nothing flushed yet
    assert store.load("executions") == []
    journal.flush()
    assert pending.saved() == []
    assert store.load("executions") == [("run-1", b"started by e-1")]


def test_an_entity_read_while_it_changes_is_read_again_in_the_same_commit(tmp_path: Path) -> None:
    """Read again at once, it is written with the marks made after it: a mark that follows
    it (an event's end, a message's delete) never reaches the disk before it."""
    store = _CountedStore(tmp_path / "state.sqlite")
    store.release.set()
    journal = Journal(store)
    journal.mark("executions", "run-1", _changing(1, b"run written"))
    journal.mark("events", "e-1", lambda: None)
    journal.flush()
    assert store.commits == 1
    assert store.load("executions") == [("run-1", b"run written")]


def test_a_put_entry_is_saved_and_handed_to_its_target_as_the_event_it_is(
    tmp_path: Path,
) -> None:
    """A PutEvents entry's envelope keeps its Detail's text, written as it arrived rather
    than encoded again; the event saved for a restart and the input its target gets are
    still the event itself, whatever the spacing of the Detail sent."""
    detail = '{ "embedding": [0.5, 0.25, 1e-07],\n  "tenantId": "t-\\u00e9" }'
    entry = {"Source": "s", "DetailType": "d", "Detail": detail, "EventBusName": "sales"}
    event = envelope(entry, "e-1")
    bus = event.pop("_bus")
    expected = {**event, "detail": {"embedding": [0.5, 0.25, 1e-07], "tenantId": "t-é"}}
    assert json.loads(target_input(RuleTargetSpec("t", "arn:sm"), event) or "") == expected
    store = Store(tmp_path / "state.sqlite")
    PendingEvents(store, Journal(store)).add([(event, bus)])
    assert PendingEvents(store, Journal(store)).saved() == [(expected, "sales")]
