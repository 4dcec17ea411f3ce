"""The engine's seam into moto: every moto symbol it relies on is checked, and a missing or
changed one stops the start with its name (never a silent fallback)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.engine import moto_seam, moto_services, observers


def test_every_listed_moto_symbol_is_there_with_the_expected_signature() -> None:
    moto_seam.verify()


def test_a_missing_symbol_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    symbol = "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker.no_such_method"
    monkeypatch.setitem(moto_seam.SYMBOLS, symbol, "self")
    with pytest.raises(moto_seam.MotoSeamError, match=f"moto symbol {symbol} is missing"):
        moto_seam.verify()


def test_a_missing_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    symbol = "moto.stepfunctions.parser.no_such_module:Thing"
    monkeypatch.setitem(moto_seam.SYMBOLS, symbol, None)
    with pytest.raises(moto_seam.MotoSeamError, match=f"moto symbol {symbol} is missing"):
        moto_seam.verify()


def test_a_changed_signature_is_named_with_both_parameter_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    symbol = "moto.stepfunctions.parser.asl.eval.event.event_manager:EventManager.add_event"
    monkeypatch.setitem(moto_seam.SYMBOLS, symbol, "self context event_type")
    with pytest.raises(moto_seam.MotoSeamError) as raised:
        moto_seam.verify()
    message = str(raised.value)
    assert f"moto symbol {symbol} changed signature" in message
    assert "expected (self, context, event_type)" in message
    assert "found (self, context, event_type, event_details, timestamp" in message


def test_the_global_patches_stay_few() -> None:
    """Everything else reaches moto through the engine's subclasses."""
    assert len(moto_seam.GLOBAL_PATCHES) <= 6


def test_test_states_moto_symbols_are_listed() -> None:
    """TestState subclasses moto's TestState execution and worker: a moto upgrade that
    changed them must stop the start like any other seam symbol."""
    listed = " ".join(moto_seam.SYMBOLS)
    for symbol in (
        "TestStateExecution._get_start_execution_worker",
        "TestStateExecutionWorker._get_evaluation_entrypoint",
        "TestStateMachine.__init__",
        "TestStateStaticAnalyser.analyse",
        "MockedResponseThrow.__init__",
    ):
        assert symbol in listed


def test_every_service_patch_and_observed_method_is_a_verified_symbol() -> None:
    """What the gateway patches of moto's service models is checked at start-up too."""
    assert set(moto_seam.SERVICE_PATCHES) == set(moto_services.PATCHES)
    assert set(observers.SERVICE_METHODS) <= set(moto_seam.SYMBOLS)
    assert "moto.awslambda.models:LambdaBackend.invoke" in moto_seam.SYMBOLS
    for symbol in observers.SERVICE_METHODS:
        assert moto_seam.SYMBOLS[symbol] is not None, f"{symbol}: its parameters are read"


def test_an_observed_moto_method_reports_each_call_that_returned() -> None:
    """SQS SendMessage through moto's model: the observer of Queue.add_message sees it."""
    point = "moto.sqs.models:Queue.add_message"
    seen: list[str] = []

    def observer(queue: Any, _: Any, message: Any) -> None:
        seen.append(f"{queue.name}:{message.body}")

    moto_seam.install()
    observers.subscribe(point, observer)
    try:
        with mock_aws():
            sqs = boto3.client("sqs", region_name="us-east-1")
            url = sqs.create_queue(QueueName="observed")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="hello")
    finally:
        observers.unsubscribe(point, observer)
    assert seen == ["observed:hello"]


def test_an_unknown_observable_point_is_refused() -> None:
    with pytest.raises(
        ValueError, match=re.escape("no observable point 'moto.sqs.models:Queue.nothing'")
    ):
        observers.subscribe("moto.sqs.models:Queue.nothing", lambda *_: None)


def _moto_names(tree: ast.Module) -> set[str]:
    """The names a module binds to moto's modules, classes and functions by importing."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "moto":
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] == "moto"
            }
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _assignments_onto(tree: ast.Module, names: set[str]) -> list[int]:
    """Lines that assign an attribute of one of NAMES (`X.attr = ...`, `setattr(X, ...)`)."""
    lines = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
        ):
            targets = [ast.Attribute(value=node.args[0], attr="?")]
            ast.copy_location(targets[0], node)
        flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
        lines += [
            t.lineno for t in flat if isinstance(t, ast.Attribute) and _root(t.value) in names
        ]
    return lines


def test_no_module_outside_the_engine_assigns_onto_moto() -> None:
    """moto's classes, modules and functions are patched only in sluice/engine/ (the seam
    lists them); the durable state, the gateway and the rest observe or subclass."""
    package = Path(moto_seam.__file__).resolve().parents[1]
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "engine"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        found += [
            f"{path.relative_to(package.parent)}:{line}"
            for line in _assignments_onto(tree, _moto_names(tree))
        ]
    assert found == []


def test_the_assignment_check_finds_a_patch_of_moto() -> None:
    source = (
        "import moto.sqs.models as m\n"
        "from moto.s3.models import S3Backend\n"
        "S3Backend.put_object = None\n"
        "setattr(m.Queue, 'add_message', None)\n"
        "m.Queue.x, other.y = 1, 2\n"
        "instance.attr = 3\n"
    )
    tree = ast.parse(source)
    assert sorted(_assignments_onto(tree, _moto_names(tree))) == [3, 4, 5]


def test_an_accounts_backends_are_made_once_then_read_without_the_lock_and_reset() -> None:
    """Reads of an account's backends skip moto's process-wide lock once they exist; they
    are still made once per account however many threads ask first, and moto's reset
    (which empties every dict it registered) still gets fresh ones."""
    from concurrent.futures import ThreadPoolExecutor

    from moto.core.base_backend import BackendDict
    from moto.sqs.models import SQSBackend

    moto_seam.install()
    queues = BackendDict(SQSBackend, "sqs")
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: queues["111122223333"], range(64)))
    assert len({id(backend) for backend in made}) == 1
    assert queues in BackendDict._instances  # moto's reset will empty it
    assert queues["111122223333"]["us-east-1"] is made[0]["us-east-1"]
    queues.clear()  # what BackendDict.reset does to each registered dict
    BackendDict._instances.remove(queues)
    assert queues["111122223333"] is not made[0]
    assert queues in BackendDict._instances
    BackendDict._instances.remove(queues)
