"""Turn a Step Functions execution history into a per-state story.

``summarize`` takes the ``events`` of ``GetExecutionHistory`` (boto3 shape; timestamps may be
``datetime`` objects or ISO-8601 strings) and, optionally, the ASL definition, and returns an
``ExecutionStory``: one ``StateRun`` per state entered, in order, with Parallel branches and
Map iterations nested.

Events are attributed to branches and iterations through ``previousEventId``, never through
list order, because branches and iterations run concurrently and their events interleave:

* a state entered straight after ``ParallelStateStarted`` opens a new branch;
* ``MapIterationStarted`` opens iteration ``index`` of the Map named in its details;
* every other event belongs where the event it points at belongs, except that the events
  closing a Parallel or Map (``*StateSucceeded``/``Failed``/``Exited``, ``MapIteration*``) point
  at the last event of a branch or iteration and are resolved upwards to the state they close.

Statuses: ``succeeded``; ``retried`` (succeeded after at least one failed attempt); ``caught``
(failed, but a Catch routed onward); ``failed``; ``in_progress``; ``aborted`` (entered, then
cut short by something else: a sibling branch or iteration failing, or the execution being
stopped); ``not_reached`` (in the definition but never entered; only with a definition).

Events are read one by one into draft runs (``reading``, with ``attempts`` for tasks and
Parallel/Map attempts and ``execution`` for the execution's own events), then frozen into the
types of ``story`` (``freezing``, with ``failure`` choosing which error to show where).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.asl.definition import Outline
from sluice.asl.events import ExecutionStatus
from sluice.history.freezing import Freezer
from sluice.history.reading import Reader
from sluice.history.story import (
    STATUS_PRIORITY,
    Attempt,
    ExecutionStory,
    StateRun,
    StateStatus,
    failed_state,
    iter_runs,
    state_statuses,
    worst,
)

__all__ = [
    "STATUS_PRIORITY",
    "Attempt",
    "ExecutionStatus",
    "ExecutionStory",
    "StateRun",
    "StateStatus",
    "failed_state",
    "iter_runs",
    "state_statuses",
    "summarize",
    "worst",
]


def summarize(
    events: Sequence[Mapping[str, Any]], definition: str | Mapping[str, Any] | None = None
) -> ExecutionStory:
    """Build the story of one execution from its history ``events``.

    With ``definition`` (the ASL JSON), states never entered are listed as ``not_reached``
    after the entered ones (in every branch and in every started iteration), Fail states
    carry their declared Error/Cause, and branches follow the definition's order.
    """
    outline = Outline.of(definition)
    reader = Reader(outline)
    for event in sorted(events, key=lambda e: int(e["id"])):
        reader.feed(event)
    return Freezer(outline, reader.execution).story(reader.root)
