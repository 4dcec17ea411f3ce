"""DynamoDB Streams source: the polling half of a pipe / event source mapping.

Per shard, records are delivered strictly in order, one batch in flight; shards are
processed in parallel, as AWS runs one poller per shard. A failing batch blocks its shard until
it succeeds, is bisected down, or runs out of retries / record age and goes to the
dead-letter destination; then the shard moves on. With `positions` (a durable stack) the
last sequence number of each finished batch is saved, and a restarted poller resumes after
it; a pipe with no saved position on a restored stack starts at TRIM_HORIZON, so records
written before the restart are not skipped (at least once, as on AWS).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from sluice.triggers.clients import Arn, ClientFactory, jsonable
from sluice.triggers.counters import Counters
from sluice.triggers.dead_letter import (
    DeadLetterSender,
    split_records_document,
    stream_batch_document,
)
from sluice.triggers.filters import RecordFilter
from sluice.triggers.poller_group import Stoppable
from sluice.triggers.specs import PipeSpec
from sluice.triggers.targets import Outcome, Target, check_outcome, item_id, outcome_from_exception

log = logging.getLogger(__name__)

# Pipes and Lambda cap the target payload at 256 KiB (as characters of JSON).
MAX_PAYLOAD_CHARS = 262_144
# Shards of one stream read and delivered at once (AWS: one poller per shard, no limit).
MAX_PARALLEL_SHARDS = 8


class Positions(Protocol):
    resumed: bool  # the stack's state was restored: records may predate this poller

    def get(self, pipe: str, shard_id: str) -> str | None: ...

    def put(self, pipe: str, shard_id: str, sequence_number: str) -> None: ...


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    start_type: str
    iterator: str | None = None
    last_seq: str | None = None  # last sequence number read, for iterator renewal
    closed: bool = False  # GetRecords returned no NextShardIterator
    # Read but not yet batched: (monotonic arrival time, record).
    buffer: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    # The batch in progress; bisection splits it into several, delivered front first.
    work: list[list[dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0  # retries consumed by work[0] (customer errors only)
    invokes: int = 0  # invocations of work[0], reported as approximateInvokeCount
    failures_in_row: int = 0  # drives backoff, transient errors included
    next_attempt_at: float = 0.0
    last_error: str | None = None
    last_cause: str | None = None

    @property
    def done(self) -> bool:
        return self.closed and not self.buffer and not self.work


class StreamPoller(Stoppable):
    """Polls one DynamoDB stream for a pipe and invokes ``target`` with batches of records
    in the Pipes shape. Drive it with ``poll_once()`` (tests) or a ``PollerGroup``."""

    def __init__(
        self,
        spec: PipeSpec,
        target: Target,
        client_factory: ClientFactory,
        *,
        retry_delay_s: float = 1.0,
        max_retry_delay_s: float = 60.0,
        shard_refresh_s: float = 5.0,
        fetch_limit: int = 1000,
        positions: Positions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        # Batching windows, retry delays and shard refreshes are measured on CLOCK.
        self._clock = clock
        self.name = spec.name
        self.counters = Counters()
        # Dead-letter documents (with records) also kept here, newest last, for display.
        self.dead_letters: deque[dict[str, Any]] = deque(maxlen=100)
        self._target = target
        self._client_factory = client_factory
        self._filter = RecordFilter(spec.filters)
        self._dlq = DeadLetterSender(client_factory)
        self._region = Arn.parse(spec.source_arn).region
        self._retry_delay_s = retry_delay_s
        self._max_retry_delay_s = max_retry_delay_s
        self._shard_refresh_s = shard_refresh_s
        self._fetch_limit = max(1, min(fetch_limit, 1000))
        self._positions = positions
        self._shards: dict[str, _Shard] = {}
        self._discovered = False
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # made when a stream has 2+ shards
        super().__init__()

    def poll_once(self) -> int:
        """One pass: discover shards if due, then read each ready shard once and deliver
        its due batches, the shards in parallel. Returns the number of target invocations."""
        with self._lock:
            now = self._clock()
            if not self._discovered or now - self._last_refresh >= self._shard_refresh_s:
                self._refresh_shards()
                self._last_refresh = now
            ready = [s for s in self._shards.values() if not s.done and self._parent_done(s)]
            if len(ready) <= 1:
                return sum(self._work(shard) for shard in ready)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(MAX_PARALLEL_SHARDS, f"sluice-{self.name}")
            return sum(self._executor.map(self._work, ready))

    def _work(self, shard: _Shard) -> int:
        """Read one shard and deliver its due batches; touches that shard's state only."""
        if self._stop.is_set():
            return 0
        self._fetch(shard)
        return self._drive(shard)

    def status(self) -> dict[str, dict[str, Any]]:
        """Best-effort per-shard snapshot for display. Deliberately lock-free so it never
        waits behind a long synchronous invocation."""
        shards = list(self._shards.values())
        return {
            s.shard_id: {
                "pending": len(s.buffer) + sum(len(b) for b in list(s.work)),
                "attempts": s.attempts,
                "closed": s.closed,
                "done": s.done,
                "last_error": s.last_error,
                "last_cause": s.last_cause,
            }
            for s in shards
        }

    # -- shards ---------------------------------------------------------------------------

    def _streams(self) -> Any:
        # Recent botocore sends stream calls to account-based hosts
        # ({account}.streams-ddb.{region}...), which moto does not route.
        return self._client_factory("dynamodbstreams", account_id_endpoint_mode="disabled")

    def _refresh_shards(self) -> None:
        # Shards present at first discovery start at the pipe's starting position; shards
        # that appear later (splits) are read from their beginning so nothing is skipped.
        start_type = self.spec.starting_position if not self._discovered else "TRIM_HORIZON"
        if self._positions is not None and self._positions.resumed:
            start_type = "TRIM_HORIZON"
        kwargs: dict[str, Any] = {"StreamArn": self.spec.source_arn}
        while True:
            desc = self._streams().describe_stream(**kwargs)["StreamDescription"]
            for sh in desc.get("Shards", []):
                sid = sh["ShardId"]
                if sid not in self._shards:
                    shard = _Shard(sid, sh.get("ParentShardId"), start_type)
                    if self._positions is not None:
                        shard.last_seq = self._positions.get(self.name, sid)
                    self._shards[sid] = shard
            last = desc.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        self._discovered = True

    def _parent_done(self, shard: _Shard) -> bool:
        # A child shard waits until its parent is fully processed, keeping per-key order.
        parent = self._shards.get(shard.parent_id) if shard.parent_id else None
        return parent is None or parent.done

    def _new_iterator(self, shard: _Shard) -> str | None:
        kwargs: dict[str, Any] = {"StreamArn": self.spec.source_arn, "ShardId": shard.shard_id}
        if shard.last_seq is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_seq)
        else:
            kwargs["ShardIteratorType"] = shard.start_type
        try:
            it: str | None = self._streams().get_shard_iterator(**kwargs).get("ShardIterator")
            return it
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                log.warning("pipe %s: shard %s is gone", self.name, shard.shard_id)
                return None
            raise

    def _fetch(self, shard: _Shard) -> None:
        if shard.closed or len(shard.buffer) >= self.spec.batch_size:
            return
        if shard.iterator is None:
            shard.iterator = self._new_iterator(shard)
            if shard.iterator is None:
                shard.closed = True
                return
        try:
            resp = self._streams().get_records(
                ShardIterator=shard.iterator, Limit=self._fetch_limit
            )
        except ClientError as exc:
            code = _code(exc)
            if code == "ExpiredIteratorException":
                shard.iterator = None  # renewed after the last record read, next pass
                return
            if code == "TrimmedDataAccessException":
                # Records aged out of the 24 h retention before we read them. AWS loses
                # them too; say so loudly rather than silently.
                log.error(
                    "pipe %s: shard %s trimmed past %s; resuming at TRIM_HORIZON",
                    self.name,
                    shard.shard_id,
                    shard.last_seq,
                )
                self.counters.incr("errors")
                shard.iterator, shard.last_seq, shard.start_type = None, None, "TRIM_HORIZON"
                return
            raise
        now = self._clock()
        for raw in resp.get("Records", []):
            record = self._shape(raw)
            shard.last_seq = record["dynamodb"].get("SequenceNumber", shard.last_seq)
            if not self._filter.matches(record):
                self.counters.incr("records_discarded")
                continue
            shard.buffer.append((now, record))
        shard.iterator = resp.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True

    def _shape(self, raw: dict[str, Any]) -> dict[str, Any]:
        rec = jsonable(raw)
        shaped: dict[str, Any] = {
            "eventID": rec.get("eventID"),
            "eventName": rec.get("eventName"),
            "eventVersion": rec.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self._region,
            "dynamodb": rec.get("dynamodb", {}),
            "eventSourceARN": self.spec.source_arn,
        }
        if "userIdentity" in rec:  # TTL deletes carry the service principal
            shaped["userIdentity"] = rec["userIdentity"]
        return shaped

    # -- delivery -------------------------------------------------------------------------

    def _drive(self, shard: _Shard) -> int:
        """Deliver due batches on this shard until one fails or nothing is due."""
        invoked = 0
        while not self._stop.is_set():
            if not shard.work:
                batch = self._take_batch(shard)
                if batch is None:
                    break
                shard.work.append(batch)
                shard.attempts = shard.invokes = 0
            if self._clock() < shard.next_attempt_at:
                break
            invoked += 1
            if not self._attempt(shard):
                break  # at most one failed invocation per shard per pass
        return invoked

    def _take_batch(self, shard: _Shard) -> list[dict[str, Any]] | None:
        if not shard.buffer:
            return None
        full = len(shard.buffer) >= self.spec.batch_size
        waited = self._clock() - shard.buffer[0][0]
        if not full and waited < self.spec.batching_window_s and not shard.closed:
            return None
        batch: list[dict[str, Any]] = []
        size = 2
        while shard.buffer and len(batch) < self.spec.batch_size:
            rec_size = len(json.dumps(shard.buffer[0][1])) + 2
            if batch and size + rec_size > MAX_PAYLOAD_CHARS:
                break
            batch.append(shard.buffer.popleft()[1])
            size += rec_size
        return batch

    def _invoke(self, batch: list[dict[str, Any]]) -> Outcome:
        self.counters.incr("invocations")
        began = time.monotonic()
        try:
            outcome = self._target.invoke(batch)
        except Exception as exc:  # a target bug must not kill the shard
            log.exception("pipe %s: target raised", self.name)
            outcome = outcome_from_exception(exc)
        self.counters.incr("target_ms", int((time.monotonic() - began) * 1000))
        return check_outcome(outcome, batch)

    def _attempt(self, shard: _Shard) -> bool:
        batch = shard.work[0]
        outcome = self._invoke(batch)
        shard.invokes += 1
        if outcome.ok:
            self._finished(shard, batch)
            shard.work.pop(0)
            shard.attempts = shard.invokes = shard.failures_in_row = 0
            shard.last_error = shard.last_cause = None
            self.counters.incr("batches_delivered")
            self.counters.incr("records_delivered", len(batch))
            return True

        self.counters.incr("failures")
        shard.last_error, shard.last_cause = outcome.error, outcome.cause
        log.info(
            "pipe %s: shard %s batch of %d failed: %s %s",
            self.name,
            shard.shard_id,
            len(batch),
            outcome.error,
            (outcome.cause or "")[:200],
        )
        if outcome.partial:
            # Checkpoint at the lowest failed sequence number: everything before it is
            # committed, everything from it on is redelivered.
            failed = set(outcome.failed_item_ids or [])
            lowest = min(failed, key=_seq_key)
            idx = next(i for i, r in enumerate(batch) if item_id(r) == lowest)
            if idx:
                self.counters.incr("records_delivered", idx)
                self._finished(shard, batch[:idx])
            shard.work[0] = batch[idx:]
        elif self.spec.bisect_on_error and len(batch) > 1 and not outcome.transient:
            # Halve and retry each half; bisection does not consume retry attempts.
            half = (len(batch) + 1) // 2
            shard.work[0:1] = [batch[:half], batch[half:]]
            shard.invokes = 0
            return False
        self._retry_or_dead_letter(shard, outcome)
        return False

    def _retry_or_dead_letter(self, shard: _Shard, outcome: Outcome) -> None:
        shard.failures_in_row += 1
        delay = min(self._retry_delay_s * 2 ** (shard.failures_in_row - 1), self._max_retry_delay_s)
        if outcome.transient:  # AWS-side error: retried without counting against limits
            shard.next_attempt_at = self._clock() + delay
            return
        shard.attempts += 1
        batch = shard.work[0]
        condition = None
        if self.spec.max_retry_attempts != -1 and shard.attempts > self.spec.max_retry_attempts:
            condition = "RetryAttemptsExhausted"
        elif self.spec.max_record_age_s != -1 and _oldest_age_s(batch) > self.spec.max_record_age_s:
            condition = "MaximumRecordAgeExceeded"
        if condition is None:
            shard.next_attempt_at = self._clock() + delay
            return
        self._dead_letter(shard, batch, condition, outcome)
        self._finished(shard, batch)
        shard.work.pop(0)
        shard.attempts = shard.invokes = shard.failures_in_row = 0
        shard.next_attempt_at = 0.0

    def _finished(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        """Save the position after a batch that will not be delivered again."""
        seq = batch[-1]["dynamodb"].get("SequenceNumber") if batch else None
        if self._positions is not None and seq is not None:
            self._positions.put(self.name, shard.shard_id, str(seq))

    def _dead_letter(
        self, shard: _Shard, batch: list[dict[str, Any]], condition: str, outcome: Outcome
    ) -> None:
        document = stream_batch_document(
            self.spec.name,
            self.spec.target_arn,
            self.spec.source_arn,
            shard.shard_id,
            batch,
            condition,
            shard.invokes,
            outcome,
        )
        self.dead_letters.append({**document, "records": batch})
        if self.spec.dlq_arn:
            try:
                for body in split_records_document(document, batch):
                    self._dlq.send(self.spec.dlq_arn, body)
            except Exception:
                log.exception(
                    "pipe %s: could not send to DLQ %s; lost batch: %s",
                    self.name,
                    self.spec.dlq_arn,
                    json.dumps({**document, "records": batch}),
                )
                self.counters.incr("errors")
                self.counters.incr("records_dropped", len(batch))
                return
            self.counters.incr("records_sent_to_dlq", len(batch))
            log.warning("pipe %s: %d records sent to DLQ (%s)", self.name, len(batch), condition)
        else:
            log.warning(
                "pipe %s: no DLQ; discarding batch (%s): %s",
                self.name,
                condition,
                json.dumps({**document, "records": batch}),
            )
            self.counters.incr("records_dropped", len(batch))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _seq_key(seq: str) -> tuple[int, str]:
    return (int(seq), seq) if seq.isdigit() else (0, seq)


def _oldest_age_s(batch: list[dict[str, Any]]) -> float:
    created = [
        float(ts)
        for r in batch
        if isinstance(ts := r.get("dynamodb", {}).get("ApproximateCreationDateTime"), int | float)
    ]
    return time.time() - min(created) if created else 0.0
