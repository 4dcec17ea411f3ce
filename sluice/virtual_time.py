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

import contextvars
import datetime
import heapq
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

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


def _clock_for(context: Any, manager: Any) -> VirtualClock:
    """The clock of one frame, kept on the frame's event history context (every event is
    added with it). A frame without one (the execution's top level, or a redrive's) starts
    where the execution's clock got to: the furthest time any of its frames reached."""
    clock: VirtualClock | None = getattr(context, "_sluice_clock", None)
    if clock is None:
        with _clock_lock:
            clock = getattr(context, "_sluice_clock", None)
            if clock is None:
                clock = VirtualClock()
                clock.advance_offset(getattr(manager, "_sluice_offset", 0.0))
                context._sluice_clock = clock
    return clock


def clock_of(env: Any) -> VirtualClock:
    """The clock of the frame `env` runs in (the execution, a Parallel branch, a Map
    iteration)."""
    return _clock_for(env.event_history_context, env.event_manager)


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


# -- the adapters ----------------------------------------------------------------------

_retrying_env: contextvars.ContextVar[Any] = contextvars.ContextVar("sluice_retrying_env")


class _RetrySleep:
    """Stands in for the `time` module in moto's retrier: its `sleep` is virtual."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        env = _retrying_env.get(None)
        if env is None:  # not reached from a retrier: scale only
            time.sleep(seconds * get_scale())
        else:
            sleep(env, seconds)


def install() -> None:
    """Patch moto's ASL engine to run on per-execution virtual clocks (idempotent)."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component,
        iteration_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import (
        Timestamp,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    if getattr(EventManager, "_sluice_virtual_time", False):
        return
    get_scale()  # a bad SLUICE_TIME_SCALE fails the start, not the first Wait

    # History event timestamps: the clock of the frame adding the event.
    original_add_event = EventManager.add_event

    def add_event(
        self: EventManager,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        if timestamp is None:
            clock = _clock_for(context, self)
            timestamp = clock.now()
            if clock.offset > getattr(self, "_sluice_offset", 0.0):
                self._sluice_offset = clock.offset  # type: ignore[attr-defined]
        return original_add_event(
            self, context, event_type, event_details, timestamp, update_source_event_id
        )

    EventManager.add_event = add_event  # type: ignore[method-assign]

    # A Parallel branch or Map iteration starts at its parent's time; when it is closed,
    # the parent continues from the later of the two.
    original_inner_frame = Environment.as_inner_frame_of.__func__  # type: ignore[attr-defined]

    def as_inner_frame_of(cls: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        frame = original_inner_frame(cls, env, *args, **kwargs)
        context = frame.event_history_context
        if getattr(context, "_sluice_clock", None) is None:
            clock = VirtualClock()
            clock.advance_offset(clock_of(env).offset)
            context._sluice_clock = clock
        return frame

    Environment.as_inner_frame_of = classmethod(as_inner_frame_of)  # type: ignore[method-assign,assignment]

    original_close_frame = Environment.close_frame

    def close_frame(self: Any, frame: Any) -> None:
        original_close_frame(self, frame)
        clock_of(self).advance_offset(clock_of(frame).offset)

    Environment.close_frame = close_frame  # type: ignore[method-assign]

    # Inline Map: moto's workers are threads that take the next item when they are done,
    # so with no real sleeping one worker may run every item in turn. Items are instead
    # put on MaxConcurrency virtual slots (one per item when unlimited): an item starts
    # when the earliest slot is free, as it would on AWS.
    component = inline_iteration_component.InlineIterationComponent
    original_launch = component._launch_worker

    def launch_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
        if getattr(job_pool, "_sluice_slots", None) is None:
            slots = eval_input.max_concurrency or len(eval_input.input_items)
            job_pool._sluice_slots = [clock_of(env).offset] * max(slots, 1)
            job_pool._sluice_slot_lock = threading.Lock()
        return original_launch(self, env, eval_input, job_pool)

    component._launch_worker = launch_worker  # type: ignore[method-assign]

    worker_class = iteration_worker.IterationWorker
    original_pool = worker_class._eval_pool

    def eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        pool = self._job_pool
        slots: list[float] | None = getattr(pool, "_sluice_slots", None)
        if slots is not None:
            clock = clock_of(worker_frame)
            with pool._sluice_slot_lock:
                if getattr(worker_frame, "_sluice_on_slot", False):
                    # The worker's previous item ended: its slot is free from then on.
                    heapq.heappush(slots, clock.offset)
                    clock_of(self._env).advance_offset(clock.offset)
                    worker_frame._sluice_on_slot = False
                if job is not None and slots:
                    clock.set_offset(heapq.heappop(slots))
                    worker_frame._sluice_on_slot = True
        original_pool(self, job, worker_frame)

    worker_class._eval_pool = eval_pool  # type: ignore[method-assign]

    # Wait: Seconds, SecondsPath (the real sleep is scaled; still interrupted by a stop).
    def wait_interval(self: WaitFunction, env: Any, wait_seconds: float) -> None:
        sleep(env, wait_seconds)

    WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]

    # Timestamp, TimestampPath: compared with the execution's virtual now (UTC, as the
    # timestamps are; moto compares with the machine's local time).
    def timestamp_wait_seconds(self: Timestamp, env: Any) -> float:
        self.string.eval(env=env)
        text: str = env.stack.pop()
        target = self._from_timestamp_string(timestamp=text)
        if target is None:
            raise FailureEventException(self._create_failure_event(env, text))
        now = clock_of(env).now().replace(tzinfo=None)
        return (target - now).total_seconds()

    Timestamp._get_wait_seconds = timestamp_wait_seconds  # type: ignore[method-assign,assignment]

    # Retry intervals: the retrier calls `time.sleep(interval)`; make that a virtual sleep
    # of the retrying execution.
    original_retrier_body = retrier_decl.RetrierDecl._eval_body

    def retrier_eval_body(self: Any, env: Any) -> None:
        token = _retrying_env.set(env)
        try:
            original_retrier_body(self, env)
        finally:
            _retrying_env.reset(token)

    retrier_decl.RetrierDecl._eval_body = retrier_eval_body  # type: ignore[method-assign]
    retrier_decl.time = _RetrySleep()  # type: ignore[assignment]

    # $$.State.EnteredTime: set with the real now just before the state's input is read.
    original_state_input = CommonStateField._eval_state_input

    def eval_state_input(self: Any, env: Any) -> None:
        state = env.states.context_object.context_object_data.get("State")
        if state is not None and clock_of(env).offset:
            state["EnteredTime"] = clock_of(env).now().isoformat()
        original_state_input(self, env)

    CommonStateField._eval_state_input = eval_state_input  # type: ignore[method-assign]

    # The execution's stopDate (end of the program, or StopExecution).
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect_execution_status(self: BaseExecutionWorkerCommunication) -> None:
        original_reflect(self)
        worker = self.execution.exec_worker
        if worker is not None and worker.env is not None:
            self.execution.stop_date = clock_of(worker.env).now()

    BaseExecutionWorkerCommunication._reflect_execution_status = reflect_execution_status  # type: ignore[method-assign]

    original_stop = Execution.stop

    def stop(
        self: Execution, stop_date: datetime.datetime, error: str | None, cause: str | None
    ) -> None:
        worker = self.exec_worker
        if worker is not None and worker.env is not None:
            stop_date = clock_of(worker.env).now()
        original_stop(self, stop_date, error, cause)

    Execution.stop = stop  # type: ignore[method-assign]

    # $$.Execution.StartTime: moto hands the context object a datetime (declared a string),
    # which then fails DescribeExecution when a state outputs it. Give it the ISO string.
    original_details = Execution.get_start_execution_details

    def get_start_execution_details(self: Execution) -> Any:
        details = original_details(self)
        if isinstance(details.start_time, datetime.datetime):
            details.start_time = details.start_time.isoformat()
        return details

    Execution.get_start_execution_details = get_start_execution_details  # type: ignore[method-assign]

    EventManager._sluice_virtual_time = True  # type: ignore[attr-defined]


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
