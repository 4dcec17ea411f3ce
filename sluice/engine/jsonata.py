"""JSONata for the embedded engine: `QueryLanguage: "JSONata"` states and `$variable` references.

moto's ASL engine (a LocalStack port) evaluates JSONata through a function pointer that was a
JVM bridge in LocalStack and is left unset in moto. It also composes every evaluation as text:
the values of `$states` and of every variable are printed into the expression as
`$name:=<json>;` declarations, so each evaluation is a new expression to parse (the data
included), and string values are printed without escaping (a variable holding `a"b` breaks
the expression). Here the engine's `{% %}` expressions and `$variable` references
(JsonataExpression, VariableReference: the components programs.py gives them) are each
parsed once and evaluated with jsonata-python against bindings: `$states` and the workflow
variables are passed as values.

The Step Functions additions `$partition`, `$range`, `$hash`, `$random([seed])`, `$uuid` and
`$parse` are native functions (moto's JSONata-text versions answer `$hash`/`$uuid` with a
"not supported" string and spell the seeded random `$randomSeeded`).

A failing expression fails the state with `States.QueryEvaluationError`, as on AWS, and the
cause names the state, the expression and the JSONata error.
"""

from __future__ import annotations

import collections
import contextvars
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jsonata.functions import Functions
from jsonata.jsonata import Jsonata
from jsonata.utils import Utils
from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
    StringJSONata,
    StringVariableSample,
)

from sluice.engine import virtual_time

_MAX_EXPRESSIONS = 2048
_MISSING = object()


class QueryError(Exception):
    """An expression failed to parse or evaluate; the message is the AWS-style reason."""


# -- the Step Functions functions ---------------------------------------------------------


def _plain(value: Any) -> Any:
    """jsonata-python values (sequences, its null marker) as plain JSON-able Python."""
    if value is Utils.NULL_VALUE:
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # JSONata numbers are JavaScript numbers: 1.0 is written 1
    return value


def _number(value: Any, what: str, fn: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(f"{fn}: {what} must be a number, got {json.dumps(_plain(value))}")
    return value


def _integer(value: Any, what: str, fn: str) -> int:
    number = _number(value, what, fn)
    if number != int(number):
        raise QueryError(f"{fn}: {what} must be an integer, got {number}")
    return int(number)


def sfn_partition(array: Any = None, size: Any = None) -> list[Any]:
    """`$partition(array, chunkSize)`: `$partition([1,2,3,4], 2)` is `[[1,2],[3,4]]`."""
    if not isinstance(array, list):
        raise QueryError("$partition: the first argument must be an array")
    chunk = _integer(size, "the chunk size", "$partition")
    if chunk <= 0:
        raise QueryError("$partition: the chunk size must be greater than 0")
    items = _plain(array)
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


def sfn_range(start: Any = None, end: Any = None, step: Any = None) -> list[Any]:
    """`$range(start, end, step)`, end included: `$range(0, 10, 2)` is `[0,2,4,6,8,10]`."""
    first = _number(start, "the start", "$range")
    last = _number(end, "the end", "$range")
    by = _number(step, "the step", "$range")
    if by == 0:
        raise QueryError("$range: the step must not be 0")
    count = int((last - first) // by) + 1
    # A sequence, as JSONata's own functions return: one item is a singleton.
    return Utils.create_sequence_from_iter(first + i * by for i in range(max(count, 0)))


_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
}


def sfn_hash(data: Any = None, algorithm: Any = None) -> str:
    """`$hash(data, algorithm)`: the hex digest of a string (MD5, SHA-1, SHA-256/384/512)."""
    if not isinstance(data, str):
        raise QueryError("$hash: the data to hash must be a string")
    make = _HASHES.get(algorithm) if isinstance(algorithm, str) else None
    if make is None:
        raise QueryError(
            f"$hash: the algorithm must be one of {', '.join(_HASHES)}, "
            f"got {json.dumps(_plain(algorithm))}"
        )
    digest: str = make(data.encode()).hexdigest()
    return digest


def sfn_random(seed: Any = None) -> float:
    """`$random([seed])`: 0 <= n < 1; the same integer seed always gives the same number."""
    if seed is None:
        return random.random()
    return random.Random(_integer(seed, "the seed", "$random")).random()


def sfn_uuid() -> str:
    """`$uuid()`: a version 4 UUID."""
    return str(uuid.uuid4())


def sfn_parse(text: Any = None) -> Any:
    """`$parse(jsonString)`: the JSON value a string holds."""
    if not isinstance(text, str):
        raise QueryError("$parse: the argument must be a string")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise QueryError(f"$parse: the argument is not valid JSON ({exc})") from None


SFN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "partition": sfn_partition,
    "range": sfn_range,
    "hash": sfn_hash,
    "random": sfn_random,
    "uuid": sfn_uuid,
    "parse": sfn_parse,
}


# -- compiled expressions -----------------------------------------------------------------


