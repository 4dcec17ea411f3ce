"""moto's service models as the gateway serves them: the patches of DynamoDB, S3, SQS and
Lambda that Sluice needs besides the engine's, each listed here with the moto symbols it
touches (`SYMBOLS`, verified at start-up with the engine's by sluice/engine/moto_seam.py),
so that no module outside sluice/engine/ assigns to moto.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from moto.core import utils as moto_utils

from sluice import dynamodb_atomic, s3_notifications, sqs_atomic
from sluice.engine import observers, speed, wire_json
from sluice.engine.moto_symbols import resolve

if TYPE_CHECKING:
    from moto.sqs.models import Message, SQSBackend

_DDB = "moto.dynamodb.models:DynamoDBBackend"

# "module:qualified.name" -> its parameters, space-separated (None: not checked beyond existing).
SYMBOLS: dict[str, str | None] = {
    # Serialised (dynamodb_atomic) and, the first three, observed.
    f"{_DDB}.put_item": (
        "self table_name item_attrs expected condition_expression "
        "expression_attribute_names expression_attribute_values overwrite "
        "return_values_on_condition_check_failure"
    ),
    f"{_DDB}.update_item": (
        "self table_name key update_expression expression_attribute_names "
        "expression_attribute_values attribute_updates expected condition_expression "
        "return_values_on_condition_check_failure"
    ),
    f"{_DDB}.delete_item": (
        "self table_name key expression_attribute_names expression_attribute_values "
        "condition_expression return_values_on_condition_check_failure"
    ),
    f"{_DDB}.get_item": None,
    f"{_DDB}.query": None,
    f"{_DDB}.scan": None,
    f"{_DDB}.transact_write_items": None,
    f"{_DDB}.execute_statement": None,
    f"{_DDB}.execute_transaction": None,
    f"{_DDB}.batch_execute_statement": None,
    # Serialised per queue (sqs_atomic).
    "moto.sqs.models:SQSBackend.receive_message": (
        "self queue_name count wait_seconds_timeout visibility_timeout message_attribute_names"
    ),
    # Replaced: the same check, without building every queue attribute (_retained).
    "moto.sqs.models:SQSBackend.is_message_valid_based_on_retention_period": (
        "self queue_name message"
    ),
    # Replaced: the same messages and counts, the clock read once (_sqs_messages_counted).
    "moto.sqs.models:Queue.messages": None,
    "moto.sqs.models:Queue.approximate_number_of_messages_delayed": None,
    "moto.sqs.models:Queue.approximate_number_of_messages_not_visible": None,
    "moto.sqs.models:Message.visible": None,
    "moto.sqs.models:Message.delayed": None,
    # Rebound in moto's SQS models only (_sqs_clock_read_directly); moto.core.utils' own
    # still convert a given datetime.
    "moto.sqs.models:unix_time": "dt",
    "moto.sqs.models:unix_time_millis": "dt",
    "moto.core.utils:unix_time": "dt",
    "moto.core.utils:unix_time_millis": "dt",
    # Replaced: the same match without a JSON round trip of a plain event (_matched_in_place).
    "moto.events.models:EventPattern.matches_event": "self event",
    "moto.events.models:EventPattern._flatten_dict": "node prefix result",
    "moto.events.models:EventPattern._does_event_match": "self event_flat pattern_node prefix",
    # Replaced: the same headers and body, without scanning a body that has no XML
    # <RequestId> (_enriched).
    "moto.core.responses:BaseResponse._enrich_response": "headers body",
    # Replaced: the same tokens, each expression's lexed once (_condition_expressions_lexed_once).
    "moto.dynamodb.comparisons:ConditionExpressionParser._lex_condition_expression": "self",
    # Wrapped: an invalid expression is AWS's ValidationException (_expression_errors_as_aws).
    "moto.dynamodb.comparisons:ConditionExpressionParser.parse": "self",
    "moto.dynamodb.exceptions:MockValidationException.__init__": "self message",
    "moto.dynamodb.responses:DynamoHandler.query": "self",
    "moto.dynamodb.responses:DynamoHandler.scan": "self",
    "moto.dynamodb.parsing.validators:OverlappingPathsValidator.check_for_overlapping_paths": (
        "self node"
    ),
    "moto.dynamodb.exceptions:ExpressionAttributeNameNotDefined.__init__": "self attribute_name",
    "moto.dynamodb.exceptions:ExpressionAttributeNameNotDefined.name_not_defined_msg": None,
    "moto.dynamodb.exceptions:ExpressionAttributeValueNotDefined.attr_value_not_defined_msg": None,
    "moto.dynamodb.comparisons:ConditionExpressionParser.__init__": (
        "self condition_expression expression_attribute_names expression_attribute_values"
    ),
    "moto.dynamodb.responses:ProjectionExpressionParser.parse": "self",
    "moto.dynamodb.responses:DynamoHandler.put_item": "self",
    "moto.dynamodb.responses:DynamoHandler.delete_item": "self",
    "moto.dynamodb.comparisons:Op.OP": None,
    "moto.dynamodb.comparisons:Op.__init__": "self lhs rhs",
    "moto.dynamodb.comparisons:Func.FUNC": None,
    "moto.dynamodb.responses:ProjectionExpressionParser.__init__": (
        "self projection_expression expression_attribute_names"
    ),
    # Observed (sluice/engine/observers.py); the last three SQS ones serialised too.
    "moto.dynamodb.models.table:StreamShard.add": "self old new",
    "moto.sqs.models:Message.mark_sent": "self delay_seconds",
    "moto.sqs.models:Message.mark_received": "self visibility_timeout",
    "moto.sqs.models:Message.change_visibility": "self visibility_timeout",
    "moto.sqs.models:Queue.add_message": "self message",
    "moto.sqs.models:Queue.delete_message": "self receipt_handle",  # replaced: _deleted
    "moto.sqs.models:Message.all_receipt_handles": None,
    "moto.sqs.exceptions:ReceiptHandleIsInvalid": None,
    "moto.sqs.models:SQSBackend.purge_queue": "self queue_name",
    "moto.s3.models:S3Backend.put_object": (
        "self bucket_name key_name value storage etag multipart encryption kms_key_id "
        "bucket_key_enabled lock_mode lock_legal_status lock_until checksum_value "
        "request_method disable_notification"
    ),
    "moto.s3.models:S3Backend.delete_object": "self bucket_name key_name version_id bypass",
    # Observed by the triggers (a stopped pipe's poller is paused); each answers the pipe.
    "moto.pipes.models:EventBridgePipesBackend.create_pipe": (
        "self name description desired_state source source_parameters enrichment "
        "enrichment_parameters target target_parameters role_arn tags log_configuration "
        "kms_key_identifier"
    ),
    "moto.pipes.models:EventBridgePipesBackend.update_pipe": (
        "self name role_arn description desired_state source_parameters enrichment "
        "enrichment_parameters target target_parameters log_configuration kms_key_identifier"
    ),
    "moto.pipes.models:EventBridgePipesBackend.start_pipe": "self name",
    "moto.pipes.models:EventBridgePipesBackend.stop_pipe": "self name",
    # Observed by the triggers: a rule's State set (enable/disable answer whether it exists).
    "moto.events.models:EventsBackend.put_rule": (
        "self name description event_bus_arn event_pattern role_arn scheduled_expression "
        "state managed_by tags"
    ),
    "moto.events.models:EventsBackend.enable_rule": "self name event_bus_arn",
    "moto.events.models:EventsBackend.disable_rule": "self name event_bus_arn",
    # Sequenced and held back (s3_notifications).
    "moto.s3.notifications:send_event": None,
    "moto.s3.notifications:_get_s3_event": None,
    "moto.s3.notifications:_send_sqs_message": "account_id event_body queue_name region_name",
    # Answered in process for a block (lambda_invokes_answered_by).
    "moto.awslambda.models:LambdaBackend.invoke": (
        "self function_name qualifier body headers response_headers"
    ),
    # GetRecords' and DynamoDB's answers written by json.dumps (_answers_dumped,
    # engine/wire_json.py, which keeps their output shapes' members; the engine's Step
    # Functions responses get the same, engine/api.py).
    "moto.core.responses:BaseResponse.serialized": "self action_result",
    "moto.core.utils:get_service_model": "service_name",
    "moto.core.serialize:TimestampSerializer._timestamp_unixtimestamp": "value",
    "moto.dynamodbstreams.responses:DynamoDBStreamsHandler": None,
    "moto.dynamodb.responses:DynamoHandler": None,
    # Reseeded in a forked process (identifiers_reseeded).
    "moto.moto_api._internal:mock_random": None,
}


def _dynamodb_items_serialised() -> None:
    """DynamoDB item operations atomic, as on AWS (sluice/dynamodb_atomic.py)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in dynamodb_atomic.ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, dynamodb_atomic.serialized(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.update_item = dynamodb_atomic.copied_on_write(DynamoDBBackend.update_item)  # type: ignore[method-assign]


def _deleted(self: Any, receipt_handle: str) -> None:
    """moto's Queue.delete_message in one pass over the queue's messages, comparing handles.
    moto's made two, building a list of each message's handles to look in: a batch of ten
    deletes from a queue with 3,000 messages in flight took 4.5 ms. The same outcome: a
    handle already deleted is accepted again, one no message ever had is
    ReceiptHandleIsInvalid, and the message that had it (handles are unique) is removed
    with all its handles remembered as deleted."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if receipt_handle in self.deleted_messages:
        return
    messages = self._messages
    index = next(
        (
            i
            for i, m in enumerate(messages)
            if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles
        ),
        None,
    )
    if index is None:
        raise ReceiptHandleIsInvalid()
    message = messages[index]
    self.pending_messages.discard(message)
    self.deleted_messages.update(message.all_receipt_handles)
    self._messages = messages[:index] + messages[index + 1 :]


def _sqs_queues_serialised() -> None:
    """Sends, receives, deletes and purges atomic per queue, as on AWS (sluice/sqs_atomic.py)."""
    from moto.sqs.models import Queue, SQSBackend

    Queue.add_message = sqs_atomic.adding(Queue.add_message)  # type: ignore[method-assign]
    Queue.delete_message = sqs_atomic.queue_serialized(_deleted)  # type: ignore[method-assign]
    SQSBackend.purge_queue = sqs_atomic.backend_serialized(SQSBackend.purge_queue)  # type: ignore[method-assign]
    SQSBackend.receive_message = sqs_atomic.receive_serialized(SQSBackend.receive_message)  # type: ignore[method-assign]


def _retained(self: SQSBackend, queue_name: str, message: Message) -> bool:
    """moto's SQSBackend.is_message_valid_based_on_retention_period, reading the one queue
    attribute it needs. moto's builds every attribute of the queue for it, counting the
    queue's messages (a clock read each) for every message a receive returns: a queue
    thousands deep took tens of milliseconds per receive, under the queue's lock."""
    queue: Any = self.get_queue(queue_name)  # moto sets its attributes from the API's
    sent: Any = message.sent_timestamp  # set when sent, so on every message received
    return bool(sent / 1000 + queue.message_retention_period > time.time())


def _sqs_retention_checked_directly() -> None:
    """A receive's retention check in constant time (_retained)."""
    from moto.sqs.models import SQSBackend

    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]


