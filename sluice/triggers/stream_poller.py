"""DynamoDB Streams source: the polling half of a pipe / event source mapping.

Per shard, records are delivered in order, one batch in flight, or with a
`ParallelizationFactor` of N up to N batches, one per lane of keys, each key's records in
order (sluice/triggers/stream_shards.py); shards are processed in parallel, as AWS runs one
poller per shard. A failing batch blocks its shard until
it succeeds, is bisected down, or runs out of retries / record age and goes to the
dead-letter destination; then the shard moves on. With `positions` (a durable stack) the
last sequence number of each finished batch is saved, and a restarted poller resumes after
it; a pipe with no saved position on a restored stack starts at TRIM_HORIZON, so records
written before the restart are not skipped (at least once, as on AWS).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from sluice.triggers.stream_shards import Lane, Positions, Shard
from sluice.triggers.targets import Outcome, Target, check_outcome, item_id, outcome_from_exception

log = logging.getLogger(__name__)

# Pipes and Lambda cap the target payload at 256 KiB (as characters of JSON).
MAX_PAYLOAD_CHARS = 262_144
# Batches of one pipe in flight at once: one per shard, or one per lane of a shard with a
# ParallelizationFactor (AWS: no limit but shards x factor).
MAX_PARALLEL_BATCHES = 32


class Changes(Protocol):
    """The streams' records counted as they are added (sluice/triggers/stream_changes.py)."""

    def count(self) -> int: ...

    def wait(self, since: int, stop: threading.Event) -> None: ...

    def wake(self) -> None: ...


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
        wall_clock: Callable[[], float] = time.time,
        changes: Changes | None = None,
    ) -> None:
        self.spec = spec
        # With CHANGES, a poller with nothing pending waits for the next record written
        # instead of reading again after the group's idle wait.
        self._changes = changes
        self._changes_seen = 0
        # Batching windows, retry delays and shard refreshes are measured on CLOCK; a
        # record's age on WALL_CLOCK, as its ApproximateCreationDateTime is wall time.
        self._clock = clock
        self._wall_clock = wall_clock
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
        self._shards: dict[str, Shard] = {}
        self._hash_key: str | None = None  # the source table's partition key attribute
        self._discovered = False
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # made when 2+ batches can run
        super().__init__()

    def poll_once(self) -> int:
        """One pass: discover shards if due, then read each ready shard once and deliver
        its due batches, the shards in parallel. Returns the number of target invocations."""
        with self._lock:
            ready = self._read()
            lanes = [(s, lane) for s in ready for lane in s.lanes if lane.buffer or lane.work]
            if len(lanes) <= 1:
                return sum(self._drive(shard, lane) for shard, lane in lanes)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(MAX_PARALLEL_BATCHES, f"sluice-{self.name}")
            return sum(self._executor.map(lambda pair: self._drive(*pair), lanes))

    def take_positions(self) -> None:
        """Read each shard once, delivering nothing: a pipe deployed stopped starts at the
        deploy's position, as a running one does; what it read waits for StartPipe."""
        with self._lock:
            self._read()

    def _read(self) -> list[Shard]:
        """Discover shards if due, then read each ready shard once; answers those."""
        if self._changes is not None:  # before reading: a record added meanwhile wakes
            self._changes_seen = self._changes.count()
        now = self._clock()
        if not self._discovered or now - self._last_refresh >= self._shard_refresh_s:
            self._refresh_shards()
            self._last_refresh = now
        ready = [s for s in self._shards.values() if not s.done and self._parent_done(s)]
        for shard in ready:
            if not self._stop.is_set():
                self._fetch(shard)
        return ready

    def wait_idle(self, seconds: float) -> None:
        """After a pass that invoked nothing: SECONDS, or while nothing is read and not yet
        delivered (no batch waiting for its window or its retry), until the next record."""
        pending = any(lane.pending for shard in self._shards.values() for lane in shard.lanes)
        if self._changes is None or pending:
            self._stop.wait(seconds)
        else:
            self._changes.wait(self._changes_seen, self._stop)

    def request_stop(self) -> None:
        super().request_stop()
        if self._changes is not None:
            self._changes.wake()

    def status(self) -> dict[str, dict[str, Any]]:
        """Best-effort per-shard snapshot for display. Deliberately lock-free so it never
        waits behind a long synchronous invocation."""
        shards = list(self._shards.values())
        return {s.shard_id: _shard_status(s) for s in shards}

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
                    lanes = [Lane() for _ in range(self.spec.parallelization_factor)]
                    shard = Shard(sid, sh.get("ParentShardId"), start_type, lanes)
                    if self._positions is not None:
                        shard.last_seq = self._positions.get(self.name, sid)
                    self._shards[sid] = shard
            last = desc.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        self._discovered = True

    def _parent_done(self, shard: Shard) -> bool:
        # A child shard waits until its parent is fully processed, keeping per-key order.
        parent = self._shards.get(shard.parent_id) if shard.parent_id else None
        return parent is None or parent.done

    def _new_iterator(self, shard: Shard) -> str | None:
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

    def _fetch(self, shard: Shard) -> None:
        if shard.closed or shard.buffered >= self.spec.batch_size * len(shard.lanes):
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
            matches = self._filter.matches(record)
            if not matches:
                self.counters.incr("records_discarded")
            shard.add(now, record, self._partition_key(shard, record), delivered=matches)
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

    def _partition_key(self, shard: Shard, record: dict[str, Any]) -> Any:
        """What decides a record's lane: its item's partition key (all its keys if the
        table's key schema cannot be read)."""
        keys = record["dynamodb"].get("Keys", {})
        if len(shard.lanes) == 1:
            return None
        if self._hash_key is None:
            table = self.spec.source_arn.split(":table/", 1)[-1].split("/", 1)[0]
            try:
                schema = self._client_factory("dynamodb").describe_table(TableName=table)
                self._hash_key = next(
                    k["AttributeName"]
                    for k in schema["Table"]["KeySchema"]
                    if k["KeyType"] == "HASH"
                )
            except (ClientError, StopIteration):
                return keys
        return keys.get(self._hash_key, keys)

    def _drive(self, shard: Shard, lane: Lane) -> int:
        """Deliver due batches of this lane until one fails or nothing is due."""
        invoked = 0
        while not self._stop.is_set():
            if not lane.work:
                batch = self._take_batch(shard, lane)
                if batch is None:
                    break
                lane.work.append(batch)
                lane.attempts = lane.invokes = 0
            if self._clock() < lane.next_attempt_at:
                break
            invoked += 1
            if not self._attempt(shard, lane):
                break  # at most one failed invocation per lane per pass
        return invoked

    def _take_batch(self, shard: Shard, lane: Lane) -> list[dict[str, Any]] | None:
        if not lane.buffer:
            return None
        full = len(lane.buffer) >= self.spec.batch_size
        waited = self._clock() - lane.buffer[0][0]
        if not full and waited < self.spec.batching_window_s and not shard.closed:
            return None
        batch: list[dict[str, Any]] = []
        size = 2
        while lane.buffer and len(batch) < self.spec.batch_size:
            rec_size = len(json.dumps(lane.buffer[0][1])) + 2
            if batch and size + rec_size > MAX_PAYLOAD_CHARS:
                break
            batch.append(lane.buffer.popleft()[1])
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

    def _attempt(self, shard: Shard, lane: Lane) -> bool:
        batch = lane.work[0]
        outcome = self._invoke(batch)
        lane.invokes += 1
        if outcome.ok:
            self._finished(shard, batch)
            lane.work.pop(0)
            lane.attempts = lane.invokes = lane.failures_in_row = 0
            lane.last_error = lane.last_cause = None
            self.counters.incr("batches_delivered")
            self.counters.incr("records_delivered", len(batch))
            return True

        self.counters.incr("failures")
        lane.last_error, lane.last_cause = outcome.error, outcome.cause
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
            lane.work[0] = batch[idx:]
        elif self.spec.bisect_on_error and len(batch) > 1 and not outcome.transient:
            # Halve and retry each half; bisection does not consume retry attempts.
            half = (len(batch) + 1) // 2
            lane.work[0:1] = [batch[:half], batch[half:]]
            lane.invokes = 0
            return False
        self._retry_or_dead_letter(shard, lane, outcome)
        return False

    def _retry_or_dead_letter(self, shard: Shard, lane: Lane, outcome: Outcome) -> None:
        lane.failures_in_row += 1
        delay = min(self._retry_delay_s * 2 ** (lane.failures_in_row - 1), self._max_retry_delay_s)
        if outcome.transient:  # AWS-side error: retried without counting against limits
            lane.next_attempt_at = self._clock() + delay
            return
        lane.attempts += 1
        batch = lane.work[0]
        condition = None
        if self.spec.max_retry_attempts != -1 and lane.attempts > self.spec.max_retry_attempts:
            condition = "RetryAttemptsExhausted"
        elif (
            self.spec.max_record_age_s != -1
            and self._wall_clock() - _oldest_created(batch) > self.spec.max_record_age_s
        ):
            condition = "MaximumRecordAgeExceeded"
        if condition is None:
            lane.next_attempt_at = self._clock() + delay
            return
        self._dead_letter(shard, lane, batch, condition, outcome)
        self._finished(shard, batch)
        lane.work.pop(0)
        lane.attempts = lane.invokes = lane.failures_in_row = 0
        lane.next_attempt_at = 0.0

    def _finished(self, shard: Shard, batch: list[dict[str, Any]]) -> None:
        """A batch will not be delivered again: save the position, if that moved it."""
        position = shard.finish(batch)
        if self._positions is not None and position is not None:
            self._positions.put(self.name, shard.shard_id, position)

    def _dead_letter(
        self,
        shard: Shard,
        lane: Lane,
        batch: list[dict[str, Any]],
        condition: str,
        outcome: Outcome,
    ) -> None:
        document = stream_batch_document(
            self.spec.name,
            self.spec.target_arn,
            self.spec.source_arn,
            shard.shard_id,
            batch,
            condition,
            lane.invokes,
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


def _oldest_created(batch: list[dict[str, Any]]) -> float:
    """The oldest record's creation time, or infinity (never too old) when none has one."""
    created = [
        float(ts)
        for r in batch
        if isinstance(ts := r.get("dynamodb", {}).get("ApproximateCreationDateTime"), int | float)
    ]
    return min(created, default=math.inf)


def _shard_status(shard: Shard) -> dict[str, Any]:
    failing = next((lane for lane in shard.lanes if lane.last_error), shard.lanes[0])
    return {
        "pending": sum(lane.pending for lane in shard.lanes),
        "attempts": max(lane.attempts for lane in shard.lanes),
        "closed": shard.closed,
        "done": shard.done,
        "last_error": failing.last_error,
        "last_cause": failing.last_cause,
    }