class _Compiled:
    """The parsed forms of one expression: a jsonata-python instance keeps per-evaluation
    state (input, environment, timestamp), so each one serves one evaluation at a time."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._free: list[Jsonata] = []
        self._lock = threading.Lock()
        self._free.append(self._parse())  # parse errors surface when first used

    def _parse(self) -> Jsonata:
        previous = getattr(Jsonata.CURRENT, "jsonata", None)
        try:
            instance = Jsonata(self.expression)
        except Exception as exc:
            raise QueryError(_describe(exc)) from None
        finally:
            if previous is not None:
                Jsonata.CURRENT.jsonata = previous
        instance.set_output_convert_nulls(False)  # tell JSON null from undefined
        for name, fn in SFN_FUNCTIONS.items():
            instance.register_lambda(name, fn)
        # $now() and $millis() read the evaluating execution's virtual clock.
        instance.register_lambda("now", _now)
        instance.register_lambda("millis", _millis)
        return instance

    @contextmanager
    def instance(self) -> Iterator[Jsonata]:
        with self._lock:
            instance = self._free.pop() if self._free else None
        if instance is None:
            instance = self._parse()
        try:
            yield instance
        finally:
            with self._lock:
                self._free.append(instance)


_compiled: collections.OrderedDict[str, _Compiled] = collections.OrderedDict()
_compiled_lock = threading.Lock()


def compiled(expression: str) -> _Compiled:
    with _compiled_lock:
        entry = _compiled.get(expression)
        if entry is not None:
            _compiled.move_to_end(expression)
            return entry
    entry = _Compiled(expression)  # outside the lock: parsing can take a while
    with _compiled_lock:
        _compiled[expression] = entry
        while len(_compiled) > _MAX_EXPRESSIONS:
            _compiled.popitem(last=False)
    return entry


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "error", None)
    text = str(exc) or exc.__class__.__name__
    return f"{code}: {text}" if isinstance(code, str) and code and code != text else text


def _binding(value: Any) -> Any:
    # A top-level None binding reads as undefined in jsonata-python; JSON null is a marker.
    return Utils.NULL_VALUE if value is None else value


# Seconds the evaluating execution's virtual clock is ahead of real time (sluice/engine/
# virtual_time.py): `$now()` and `$millis()` read the same clock as the history.
_clock_offset: contextvars.ContextVar[float] = contextvars.ContextVar(
    "sluice_jsonata_clock_offset", default=0.0
)


def _millis() -> int:
    return round((time.time() + _clock_offset.get()) * 1000)


def _now(picture: str | None = None, timezone: str | None = None) -> str | None:
    now: str | None = Functions.datetime_from_millis(_millis(), picture, timezone)
    return now


def evaluate(
    expression: str, bindings: dict[str, Any] | None = None, clock_offset: float = 0.0
) -> Any:
    """Evaluate EXPRESSION with `$name` bound to each binding, `clock_offset` seconds ahead.

    Returns plain JSON values, or `UNDEFINED` when the expression yields nothing. Raises
    QueryError with the JSONata error code and message when it fails or yields a value JSON
    cannot hold (a function).
    """
    entry = compiled(expression)
    frame = {name: _binding(value) for name, value in (bindings or {}).items()}
    offset = _clock_offset.set(clock_offset)
    with entry.instance() as instance:
        previous = getattr(Jsonata.CURRENT, "jsonata", None)
        Jsonata.CURRENT.jsonata = instance  # jsonata-python's functions read it
        try:
            result = instance.evaluate(None, frame)
        except QueryError:
            raise
        except RecursionError:
            raise QueryError("the evaluation exceeded the maximum recursion depth") from None
        except Exception as exc:
            raise QueryError(_describe(exc)) from None
        finally:
            _clock_offset.reset(offset)
            if previous is not None:
                Jsonata.CURRENT.jsonata = previous
    if result is None:
        return UNDEFINED
    try:
        # A fresh copy, so later changes to the state's data never reach the variables
        # (and the other way round): what moto's text round trip guaranteed.
        return json.loads(json.dumps(_plain(result)))
    except (TypeError, ValueError):
        raise QueryError("returned an unsupported result type") from None


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


# -- moto adapters ------------------------------------------------------------------------


def _variables(env: Any) -> dict[str, Any]:
    store = env.variable_store
    return {**store._outer_scope, **store._inner_scope}


def _states(env: Any) -> dict[str, Any]:
    data: dict[str, Any] = env.states._states_data
    return data


def _event_details(evaluation_failed: Any) -> Any:
    # moto's EventDetails TypedDict lists every kind of detail; an event carries one.
    return {"evaluationFailedEventDetails": evaluation_failed}


def _query_evaluation_error(env: Any, cause: str) -> Exception:
    """States.QueryEvaluationError, recorded as an EvaluationFailed event as AWS does."""
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    details = EvaluationFailedEventDetails(error=error_name.error_name, cause=cause)
    failure = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=_event_details(details),
        )
    )
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=_event_details(failure.get_evaluation_failed_event_details()),
    )
    return failure


class JsonataExpression(StringJSONata):
    """A `{% %}` expression of a JSONata state, evaluated against bindings. Its cause names
    the field it is specified for (`Assign/result`), as AWS's does."""

    field: str | None = None  # set when the program is built (programs.py)

    def _eval_body(self, env: Any) -> None:
        bindings = {**_variables(env), "states": _states(env)}
        where = f"The JSONata expression '{self.expression}'"
        if self.field:
            where += f" specified for the field '{self.field}'"
        try:
            result = evaluate(self.expression, bindings, virtual_time.clock_of(env).offset)
        except QueryError as exc:
            raise _query_evaluation_error(
                env, f"{where} threw an error during evaluation. {exc}"
            ) from None
        if result is UNDEFINED:
            raise _query_evaluation_error(env, f"{where} returned nothing (undefined).")
        env.stack.append(result)


class VariableReference(StringVariableSample):
    """A `$variable` reference (JSONPath states too)."""

    def _eval_body(self, env: Any) -> None:
        bindings = _variables(env)
        if self.query_language_mode == QueryLanguageMode.JSONata:
            bindings["states"] = _states(env)
        try:
            result = evaluate(self.expression, bindings)
        except QueryError as exc:
            raise _query_evaluation_error(
                env, f"The variable reference '{self.expression}' failed: {exc}"
            ) from None
        env.stack.append(None if result is UNDEFINED else result)