def _unix_time(dt: datetime.datetime | None = None) -> float:
    return time.time() if dt is None else float(moto_utils.unix_time(dt))


def _unix_time_millis(dt: datetime.datetime | None = None) -> float:
    return time.time() * 1000 if dt is None else float(moto_utils.unix_time_millis(dt))


def _sqs_clock_read_directly() -> None:
    """moto's SQS models read the clock through datetime arithmetic (about 6 µs a read), once
    or twice per message of a queue each time they look at its messages, which every send
    and receive does: the same seconds since the epoch, from time.time()."""
    from moto.sqs import models

    models.unix_time = _unix_time
    models.unix_time_millis = _unix_time_millis


def _visible(self: Any) -> list[Message]:
    """moto's Queue.messages: the messages neither in flight nor delayed."""
    now = _unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(self: Any) -> int:
    now = _unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _in_flight_count(self: Any) -> int:
    now = _unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _sqs_messages_counted() -> None:
    """A queue's visible messages and its delayed and in-flight counts with one clock read
    and in-place comparisons, as moto's Message.visible and Message.delayed compare (moto
    read the clock twice per message). Every send builds all of its queue's attributes,
    these counts among them, and every receive lists the visible messages: with a backlog
    thousands deep, each send and receive walked it three times."""
    from moto.sqs.models import Queue

    Queue.messages = property(_visible)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_delayed = property(_delayed_count)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_not_visible = property(_in_flight_count)  # type: ignore[assignment,method-assign]


