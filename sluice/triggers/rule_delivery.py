"""EventBridge rule -> state machine target delivery.

moto matches rules but cannot start state machines, so the local gateway hands every
accepted event to ``RuleDelivery.deliver``. Delivery runs on worker threads, several
deliveries at once (EventBridge does not serialise them, nor keep their order), with the
target's RetryPolicy (exponential backoff with jitter, capped by attempts and event age)
and ends in the target's DLQ, with the message attributes AWS sets, or in ``dropped``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from moto.events.models import EventPattern

from sluice.engine import virtual_time
from sluice.triggers import rule_events
from sluice.triggers.clients import ClientFactory
from sluice.triggers.counters import Counters
from sluice.triggers.dead_letter import DeadLetterSender
from sluice.triggers.filters import compile_pattern
from sluice.triggers.specs import RuleSpec, RuleTargetSpec

log = logging.getLogger(__name__)

_NOT_FOUND = {"StateMachineDoesNotExist", "ResourceNotFoundException", "StateMachineDeleting"}
_NO_PERMISSION = {"AccessDenied", "AccessDeniedException", "UnrecognizedClientException"}
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
# Each StartExecution is one attempt of the RetryPolicy: no hidden retries by the client.
_NO_CLIENT_RETRIES = {"total_max_attempts": 1}
# Deliveries in flight at once. StartExecution of a Standard workflow answers once the run
# is started, yet on a stack busy with the runs it started each call waits its turn for the
# interpreter (78 ms a call in a 500-sale burst): with 4 threads the events queued behind
# one another (a sale reached DynamoDB 8-9 s after it was put, p50), with 16 less so (6-7 s)
# and the burst was written at 25.6-27.0 sales/s instead of 14.8-23.0.
DELIVERY_THREADS = 16


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    rule_arn: str = field(compare=False)
    target: RuleTargetSpec = field(compare=False)
    event: dict[str, Any] = field(compare=False)
    input: str | None = field(compare=False)  # None: InputPath did not resolve
    received_at: float = field(compare=False)
    retries: int = field(compare=False, default=0)
    skipped: float = field(compare=False, default=0.0)  # retry delay not slept (time scale)


@dataclass(frozen=True)
class _Failure:
    code: str  # EventBridge DLQ ERROR_CODE
    message: str
    retryable: bool


class RuleDelivery:
    """Delivers events to the state machine targets of matching rules, off the caller's
    thread. Non-state-machine targets are left to moto, which delivers those itself."""

    def __init__(
        self,
        rules: Sequence[RuleSpec],
        client_factory: ClientFactory,
        retry_delay_s: float = 1.0,
        *,
        threads: int = DELIVERY_THREADS,
        max_retry_delay_s: float = 300.0,
        account_id: str = "123456789012",
        region: str = "us-east-1",
    ) -> None:
        self.counters = Counters()
        # Events given up on without a DLQ (or whose DLQ send failed), newest last.
        self.dropped: deque[dict[str, Any]] = deque(maxlen=1000)
        self._client_factory = client_factory
        self._dlq = DeadLetterSender(client_factory)
        self._retry_delay_s = retry_delay_s
        self._max_retry_delay_s = max_retry_delay_s
        self._account_id = account_id
        self._region = region
        self._rules_lock = threading.Lock()
        self._rules: list[tuple[RuleSpec, EventPattern | None]] = []
        self.set_rules(rules)
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._active = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._thread_count = max(1, threads)
        # Called with an event's id once every target delivery of it has ended (delivered,
        # dead-lettered or dropped); a durable stack forgets the event then.
        self.on_done: Callable[[str], None] | None = None
        self._outstanding: dict[str, int] = {}  # event id -> target deliveries not ended

    def set_rules(self, rules: Sequence[RuleSpec]) -> None:
        """Replace the rule set (the gateway calls this after PutRule/PutTargets)."""
        compiled = [(r, compile_pattern(r.pattern) if r.pattern else None) for r in rules]
        with self._rules_lock:
            self._rules = compiled

    def deliver(self, event: Mapping[str, Any], bus_name: str | None = None) -> list[str]:
        """Queue delivery of ``event`` (an event envelope, or a PutEvents entry) to every
        matching state machine target; returns those targets' ARNs. Never blocks on delivery.
        """
        try:
            envelope, entry_bus = rule_events.from_entry(event, self._account_id, self._region)
        except ValueError:
            # PutEvents rejects malformed Detail before rules see it.
            log.warning("ignoring event with malformed Detail: %.200s", event.get("Detail"))
            return []
        bus = name_of_bus(bus_name or entry_bus or "default")
        with self._rules_lock:
            rules = list(self._rules)
        # A rule without an event pattern is a schedule rule; it never matches events.
        matching = [
            rule
            for rule, pattern in rules
            if name_of_bus(rule.bus_name) == bus
            and pattern is not None
            and pattern.matches_event(cast(Any, envelope))
        ]
        return self._queue(matching, envelope)

    def fire_schedule(self, rule: RuleSpec, when: datetime) -> list[str]:
        """Deliver the event a schedule rule sends at WHEN to its state machine targets."""
        rule_arn = self._rule_arn(rule, {})
        envelope = rule_events.scheduled(rule_arn, when, self._account_id, self._region)
        return self._queue([rule], envelope)

    def _queue(self, rules: Sequence[RuleSpec], envelope: dict[str, Any]) -> list[str]:
        """Queue ENVELOPE's delivery to the state machine targets of RULES; their ARNs."""
        now = time.monotonic()
        matched: list[str] = []
        jobs: list[_Job] = []
        for rule in rules:
            rule_arn = self._rule_arn(rule, envelope)
            for target in rule.targets:
                if not _is_state_machine(target.arn):
                    continue
                matched.append(target.arn)
                jobs.append(
                    _Job(
                        due=now,
                        seq=next(self._seq),
                        rule_arn=rule_arn,
                        target=target,
                        event=envelope,
                        input=rule_events.target_input(target, envelope),
                        received_at=now,
                    )
                )
        event_id = str(envelope.get("id"))
        if jobs:
            with self._cond:
                self._ensure_worker()
                self._outstanding[event_id] = self._outstanding.get(event_id, 0) + len(jobs)
                for job in jobs:
                    heapq.heappush(self._heap, job)
                self._cond.notify_all()
        elif self.on_done is not None:
            self.on_done(event_id)
        return matched

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is queued, retrying or in flight. True if drained in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            pending = len(self._heap)
            self._cond.notify_all()
        if pending:
            log.warning("rule delivery stopped with %d deliveries pending", pending)
        for thread in self._threads:
            thread.join(timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._active

    # -- worker ---------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        if not self._threads:
            self._stopping = False
        while len(self._threads) < self._thread_count:
            thread = threading.Thread(
                target=self._run, name=f"sluice-rule-delivery-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap:
                        wait = self._heap[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                job = heapq.heappop(self._heap)
                self._active += 1
            try:
                retry = self._attempt(job)
            except Exception:  # keep the worker alive whatever happens
                log.exception("rule delivery to %s crashed", job.target.arn)
                self.counters.incr("errors")
                retry = None
            ended = None
            with self._cond:
                self._active -= 1
                if retry is not None:
                    heapq.heappush(self._heap, retry)
                else:
                    ended = self._end(str(job.event.get("id")))
                self._cond.notify_all()
            if ended is not None and self.on_done is not None:
                self.on_done(ended)

    def _end(self, event_id: str) -> str | None:
        """One target delivery of the event ended: answers its id if it was the last."""
        left = self._outstanding.get(event_id, 1) - 1
        if left > 0:
            self._outstanding[event_id] = left
            return None
        self._outstanding.pop(event_id, None)
        return event_id

    def _attempt(self, job: _Job) -> _Job | None:
        """Try one delivery; returns the job rescheduled for a retry, or None when done."""
        if job.input is None:
            failure = _Failure(
                "INVALID_PARAMETER",
                f"InputPath {job.target.input_path} did not match the event",
                retryable=False,
            )
        else:
            self.counters.incr("invocations")
            began = time.monotonic()
            try:
                self._client_factory(
                    "stepfunctions", inject_host_prefix=False, retries=_NO_CLIENT_RETRIES
                ).start_execution(stateMachineArn=job.target.arn, input=job.input)
            except Exception as exc:
                failure = _classify(exc)
            else:
                self.counters.incr("target_ms", int((time.monotonic() - began) * 1000))
                self.counters.incr("batches_delivered")
                self.counters.incr("records_delivered")
                return None

        self.counters.incr("failures")
        if not failure.retryable:
            # Missing targets, permission and input errors are not retried.
            self._dead_letter(job, failure, exhausted=None)
            return None
        age = time.monotonic() - job.received_at + job.skipped
        if job.retries >= job.target.max_retry_attempts:
            self._dead_letter(job, failure, exhausted="MaximumRetryAttempts")
            return None
        if age >= job.target.max_event_age_s:
            self._dead_letter(job, failure, exhausted="MaximumEventAgeInSeconds")
            return None
        job.retries += 1
        ceiling = min(self._retry_delay_s * 2 ** (job.retries - 1), self._max_retry_delay_s)
        delay = random.uniform(ceiling / 2, ceiling)  # exponential backoff with jitter
        delay = min(delay, max(job.target.max_event_age_s - age, 0.0))
        # The stack's time scale shortens the wait; the event still ages by the whole delay.
        real_delay = delay * virtual_time.get_scale()
        job.skipped += delay - real_delay
        log.info(
            "rule target %s failed (%s); retry %d in %.2fs",
            job.target.arn,
            failure.code,
            job.retries,
            delay,
        )
        job.due = time.monotonic() + real_delay
        return job

    def _dead_letter(self, job: _Job, failure: _Failure, exhausted: str | None) -> None:
        attributes = {
            "RULE_ARN": job.rule_arn,
            "TARGET_ARN": job.target.arn,
            "ERROR_CODE": failure.code,
            "ERROR_MESSAGE": failure.message[:1000] or failure.code,
            "RETRY_ATTEMPTS": str(job.retries),
        }
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        body = json.dumps(job.event)
        if job.target.dlq_arn:
            try:
                self._dlq.send(job.target.dlq_arn, body, attributes)
            except Exception as exc:
                log.exception("could not send event to DLQ %s", job.target.dlq_arn)
                self.counters.incr("errors")
                attributes["DLQ_ERROR"] = str(exc)
            else:
                self.counters.incr("records_sent_to_dlq")
                log.warning(
                    "event %s for %s sent to DLQ: %s",
                    job.event.get("id"),
                    job.target.arn,
                    failure.code,
                )
                return
        self.counters.incr("records_dropped")
        self.dropped.append({"attributes": attributes, "event": job.event})
        log.warning(
            "event dropped after delivery to %s failed: %s", job.target.arn, json.dumps(attributes)
        )

    # -- helpers --------------------------------------------------------------------------

    def _rule_arn(self, rule: RuleSpec, envelope: Mapping[str, Any]) -> str:
        region = envelope.get("region") or self._region
        account = envelope.get("account") or self._account_id
        bus = name_of_bus(rule.bus_name)
        path = rule.name if bus == "default" else f"{bus}/{rule.name}"
        return f"arn:aws:events:{region}:{account}:rule/{path}"


def name_of_bus(bus: str) -> str:
    """A bus's name, given its name or ARN."""
    return bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus


def _is_state_machine(arn: str) -> bool:
    return ":states:" in arn and ":stateMachine:" in arn


def _classify(exc: Exception) -> _Failure:
    """Map a StartExecution error to EventBridge's DLQ ERROR_CODE. EventBridge retries
    throttling (429), 5xx and network errors, and no other 4xx."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _THROTTLED or status == 429:
            return _Failure("THROTTLING", message, retryable=True)
        if code == "ExecutionLimitExceeded":
            return _Failure("RESOURCE_LIMIT_EXCEEDED", message, retryable=True)
        if status >= 500:
            return _Failure("SDK_CLIENT_ERROR", f"{code}: {message}", retryable=True)
        if code in _NOT_FOUND:
            return _Failure("NO_RESOURCE", message, retryable=False)
        if code in _NO_PERMISSION:
            return _Failure("NO_PERMISSIONS", message, retryable=False)
        if code == "InvalidExecutionInput":
            return _Failure("INVALID_JSON", message, retryable=False)
        if code == "ExecutionAlreadyExists":
            return _Failure("RESOURCE_ALREADY_EXISTS", message, retryable=False)
        return _Failure("INVALID_PARAMETER", f"{code}: {message}", retryable=False)
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return _Failure("TIMEOUT", str(exc), retryable=True)
    if isinstance(exc, BotoCoreError):
        return _Failure("CONNECTION_FAILURE", str(exc), retryable=True)
    return _Failure("SDK_CLIENT_ERROR", f"{type(exc).__name__}: {exc}", retryable=True)
