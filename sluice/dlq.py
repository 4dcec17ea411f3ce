"""Dead-letter queues of the deployed stack: list messages with why they failed, redrive them.

A DLQ is known by who feeds it: an SQS queue's RedrivePolicy (redrive = send the message
back to that queue), or a stream Pipe's DeadLetterConfig (the message carries the batch;
redrive = deliver the records to the pipe's target again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sluice.history import iter_runs, summarize
from sluice.triggers.clients import ClientFactory
from sluice.triggers.failure_log import FailureLog
from sluice.triggers.specs import PipeSpec
from sluice.triggers.targets import StepFunctionsTarget

PEEK_ROUNDS = 10


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    arn: str
    url: str
    source_kind: str  # "queue" | "pipe"
    source: str  # source queue URL, or pipe name
    pipe: PipeSpec | None = None


class DeadLetterQueues:
    def __init__(self, clients: ClientFactory, failure_log: FailureLog) -> None:
        self._clients = clients
        self._failure_log = failure_log
        self._queues: dict[str, DeadLetterQueue] = {}

    def set_queues(self, resources: dict[str, dict[str, Any]], pipes: list[PipeSpec]) -> None:
        by_arn = {r["arn"]: r for r in resources.values() if r["type"] == "AWS::SQS::Queue"}
        found: dict[str, DeadLetterQueue] = {}
        for res in by_arn.values():
            dlq = by_arn.get(res.get("dlq") or "")
            if dlq:
                found[dlq["name"]] = DeadLetterQueue(
                    dlq["name"], dlq["arn"], dlq["url"], "queue", res["url"]
                )
        for pipe in pipes:
            dlq = by_arn.get(pipe.dlq_arn or "")
            if dlq:
                found[dlq["name"]] = DeadLetterQueue(
                    dlq["name"], dlq["arn"], dlq["url"], "pipe", pipe.name, pipe
                )
        self._queues = found

    def _get(self, name: str) -> DeadLetterQueue:
        return self._queues[name]

    def overview(self) -> list[dict[str, Any]]:
        sqs = self._clients("sqs")
        out = []
        for q in self._queues.values():
            attrs = sqs.get_queue_attributes(
                QueueUrl=q.url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            out.append(
                {
                    "name": q.name,
                    "arn": q.arn,
                    "fed_by": q.source_kind,
                    "source": q.source,
                    "depth": int(attrs.get("ApproximateNumberOfMessages", 0)),
                }
            )
        return out

    def _peek(self, q: DeadLetterQueue) -> list[dict[str, Any]]:
        """Every visible message, left in place (visibility timeout 0 on receive)."""
        sqs = self._clients("sqs")
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(PEEK_ROUNDS):
            got = sqs.receive_message(
                QueueUrl=q.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in seen]
            if not fresh:
                break
            seen.update((m["MessageId"], m) for m in fresh)
        return list(seen.values())

    def messages(self, name: str) -> list[dict[str, Any]]:
        q = self._get(name)
        out = []
        for m in self._peek(q):
            out.append(
                {
                    "messageId": m["MessageId"],
                    "sentAt": int(m["Attributes"].get("SentTimestamp", 0)),
                    "receiveCount": int(m["Attributes"].get("ApproximateReceiveCount", 0)),
                    "body": _maybe_json(m["Body"]),
                    "reason": self._reason(q, m),
                }
            )
        return sorted(out, key=lambda r: r["sentAt"])

    def _reason(self, q: DeadLetterQueue, message: dict[str, Any]) -> dict[str, Any] | None:
        if q.source_kind == "pipe":
            context = (_maybe_json(message["Body"]) or {}).get("requestContext", {})
            return {k: context.get(k) for k in ("condition", "error", "cause")}
        record = self._failure_log.get(message["MessageId"])
        if record is None:
            return None
        error, cause = record.error, record.cause
        if record.execution_arn and error == "BatchItemFailures":
            # The execution succeeded and reported this item failed: find why in its history.
            error, cause = self._item_failure(record.execution_arn, message["MessageId"]) or (
                error,
                cause,
            )
        return {
            "error": error,
            "cause": cause,
            "execution": record.execution_arn,
            "failedDeliveries": record.failures,
        }

    def _item_failure(self, execution_arn: str, item_id: str) -> tuple[str, str] | None:
        """The caught or failed step of the Map iteration that processed ITEM_ID."""
        sfn = self._clients("stepfunctions")
        try:
            events = []
            for page in sfn.get_paginator("get_execution_history").paginate(
                executionArn=execution_arn
            ):
                events += page["events"]
        except Exception:
            return None  # the execution is gone (e.g. the stack restarted)
        for run in iter_runs(summarize(events).states):
            for iteration in run.iterations:
                if not iteration or item_id not in (iteration[0].input or ""):
                    continue
                for step in iter_runs(iteration):
                    if step.status in ("caught", "failed") and step.error:
                        return step.error, step.cause or ""
        return None

    def redrive(self, name: str) -> dict[str, Any]:
        """Send every message back where it came from; returns how many moved."""
        q = self._get(name)
        sqs = self._clients("sqs")
        moved, failed = 0, []
        for m in self._peek(q):
            if q.source_kind == "queue":
                sqs.send_message(QueueUrl=q.source, MessageBody=m["Body"])
                ok = True
            else:
                assert q.pipe is not None
                records = (_maybe_json(m["Body"]) or {}).get("records") or []
                target = StepFunctionsTarget(
                    self._clients, q.pipe.target_arn, q.pipe.invocation_type
                )
                outcome = target.invoke(records)
                ok = outcome.ok and not outcome.failed_item_ids
                if not ok:
                    failed.append({"messageId": m["MessageId"], "error": outcome.error})
            if ok:
                # Re-receive to get a fresh receipt handle (peeking used visibility 0).
                sqs.delete_message(QueueUrl=q.url, ReceiptHandle=m["ReceiptHandle"])
                moved += 1
        return {"queue": name, "redriven": moved, "failed": failed}


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