def _answers_dumped() -> None:
    """DynamoDB Streams' GetRecords and DynamoDB's item reads and writes written directly
    (wire_json): their items are already in the wire's shape (AttributeValue maps), and
    moto's serializer visits every value of every item: a third of the suite's stacks'
    serializing CPU for the stream pollers, 84 ms (now 5) to write a BatchGetItem of 100
    sales, 0.1 ms for each PutItem a flow's task makes."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    DynamoDBStreamsHandler.serialized = wire_json.serialized_directly(  # type: ignore[assignment,method-assign]
        frozenset({"GetRecords"}), DynamoDBStreamsHandler.serialized
    )
    DynamoHandler.serialized = wire_json.serialized_directly(  # type: ignore[assignment,method-assign]
        frozenset(
            {
                *("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"),
                *("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"),
                *("CreateTable", "DescribeTable"),
            }
        ),
        DynamoHandler.serialized,
    )


def _s3_notifications_sequenced() -> None:
    """S3 notifications with AWS's `sequencer`, and held back on request
    (sluice/s3_notifications.py)."""
    from moto.s3 import notifications

    (
        notifications.send_event,
        notifications._get_s3_event,
        notifications._send_sqs_message,
    ) = s3_notifications.wrap(
        notifications.send_event, notifications._get_s3_event, notifications._send_sqs_message
    )


def _service_methods_observed() -> None:
    """Each method of observers.SERVICE_METHODS reports its calls (after the serialising
    wrappers above, so an observer runs once the write is whole)."""
    for symbol in observers.SERVICE_METHODS:
        module_name, _, qualname = symbol.partition(":")
        owner_name, _, method_name = qualname.rpartition(".")
        owner = resolve(f"{module_name}:{owner_name}")
        setattr(owner, method_name, observers.reporting(symbol, getattr(owner, method_name)))


def _plain_json(value: Any) -> bool:
    """Whether VALUE is made of JSON's own types only: dicts with string keys, lists and
    atoms (no tuples, no other objects), so that a JSON round trip would give it back equal."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(type(v) in speed.JSON_ATOMS or _plain_json(v) for v in value)
    return type(value) in speed.JSON_ATOMS


