"""Virtual time: Wait states and Retry intervals sleep `scale` times their length.

Like Step Functions Local's WAIT_TIME_SCALE: 1 is real time (the default), 0.01 sleeps a
hundredth, 0 never sleeps. Each execution keeps a virtual clock, real time plus the time
its Waits and Retry intervals skipped, and everything the engine stamps comes from it:
history event timestamps, the execution's stopDate, `$$.State.EnteredTime`, and the "now"
a `Timestamp`/`TimestampPath` Wait compares against. A flow with `Wait 3600` and backoff
retries so finishes in milliseconds, with a history that reads as it would on AWS.

A Wait (or Retry interval) that starts at virtual time v and lasts d moves the clock to
v + d. Parallel branches and Map iterations each get their own clock, starting at their
parent's time; when they are joined the parent goes on from the latest one, so concurrent
waits overlap instead of adding up (two branches waiting 300 s each take 300 s). Inline Map
items are put on MaxConcurrency virtual slots (one per item when unlimited): an item starts
when the earliest slot is free. Simplifications: events are listed in the order they
really happened, so sibling branches' timestamps can interleave out of order; which slot
frees first follows the real completion order; Distributed Map items run on their worker's
clock; execution and task timeouts (TimeoutSeconds, HeartbeatSeconds) stay real time.

The scale is one per stack: `SLUICE_TIME_SCALE`, `sluice up --time-scale`, or
`POST /_sluice/time-scale {"scale": 0}` (what `StackProcess.time_scale(0)` does for a test).
A change applies to waits already sleeping within half a second.
"""

from __future__ import annotations

