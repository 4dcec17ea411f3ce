"""What CreateStateMachine answers for a definition the engine cannot build."""

from __future__ import annotations

from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException


def invalid_definition_message(exc: Exception) -> str:
    """AWS's InvalidDefinition message form, `Invalid State Machine Definition: '<problem>'`,
    naming the problem the parser found (not a Python exception's repr)."""
    if isinstance(exc, ASLParserException):
        problem = "; ".join(f"SCHEMA_VALIDATION_FAILED: {e}" for e in exc.errors) or (
            "SCHEMA_VALIDATION_FAILED"
        )
    else:
        problem = " ".join(str(arg) for arg in exc.args) or type(exc).__name__
    return f"Invalid State Machine Definition: '{problem}'"
