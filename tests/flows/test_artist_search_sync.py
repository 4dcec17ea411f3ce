"""artist_search_sync through its real trigger: stream -> Pipe (filter) -> Express SM -> index."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.testing import StackProcess, wait_for
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

ROOT = Path(__file__).resolve().parent.parent.parent
FLOW = "artist_search_sync"


def table(stack: StackProcess) -> str:
    return str(stack.resource("TattooDirectoryTable")["name"])


def index(stack: StackProcess) -> EmbeddedIndex:
    return EmbeddedIndex(stack.data_dir / "search" / "artists.db")


def artist(
    artist_id: str, name: str, city: str = "Leeds", styles: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": {"S": f"ARTIST#{artist_id}"},
        "SK": {"S": "METADATA"},
        "artistName": {"S": name},
        "locationCity": {"S": city},
        "styles": {"L": [{"S": s} for s in (styles or ["blackwork"])]},
        "rating": {"N": "4.5"},
        "reviewCount": {"N": "12"},
    }
    item.update(extra)
    return item


def put(stack: StackProcess, item: dict[str, Any]) -> None:
    stack.client("dynamodb").put_item(TableName=table(stack), Item=item)


def delete(stack: StackProcess, artist_id: str) -> None:
    stack.client("dynamodb").delete_item(
        TableName=table(stack),
        Key={"PK": {"S": f"ARTIST#{artist_id}"}, "SK": {"S": "METADATA"}},
    )


def doc(stack: StackProcess, artist_id: str) -> Any:
    return index(stack).get(artist_id)


def search(stack: StackProcess, query: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"{stack.gateway.url}/artists/search?{query}") as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def new_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.mark.built
def test_insert_modify_remove_keep_the_index_in_step(stack: StackProcess) -> None:
    a = new_id()
    put(stack, artist(a, "Ada Inkwell", styles=["Fine Line"]))
    first = wait_for(lambda: doc(stack, a), what="the indexed artist")
    assert first.name == "Ada Inkwell" and first.styles == ["fine-line"]

    put(stack, artist(a, "Ada Inkwell", city="York", styles=["Fine Line"]))
    wait_for(lambda: (d := doc(stack, a)) and d.city == "York", what="the modified document")
    # MODIFY logs which fields changed, from OldImage and NewImage.
    logs = "\n".join(
        r["logs"]
        for r in stack.gateway.get("/_sluice/invocations")
        if r["function"] == "ArtistPrepareBatchFunction"
    )
    changed = [json.loads(line) for line in logs.splitlines() if a in line and "changed" in line]
    assert any("locationCity" in json.dumps(entry) for entry in changed), logs[-2000:]

    status, body = search(stack, "q=ada&city=york")
    assert status == 200 and [r["artist"]["artistId"] for r in body["results"]] == [a]

    delete(stack, a)
    wait_for(lambda: doc(stack, a) is None, what="the document to be deleted")


def test_items_that_are_not_artists_never_reach_the_index(stack: StackProcess) -> None:
    a = new_id()
    ddb = stack.client("dynamodb")
    ddb.put_item(
        TableName=table(stack),
        Item={
            "PK": {"S": f"ARTIST#{a}"},
            "SK": {"S": "REVIEW#1"},
            "artistName": {"S": "Not Metadata"},
        },
    )
    ddb.put_item(
        TableName=table(stack),
        Item={"PK": {"S": f"STUDIO#{a}"}, "SK": {"S": "METADATA"}, "artistName": {"S": "A Studio"}},
    )
    marker = new_id()
    put(stack, artist(marker, "Marker Artist"))  # same pipe, after the other two
    wait_for(lambda: doc(stack, marker), what="the marker artist")
    assert doc(stack, a) is None
    inputs = [
        json.loads(
            stack.client("stepfunctions").describe_execution(executionArn=e["executionArn"])[
                "input"
            ]
        )
        for e in stack.executions(FLOW)
    ]
    keys = [r["dynamodb"]["Keys"] for batch in inputs for r in batch]
    assert not any(k["PK"]["S"] == f"STUDIO#{a}" or k["SK"]["S"] != "METADATA" for k in keys)


def test_modify_then_remove_in_one_batch_leaves_no_document(stack: StackProcess) -> None:
    a = new_id()
    put(stack, artist(a, "Brief Artist"))
    wait_for(lambda: doc(stack, a), what="the first version")
    put(stack, artist(a, "Brief Artist", city="Hull"))
    delete(stack, a)  # within the 1 s batching window of the MODIFY
    wait_for(lambda: doc(stack, a) is None, what="no document")
    marker = new_id()
    put(stack, artist(marker, "After"))
    wait_for(lambda: doc(stack, marker), what="a later batch")
    assert doc(stack, a) is None


def test_remove_of_a_never_indexed_artist_succeeds(stack: StackProcess) -> None:
    a = new_id()
    put(stack, artist(a, "Ghost"))
    wait_for(lambda: doc(stack, a), what="the artist")
    index(stack).bulk([], [a])  # the index loses it (e.g. rebuilt) before the REMOVE arrives
    delete(stack, a)
    marker = new_id()
    put(stack, artist(marker, "Still Flowing"))
    wait_for(lambda: doc(stack, marker), what="the pipe to move past the REMOVE")
    failed = [e for e in stack.executions(FLOW) if e["status"] != "SUCCEEDED"]
    assert failed == []
    dlq = stack.resource("ArtistSearchDLQ")["name"]
    assert stack.gateway.get(f"/_sluice/dlq/{dlq}") == []


@pytest.mark.built
def test_bad_search_parameters_are_400(stack: StackProcess) -> None:
    assert search(stack, "limit=0&q=x")[0] == 400
    assert search(stack, "")[0] == 400
    status, body = search(stack, "q=" + "x" * 500)
    assert status == 400 and body["field"] == "q"


def test_random_operations_leave_the_index_equal_to_the_table(stack: StackProcess) -> None:
    rng = random.Random(20261122)
    ids = [f"prop-{new_id()}-{i}" for i in range(40)]
    current: dict[str, str] = {}
    for step in range(500):
        a = rng.choice(ids)
        roll = rng.random()
        if roll < 0.15:
            # Other item types in the same table must not disturb the index.
            stack.client("dynamodb").put_item(
                TableName=table(stack),
                Item={"PK": {"S": f"ARTIST#{a}"}, "SK": {"S": f"REVIEW#{step}"}},
            )
        elif roll < 0.40 and a in current:
            delete(stack, a)
            del current[a]
        else:
            name = f"Artist {step}"
            put(stack, artist(a, name, city=rng.choice(["Leeds", "York", "Bath"])))
            current[a] = name

    def in_step() -> bool:
        idx = index(stack)
        mine = {i for i in idx.all_ids() if i.startswith("prop-")}
        if mine != set(current):
            return False
        return all((d := idx.get(a)) is not None and d.name == n for a, n in current.items())

    wait_for(in_step, timeout=90, what="the index to equal the table's artists")


@pytest.fixture
def flaky_stack(tmp_path: Path) -> Iterator[StackProcess]:
    """A fresh stack whose index writer's next invoke fails as an index outage would."""
    stack = StackProcess(ROOT / "infra" / "template.yaml", tmp_path)
    stack.inject_fault(
        "ArtistApplyToIndexFunction", "SearchIndexUnavailable", "index unavailable (injected)"
    )
    yield stack
    stack.stop()


