"""EventBridge rule -> state machine delivery: matching, InputPath, retries, DLQ."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from sluice.engine import virtual_time
from sluice.in_process import mocked_aws
from sluice.triggers.clients import ClientFactory, boto3_client_factory
from sluice.triggers.rule_delivery import RuleDelivery
from sluice.triggers.rule_events import json_path
from sluice.triggers.specs import RuleSpec, RuleTargetSpec

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sfn"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "OrderPlaced",
    "source": "app.orders",
    "account": ACCOUNT,
    "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"orderId": "o-1", "amount": 120},
}
PATTERN = {"source": ["app.orders"], "detail": {"amount": [{"numeric": [">", 100]}]}}


@dataclass
class Env:
    factory: ClientFactory
    sm_arn: str
    dlq_url: str
    dlq_arn: str

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.factory("stepfunctions")
        runs = sfn.list_executions(stateMachineArn=self.sm_arn)["executions"]
        return [sfn.describe_execution(executionArn=r["executionArn"]) for r in runs]

    def dlq(self) -> list[dict[str, Any]]:
        got = self.factory("sqs").receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return list(got.get("Messages", []))


@pytest.fixture
def env() -> Iterator[Env]:
    with mocked_aws():
        factory = boto3_client_factory(region_name="us-east-1")
        sm = factory("stepfunctions").create_state_machine(
            name="orders", definition=DEFINITION, roleArn=ROLE
        )["stateMachineArn"]
        sqs = factory("sqs")
        url = sqs.create_queue(QueueName="rule-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        yield Env(factory, sm, url, arn)


def rule(
    target: RuleTargetSpec, bus: str = "default", pattern: dict[str, Any] = PATTERN
) -> RuleSpec:
    return RuleSpec(name="orders-rule", bus_name=bus, pattern=pattern, targets=[target])


@pytest.fixture
def deliveries() -> Iterator[list[RuleDelivery]]:
    made: list[RuleDelivery] = []
    yield made
    for d in made:
        d.stop()


def make(
    made: list[RuleDelivery], rules: list[RuleSpec], factory: ClientFactory, delay: float = 0.01
) -> RuleDelivery:
    d = RuleDelivery(rules, factory, retry_delay_s=delay)
    made.append(d)
    return d


def test_matching_event_starts_the_state_machine_with_the_event(
    env: Env, deliveries: list[RuleDelivery]
) -> None:
    d = make(deliveries, [rule(RuleTargetSpec("t1", env.sm_arn))], env.factory)
    assert d.deliver(EVENT) == [env.sm_arn]
    assert d.drain(5)
    (run,) = env.executions()
    assert json.loads(run["input"]) == EVENT
    assert d.counters["records_delivered"] == 1


def test_non_matching_event_or_other_bus_is_ignored(
    env: Env, deliveries: list[RuleDelivery]
) -> None:
    d = make(deliveries, [rule(RuleTargetSpec("t1", env.sm_arn))], env.factory)
    small = {**EVENT, "detail": {"orderId": "o-2", "amount": 5}}
    assert d.deliver(small) == []
    assert d.deliver({**EVENT, "source": "app.refunds"}) == []
    assert d.deliver(EVENT, bus_name="other-bus") == []
    assert d.drain(5)
    assert env.executions() == []


def test_custom_bus_by_name_or_arn(env: Env, deliveries: list[RuleDelivery]) -> None:
    d = make(deliveries, [rule(RuleTargetSpec("t1", env.sm_arn), bus="orders")], env.factory)
    assert d.deliver(EVENT) == []  # default bus
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders"
    assert d.deliver(EVENT, bus_name=bus_arn) == [env.sm_arn]
    assert d.drain(5)
    assert len(env.executions()) == 1


def test_input_path_and_constant_input(env: Env, deliveries: list[RuleDelivery]) -> None:
    d = make(
        deliveries, [rule(RuleTargetSpec("t1", env.sm_arn, input_path="$.detail"))], env.factory
    )
    d.deliver(EVENT)
    assert d.drain(5)
    assert [json.loads(r["input"]) for r in env.executions()] == [EVENT["detail"]]

    d.set_rules([rule(RuleTargetSpec("t1", env.sm_arn, input='{"fixed": true}'))])
    d.deliver(EVENT)
    assert d.drain(5)
    inputs = sorted((json.loads(r["input"]) for r in env.executions()), key=json.dumps)
    assert {"fixed": True} in inputs


def test_put_events_entry_is_turned_into_an_envelope(
    env: Env, deliveries: list[RuleDelivery]
) -> None:
    d = make(deliveries, [rule(RuleTargetSpec("t1", env.sm_arn), bus="orders")], env.factory)
    entry = {
        "Source": "app.orders",
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"amount": 500}),
        "EventBusName": "orders",
    }
    assert d.deliver(entry) == [env.sm_arn]
    assert d.drain(5)
    (run,) = env.executions()
    event = json.loads(run["input"])
    assert event["detail-type"] == "OrderPlaced" and event["detail"] == {"amount": 500}
    assert {"version", "id", "account", "time", "region", "resources"} <= event.keys()

    dated = {**entry, "Time": 1704067200}
    assert d.deliver(dated) == [env.sm_arn]
    assert d.deliver({**entry, "Detail": "{not json"}) == []
    assert d.drain(5)
    times = sorted(json.loads(r["input"])["time"] for r in env.executions())
    assert times[0] == "2024-01-01T00:00:00Z"
    assert len(times) == 2


class FlakySfn:
    """A stepfunctions client failing the first ``failures`` calls with ``code``."""

    def __init__(self, failures: int, code: str = "ThrottlingException", status: int = 400):
        self.failures, self.code, self.status = failures, code, status
        self.calls: list[dict[str, Any]] = []

    def start_execution(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        if len(self.calls) <= self.failures:
            raise ClientError(
                {
                    "Error": {"Code": self.code, "Message": "Rate exceeded"},
                    "ResponseMetadata": cast(Any, {"HTTPStatusCode": self.status}),
                },
                "StartExecution",
            )
        return {"executionArn": "arn:exec"}


def with_sfn(factory: ClientFactory, sfn: Any) -> ClientFactory:
    def client(service: str, /, **config: Any) -> Any:
        return sfn if service == "stepfunctions" else factory(service, **config)

    return client


def test_retries_then_dead_letters_with_aws_attributes(
    env: Env, deliveries: list[RuleDelivery]
) -> None:
    sfn = FlakySfn(failures=100)
    target = RuleTargetSpec("t1", env.sm_arn, max_retry_attempts=2, dlq_arn=env.dlq_arn)
    d = make(deliveries, [rule(target)], with_sfn(env.factory, sfn))
    d.deliver(EVENT)
    assert d.drain(5)
    assert len(sfn.calls) == 3  # first attempt + 2 retries
    (msg,) = env.dlq()
    assert json.loads(msg["Body"]) == EVENT
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    assert attrs == {
        "RULE_ARN": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders-rule",
        "TARGET_ARN": env.sm_arn,
        "ERROR_CODE": "THROTTLING",
        "ERROR_MESSAGE": "Rate exceeded",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "2",
    }
    assert d.counters["records_sent_to_dlq"] == 1


def test_retry_succeeds_after_transient_failures(env: Env, deliveries: list[RuleDelivery]) -> None:
    sfn = FlakySfn(failures=2, code="ServiceUnavailable", status=503)
    target = RuleTargetSpec("t1", env.sm_arn, max_retry_attempts=5, dlq_arn=env.dlq_arn)
    d = make(deliveries, [rule(target)], with_sfn(env.factory, sfn))
    d.deliver(EVENT)
    assert d.drain(5)
    assert len(sfn.calls) == 3
    assert env.dlq() == []
    assert d.counters["records_delivered"] == 1


def test_backoff_grows_between_retries(env: Env, deliveries: list[RuleDelivery]) -> None:
    times: list[float] = []

    class Sfn(FlakySfn):
        def start_execution(self, **kw: Any) -> dict[str, Any]:
            times.append(time.monotonic())
            return super().start_execution(**kw)

    target = RuleTargetSpec("t1", env.sm_arn, max_retry_attempts=3, dlq_arn=env.dlq_arn)
    d = make(deliveries, [rule(target)], with_sfn(env.factory, Sfn(failures=100)), delay=0.05)
    d.deliver(EVENT)
    assert d.drain(5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Jittered within [half, full] of 0.05, 0.1, 0.2.
    assert len(gaps) == 3
    assert gaps[0] >= 0.025 and gaps[1] >= 0.05 and gaps[2] >= 0.1


def test_event_age_limit_dead_letters(env: Env, deliveries: list[RuleDelivery]) -> None:
    sfn = FlakySfn(failures=1000)
    target = RuleTargetSpec("t1", env.sm_arn, max_event_age_s=1, dlq_arn=env.dlq_arn)
    d = make(deliveries, [rule(target)], with_sfn(env.factory, sfn), delay=0.1)
    start = time.monotonic()
    d.deliver(EVENT)
    assert d.drain(5)
    assert time.monotonic() - start >= 1.0
    (msg,) = env.dlq()
    condition = msg["MessageAttributes"]["EXHAUSTED_RETRY_CONDITION"]["StringValue"]
    assert condition == "MaximumEventAgeInSeconds"
    assert len(sfn.calls) > 1


def test_event_age_is_virtual_at_time_scale_zero(env: Env, deliveries: list[RuleDelivery]) -> None:
    """At time scale 0 the backoff is not slept, yet the event ages by every delay: an hour's
    age limit runs out at once, after the retries that fit into the hour."""
    sfn = FlakySfn(failures=1000)
    target = RuleTargetSpec("t1", env.sm_arn, max_event_age_s=3600, dlq_arn=env.dlq_arn)
    previous = virtual_time.set_scale(0)
    try:
        d = make(deliveries, [rule(target)], with_sfn(env.factory, sfn), delay=60)
        d.deliver(EVENT)
        assert d.drain(10)
    finally:
        virtual_time.set_scale(previous)
    (msg,) = env.dlq()
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    assert attrs["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    # Delays of 30-60, 60-120, 120-240, then 150-300 s (capped at 300 s): 12 to 26 retries
    # fit into 3,600 s; a final one is cut to what is left of the hour.
    assert 12 <= int(attrs["RETRY_ATTEMPTS"]) <= 26
    assert len(sfn.calls) == int(attrs["RETRY_ATTEMPTS"]) + 1


def test_missing_target_goes_straight_to_dlq(env: Env, deliveries: list[RuleDelivery]) -> None:
    missing = env.sm_arn.replace(":orders", ":nope")
    target = RuleTargetSpec("t1", missing, dlq_arn=env.dlq_arn)
    d = make(deliveries, [rule(target)], env.factory)
    d.deliver(EVENT)
    assert d.drain(5)
    (msg,) = env.dlq()
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "NO_RESOURCE"
    assert attrs["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attrs
    assert d.counters["invocations"] == 1


def test_unresolvable_input_path_is_dead_lettered(env: Env, deliveries: list[RuleDelivery]) -> None:
    target = RuleTargetSpec("t1", env.sm_arn, input_path="$.detail.missing", dlq_arn=env.dlq_arn)
    d = make(deliveries, [rule(target)], env.factory)
    d.deliver(EVENT)
    assert d.drain(5)
    (msg,) = env.dlq()
    assert msg["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "INVALID_PARAMETER"
    assert env.executions() == []


def test_without_dlq_the_drop_is_recorded(env: Env, deliveries: list[RuleDelivery]) -> None:
    target = RuleTargetSpec("t1", env.sm_arn, max_retry_attempts=0)
    d = make(deliveries, [rule(target)], with_sfn(env.factory, FlakySfn(failures=10)))
    d.deliver(EVENT)
    assert d.drain(5)
    (dropped,) = d.dropped
    assert dropped["event"] == EVENT
    assert dropped["attributes"]["ERROR_CODE"] == "THROTTLING"
    assert d.counters["records_dropped"] == 1


def test_deliver_never_blocks_on_the_target(env: Env, deliveries: list[RuleDelivery]) -> None:
    release = threading.Event()
    called = threading.Event()
    returned: list[str] = []

    class SlowSfn:
        def start_execution(self, **kw: Any) -> dict[str, Any]:
            called.set()
            release.wait(10)
            returned.append(kw["stateMachineArn"])
            return {"executionArn": "arn:exec"}

    d = make(deliveries, [rule(RuleTargetSpec("t1", env.sm_arn))], with_sfn(env.factory, SlowSfn()))
    for _ in range(3):
        d.deliver(EVENT)
    # Every deliver returned while no call to the target could finish (they are held
    # until `release`): delivery waited for none of them.
    assert called.wait(5)
    assert returned == []
    assert not d.drain(0.1)  # still in flight
    release.set()
    assert d.drain(5)
    assert d.counters["records_delivered"] == 3


def test_a_burst_of_events_is_delivered_several_at_once(
    env: Env, deliveries: list[RuleDelivery]
) -> None:
    # Each StartExecution waits until another one is in flight: delivered one at a time,
    # the first call would break the barrier and be retried instead of succeeding.
    together = threading.Barrier(3, timeout=10)

    class SfnAtOnce:
        def start_execution(self, **kw: Any) -> dict[str, Any]:
            together.wait()
            return {"executionArn": "arn:exec"}

    d = make(
        deliveries, [rule(RuleTargetSpec("t1", env.sm_arn))], with_sfn(env.factory, SfnAtOnce())
    )
    for n in range(3):
        d.deliver({**EVENT, "id": f"event-{n}"})
    assert d.drain(15)
    assert d.counters["records_delivered"] == 3
    assert d.counters["failures"] == 0


def test_json_path_subset() -> None:
    doc = {"detail": {"items": [{"id": "a"}, {"id": "b"}], "odd key": 1}}
    assert json_path(doc, "$") == (True, doc)
    assert json_path(doc, "$.detail.items[1].id") == (True, "b")
    assert json_path(doc, "$.detail['odd key']") == (True, 1)
    assert json_path(doc, "$.detail.items[5]") == (False, None)
    assert json_path(doc, "$.nope") == (False, None)
