"""Parsing ASL definitions into programs whose components behave as Step Functions does.

moto's preprocessor turns the ANTLR tree into evaluation components; each component of the
built program then gets the subclass carrying Sluice's behaviour (virtual time, JSONata,
AWS's error names, ...): the classes listed in `SPECIALISED`, each a subclass of the moto
class it changes, are mixed in front of the component's own class, so a change made for a
base class (every Wait function, every service task) reaches each concrete class.

Programs are cached by definition text (the ANTLR parse and the component build are about
half of a short execution's CPU): components are declarations, and everything an
execution changes lives in its own Environment. Editing a machine changes its definition
text and so builds anew. Parse errors raise and nothing is cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from moto.stepfunctions.parser.asl.component.common.assign.assign_decl import AssignDecl
from moto.stepfunctions.parser.asl.component.common.assign.assign_template_binding import (
    AssignTemplateBinding,
)
from moto.stepfunctions.parser.asl.component.common.assign.assign_template_value_array import (
    AssignTemplateValueArray,
)
from moto.stepfunctions.parser.asl.component.common.jsonata.jsonata_template_binding import (
    JSONataTemplateBinding,
)
from moto.stepfunctions.parser.asl.component.common.jsonata.jsonata_template_value_array import (
    JSONataTemplateValueArray,
)
from moto.stepfunctions.parser.asl.component.common.outputdecl import Output
from moto.stepfunctions.parser.asl.component.common.parargs import Arguments
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from sluice.engine import (
    components,
    json_strings,
    jsonata,
    kept_results,
    speed,
    state_io,
    untimed,
    virtual_time,
)

# Mixed in front of a component's class when it is (a subclass of) the class each one
# extends; general ones first, so a concrete moto class's own overrides still come after.
SPECIALISED: tuple[type[Any], ...] = (
    virtual_time.EnteredTimeState,
    state_io.InputSerialisedOnce,
    untimed.UntimedStateInline,
    untimed.UntimedProgramInline,
    components.MockedErrorsKept,
    components.TerminalErrorsSpared,
    components.MapCauseNamesJsonType,
    components.MapResultWithinQuota,
    components.ItemReaderAsJson,
    kept_results.MapKeepsIterations,
    components.BranchErrorsKept,
    components.NoChoiceMatchedAsAws,
    components.AwsSdkAsAws,
    components.SqsWithSdkMetadata,
    components.SnsAsAws,
    components.DynamoDbAsAws,
    json_strings.AssignStringAsJson,
    jsonata.JsonataExpression,
    jsonata.VariableReference,
    virtual_time.VirtualWait,
    virtual_time.VirtualTimestamp,
    virtual_time.VirtualRetrier,
    virtual_time.SlottedIterations,
)

_classes: dict[type[Any], type[Any]] = {}
_classes_lock = threading.Lock()


def specialised_class(cls: type[Any]) -> type[Any]:
    """COMPONENT's class with the SPECIALISED subclasses that apply to it mixed in front."""
    with _classes_lock:
        made = _classes.get(cls)
        if made is None:
            extra = tuple(s for s in SPECIALISED if issubclass(cls, s.__mro__[1]))
            make: Any = type(cls)  # the metaclass (ABCMeta for most components)
            made = make(cls.__name__, (*extra, cls), {"__module__": __name__}) if extra else cls
            _classes[cls] = _classes[made] = made  # a component may be visited twice
        return made


def specialise(component: Any) -> Any:
    cls = specialised_class(type(component))
    if cls is not type(component):
        component.__class__ = cls
    return component


def specialise_program(program: EvalComponent) -> None:
    """Specialise every component of a program moto's parser built (any of its parsers:
    TestState's too). Done once the preprocessor is through: it looks components up by
    their exact class while it builds."""
    seen: set[int] = set()
    pending: list[tuple[Any, tuple[str, ...]]] = [(program, ())]
    while pending:
        item, field = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            pending.extend((value, field) for value in item.values())
        elif isinstance(item, list | tuple):
            pending.extend((value, field) for value in item)
        elif type(item).__module__.startswith("moto.stepfunctions") and hasattr(item, "__dict__"):
            if isinstance(item, EvalComponent):
                specialise(item)
                # The per-execution heap key is made lazily; shared by every execution of
                # a cached program, it is made here, once, before any execution runs.
                _ = item.heap_key
            field = _field_of(item, field)
            if isinstance(item, jsonata.JsonataExpression) and field:
                item.field = "/".join(field)
            if isinstance(item, JSONataTemplateValueArray | AssignTemplateValueArray):
                pending.extend((v, (*field, str(i))) for i, v in enumerate(item.values))
            else:
                pending.extend((value, field) for value in vars(item).values())


def _field_of(item: Any, field: tuple[str, ...]) -> tuple[str, ...]:
    """The field (`Assign/result`, `Output/total/0`, ...) ITEM stands for, inside FIELD."""
    if isinstance(item, CommonStateField):
        return ()
    if isinstance(item, AssignDecl):
        return ("Assign",)
    if isinstance(item, Output):
        return ("Output",)
    if isinstance(item, Arguments):
        return ("Arguments",)
    if isinstance(item, AssignTemplateBinding | JSONataTemplateBinding):
        return (*field, str(item.identifier))
    return field


def parse_uncached(definition: str) -> EvalComponent:
    """The program of DEFINITION, specialised; ASLParserException for a syntax error."""
    program: EvalComponent = AmazonStateLanguageParser.parse(definition)[0]
    specialise_program(program)
    kept_results.mark_top_level(program)
    return program


_PROGRAMS_KEPT = 256
_programs: OrderedDict[str, EvalComponent] = OrderedDict()
_programs_lock = threading.Lock()


def program_for(definition: str) -> EvalComponent:
    """The (shared) program of DEFINITION; parse errors raise as in `parse_uncached`."""
    if not speed.enabled():
        return parse_uncached(definition)
    with _programs_lock:
        program = _programs.get(definition)
        if program is not None:
            _programs.move_to_end(definition)
            return program
    program = parse_uncached(definition)
    with _programs_lock:
        _programs[definition] = program
        while len(_programs) > _PROGRAMS_KEPT:
            _programs.popitem(last=False)
    return program
