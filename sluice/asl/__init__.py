"""The ASL vocabulary shared by the history reader, state coverage and the console graph.

* ``definition``: the states of a definition, level by level or all at once, with Parallel
  branches and Map item processors;
* ``edges``: every way out of a state (Next, Choice rules, Default, Catch) and its Retry
  entries, and Step Functions' error matching;
* ``events``: the kinds of execution history events (entered, exited, Parallel/Map
  lifecycle, Map iterations, task attempts, the execution's own);
* ``choice``: Choice rules, read for a label and evaluated against a state's input.
"""