def test_transient_index_failure_is_retried_and_ends_correct(flaky_stack: StackProcess) -> None:
    a = new_id()
    put(flaky_stack, artist(a, "Retried Artist"))
    wait_for(lambda: doc(flaky_stack, a), timeout=60, what="the artist after a retry")
    [execution] = flaky_stack.wait_executions(FLOW, 1)
    apply = execution.state("ApplyToIndex")
    assert apply.attempts[0].error == "SearchIndexUnavailable"
    assert execution.status == "SUCCEEDED"
    assert flaky_stack.faults() == []  # the one injected failure was used


def wait_until_caught_up(stack: StackProcess) -> None:
    """A marker written now is indexed only after every earlier record of the shard (retries
    and DLQ sends included), so a fault injected next meets only this test's batch."""
    marker = new_id()
    put(stack, artist(marker, "Marker"))
    wait_for(lambda: doc(stack, marker), timeout=90, what="the marker artist")


def runs_with(stack: StackProcess, artist_id: str) -> list[Any]:
    """The executions whose batch held ARTIST_ID, oldest first."""
    found = sorted(stack.executions(FLOW), key=lambda e: e["startDate"])
    runs = [stack.execution(e["executionArn"]) for e in found]
    return [r for r in runs if f"ARTIST#{artist_id}" in json.dumps(r.input)]


