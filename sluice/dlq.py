"""Dead-letter queues of the deployed stack: list messages with why they failed, redrive them.

A DLQ is known by who feeds it: an SQS queue's RedrivePolicy (redrive = send the message
back to that queue), a stream Pipe's DeadLetterConfig (the message carries the batch;
redrive = deliver the records to the pipe's target again), or an EventBridge rule target's
DeadLetterConfig (the message is the event, with why in its ERROR_CODE/ERROR_MESSAGE
attributes; redrive = start the target state machine with it, as the rule would).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sluice.history import iter_runs, summarize
from sluice.triggers.clients import ClientFactory
from sluice.triggers.failure_log import FailureLog
from sluice.triggers.specs import PipeSpec, RuleSpec
from sluice.triggers.targets import StepFunctionsTarget

# How long a listing or redrive keeps the messages it has received hidden, so that each
# ReceiveMessage returns the next ones (it shows them again as soon as it is done).
HIDE_SECONDS = 60


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    arn: str
    url: str
    source_kind: str  # "queue" | "pipe" | "rule"
    source: str  # source queue URL, pipe name, or the rule target's state machine ARN
    pipe: PipeSpec | None = None


class DeadLetterQueues:
    def __init__(self, clients: ClientFactory, failure_log: FailureLog) -> None:
        self._clients = clients
        self._failure_log = failure_log
        self._queues: dict[str, DeadLetterQueue] = {}
        # SQS counts every receive in ApproximateReceiveCount, the ones made here to look at
        # or move a message too. Those are not deliveries, so they are counted here (per
        # queue and message id) and left out of the count a listing reports.
        self._own_receives: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()  # one listing or redrive at a time

    def set_queues(
        self,
        resources: dict[str, dict[str, Any]],
        pipes: list[PipeSpec],
        rules: list[RuleSpec] | None = None,
    ) -> None:
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
        for rule in rules or []:
            for target in rule.targets:
                dlq = by_arn.get(target.dlq_arn or "")
                if dlq and ":states:" in target.arn:
                    found[dlq["name"]] = DeadLetterQueue(
                        dlq["name"], dlq["arn"], dlq["url"], "rule", target.arn
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

    def _receive(self, q: DeadLetterQueue) -> list[dict[str, Any]]:
        """Up to 10 visible messages, hidden for HIDE_SECONDS; counts the receives."""
        got: list[dict[str, Any]] = (
            self._clients("sqs")
            .receive_message(
                QueueUrl=q.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=HIDE_SECONDS,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            .get("Messages", [])
        )
        own = self._own_receives.setdefault(q.name, {})
        for m in got:
            own[m["MessageId"]] = own.get(m["MessageId"], 0) + 1
        return got

    @contextmanager
    def _hidden(self, q: DeadLetterQueue) -> Iterator[dict[str, dict[str, Any]]]:
        """Messages received in the block (by id, latest receipt) are shown again after it,
        unless the block deletes them from the dict."""
        held: dict[str, dict[str, Any]] = {}
        try:
            yield held
        finally:
            self._show(q, list(held.values()))

    def _show(self, q: DeadLetterQueue, messages: list[dict[str, Any]]) -> None:
        sqs = self._clients("sqs")
        for start in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=q.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )

    def _peek(self, q: DeadLetterQueue) -> list[dict[str, Any]]:
        """Every message, left in the queue: received page by page (each page stays hidden
        so the next receive returns the next messages), then all shown again."""
        with self._lock, self._hidden(q) as held:
            while True:
                got = self._receive(q)
                fresh = [m for m in got if m["MessageId"] not in held]
                held.update((m["MessageId"], m) for m in got)  # the latest receipt handles
                if not fresh:
                    break
            own = self._own_receives.get(q.name, {})
            # Messages gone from the queue need no count any more.
            self._own_receives[q.name] = {i: n for i, n in own.items() if i in held}
            return list(held.values())

    def _receive_count(self, q: DeadLetterQueue, message: dict[str, Any]) -> int:
        """ApproximateReceiveCount without the receives made here to list or move it."""
        counted = int(message["Attributes"].get("ApproximateReceiveCount", 0))
        own = self._own_receives.get(q.name, {}).get(message["MessageId"], 0)
        return max(counted - own, 0)

    def messages(self, name: str) -> list[dict[str, Any]]:
        q = self._get(name)
        out = []
        for m in self._peek(q):
            out.append(
                {
                    "messageId": m["MessageId"],
                    "sentAt": int(m["Attributes"].get("SentTimestamp", 0)),
                    "receiveCount": self._receive_count(q, m),
                    "body": _maybe_json(m["Body"]),
                    "reason": self._reason(q, m),
                }
            )
        return sorted(out, key=lambda r: r["sentAt"])

    def _reason(self, q: DeadLetterQueue, message: dict[str, Any]) -> dict[str, Any] | None:
        if q.source_kind == "pipe":
            context = (_maybe_json(message["Body"]) or {}).get("requestContext", {})
            return {k: context.get(k) for k in ("condition", "error", "cause")}
        if q.source_kind == "rule":
            # EventBridge's attributes, which a state machine's own dead-lettering also sets.
            attrs = {
                k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()
            }
            return {
                "error": attrs.get("ERROR_CODE"),
                "cause": attrs.get("ERROR_MESSAGE"),
                "execution": attrs.get("EXECUTION_ARN"),
                "rule": attrs.get("RULE_ARN"),
            }
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
        """Send every message back where it came from, deleting each one that got there.

        Received page by page until the queue has none left to give; a message that could
        not be sent back stays hidden until the end (so it is tried once), then is shown
        again and reported in `failed`. Returns how many moved.
        """
        q = self._get(name)
        sqs = self._clients("sqs")
        moved, failed = 0, []
        with self._lock, self._hidden(q) as held:
            while True:
                got = self._receive(q)
                fresh = [m for m in got if m["MessageId"] not in held]
                held.update((m["MessageId"], m) for m in got if m["MessageId"] in held)
                if not fresh:
                    break
                for m in fresh:
                    error = self._send_back(q, m)
                    if error is None:
                        try:
                            sqs.delete_message(QueueUrl=q.url, ReceiptHandle=m["ReceiptHandle"])
                        except ClientError as exc:
                            error = f"sent back, but not deleted from {name}: {exc}"
                        else:
                            moved += 1
                            self._own_receives.get(q.name, {}).pop(m["MessageId"], None)
                            continue
                    held[m["MessageId"]] = m
                    failed.append({"messageId": m["MessageId"], "error": error})
        return {"queue": name, "redriven": moved, "failed": failed}

    def _send_back(self, q: DeadLetterQueue, m: dict[str, Any]) -> str | None:
        """Deliver M where it came from; None when it got there, else why not."""
        if q.source_kind == "queue":
            extra = (
                {"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {}
            )
            try:
                self._clients("sqs").send_message(QueueUrl=q.source, MessageBody=m["Body"], **extra)
            except ClientError as exc:
                return str(exc)
            return None
        if q.source_kind == "rule":
            try:
                self._clients("stepfunctions", inject_host_prefix=False).start_execution(
                    stateMachineArn=q.source, input=m["Body"]
                )
            except ClientError as exc:
                return str(exc)
            return None
        assert q.pipe is not None
        records = (_maybe_json(m["Body"]) or {}).get("records") or []
        target = StepFunctionsTarget(self._clients, q.pipe.target_arn, q.pipe.invocation_type)
        outcome = target.invoke(records)
        if outcome.ok and not outcome.failed_item_ids:
            return None
        return str(outcome.error or f"{len(outcome.failed_item_ids or [])} record(s) failed again")


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
