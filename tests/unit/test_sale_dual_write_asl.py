"""The sale_dual_write ASLs: JSONPath, accepted by moto's engine, wired as the template says."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from asl_checks import assert_transitions_land, walk
from botocore.exceptions import ClientError

from schemas.sale_dual_write import CLAIM_LOCK_SECONDS
from sluice.in_process import mocked_aws
from sluice.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
MACHINES = {
    "SaleDualWriteStateMachine": ROOT / "statemachines" / "sale_dual_write.asl.json",
    "SaleLakeLoaderStateMachine": ROOT / "statemachines" / "sale_dual_write_lake_loader.asl.json",
}
TEMPLATE = ROOT / "infra" / "template.yaml"
ROLE = "arn:aws:iam::123456789012:role/sluice-sale-dual-write"


def substitutions(logical_id: str) -> dict[str, Any]:
    resource = load_yaml(TEMPLATE.read_text())["Resources"][logical_id]
    subs: dict[str, Any] = resource["Properties"]["DefinitionSubstitutions"]
    return subs


def definition(logical_id: str) -> str:
    text = MACHINES[logical_id].read_text()
    for name in substitutions(logical_id):
        value = (
            "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-sale-lake"
            if name.endswith("Url")
            else f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
            if name.endswith("Arn")
            else f"sluice-{name}"
        )
        text = text.replace("${" + name + "}", value)
    return text


def scopes(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield document
    for _, state in walk(document["States"]):
        yield from state.get("Branches", [])


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_placeholders_are_exactly_the_templates_substitutions(logical_id: str) -> None:
    found = set(re.findall(r"\$\{(\w+)\}", MACHINES[logical_id].read_text()))
    assert found == set(substitutions(logical_id))
    assert "${" not in definition(logical_id)


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_every_transition_lands_and_every_state_is_reachable(logical_id: str) -> None:
    for scope in scopes(json.loads(definition(logical_id))):
        assert_transitions_land(scope)


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_jsonpath_and_retries_aws_accepts(logical_id: str) -> None:
    document = json.loads(definition(logical_id))
    assert "QueryLanguage" not in document
    for name, state in walk(document["States"]):
        for retrier in state.get("Retry", []):
            assert retrier["IntervalSeconds"] >= 1, name
            assert retrier.get("JitterStrategy", "NONE") in ("FULL", "NONE"), name
        for catcher in state.get("Catch", []):
            if "States.ALL" in catcher["ErrorEquals"]:
                assert catcher["ErrorEquals"] == ["States.ALL"], name


def test_the_claim_follows_powertools_and_outlives_any_execution() -> None:
    document = json.loads(definition("SaleDualWriteStateMachine"))
    states = dict(walk(document["States"]))
    put = states["PutClaim"]["Parameters"]
    assert put["ConditionExpression"] == (
        "attribute_not_exists(pk) OR expiresAt < :now OR "
        "(#status = :inProgress AND inProgressUntil < :now)"
    )
    assert put["Item"]["status"] == {"S": "IN_PROGRESS"}
    # A claim is only taken over from an execution that can no longer be running.
    assert document["TimeoutSeconds"] < CLAIM_LOCK_SECONDS
    release = states["ReleaseClaim"]["Parameters"]
    assert release["ConditionExpression"] == "#status = :inProgress AND executionId = :me"
    # Any write failure after retries releases the claim, then dead-letters the sale.
    assert states["WriteBoth"]["Catch"][0]["Next"] == "ReleaseClaim"
    assert states["MarkCompleted"]["Catch"][-1]["Next"] == "ReleaseClaim"
    assert states["SaleNotWritten"]["Type"] == "Fail"
    # The lake message only once the record is written: the loader builds the row from the
    # stored record, and a message sent first could be read before it (then it comes back
    # only after the queue's 600 s visibility timeout).
    [branch] = states["WriteBoth"]["Branches"]
    assert branch["StartAt"] == "PutSaleRecord"
    assert states["PutSaleRecord"]["Next"] == "QueueLakeRow"
    assert states["QueueLakeRow"]["Resource"] == "arn:aws:states:::sqs:sendMessage"


def test_each_claim_attempt_takes_the_time_afresh() -> None:
    """The claim's `now` and expiries come from the attempt's own EnteredTime, in a JSONata
    state (a JSONPath machine may have JSONata states; JSONPath has no date arithmetic),
    the first of the branch that ClaimSale retries as a whole."""
    document = json.loads(definition("SaleDualWriteStateMachine"))
    states = dict(walk(document["States"]))
    [branch] = states["ClaimSale"]["Branches"]
    assert branch["StartAt"] == "ClaimClock"
    clock = states["ClaimClock"]
    assert clock["Type"] == "Pass" and clock["QueryLanguage"] == "JSONata"
    assert "$states.context.State.EnteredTime" in clock["Output"]
    assert set(clock) <= {"Type", "QueryLanguage", "Comment", "Output", "Next"}
    # Every other state is JSONPath.
    assert [n for n, st in states.items() if "QueryLanguage" in st] == ["ClaimClock"]
    put = states["PutClaim"]["Parameters"]
    assert put["ExpressionAttributeValues"][":now"] == {"N.$": "$.clock.now"}
    assert put["Item"]["inProgressUntil"] == {"N.$": "$.clock.inProgressUntil"}
    assert put["Item"]["expiresAt"] == {"N.$": "$.clock.expiresAt"}


def test_the_claim_branch_reads_only_the_keys_it_is_handed() -> None:
    """ClaimSale hands its branch the claim's keys, not the sale's record (with its
    1,024-float embedding, which every state of the branch would copy into its history
    events). A path the branch reads outside them would fail every sale at run time; the
    branch's own states add `clock` (ClaimClock) and `existing` (ReadClaim)."""
    document = json.loads(definition("SaleDualWriteStateMachine"))
    claim_sale = document["States"]["ClaimSale"]
    handed = {key.removesuffix(".$") for key in claim_sale["Parameters"]}
    assert handed == {"claim", "tenantId", "saleId", "executionId"}
    [branch] = claim_sale["Branches"]
    text = json.dumps(branch["States"])
    # $.name (JSONPath) and $states.input.name (JSONata); $$. is the context object.
    read = set(re.findall(r"(?<!\$)\$(?:states\.input)?\.([A-Za-z]+)", text))
    assert read, "no path found in the branch"
    assert read <= handed | {"clock", "existing"}