import datetime
import heapq
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import (
    MaxAttemptsOutcome,
)
from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
from moto.stepfunctions.parser.asl.component.common.retry.retrier_outcome import RetrierOutcome
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component import (  # noqa: E501
    InlineIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker import (  # noqa: E501
    IterationWorker,
)
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

from sluice.engine import components, speed

ENV_VAR = "SLUICE_TIME_SCALE"
ENDPOINT = "/_sluice/time-scale"
# Sleeping waits look at the scale again at least this often (seconds of real time).
_MAX_REAL_CHUNK = 0.5

_lock = threading.Lock()
_clock_lock = threading.Lock()
_scale: float | None = None


class TimeScaleError(ValueError):
    """A time scale that is not a number ≥ 0."""


def parse_scale(value: object) -> float:
    """A time scale from JSON, an option or an environment variable; TimeScaleError if bad."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise TimeScaleError(
            f"time scale must be a number >= 0 (0 = no sleeping, 1 = real time), got {value!r}"
        )
    return number


def get_scale() -> float:
    """The stack's time scale: the last one set, else SLUICE_TIME_SCALE, else 1."""
    global _scale
    with _lock:
        if _scale is None:
            _scale = parse_scale(os.environ.get(ENV_VAR, "1"))
        return _scale


def set_scale(scale: object) -> float:
    """Set the time scale (validated); returns the previous one."""
    global _scale
    new = parse_scale(scale)
    try:
        previous = get_scale()
    except TimeScaleError:  # a bad SLUICE_TIME_SCALE that this call overrides
        previous = 1.0
    with _lock:
        _scale = new
    return previous


class VirtualClock:
    """One execution's clock: real time plus the virtual time its waits skipped."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def time(self) -> float:
        return time.time() + self._offset

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.time(), tz=datetime.UTC)

    def advance_to(self, virtual: float) -> None:
        """Make virtual now at least `virtual` (the clock never goes back)."""
        self.advance_offset(virtual - time.time())

    def advance_offset(self, offset: float) -> None:
        with self._lock:
            self._offset = max(self._offset, offset)

    def set_offset(self, offset: float) -> None:
        """Only for a Map worker taking its next item: the item starts when its slot is free."""
        with self._lock:
            self._offset = offset


# The clock of each frame, by the frame's event history context (every event is added with
# it, and a frame's context outlives the frame until the parent integrates it).
_clocks: weakref.WeakKeyDictionary[Any, VirtualClock] = weakref.WeakKeyDictionary()


def clock_for(context: Any, start_offset: float = 0.0) -> VirtualClock:
    """The clock of the frame whose event history context is CONTEXT; a frame without one
    yet (the execution's top level, a redrive's) starts START_OFFSET ahead of real time."""
    clock = _clocks.get(context)  # every event asks: the common case takes no lock
    if clock is not None:
        return clock
    with _clock_lock:
        clock = _clocks.get(context)
        if clock is None:
            clock = _clocks[context] = VirtualClock()
            clock.advance_offset(start_offset)
        return clock


def clock_of(env: Any) -> VirtualClock:
    """The clock of the frame `env` runs in (the execution, a Parallel branch, a Map
    iteration)."""
    return clock_for(env.event_history_context, getattr(env.event_manager, "offset", 0.0))


def sleep(env: Any, seconds: float) -> None:
    """Let `seconds` of virtual time pass for the execution of `env`.

    Sleeps `seconds * scale` of real time, waking early when the execution stops
    (StopExecution, a failed sibling branch), and moves the clock to the end of the wait.
    """
    if seconds <= 0:
        return
    clock = clock_of(env)
    started = clock.time()
    done = 0.0
    while done < seconds and env.is_running():
        scale = get_scale()
        if scale == 0:
            done = seconds
            break
        chunk = min((seconds - done) * scale, _MAX_REAL_CHUNK)
        t0 = time.monotonic()
        env.program_state_event.wait(chunk)
        done += (time.monotonic() - t0) / scale
    clock.advance_to(started + min(done, seconds))


# -- the engine's parts that keep the clocks -----------------------------------------------


class ClockedEventManager(EventManager):
    """Stamps each history event with the clock of the frame adding it, and remembers the
    furthest time any frame reached (where a new top-level frame starts)."""

    offset = 0.0

    def add_event(
        self,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        if timestamp is None:
            clock = clock_for(context, self.offset)
            timestamp = clock.now()
            self.offset = max(self.offset, clock.offset)
        event_id: int = super().add_event(
            context, event_type, event_details, timestamp, update_source_event_id
        )
        return event_id


def start_frame(frame: Any, parent: Any) -> None:
    """A Parallel branch or Map iteration starts at its parent's time."""
    clock_for(frame.event_history_context, clock_of(parent).offset)


def end_frame(frame: Any, parent: Any) -> None:
    """When a frame is closed, its parent goes on from the later of the two clocks."""
    clock_of(parent).advance_offset(clock_of(frame).offset)


class EnteredTimeState(CommonStateField):
    """`$$.State.EnteredTime` from the execution's virtual clock."""

    def _eval_state_input(self, env: Any) -> None:
        state = env.states.context_object.context_object_data.get("State")
        if state is not None and clock_of(env).offset:
            state["EnteredTime"] = clock_of(env).now().isoformat()
        super()._eval_state_input(env)


class VirtualWait(WaitFunction):
    """Wait `Seconds`/`SecondsPath`: a scaled sleep, still interrupted by a stop."""

    def _wait_interval(self, env: Any, wait_seconds: float) -> None:
        sleep(env, wait_seconds)


class VirtualTimestamp(Timestamp):
    """`Timestamp`/`TimestampPath` compared with the execution's virtual now (UTC, as the
    timestamps are; moto compares with the machine's local time)."""

    def _get_wait_seconds(self, env: Any) -> int:
        self.string.eval(env=env)
        text: str = env.stack.pop()
        target = self._from_timestamp_string(timestamp=text)
        if target is None:
            raise FailureEventException(self._create_failure_event(env, text))
        now = clock_of(env).now().replace(tzinfo=None)
        seconds: Any = (target - now).total_seconds()  # moto declares int; sub-second kept
        return seconds


class VirtualRetrier(RetrierDecl):
    """A Retrier (the ASL retry policy: match the error, count the attempt, wait the
    interval) whose wait is a virtual sleep of the retrying execution."""

    def _eval_body(self, env: Any) -> None:
        self.error_equals.eval(env)
        if not env.stack.pop():
            env.stack.append(RetrierOutcome.Skipped)
            return
        self.max_attempts.eval(env=env)
        if env.stack.pop() == MaxAttemptsOutcome.EXHAUSTED:
            env.stack.append(RetrierOutcome.Failed)
            return
        self.interval_seconds.eval(env=env)
        self.backoff_rate.eval(env=env)
        self.max_delay_seconds.eval(env=env)
        self.jitter_strategy.eval(env=env)
        sleep(env, env.stack.pop())
        env.stack.append(RetrierOutcome.Executed)


class _Slots:
    """An inline Map's MaxConcurrency virtual slots: the virtual time each is free from."""

    def __init__(self, count: int, offset: float) -> None:
        self.free_from = [offset] * max(count, 1)
        self.lock = threading.Lock()


_slots: weakref.WeakKeyDictionary[Any, _Slots] = weakref.WeakKeyDictionary()


class SlottedIterationWorker(IterationWorker):
    """Takes each Map item at the virtual time its slot is free."""

    def _eval_pool(self, job: Any, worker_frame: Any) -> None:
        slots = _slots.get(self._job_pool)
        if slots is not None:
            clock = clock_of(worker_frame)
            with slots.lock:
                if worker_frame.on_slot:
                    # The worker's previous item ended: its slot is free from then on.
                    heapq.heappush(slots.free_from, clock.offset)
                    clock_of(self._env).advance_offset(clock.offset)
                    worker_frame.on_slot = False
                if job is not None and slots.free_from:
                    clock.set_offset(heapq.heappop(slots.free_from))
                    worker_frame.on_slot = True
        super()._eval_pool(job, worker_frame)


_worker_classes: dict[type[Any], type[Any]] = {}


def _slotted_class(cls: type[Any]) -> type[Any]:
    """A Map worker class taking items on virtual slots, its iterations failing with their
    own errors (workers are made while a Map runs, so they are not among the components
    programs.py specialises)."""
    with _clock_lock:
        made = _worker_classes.get(cls)
        if made is None:
            make: Any = type(cls)
            bases = (SlottedIterationWorker, components.IterationErrorsKept, cls)
            made = make(cls.__name__, bases, {"__module__": __name__})
            _worker_classes[cls] = made
        return made


class SlottedIterations(InlineIterationComponent):
    """Inline Map: moto's workers are threads that take the next item when they are done,
    so with no real sleeping one worker may run every item in turn. Items are instead put
    on MaxConcurrency virtual slots (one per item when unlimited): an item starts when the
    earliest slot is free, as it would on AWS. Workers run on the engine's threads."""

    def _launch_worker(self, env: Any, eval_input: Any, job_pool: Any) -> Any:
        offset = clock_of(env).offset
        with _clock_lock:
            if job_pool not in _slots:
                # A distributed Map reading its items with an ItemReader has them in the
                # job pool only.
                items = eval_input.input_items
                count = eval_input.max_concurrency or (
                    len(items) if items is not None else job_pool._jobs_number
                )
                _slots[job_pool] = _Slots(count, offset)
        worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
        worker.__class__ = _slotted_class(type(worker))
        speed.thread(worker.eval).start()
        return worker


# -- the gateway endpoint ----------------------------------------------------------------


def time_scale_endpoint(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """GET: {"scale"}; POST {"scale": x}: set it, answer {"scale", "previous"}; 400 if bad."""

    def answer(status: int, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(
            f"{status} {'OK' if status < 400 else 'Error'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    method = environ["REQUEST_METHOD"]
    if environ.get("PATH_INFO") != ENDPOINT:
        return answer(404, {"error": f"no such endpoint: {environ.get('PATH_INFO')}"})
    if method == "GET":
        return answer(200, {"scale": get_scale()})
    if method != "POST":
        return answer(405, {"error": f"{ENDPOINT} takes GET or POST, not {method}"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        request = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return answer(400, {"error": 'body must be JSON like {"scale": 0}'})
    if not isinstance(request, dict) or "scale" not in request:
        return answer(400, {"error": 'body must be JSON like {"scale": 0}'})
    try:
        previous = set_scale(request["scale"])
    except TimeScaleError as exc:
        return answer(400, {"error": str(exc)})
    return answer(200, {"scale": get_scale(), "previous": previous})
