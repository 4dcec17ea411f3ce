"""DynamoDB Streams poller against moto: batching, order, partial failures, bisect, DLQ."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sluice.engine import moto_seam
from sluice.in_process import mocked_aws
from sluice.triggers.clients import ClientFactory, boto3_client_factory
from sluice.triggers.poller_group import PollerGroup
from sluice.triggers.specs import PipeSpec
from sluice.triggers.stream_changes import StreamChanges
from sluice.triggers.stream_poller import StreamPoller
from sluice.triggers.stream_shards import lane_of
from sluice.triggers.targets import Outcome, StepFunctionsTarget
from sluice.triggers.testing import ScriptedTarget

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:flow"


@dataclass
class Env:
    factory: ClientFactory
    stream_arn: str
    dlq_url: str
    dlq_arn: str

    def put(self, pk: str, value: int | str = 0) -> None:
        self.factory("dynamodb").put_item(
            TableName="orders", Item={"pk": {"S": pk}, "v": {"S": str(value)}}
        )

    def spec(self, **kw: Any) -> PipeSpec:
        return PipeSpec(name="orders-pipe", source_arn=self.stream_arn, target_arn=SM, **kw)

    def dlq_messages(self) -> list[dict[str, Any]]:
        sqs = self.factory("sqs")
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def env() -> Iterator[Env]:
    with mocked_aws():
        factory = boto3_client_factory(region_name="us-east-1")
        table = factory("dynamodb").create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        sqs = factory("sqs")
        dlq_url = sqs.create_queue(QueueName="orders-pipe-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        yield Env(factory, table["TableDescription"]["LatestStreamArn"], dlq_url, dlq_arn)


def poller(env: Env, target: Any, **spec: Any) -> StreamPoller:
    return StreamPoller(env.spec(**spec), target, env.factory, retry_delay_s=0)


def pump(p: StreamPoller, times: int = 20) -> None:
    for _ in range(times):
        p.poll_once()


def pks(batch: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in batch]


def seq(r: dict[str, Any]) -> str:
    return str(r["dynamodb"]["SequenceNumber"])


def fail_if(pred: Callable[[list[dict[str, Any]]], bool]) -> ScriptedTarget:
    return ScriptedTarget(
        lambda b: Outcome(ok=False, error="Poison", cause="bad record") if pred(b) else None
    )


def test_records_arrive_in_pipes_shape(env: Env) -> None:
    target = ScriptedTarget()
    env.put("a", 1)
    assert poller(env, target).poll_once() == 1
    (rec,) = target.batches[0]
    assert rec["eventSource"] == "aws:dynamodb"
    assert rec["eventSourceARN"] == env.stream_arn
    assert rec["awsRegion"] == "us-east-1"
    assert rec["eventName"] == "INSERT"
    assert rec["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "v": {"S": "1"}}
    assert isinstance(rec["dynamodb"]["ApproximateCreationDateTime"], int)
    json.dumps(target.batches)  # the batch must be plain JSON


def test_batches_split_by_size(env: Env) -> None:
    target = ScriptedTarget()
    for i in range(7):
        env.put(f"k{i}")
    p = poller(env, target, batch_size=3)
    assert p.poll_once() == 3
    assert [len(b) for b in target.batches] == [3, 3, 1]
    assert p.counters["batches_delivered"] == 3
    assert p.counters["records_delivered"] == 7


def test_window_waits_for_a_fuller_batch_but_never_holds_a_full_one(env: Env) -> None:
    target = ScriptedTarget()
    now = [0.0]  # the poller's clock, moved by hand: the window is seen, never slept
    p = StreamPoller(
        env.spec(batch_size=3, batching_window_s=0.3),
        target,
        env.factory,
        retry_delay_s=0,
        clock=lambda: now[0],
    )
    env.put("a")
    env.put("b")
    assert p.poll_once() == 0  # under-full and inside the window
    env.put("c")
    assert p.poll_once() == 1  # now full: delivered at once, window notwithstanding
    assert pks(target.batches[0]) == ["a", "b", "c"]

    env.put("d")
    assert p.poll_once() == 0  # read, and held for the window
    now[0] += 0.29
    assert p.poll_once() == 0  # the window has not passed yet
    now[0] += 0.02
    assert p.poll_once() == 1  # past the window: the under-full batch goes alone
    assert pks(target.batches[1]) == ["d"]


def test_per_key_order_is_kept_across_batches(env: Env) -> None:
    target = ScriptedTarget()
    for v in range(6):
        for key in ("a", "b", "c"):
            env.put(key, v)
    pump(poller(env, target, batch_size=4), 3)
    records = target.records
    assert len(records) == 18
    seqs = [int(seq(r)) for r in records]
    assert seqs == sorted(seqs)
    for key in ("a", "b", "c"):
        values = [int(r["dynamodb"]["NewImage"]["v"]["S"]) for r in records if pks([r]) == [key]]
        assert values == list(range(6))
    assert [r["eventName"] for r in records[:3]] == ["INSERT"] * 3
    assert {r["eventName"] for r in records[3:]} == {"MODIFY"}


def test_filtered_records_are_discarded_and_counted(env: Env) -> None:
    target = ScriptedTarget()
    for key in ("order#1", "invoice#1", "order#2"):
        env.put(key)
    p = poller(env, target, filters=[{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}}])
    p.poll_once()
    assert pks(target.records) == ["order#1", "order#2"]
    assert p.counters["records_discarded"] == 1


def test_latest_skips_records_written_before_start(env: Env) -> None:
    target = ScriptedTarget()
    env.put("old")
    p = poller(env, target, starting_position="LATEST")
    assert p.poll_once() == 0
    env.put("new")
    p.poll_once()
    assert pks(target.records) == ["new"]


def test_partial_failure_checkpoints_at_lowest_failed_sequence_number(env: Env) -> None:
    for key in "abcde":
        env.put(key)
    calls: list[list[str]] = []

    def respond(batch: list[dict[str, Any]]) -> Outcome | None:
        calls.append(pks(batch))
        if len(calls) == 1:
            # Report d and b failed, in that order: the checkpoint must be b (the lowest).
            return Outcome(ok=False, failed_item_ids=[seq(batch[3]), seq(batch[1])])
        return None

    p = poller(env, ScriptedTarget(respond), batch_size=5, max_retry_attempts=3)
    pump(p, 3)
    assert calls == [list("abcde"), list("bcde")]
    assert p.counters["records_delivered"] == 5  # a once, then b..e
    assert p.counters["failures"] == 1
    assert p.counters["records_sent_to_dlq"] == 0


def test_malformed_item_identifier_retries_the_whole_batch(env: Env) -> None:
    """Real StepFunctionsTarget logic: an empty itemIdentifier fails the whole batch."""
    for key in "abc":
        env.put(key)
    outputs = iter([{"batchItemFailures": [{"itemIdentifier": ""}]}, {"batchItemFailures": []}])
    calls: list[list[str]] = []

    class Sfn:
        def start_sync_execution(self, **kw: Any) -> dict[str, Any]:
            calls.append(pks(json.loads(kw["input"])))
            return {"executionArn": "x", "status": "SUCCEEDED", "output": json.dumps(next(outputs))}

    target = StepFunctionsTarget(lambda service, /, **cfg: Sfn(), SM)
    p = poller(env, target, batch_size=3)
    pump(p, 3)
    assert calls == [list("abc"), list("abc")]
    assert p.counters["failures"] == 1
    assert p.counters["records_delivered"] == 3


def test_bisect_isolates_a_poison_record_without_using_retries(env: Env) -> None:
    for key in ("a", "b", "poison", "d"):
        env.put(key)
    target = fail_if(lambda b: "poison" in pks(b))
    # max_retry_attempts=0: any retry counted would send a larger batch to the DLQ.
    p = poller(
        env, target, batch_size=4, bisect_on_error=True, max_retry_attempts=0, dlq_arn=env.dlq_arn
    )
    pump(p, 10)
    assert [pks(b) for b in target.batches] == [
        ["a", "b", "poison", "d"],
        ["a", "b"],
        ["poison", "d"],
        ["poison"],
        ["d"],
    ]
    (doc,) = env.dlq_messages()
    assert pks(doc["records"]) == ["poison"]
    assert doc["DDBStreamBatchInfo"]["batchSize"] == 1
    assert p.counters["records_sent_to_dlq"] == 1
    assert p.counters["records_delivered"] == 3


def test_without_bisect_the_whole_batch_goes_to_the_dlq(env: Env) -> None:
    for key in ("a", "b", "poison", "d"):
        env.put(key)
    target = fail_if(lambda b: "poison" in pks(b))
    p = poller(env, target, batch_size=4, max_retry_attempts=0, dlq_arn=env.dlq_arn)
    pump(p, 5)
    assert len(target.batches) == 1
    (doc,) = env.dlq_messages()
    assert pks(doc["records"]) == ["a", "b", "poison", "d"]


def test_retries_exhausted_sends_batch_to_dlq_then_later_records_continue(env: Env) -> None:
    for key in ("a", "poison", "c", "d"):
        env.put(key)
    target = fail_if(lambda b: "poison" in pks(b))
    p = poller(env, target, batch_size=2, max_retry_attempts=2, dlq_arn=env.dlq_arn)
    pump(p, 10)
    env.put("e")
    pump(p, 2)

    # One attempt plus two retries, then the shard moves on in order.
    assert [pks(b) for b in target.batches] == [["a", "poison"]] * 3 + [["c", "d"], ["e"]]
    (doc,) = env.dlq_messages()
    ctx, info = doc["requestContext"], doc["DDBStreamBatchInfo"]
    assert ctx["condition"] == "RetryAttemptsExhausted"
    assert ctx["error"] == "Poison" and ctx["cause"] == "bad record"
    assert ctx["approximateInvokeCount"] == 3
    assert info["shardId"].startswith("shardId-")
    assert info["streamArn"] == env.stream_arn
    assert info["batchSize"] == 2
    assert info["startSequenceNumber"] == seq(doc["records"][0])
    assert info["endSequenceNumber"] == seq(doc["records"][1])
    assert pks(doc["records"]) == ["a", "poison"]
    assert p.counters["records_sent_to_dlq"] == 2
    assert p.counters["records_delivered"] == 3


def test_record_age_limit_sends_to_dlq(env: Env) -> None:
    env.put("stale")
    # Wall time is scripted: each failed attempt takes one second, however loaded the machine.
    now = [time.time()]

    def down(batch: list[dict[str, Any]]) -> Outcome:
        now[0] += 1.0
        return Outcome(ok=False, error="Down", cause="target down")

    target = ScriptedTarget(down)
    p = StreamPoller(
        env.spec(max_record_age_s=2, dlq_arn=env.dlq_arn),
        target,
        env.factory,
        retry_delay_s=0,
        wall_clock=lambda: now[0],
    )
    pump(p, 10)
    (doc,) = env.dlq_messages()
    assert doc["requestContext"]["condition"] == "MaximumRecordAgeExceeded"
    # ApproximateCreationDateTime is whole seconds, so after the first failure the record is
    # 1-2 s old (retried), and after the third it is over 2 s old in every case.
    assert 2 <= len(target.batches) <= 3
    assert p.counters["records_sent_to_dlq"] == 1


def test_transient_errors_do_not_consume_retries(env: Env) -> None:
    env.put("a")
    answers = iter([Outcome(ok=False, error="ThrottlingException", transient=True)] * 3)
    target = ScriptedTarget(lambda b: next(answers, None))
    p = poller(env, target, max_retry_attempts=0, dlq_arn=env.dlq_arn)
    pump(p, 6)
    assert len(target.batches) == 4
    assert p.counters["records_delivered"] == 1
    assert env.dlq_messages() == []


def test_without_dlq_a_dropped_batch_is_kept_and_counted(env: Env) -> None:
    env.put("poison")
    env.put("ok")
    target = fail_if(lambda b: "poison" in pks(b))
    p = poller(env, target, batch_size=1, max_retry_attempts=0)
    pump(p, 4)
    assert p.counters["records_dropped"] == 1
    assert pks(p.dead_letters[0]["records"]) == ["poison"]
    assert pks(target.batches[-1]) == ["ok"]


def test_backoff_delays_retries(env: Env) -> None:
    env.put("poison")
    target = fail_if(lambda b: True)
    p = StreamPoller(env.spec(), target, env.factory, retry_delay_s=10)
    pump(p, 5)
    assert len(target.batches) == 1  # the retry is not due for 10 s
    assert p.status()[next(iter(p.status()))]["last_error"] == "Poison"


# -- shard lineage, with a scripted streams client -------------------------------------------


class FakeStreams:
    """A scripted stream: shards can be closed, and new (child) shards added later."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.iterator_types: dict[str, str] = {}

    def add(self, sid: str, records: list[str], parent: str | None, closed: bool) -> None:
        self.shards[sid] = {"parent": parent, "records": records, "closed": closed}

    def describe_stream(self, **kw: Any) -> dict[str, Any]:
        shards = [
            {"ShardId": sid, **({"ParentShardId": s["parent"]} if s["parent"] else {})}
            for sid, s in self.shards.items()
        ]
        return {"StreamDescription": {"Shards": shards}}

    def get_shard_iterator(self, **kw: Any) -> dict[str, Any]:
        self.iterator_types[kw["ShardId"]] = kw["ShardIteratorType"]
        return {"ShardIterator": f"{kw['ShardId']}|0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        sid, pos = ShardIterator.split("|")
        shard = self.shards[sid]
        names = shard["records"][int(pos) :]
        records = [
            {
                "eventID": name,
                "eventName": "INSERT",
                "dynamodb": {"Keys": {"pk": {"S": name}}, "SequenceNumber": str(int(pos) + i)},
            }
            for i, name in enumerate(names)
        ]
        resp: dict[str, Any] = {"Records": records}
        if not (shard["closed"] and not names):  # a closed, drained shard has no next iterator
            resp["NextShardIterator"] = f"{sid}|{len(shard['records'])}"
        return resp


STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"


def test_parent_shard_is_drained_before_its_child() -> None:
    streams = FakeStreams()
    # Listed child-first to prove ordering comes from lineage, not listing order.
    streams.add("shard-child", ["c1"], parent="shard-parent", closed=False)
    streams.add("shard-parent", ["p1", "p2"], parent=None, closed=True)
    target = ScriptedTarget()
    p = StreamPoller(PipeSpec("p", STREAM, SM, batch_size=1), target, lambda s, /, **c: streams)
    pump(p, 5)
    assert pks(target.records) == ["p1", "p2", "c1"]


def test_shard_appearing_later_is_read_from_trim_horizon() -> None:
    streams = FakeStreams()
    streams.add("shard-1", [], parent=None, closed=False)
    target = ScriptedTarget()
    spec = PipeSpec("p", STREAM, SM, starting_position="LATEST")
    p = StreamPoller(spec, target, lambda s, /, **c: streams, shard_refresh_s=0)
    p.poll_once()
    assert streams.iterator_types == {"shard-1": "LATEST"}
    streams.shards["shard-1"]["closed"] = True
    streams.add("shard-2", ["late"], parent="shard-1", closed=False)
    pump(p, 3)
    assert streams.iterator_types["shard-2"] == "TRIM_HORIZON"
    assert pks(target.records) == ["late"]


def test_shards_are_delivered_in_parallel_each_in_its_own_order() -> None:
    streams = FakeStreams()
    streams.add("shard-a", ["a1", "a2", "a3"], parent=None, closed=False)
    streams.add("shard-b", ["b1", "b2", "b3"], parent=None, closed=False)
    # Every delivery waits until a batch of the other shard is in flight too: served one
    # shard after the other, the first delivery would break the barrier.
    together = threading.Barrier(2, timeout=10)
    in_flight: dict[str, int] = {"a": 0, "b": 0}

    def both_at_once(batch: list[dict[str, Any]]) -> None:
        shard = pks(batch)[0][0]
        in_flight[shard] += 1
        assert in_flight[shard] == 1  # one batch in flight per shard
        together.wait()
        in_flight[shard] -= 1

    target = ScriptedTarget(both_at_once)
    p = StreamPoller(PipeSpec("p", STREAM, SM, batch_size=1), target, lambda s, /, **c: streams)
    pump(p, 4)
    got = pks(target.records)
    assert [r for r in got if r[0] == "a"] == ["a1", "a2", "a3"]
    assert [r for r in got if r[0] == "b"] == ["b1", "b2", "b3"]
    assert p.counters["failures"] == 0


def two_keys_in_different_lanes(lanes: int) -> tuple[str, str]:
    keys = [f"key-{i}" for i in range(lanes * 4)]
    first = keys[0]
    other = next(k for k in keys if lane_of({"S": k}, lanes) != lane_of({"S": first}, lanes))
    return first, other


def test_a_parallelization_factor_runs_batches_of_one_shard_at_once_each_key_in_order(
    env: Env,
) -> None:
    """ParallelizationFactor 4: the shard's two keys (in different lanes) are in flight
    together, and each key's records still arrive in the order they were written."""
    a, b = two_keys_in_different_lanes(4)
    for i in range(3):
        env.put(a, i)
        env.put(b, i)
    together = threading.Barrier(2, timeout=10)

    def with_another_in_flight(batch: list[dict[str, Any]]) -> None:
        together.wait()  # breaks (and fails the batch) if the keys were served in turn

    target = ScriptedTarget(with_another_in_flight)
    p = poller(env, target, batch_size=1, parallelization_factor=4)
    pump(p, 4)
    values = {
        k: [r["dynamodb"]["NewImage"]["v"]["S"] for r in target.records if pks([r]) == [k]]
        for k in (a, b)
    }
    assert values == {a: ["0", "1", "2"], b: ["0", "1", "2"]}
    assert p.counters["failures"] == 0 and p.counters["records_delivered"] == 6


class SavedPositions:
    resumed = False

    def __init__(self) -> None:
        self.saved: list[str] = []

    def get(self, pipe: str, shard_id: str) -> str | None:
        return None

    def put(self, pipe: str, shard_id: str, sequence_number: str) -> None:
        self.saved.append(sequence_number)


def test_the_saved_position_never_passes_a_record_another_lane_has_not_finished(
    env: Env,
) -> None:
    """Lane A's first batch fails once while lane B's later records succeed: the position
    stays before A's record until A is delivered, so a crash then would deliver A again."""
    a, b = two_keys_in_different_lanes(2)
    env.put(a, 0)
    env.put(b, 0)
    env.put(b, 1)
    failed: list[str] = []

    def a_fails_once(batch: list[dict[str, Any]]) -> Outcome | None:
        if pks(batch) == [a] and not failed:
            failed.append(seq(batch[0]))
            return Outcome(ok=False, error="Poison", cause="try again")
        return None

    positions = SavedPositions()
    now = [0.0]
    spec = env.spec(batch_size=1, parallelization_factor=2)
    target = ScriptedTarget(a_fails_once)
    p = StreamPoller(
        spec, target, env.factory, retry_delay_s=600, positions=positions, clock=lambda: now[0]
    )
    p.poll_once()
    assert sorted(pks(target.records)) == sorted([a, b, b])  # B went on; A failed
    assert positions.saved == []  # A's record, the first read, is not finished
    now[0] += 600  # A's retry is due
    pump(p, 2)
    assert pks(target.records)[-1] == a
    last = max(target.records, key=lambda r: int(seq(r)))
    assert positions.saved == [seq(last)]


def test_an_idle_poller_reads_a_record_when_it_is_written_and_stops_at_once(env: Env) -> None:
    moto_seam.install()  # stream records observed, as the runtime serves them
    changes = StreamChanges(idle_read_s=60)
    target = ScriptedTarget()
    p = StreamPoller(
        env.spec(starting_position="TRIM_HORIZON"), target, env.factory, changes=changes
    )
    # Neither the group's idle wait nor the idle read comes within these tests' waits: the
    # record is read because it was written, and the stop ends the wait.
    group = PollerGroup([p], idle_wait_s=60)
    try:
        group.start()
        env.put("a")
        assert target.wait_for_records(1, timeout=30)
        env.put("b")
        assert target.wait_for_records(2, timeout=30)
        group.stop(timeout=10)
        assert not [t for t in threading.enumerate() if t.name.startswith("sluice-poller-orders")]
    finally:
        group.stop()
        changes.close()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in target.records] == ["a", "b"]
