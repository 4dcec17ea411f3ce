"""State coverage: which states, Choice branches, Retry and Catch paths executions exercised.

Coverage items come from a state machine's ASL definition, recursing into Parallel branches
and Map ``ItemProcessor``/``Iterator`` (``items``):

* ``state``  - every state; exercised when it was entered;
* ``choice`` - every Choice rule (by index, with its ``Next``) and the ``Default``; exercised
  when the Choice handed over to that branch;
* ``retry``  - every Retry entry (by index, with its ``ErrorEquals``); exercised when the state
  was retried after an error that this retrier is the first to match;
* ``catch``  - every Catch entry; exercised when the state's failure was caught by it.

The evidence is the execution history (``GetExecutionHistory``), read into per-state runs by
``sluice.history.summarize`` (``exercised``). The history does not say which Choice rule
matched, only which state came next: the rules are evaluated again on the Choice's recorded
input (``sluice.asl.choice``). When that is not possible (JSONata ``Condition``, ``$$``
context paths, a JSONPath beyond plain fields and indexes) or the result disagrees with the
state that followed, every rule whose ``Next`` is that state (and the ``Default`` if it is) is
marked together. A Catch is found the same way: the first catcher matching the error whose
``Next`` is the state entered afterwards, or, when the error is not known, every catcher
leading there (error matching: ``sluice.asl.edges.error_matches``).

Paths are read from the event links (``previousEventId``), so those taken inside an earlier
attempt of a retried Parallel/Map count too, and from ``sluice.history``'s per-state runs,
which know the error that failed a Parallel/Map attempt (the Retry/Catch of containers).

Per machine and over a whole test run, ``report`` adds them up; ``collect`` reads every
machine and execution behind a Step Functions endpoint.
"""

from sluice.coverage.collect import collect
from sluice.coverage.exercised import exercised
from sluice.coverage.items import KIND_TITLES, KINDS, Item, ItemKind, machine_items
from sluice.coverage.report import CoverageReport, MachineCoverage, floor

__all__ = [
    "KINDS",
    "KIND_TITLES",
    "CoverageReport",
    "Item",
    "ItemKind",
    "MachineCoverage",
    "collect",
    "exercised",
    "floor",
    "machine_items",
]
