"""What the rest of Sluice learns as moto's models change, without touching moto.

An observable point is a name: the engine's own subclasses report an execution starting
(`EXECUTION_STARTED`), its program ending (`EXECUTION_ENDED`, a redriven run ends again)
and each event added to its history (`HISTORY_EVENT_ADDED`, with the event); each method
of moto's service models in `SERVICE_METHODS` (its moto symbol is its point) is wrapped
once at start-up (sluice/engine/moto_services.py) to report every call that returned.
Observers run on the thread of the change, with the object, what the change answered and
the call's arguments; a point nobody observes costs one dictionary lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

EXECUTION_STARTED = "execution started"  # observer(execution, None)
EXECUTION_ENDED = "execution ended"  # observer(execution, None)
HISTORY_EVENT_ADDED = "history event added"  # observer(execution, event)

_DDB = "moto.dynamodb.models"
_SQS = "moto.sqs.models"
# The Pipes API calls that set a pipe's DesiredState; each answers the pipe.
PIPE_STATE_SET = tuple(
    f"moto.pipes.models:EventBridgePipesBackend.{call}_pipe"
    for call in ("create", "update", "start", "stop")
)
# The EventBridge calls that set a rule's State: PutRule answers the rule, EnableRule and
# DisableRule whether it exists (their arguments name it).
RULE_PUT = "moto.events.models:EventsBackend.put_rule"
RULE_ENABLED = "moto.events.models:EventsBackend.enable_rule"
RULE_DISABLED = "moto.events.models:EventsBackend.disable_rule"
# observer(model object, the method's result, *the method's arguments)
SERVICE_METHODS = (
    f"{_DDB}:DynamoDBBackend.put_item",
    f"{_DDB}:DynamoDBBackend.update_item",
    f"{_DDB}:DynamoDBBackend.delete_item",
    f"{_DDB}.table:StreamShard.add",
    f"{_SQS}:Message.mark_sent",
    f"{_SQS}:Message.mark_received",
    f"{_SQS}:Message.change_visibility",
    f"{_SQS}:Queue.add_message",
    f"{_SQS}:Queue.delete_message",
    f"{_SQS}:SQSBackend.purge_queue",
    "moto.s3.models:S3Backend.put_object",
    "moto.s3.models:S3Backend.delete_object",
    *PIPE_STATE_SET,
    RULE_PUT,
    RULE_ENABLED,
    RULE_DISABLED,
)

Observer = Callable[..., None]
_observers: dict[str, tuple[Observer, ...]] = {}


def subscribe(point: str, observer: Observer) -> None:
    """Call OBSERVER at each change POINT reports (once, however often subscribed)."""
    if point not in (EXECUTION_STARTED, EXECUTION_ENDED, HISTORY_EVENT_ADDED, *SERVICE_METHODS):
        raise ValueError(f"no observable point {point!r}")
    if observer not in _observers.get(point, ()):
        _observers[point] = (*_observers.get(point, ()), observer)


def observed(point: str) -> bool:
    return point in _observers


def notify(point: str, target: Any, result: Any, /, *args: Any, **kwargs: Any) -> None:
    for observer in _observers.get(point, ()):
        observer(target, result, *args, **kwargs)


def reporting(point: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """METHOD, then its observers (not when it raised)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        notify(point, self, result, *args, **kwargs)
        return result

    return call


def unsubscribe(point: str, observer: Observer) -> None:
    _observers[point] = tuple(o for o in _observers.get(point, ()) if o is not observer)
    if not _observers[point]:
        del _observers[point]
