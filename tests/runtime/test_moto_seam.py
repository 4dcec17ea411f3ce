"""The engine's seam into moto: every moto symbol it relies on is checked, and a missing or
changed one stops the start with its name (never a silent fallback)."""

from __future__ import annotations

import pytest

from sluice.engine import moto_seam


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
