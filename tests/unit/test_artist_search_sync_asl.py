"""The artist_search_sync ASL: valid for moto's engine, and correct when it runs there.

Records come from a real moto table stream (NEW_AND_OLD_IMAGES), pass the Pipe's filter
pattern, and run through the definition on the embedded engine in this process
(`sluice.testing.in_process_aws`) with the real task handlers into an EmbeddedIndex on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from asl_checks import FlowAsl, assert_transitions_land
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from schemas.artist_search_sync import PIPE_FILTER_PATTERN, artist_document
from sluice.in_process import InProcessAws, mocked_aws
from sluice.testing import in_process_aws
from tasks.artist_search_sync import apply_to_index, prepare_batch
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

REGION = "us-east-1"
TABLE = "TattooDirectory"
ROLE = "arn:aws:iam::123456789012:role/sluice-artist-search-sync"
ASL = FlowAsl(
    "artist_search_sync",
    {
        "PrepareBatchFunctionArn": InProcessAws.function_arn("PrepareBatch"),
        "ApplyToIndexFunctionArn": InProcessAws.function_arn("ApplyToIndex"),
    },
)
HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    "PrepareBatch": prepare_batch.handler,
    "ApplyToIndex": apply_to_index.handler,
}
FILTER = EventPattern.load(json.dumps(PIPE_FILTER_PATTERN))


def test_placeholders_are_exactly_the_definition_substitutions() -> None:
    ASL.assert_placeholders()


def test_definition_is_jsonpath_and_retries_only_transient_index_errors() -> None:
    document = ASL.document()
    states: dict[str, Any] = document["States"]

    assert "QueryLanguage" not in document
    for name, state in states.items():
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
        # No Catch anywhere: a persistent failure must fail the execution for the Pipe.
        assert "Catch" not in state, name
        for retrier in state.get("Retry", []):
            assert retrier["IntervalSeconds"] >= 1, name
            assert retrier.get("JitterStrategy", "NONE") in ("FULL", "NONE"), name
            assert "States.ALL" not in retrier["ErrorEquals"], name
    [index_retrier] = [
        r for r in states["ApplyToIndex"]["Retry"] if "SearchIndexUnavailable" in r["ErrorEquals"]
    ]
    assert index_retrier["ErrorEquals"] == ["SearchIndexUnavailable"]
    assert index_retrier["JitterStrategy"] == "FULL"
    assert index_retrier["BackoffRate"] > 1
    assert not any(
        "SearchIndexUnavailable" in r["ErrorEquals"] for r in states["PrepareBatch"]["Retry"]
    )
    for task in ("PrepareBatch", "ApplyToIndex"):
        assert states[task]["Resource"] == "arn:aws:states:::lambda:invoke"


def test_every_transition_lands_and_every_state_is_reachable() -> None:
    assert_transitions_land(ASL.document())


def test_engine_accepts_the_definition_and_rejects_a_broken_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mocked_aws(run_executions=True):
        sfn = boto3.client(
            "stepfunctions",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for kind in ("EXPRESS", "STANDARD"):
            created = sfn.create_state_machine(
                name=f"artist-search-sync-{kind.lower()}",
                definition=ASL.definition(),
                roleArn=ROLE,
                type=kind,
            )
            assert created["stateMachineArn"].endswith(f":artist-search-sync-{kind.lower()}")

        broken = json.loads(ASL.definition())
        broken["States"]["ApplyToIndex"]["Retry"][0]["JitterStrategy"] = "SOMETIMES"
        with pytest.raises(ClientError, match="ASLParserException"):
            sfn.create_state_machine(
                name="broken", definition=json.dumps(broken), roleArn=ROLE, type="EXPRESS"
            )


# -- Executions on moto's engine -------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class Stack:
    aws: InProcessAws
    table: Any
    streams: Any
    stream_arn: str
    machine_arn: str
    index_path: Path
    _iterator: str | None = None

    @property
    def faults(self) -> dict[str, list[str]]:
        return self.aws.faults

    def stream_batches(self, size: int = 10) -> list[list[dict[str, Any]]]:
        """New stream records as the Pipe delivers them: filtered, then batched in order."""
        if self._iterator is None:
            shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"][
                "Shards"
            ][0]["ShardId"]
            self._iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        response = self.streams.get_records(ShardIterator=self._iterator)
        self._iterator = response["NextShardIterator"]
        records = [
            {**_jsonable(r), "eventSourceARN": self.stream_arn, "awsRegion": REGION}
            for r in response["Records"]
        ]
        passed = [r for r in records if FILTER.matches_event(r)]
        return [passed[i : i + size] for i in range(0, len(passed), size)]

    def run(self, batch: list[dict[str, Any]], machine_arn: str | None = None) -> dict[str, Any]:
        return self.aws.run(machine_arn or self.machine_arn, batch)

    def index(self) -> EmbeddedIndex:
        return EmbeddedIndex(self.index_path)

    def called(self, name: str) -> list[Any]:
        return self.aws.called(name)

    def failed_task_errors(self, execution_arn: str) -> list[str]:
        sfn = self.aws.client("stepfunctions")
        events = sfn.get_execution_history(executionArn=execution_arn)["events"]
        return [
            e["lambdaFunctionFailedEventDetails"]["error"]
            for e in events
            if "lambdaFunctionFailedEventDetails" in e
        ] + [e["taskFailedEventDetails"]["error"] for e in events if "taskFailedEventDetails" in e]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    index_path = tmp_path / "search" / "artists.db"
    env = {"SEARCH_BACKEND": "embedded", "SEARCH_INDEX_PATH": str(index_path)}
    apply_to_index.search_index.cache_clear()
    with in_process_aws(HANDLERS, env=env) as aws:
        table = aws.create_table(TABLE, "PK", "SK", stream=True)
        yield Stack(
            aws=aws,
            table=table,
            # Account-based stream endpoints ({account}.streams-ddb...) are not routed by moto.
            streams=aws.client(
                "dynamodbstreams", config=Config(account_id_endpoint_mode="disabled")
            ),
            stream_arn=table.latest_stream_arn,
            machine_arn=aws.create_state_machine("artist-search-sync", ASL.definition()),
            index_path=index_path,
        )
    apply_to_index.search_index.cache_clear()


def artist(artist_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "PK": f"ARTIST#{artist_id}",
        "SK": "METADATA",
        "artistName": f"Artist {artist_id}",
        "styles": {"Blackwork"},
        "locationCity": "Leeds",
        "rating": Decimal("4.5"),
        **fields,
    }


def test_a_batch_collapses_per_artist_and_leaves_the_index_equal_to_the_table(
    stack: Stack,
) -> None:
    stack.table.put_item(Item=artist("a1"))
    stack.table.put_item(Item=artist("a2"))
    stack.table.put_item(Item={"PK": "ARTIST#a1", "SK": "IMAGE#1", "url": "s3://x/1.jpg"})
    stack.table.put_item(Item={"PK": "STUDIO#s1", "SK": "METADATA", "name": "Northern Ink"})
    stack.table.update_item(
        Key={"PK": "ARTIST#a1", "SK": "METADATA"},
        UpdateExpression="SET bio = :bio, rating = :r",
        ExpressionAttributeValues={":bio": "Koi and dragons.", ":r": Decimal("4.9")},
    )
    stack.table.update_item(
        Key={"PK": "ARTIST#a2", "SK": "METADATA"},
        UpdateExpression="SET artistName = :n",
        ExpressionAttributeValues={":n": "Renamed"},
    )
    stack.table.delete_item(Key={"PK": "ARTIST#a2", "SK": "METADATA"})
    stack.table.delete_item(Key={"PK": "ARTIST#never", "SK": "METADATA"})  # no stream record

    [batch] = stack.stream_batches()
    assert len(batch) == 5  # the image and studio items never reach the state machine
    execution = stack.run(batch)

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "correlationId": execution["executionArn"],
        "upserted": 1,
        "deleted": 0,
        "notFound": 1,  # a2 came and went within the batch: never indexed
    }
    [prepared] = stack.called("PrepareBatch")
    assert prepared["correlationId"] == execution["executionArn"]
    [applied] = stack.called("ApplyToIndex")
    assert (applied["deletes"], applied["superseded"]) == (["a2"], 3)
    index = stack.index()
    final = stack.table.get_item(Key={"PK": "ARTIST#a1", "SK": "METADATA"})["Item"]
    assert index.all_ids() == {"a1"}
    assert index.get("a1") == artist_document(final)
    assert [h.artist_id for h in index.search("dragons", None, "leeds", 10)] == ["a1"]

    # A REMOVE of an artist that was never indexed succeeds.
    stack.table.put_item(Item=artist("a3"))
    stack.table.delete_item(Key={"PK": "ARTIST#a3", "SK": "METADATA"})
    [removal] = stack.stream_batches()
    execution = stack.run(removal[1:])
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["notFound"] == 1


def test_a_batch_with_nothing_for_the_index_skips_it(stack: Stack) -> None:
    stack.table.put_item(Item={"PK": "ARTIST#", "SK": "METADATA", "artistName": "no id"})
    [batch] = stack.stream_batches()  # passes the prefix filter, yet is no artist
    execution = stack.run(batch)
    assert execution["status"] == "SUCCEEDED", execution
    assert stack.called("ApplyToIndex") == []


def test_a_transient_index_failure_is_retried_to_success(stack: Stack) -> None:
    stack.faults["ApplyToIndex"] = ["SearchIndexUnavailable"]
    stack.table.put_item(Item=artist("a1"))
    [batch] = stack.stream_batches()

    execution = stack.run(batch)

    assert execution["status"] == "SUCCEEDED", execution
    assert len(stack.called("ApplyToIndex")) == 2
    assert stack.failed_task_errors(execution["executionArn"]) == ["SearchIndexUnavailable"]
    assert stack.index().all_ids() == {"a1"}


def test_persistent_failures_fail_the_execution_for_the_pipe_to_retry(stack: Stack) -> None:
    stack.table.put_item(Item=artist("good"))
    stack.table.put_item(Item=artist("bad", rating=Decimal("11")))
    [batch] = stack.stream_batches()

    execution = stack.run(batch)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidArtistItemError"
    assert "artist bad" in execution["cause"] and "rating" in execution["cause"]
    assert stack.called("ApplyToIndex") == []
    assert stack.index().count() == 0  # nothing partial

    # An index outage outlasting the retries fails too (MaxAttempts 1 keeps this fast).
    stack.faults["ApplyToIndex"] = ["SearchIndexUnavailable"] * 5
    document = json.loads(ASL.definition())
    document["States"]["ApplyToIndex"]["Retry"][0]["MaxAttempts"] = 1
    impatient = stack.aws.create_state_machine("impatient", json.dumps(document))
    execution = stack.run(batch[:1], machine_arn=impatient)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "SearchIndexUnavailable"
    assert len(stack.called("ApplyToIndex")) == 2