def dead_letters(stack: StackProcess, artist_id: str) -> list[dict[str, Any]]:
    dlq = stack.resource("ArtistSearchDLQ")["name"]
    messages: list[dict[str, Any]] = stack.gateway.get(f"/_sluice/dlq/{dlq}")
    return [m for m in messages if f"ARTIST#{artist_id}" in json.dumps(m["body"])]


def test_an_invalid_artist_is_bisected_out_into_the_dlq_after_the_retries(
    stack: StackProcess,
) -> None:
    """One invalid artist fails its batch's run; the Pipe bisects the batch (without using
    retries) until the bad record is alone, retries it MaximumRetryAttempts (3) times, then
    sends it to the DLQ with the error; the good artists of the batch are indexed."""
    wait_until_caught_up(stack)
    good, bad, after = new_id(), new_id(), new_id()
    put(stack, artist(good, "Good Before"))
    put(stack, artist(bad, ""))  # artistName must not be empty: InvalidArtistItemError
    put(stack, artist(after, "Good After"))  # most often in the same 1 s batching window

    [message] = wait_for(lambda: dead_letters(stack, bad), timeout=90, what="the DLQ message")
    reason = message["reason"]
    assert reason["error"] == "InvalidArtistItemError" and bad in reason["cause"]
    assert reason["condition"] == "RetryAttemptsExhausted"
    assert message["body"]["requestContext"]["approximateInvokeCount"] == 4  # 1 + 3 retries
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in message["body"]["records"]] == [
        f"ARTIST#{bad}"
    ]
    # `after` may have missed the window on a busy machine: its batch then waits on the
    # shard for the bad record to be dead-lettered, and is indexed just after.
    wait_for(lambda: doc(stack, good) and doc(stack, after), what="the good artists indexed")
    assert doc(stack, bad) is None
    runs = runs_with(stack, bad)
    assert all(r.status == "FAILED" and r.error == "InvalidArtistItemError" for r in runs)
    assert len(runs[0].input) > 1  # the batch as written, bisected from there
    assert [len(r.input) for r in runs][-4:] == [1] * 4  # the retries had the record alone
    listing = stack.cli("dlq", "list", stack.resource("ArtistSearchDLQ")["name"])
    assert "InvalidArtistItemError" in listing.stdout


def test_an_index_writer_timeout_fails_the_run_and_the_pipe_retries_the_batch(
    stack: StackProcess,
) -> None:
    wait_until_caught_up(stack)
    stack.inject_fault("ArtistApplyToIndexFunction", "Sandbox.Timedout")
    a = new_id()
    put(stack, artist(a, "Timed Out Once"))
    wait_for(lambda: doc(stack, a), timeout=60, what="the artist after the Pipe's retry")
    failed, retried = runs_with(stack, a)
    assert failed.status == "FAILED" and failed.error == "Sandbox.Timedout"
    assert [x.error for x in failed.state("ApplyToIndex").attempts] == ["Sandbox.Timedout"]
    assert retried.status == "SUCCEEDED" and retried.input == failed.input
    assert dead_letters(stack, a) == []


def test_a_record_too_large_to_start_an_execution_is_dead_lettered_alone(
    stack: StackProcess,
) -> None:
    """A 300 KB artist item (DynamoDB allows 400 KB) makes a stream record over the 256 KiB
    execution input limit: StartSyncExecution refuses it (`InvalidExecutionInput`), the
    Pipe bisects and retries it, then sends it to the DLQ; the next artist is indexed."""
    wait_until_caught_up(stack)
    big, after = new_id(), new_id()
    put(stack, artist(big, "Big Bio", bio={"S": "x" * 300_000}))
    put(stack, artist(after, "After The Big One"))
    [message] = wait_for(lambda: dead_letters(stack, big), timeout=90, what="the DLQ message")
    assert message["reason"]["error"] == "InvalidExecutionInput"
    assert "262144" in message["reason"]["cause"]
    assert message["reason"]["condition"] == "RetryAttemptsExhausted"
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in message["body"]["records"]] == [
        f"ARTIST#{big}"
    ]
    wait_for(lambda: doc(stack, after), timeout=30, what="the artist after the big one")
    assert doc(stack, big) is None
    assert runs_with(stack, big) == []  # no execution could start with it
