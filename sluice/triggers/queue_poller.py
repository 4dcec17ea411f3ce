"""SQS source: the polling half of a pipe / event source mapping.

Retries and dead-lettering belong to the queue itself: a failed message is simply not
deleted, reappears after the visibility timeout, and the queue's RedrivePolicy moves it
to its DLQ after maxReceiveCount receives.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from sluice.triggers.clients import Arn, ClientFactory, QueueUrls, jsonable
from sluice.triggers.counters import Counters
from sluice.triggers.failure_log import FailureLog
from sluice.triggers.filters import RecordFilter
from sluice.triggers.poller_group import Stoppable
from sluice.triggers.specs import PipeSpec
from sluice.triggers.targets import Outcome, Target, check_outcome, outcome_from_exception

log = logging.getLogger(__name__)

MAX_RECEIVE = 10  # SQS ReceiveMessage limit per call
LONG_POLL_S = 20  # AWS's pollers' wait, and ReceiveMessage's longest


class LongPolls(Protocol):
    """How a poller in the queues' own process ends its long polls when it stops
    (sluice/sqs_atomic.py)."""

    def ended_by(self, stop: threading.Event) -> contextlib.AbstractContextManager[None]: ...

    def wake(self) -> None: ...


class QueuePoller(Stoppable):
    """Receives from one queue for a pipe and invokes ``target`` with batches of records
    in the Lambda/Pipes SQS shape. Drive it with ``poll_once()`` or a ``PollerGroup``.

    ``receive_wait_s`` is the long-poll wait. AWS's pollers wait 20 s; a poller whose
    requests the queues' own process answers on its thread waits as long, given
    ``long_polls`` to end the wait when it stops; over HTTP it waits 1 s, so that stopping
    is prompt. ``failure_log`` records why each failed message failed.
    """

    def __init__(
        self,
        spec: PipeSpec,
        target: Target,
        client_factory: ClientFactory,
        *,
        failure_log: FailureLog | None = None,
        receive_wait_s: int | None = None,
        concurrency: int = 1,
        long_polls: LongPolls | None = None,
    ) -> None:
        # SQS sources scale out like AWS's pollers: several batches in flight at once, each
        # message owned by one of them through its visibility timeout.
        self.concurrency = max(1, concurrency)
        self.spec = spec
        self.name = spec.name
        self.counters = Counters()
        self.failure_log = failure_log if failure_log is not None else FailureLog()
        self._target = target
        self._client_factory = client_factory
        self._filter = RecordFilter(spec.filters)
        self._queues = QueueUrls(client_factory)
        self._region = Arn.parse(spec.source_arn).region
        self._long_polls = long_polls
        if receive_wait_s is None:
            receive_wait_s = LONG_POLL_S if long_polls is not None else 1
        self._receive_wait_s = max(0, min(int(receive_wait_s), LONG_POLL_S))
        super().__init__()

    def request_stop(self) -> None:
        super().request_stop()
        if self._long_polls is not None:
            self._long_polls.wake()

    def poll_once(self) -> int:
        """Gather one batch (up to batch_size, waiting up to the batching window once the
        first message arrives), then deliver it. Returns the number of messages received."""
        messages = self._gather()
        if not messages:
            return 0
        records: list[dict[str, Any]] = []
        discard: list[dict[str, Any]] = []
        for m in messages:
            rec = self._shape(m)
            (records if self._filter.matches(rec) else discard).append(rec)
        if discard:
            # AWS deletes messages that match no filter.
            self._delete(discard)
            self.counters.incr("records_discarded", len(discard))
        if records:
            self._deliver(records)
        return len(messages)

    # -- receiving ------------------------------------------------------------------------

    def _sqs(self) -> Any:
        return self._client_factory("sqs")

    def _receive(self, max_n: int, wait_s: int) -> list[dict[str, Any]]:
        with self._ending():
            resp = self._sqs().receive_message(
                QueueUrl=self._queues.url(self.spec.source_arn),
                MaxNumberOfMessages=max(1, min(max_n, MAX_RECEIVE)),
                WaitTimeSeconds=wait_s,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        msgs: list[dict[str, Any]] = resp.get("Messages", [])
        return msgs

    @contextlib.contextmanager
    def _ending(self) -> Iterator[None]:
        if self._long_polls is None:
            yield
        else:
            with self._long_polls.ended_by(self._stop):
                yield

    def _gather(self) -> list[dict[str, Any]]:
        want = self.spec.batch_size
        window = self.spec.batching_window_s
        got: dict[str, dict[str, Any]] = {}  # by MessageId; a redelivery replaces the handle
        first = self._receive(want, self._receive_wait_s)
        if not first:
            return []
        for m in first:
            got[m["MessageId"]] = m
        deadline = time.monotonic() + window
        last_full = len(first) >= min(want, MAX_RECEIVE)
        while len(got) < want and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if window > 0:
                if remaining <= 0:
                    break
                wait = int(min(self._receive_wait_s, remaining))
            else:
                # No window: only take what is immediately available.
                if not last_full:
                    break
                wait = 0
            need = want - len(got)
            more = self._receive(need, wait)
            for m in more:
                got[m["MessageId"]] = m
            last_full = len(more) >= min(need, MAX_RECEIVE)
            if not more and wait == 0:
                self._stop.wait(min(0.05, max(remaining, 0.0)))
        return list(got.values())

    def _shape(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m.get("Body", ""),
            "attributes": dict(m.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_attribute(attr)
                for name, attr in m.get("MessageAttributes", {}).items()
            },
            "md5OfBody": m.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.spec.source_arn,
            "awsRegion": self._region,
        }

    # -- delivery -------------------------------------------------------------------------

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        self.counters.incr("invocations")
        began = time.monotonic()
        try:
            outcome = self._target.invoke(records)
        except Exception as exc:
            log.exception("pipe %s: target raised", self.name)
            outcome = outcome_from_exception(exc)
        self.counters.incr("target_ms", int((time.monotonic() - began) * 1000))
        outcome = check_outcome(outcome, records)
        if outcome.ok:
            self._delete(records)
            self.counters.incr("batches_delivered")
            self.counters.incr("records_delivered", len(records))
            return
        self.counters.incr("failures")
        failed_ids = set(outcome.failed_item_ids or []) if outcome.partial else None
        # Partial failure: only the reported messages stay; whole failure: all stay.
        failed = [r for r in records if failed_ids is None or r["messageId"] in failed_ids]
        succeeded = [
            r for r in records if failed_ids is not None and r["messageId"] not in failed_ids
        ]
        if succeeded:
            self._delete(succeeded)
            self.counters.incr("records_delivered", len(succeeded))
        self._record_failures(failed, outcome)
        log.info(
            "pipe %s: %d of %d messages failed (%s); left for redelivery",
            self.name,
            len(failed),
            len(records),
            outcome.error,
        )

    def _record_failures(self, failed: list[dict[str, Any]], outcome: Outcome) -> None:
        for r in failed:
            self.failure_log.record(
                r["messageId"], outcome.error, outcome.cause, outcome.execution_arn
            )

    def _delete(self, records: list[dict[str, Any]]) -> None:
        url = self._queues.url(self.spec.source_arn)
        for i in range(0, len(records), MAX_RECEIVE):
            chunk = records[i : i + MAX_RECEIVE]
            resp = self._sqs().delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)
                ],
            )
            for f in resp.get("Failed", []):
                # Usually an expired receipt handle: the message will be redelivered.
                log.warning("pipe %s: delete failed: %s", self.name, f)
                self.counters.incr("errors")


def _lambda_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "StringValue" in attr:
        out["stringValue"] = attr["StringValue"]
    if "BinaryValue" in attr:
        out["binaryValue"] = jsonable(attr["BinaryValue"])
    out["stringListValues"] = list(attr.get("StringListValues", []))
    out["binaryListValues"] = jsonable(list(attr.get("BinaryListValues", [])))
    out["dataType"] = attr.get("DataType", "String")
    return out