def test_only_the_holder_completes_the_claim() -> None:
    document = json.loads(definition("SaleDualWriteStateMachine"))
    states = dict(walk(document["States"]))
    mark = states["MarkCompleted"]
    assert mark["Parameters"]["ConditionExpression"] == (
        "executionId = :me AND (#status = :inProgress OR #status = :completed)"
    )
    assert mark["Parameters"]["ExpressionAttributeValues"][":me"] == {"S.$": "$.executionId"}
    lost = mark["Catch"][0]
    assert lost["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert lost["Next"] == "ReadLostClaim"
    rules = states["WhoHasTheLostClaim"]["Choices"]
    assert [r["Next"] for r in rules] == ["ClaimLost", "Duplicate"]
    assert states["WhoHasTheLostClaim"]["Default"] == "ClaimLost"


def test_every_failure_ends_in_the_dlq_then_fails() -> None:
    """Lambda timeouts are retried with backoff and jitter; every Catch leads, through the
    release of our own claim where one may be held, to DeadLetterSale, then SaleNotWritten."""
    document = json.loads(definition("SaleDualWriteStateMachine"))
    states = dict(walk(document["States"]))
    validate = states["ValidateSale"]
    [timeouts] = [r for r in validate["Retry"] if "Sandbox.Timedout" in r["ErrorEquals"]]
    assert timeouts["ErrorEquals"] == ["Sandbox.Timedout", "States.Timeout"]
    assert timeouts["JitterStrategy"] == "FULL" and timeouts["BackoffRate"] > 1
    assert timeouts["MaxAttempts"] >= 3
    # Lambda's own Timeout (10 s) ends an invoke before the task's does.
    assert validate["TimeoutSeconds"] > 10
    caught_to = {
        name: [c["Next"] for c in state.get("Catch", [])]
        for name, state in states.items()
        if state.get("Catch")
    }
    assert caught_to == {
        "ValidateSale": ["DeadLetterSale"],
        "PutClaim": ["ReadClaim"],
        "ClaimSale": ["ReleaseClaim"],
        "WriteBoth": ["ReleaseClaim"],
        "MarkCompleted": ["ReadLostClaim", "ReleaseClaim"],
        "ReadLostClaim": ["DeadLetterSale"],
        "ReleaseClaim": ["DeadLetterSale"],
    }
    assert states["ReleaseClaim"]["Next"] == "DeadLetterSale"
    dlq = states["DeadLetterSale"]
    assert dlq["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert dlq["Parameters"]["MessageBody.$"] == "$$.Execution.Input"  # the event as it came
    assert set(dlq["Parameters"]["MessageAttributes"]) == {
        "ERROR_CODE",
        "ERROR_MESSAGE",
        "EXECUTION_ARN",
    }
    assert "Catch" not in dlq and dlq["Next"] == "SaleNotWritten"
    assert "${SaleEventsDLQUrl}" in MACHINES["SaleDualWriteStateMachine"].read_text()
    subs = substitutions("SaleDualWriteStateMachine")
    assert subs["SaleEventsDLQUrl"] == {"Ref": "SaleEventsDLQ"}
    policies = load_yaml(TEMPLATE.read_text())["Resources"]["SaleDualWriteStateMachine"][
        "Properties"
    ]["Policies"]
    assert {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["SaleEventsDLQ", "QueueName"]}}
    } in policies


def test_moto_accepts_both_and_rejects_a_broken_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mocked_aws(run_executions=True):
        sfn = boto3.client(
            "stepfunctions",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for logical_id, kind in (
            ("SaleDualWriteStateMachine", "STANDARD"),
            ("SaleLakeLoaderStateMachine", "EXPRESS"),
        ):
            created = sfn.create_state_machine(
                name=logical_id, definition=definition(logical_id), roleArn=ROLE, type=kind
            )
            assert created["stateMachineArn"].endswith(f":stateMachine:{logical_id}")
        broken = json.loads(definition("SaleDualWriteStateMachine"))
        broken["States"]["MarkCompleted"]["Retry"][0]["JitterStrategy"] = "SOMETIMES"
        with pytest.raises(ClientError, match="ASLParserException"):
            sfn.create_state_machine(name="broken", definition=json.dumps(broken), roleArn=ROLE)
