"""bedrock_batch survives SIGKILL while its Standard execution polls the Bedrock job.

After the restart the job (emulated Bedrock's) carries on, the execution the kill
interrupted is FAILED with States.Runtime naming the crash, and a redrive continues it
from the poll: the job's content reaches every selected violation once, and the job's
record ends Completed.
"""

from __future__ import annotations

import json
from typing import Any

from crash_support import Crash

from devkit.violations_sync import seed_violations
from schemas.bedrock_batch import BatchConfig
from sluice.testing import StackProcess, wait_for
from tasks.bedrock_batch.select_violations import select
from tasks.common.lake import catalog_from_env

FLOW = "bedrock_batch"
CONFIG = {"filters": {"agencies": ["WHD"]}, "limits": {"maxViolations": 100}}


def _lake(stack: StackProcess) -> dict[str, str]:
    return {"LAKE_WAREHOUSE": str(stack.data_dir / "lake"), "LAKE_CATALOG_URI": ""}


def _entered(stack: StackProcess, arn: str) -> list[str]:
    sfn = stack.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def _describe(stack: StackProcess, arn: str) -> dict[str, Any]:
    out: dict[str, Any] = stack.client("stepfunctions").describe_execution(executionArn=arn)
    return out


def test_a_crash_while_polling_the_job_is_redriven_to_completion(crash: Crash) -> None:
    stack = crash.start()
    try:
        seed_violations(catalog_from_env(_lake(stack)), 1000)
        ids = [
            v.violation_id
            for v in select(BatchConfig.model_validate(CONFIG), catalog_from_env(_lake(stack)))
        ]
        assert len(ids) == 100
        arn = stack.start(FLOW, {"config": {**CONFIG, "pollIntervalSeconds": 1}}, name="crashed")
        wait_for(lambda: "PollJob" in _entered(stack, arn), timeout=60, what="the first poll")
    finally:
        stack.kill()

    stack = crash.start()
    crashed = _describe(stack, arn)
    assert crashed["status"] == "FAILED" and crashed["error"] == "States.Runtime"
    stack.client("stepfunctions").redrive_execution(executionArn=arn)
    done = wait_for(
        lambda: (d := _describe(stack, arn))["status"] != "RUNNING" and d,
        timeout=120,
        what="the redriven execution",
    )
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    output = json.loads(done["output"])
    assert output["status"] == "Completed"
    assert output["stats"] == {"processed": 100, "errors": 0, "total": 100}
    entered = _entered(stack, arn)
    assert entered.count("SubmitJob") <= 1 and "ProcessChunk" in entered

    ddb, table = stack.client("dynamodb"), stack.resource("ViolationsTable")["name"]
    keys = [{"PK": {"S": f"VIOLATION#{i}"}, "SK": {"S": "BEDROCK_CONTENT"}} for i in ids]
    found = set()
    for start in range(0, len(keys), 100):
        response = ddb.batch_get_item(RequestItems={table: {"Keys": keys[start : start + 100]}})
        found |= {
            item["PK"]["S"].removeprefix("VIOLATION#") for item in response["Responses"][table]
        }
    assert found == set(ids)