_round_tripped: Callable[[Any, Any], bool] | None = None


def _matched_in_place(self: Any, event: Any) -> bool:
    """moto's EventPattern.matches_event, which reads a JSON copy of the event (a round trip
    through its text: about 1 ms for a sale's 1,024-float embedding, for every rule of the
    bus, in moto's own delivery and in the triggers' again). Matching only reads the event,
    so a plain JSON event is matched as it is; anything else goes through moto's copy."""
    if not self._pattern:
        return True
    if not _plain_json(event):
        assert _round_tripped is not None
        return _round_tripped(self, event)
    return bool(self._does_event_match(self._flatten_dict(event), self._pattern))


def _event_patterns_matched_in_place() -> None:
    """Event patterns matched without a JSON round trip of a plain event (_matched_in_place)."""
    global _round_tripped
    from moto.events.models import EventPattern

    _round_tripped = EventPattern.matches_event
    EventPattern.matches_event = _matched_in_place  # type: ignore[method-assign]


_enriched_by_moto: Callable[[dict[str, str], Any], tuple[dict[str, str], Any]] | None = None
_XML_REQUEST_ID = "<RequestId>"


def _enriched(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's BaseResponse._enrich_response, which also writes the request id into an XML
    body's <RequestId> with a regular expression run over every answer's body: 2% of a
    sale burst's stack CPU, scanning DynamoDB's JSON answers of 12 KB records. A body
    without that element is left as the expression would leave it, without the scan."""
    assert _enriched_by_moto is not None
    if isinstance(body, str) and _XML_REQUEST_ID not in body:
        return _enriched_by_moto(headers, "")[0], body
    return _enriched_by_moto(headers, body)


def _answers_enriched_without_a_scan() -> None:
    """Answers without the request id's XML element skip moto's scan for it (_enriched)."""
    global _enriched_by_moto
    from moto.core.responses import BaseResponse

    _enriched_by_moto = BaseResponse._enrich_response
    BaseResponse._enrich_response = staticmethod(_enriched)  # type: ignore[method-assign]


# Distinct condition expressions whose tokens are kept; a stack's flows have a handful.
LEXED_EXPRESSIONS = 1024


def _condition_expressions_lexed_once() -> None:
    """moto lexes a ConditionExpression for every call, one regular-expression pass per
    token over the rest of its text, which was a tenth of a sale's DynamoDB calls. The tokens
    depend on the text alone (immutable nodes, their children lists never changed by the
    parse, which only consumes the deque), so each text is lexed once and every parse gets
    a deque of the same tokens. An invalid expression still raises on every call."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = ConditionExpressionParser._lex_condition_expression
    lexed: dict[str, tuple[Any, ...]] = {}

    def lexed_once(self: ConditionExpressionParser) -> deque[Any]:
        text = self.condition_expression or ""
        tokens = lexed.get(text)
        if tokens is None:
            tokens = tuple(lex(self))
            if len(lexed) < LEXED_EXPRESSIONS:
                lexed[text] = tokens
        return deque(tokens)

    ConditionExpressionParser._lex_condition_expression = lexed_once  # type: ignore[method-assign]


# The request parameter a DynamoDB expression being parsed came in: Query and Scan filter.
_EXPRESSION_PARAMETER = contextvars.ContextVar("parameter", default="ConditionExpression")


def _expression_errors_as_aws() -> None:
    """moto's parse of a ConditionExpression (PutItem, UpdateItem, DeleteItem, transactions)
    or a Query's FilterExpression, and its check of an UpdateExpression's paths, raised
    Python's KeyError for a `#name` or `:value` not defined in the request and ValueError
    for a syntax error: HTTP 500 over the gateway, a Python text in a task's cause. A
    KeyConditionExpression (_filtering) and a ProjectionExpression are checked the same way.
    DynamoDB answers 400 ValidationException naming the expression and the problem
    ("Invalid ConditionExpression: An expression attribute name used in the document path
    is not defined; attribute name: #x")."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.exceptions import (
        ExpressionAttributeNameNotDefined,
        ExpressionAttributeValueNotDefined,
        MockValidationException,
    )
    from moto.dynamodb.parsing.validators import OverlappingPathsValidator
    from moto.dynamodb.responses import DynamoHandler, ProjectionExpressionParser

    parse = ConditionExpressionParser.parse

    def parse_or_reject(self: ConditionExpressionParser) -> Any:
        try:
            return parse(self)
        except KeyError as exc:
            undefined = str(exc.args[0]) if exc.args else ""
            if undefined.startswith("#"):  # moto's own words, from its UpdateExpression errors
                problem = ExpressionAttributeNameNotDefined.name_not_defined_msg.format(n=undefined)
            elif undefined.startswith(":"):
                problem = ExpressionAttributeValueNotDefined.attr_value_not_defined_msg.format(
                    attribute_value=undefined
                )
            else:
                raise
            message = f"Invalid {_EXPRESSION_PARAMETER.get()}: {problem}"
        except ValueError as exc:
            message = f"Invalid {_EXPRESSION_PARAMETER.get()}: Syntax error; {exc}"
        raise MockValidationException(message) from None

    ConditionExpressionParser.parse = parse_or_reject  # type: ignore[method-assign]
    # An UpdateExpression's undefined #name: moto looks it up for overlapping paths before
    # the check that raises its own ExpressionAttributeNameNotDefined.
    check = OverlappingPathsValidator.check_for_overlapping_paths

    def check_with_names_defined(self: OverlappingPathsValidator, node: Any) -> Any:
        try:
            return check(self, node)
        except KeyError as exc:
            undefined = str(exc.args[0]) if exc.args else ""
            if not undefined.startswith("#"):
                raise
            raise ExpressionAttributeNameNotDefined(undefined) from None

    OverlappingPathsValidator.check_for_overlapping_paths = check_with_names_defined  # type: ignore[method-assign]
    for name in ("query", "scan"):
        setattr(DynamoHandler, name, _filtering(getattr(DynamoHandler, name)))
    for name in ("put_item", "delete_item"):
        setattr(DynamoHandler, name, _values_checked(getattr(DynamoHandler, name)))
    project = ProjectionExpressionParser.parse

    def project_defined(self: ProjectionExpressionParser) -> Any:
        names = self.expression_attribute_names
        for path in (self.projection_expression or "").split(","):
            for element in path.split("."):
                name = element.strip().split("[", 1)[0]
                if name.startswith("#") and name not in names:
                    problem = ExpressionAttributeNameNotDefined.name_not_defined_msg.format(n=name)
                    raise MockValidationException(f"Invalid ProjectionExpression: {problem}")
        return project(self)

    # moto kept an undefined `#name` as the attribute's name: the item came back without it.
    ProjectionExpressionParser.parse = project_defined  # type: ignore[method-assign]


# What a KeyConditionExpression may join and compare with (DynamoDB's Query reference).
_KEY_CONDITION_OPERATORS = frozenset({"AND", "=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"})


def _filtering(action: Callable[..., Any]) -> Callable[..., Any]:
    """ACTION (Query, Scan), whose parsed expression is its FilterExpression. A Query's
    KeyConditionExpression is read first by the condition grammar, whose errors are AWS's,
    and may use only what a key condition allows: moto's own reader of it failed an
    assertion on `pk == :v` or `pk = :a OR pk = :b` (HTTP 500) and took `pk = :v AND AND`
    or an unclosed `begins_with(` as valid."""

    def filtering(self: Any) -> Any:
        body = self.body
        if body.get("KeyConditionExpression"):
            _key_condition_operators(_parsed(body, "KeyConditionExpression"))
        _values_used(body)
        token = _EXPRESSION_PARAMETER.set("FilterExpression")
        try:
            return action(self)
        finally:
            _EXPRESSION_PARAMETER.reset(token)

    return filtering


def _key_condition_operators(node: Any) -> None:
    """Raise DynamoDB's error for the first operator (OR, NOT, <>, IN) or function a key
    condition may not use; NODE is the condition grammar's parse of it."""
    from moto.dynamodb.comparisons import Func, Op
    from moto.dynamodb.exceptions import MockValidationException

    if isinstance(node, Func) and node.FUNC not in _KEY_CONDITION_OPERATORS:
        if node.FUNC == "IN":
            raise MockValidationException("Invalid operator used in KeyConditionExpression: IN")
        raise MockValidationException(
            f"Invalid KeyConditionExpression: Invalid function name; function: {node.FUNC}"
        )
    if isinstance(node, Op) and node.OP != "NONE":
        if node.OP not in _KEY_CONDITION_OPERATORS:
            raise MockValidationException(
                f"Invalid operator used in KeyConditionExpression: {node.OP}"
            )
        for side in (node.lhs, getattr(node, "rhs", None)):
            _key_condition_operators(side)


_VALUE_PLACEHOLDER = re.compile(r":[A-Za-z0-9_\-]+")  # as moto's expression lexer reads one


def _values_used(body: dict[str, Any]) -> None:
    """DynamoDB rejects a request whose ExpressionAttributeValues holds a value none of its
    expressions uses (moto checks this for UpdateItem only): a typo in a placeholder's
    name is an error, not a condition quietly judged on something else."""
    from moto.dynamodb.exceptions import MockValidationException

    values = body.get("ExpressionAttributeValues")
    if not values:
        return
    used = set()
    for parameter in _EXPRESSION_PARAMETERS:
        used.update(_VALUE_PLACEHOLDER.findall(body.get(parameter) or ""))
    unused = [name for name in values if name not in used]
    if unused:
        # An expression that does not parse, or names an undefined value, is the error
        # DynamoDB reports first.
        for parameter in ("ConditionExpression", "KeyConditionExpression", "FilterExpression"):
            if body.get(parameter):
                _parsed(body, parameter)
        raise MockValidationException(
            "Value provided in ExpressionAttributeValues unused in expressions: "
            f"keys: {{{', '.join(unused)}}}"
        )


_EXPRESSION_PARAMETERS = (
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "UpdateExpression",
)


def _parsed(body: dict[str, Any], parameter: str) -> Any:
    """The request's PARAMETER read by the condition grammar, its errors naming PARAMETER."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    token = _EXPRESSION_PARAMETER.set(parameter)
    try:
        return ConditionExpressionParser(
            body[parameter],
            body.get("ExpressionAttributeNames") or {},
            body.get("ExpressionAttributeValues") or {},
        ).parse()
    finally:
        _EXPRESSION_PARAMETER.reset(token)


def _values_checked(action: Callable[..., Any]) -> Callable[..., Any]:
    """ACTION (PutItem, DeleteItem), whose unused expression values are rejected."""

    def checked(self: Any) -> Any:
        _values_used(self.body)
        return action(self)

    return checked


# Applied once at start-up, in this order, by moto_seam.install().
PATCHES = (
    _dynamodb_items_serialised,
    _sqs_queues_serialised,
    _sqs_retention_checked_directly,
    _sqs_clock_read_directly,
    _sqs_messages_counted,
    _answers_dumped,
    _s3_notifications_sequenced,
    _event_patterns_matched_in_place,
    _answers_enriched_without_a_scan,
    _condition_expressions_lexed_once,
    _expression_errors_as_aws,
    _service_methods_observed,
)


@contextlib.contextmanager
def lambda_invokes_answered_by(invoke: Callable[..., bytes]) -> Iterator[None]:
    """moto's Lambda Invoke answered by INVOKE (same parameters) for the block."""
    from moto.awslambda.models import LambdaBackend

    saved = LambdaBackend.invoke
    LambdaBackend.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaBackend.invoke = saved  # type: ignore[method-assign]


def identifiers_reseeded() -> None:
    """moto draws its identifiers (message ids, receipt handles, request ids, ...) from one
    `random.Random`, seeded when moto is imported. Python reseeds its own `random` in a
    forked child but not that one: processes forked after moto's import would all draw the
    same identifiers unless each reseeds it."""
    resolve("moto.moto_api._internal:mock_random").seed()
