"""The console: a WSGI app mounted on the gateway at ``/console``.

Pages are rendered on the server; the only script makes the Map iteration picker navigate and
refreshes a running execution's page from ``/console/api/execution`` every second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from botocore.exceptions import ClientError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sluice.console import execution_page, pages, test_state
from sluice.console.runs import Selection, parse_path, path_of, select
from sluice.console.service import (
    STATUSES,
    ConsoleData,
    ConsoleStack,
    InvalidInput,
    UnknownFlow,
    json_schema,
    schema_for,
    schema_name,
)
from sluice.history import failed_state

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

URLS = Map(
    [
        Rule("/console", endpoint="flows"),
        Rule("/console/", endpoint="flows"),
        Rule("/console/flow", endpoint="flow"),
        Rule("/console/flow/asl", endpoint="asl"),
        Rule("/console/executions", endpoint="executions"),
        Rule("/console/execution", endpoint="execution"),
        Rule("/console/api/execution", endpoint="api_execution"),
        Rule("/console/execution/redrive", endpoint="redrive_execution", methods=["POST"]),
        Rule("/console/execution/test-state", endpoint="test_state", methods=["GET", "POST"]),
        Rule("/console/start", endpoint="start", methods=["GET", "POST"]),
        Rule("/console/pipes", endpoint="pipes"),
        Rule("/console/pipes/state", endpoint="pipe_state", methods=["POST"]),
        Rule("/console/dlqs", endpoint="dlqs"),
        Rule("/console/dlqs/redrive", endpoint="redrive", methods=["POST"]),
        Rule("/console/static/<name>", endpoint="static"),
    ],
    strict_slashes=False,
)


def console_app(stack: ConsoleStack) -> WsgiApp:
    """The console for STACK (a ``sluice.stack.LocalStack``) as a WSGI callable."""
    return Console(ConsoleData(stack)).wsgi


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/html; charset=utf-8")


class Console:
    def __init__(self, data: ConsoleData) -> None:
        self.data = data

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response: Response = getattr(self, f"on_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = _html(
                pages.error_page(exc.code or 500, exc.description or ""), exc.code or 500
            )
        except UnknownFlow as exc:
            response = _html(pages.error_page(404, f"unknown flow {exc.args[0]!r}"), 404)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            status = 404 if "DoesNotExist" in code or "NotFound" in code else 400
            response = _html(pages.error_page(status, f"{code}: {exc}"), status)
        return response(environ, start_response)

    # -- pages -------------------------------------------------------------------------------

    def on_flows(self, request: Request) -> Response:
        flows = [(flow, self.data.counts(flow)) for flow in self.data.flows()]
        return _html(pages.flows_page(flows))

    def on_flow(self, request: Request) -> Response:
        flow = self.data.flow(request.args.get("flow", ""))
        return _html(pages.flow_page(flow, self.data.definition(flow)))

    def on_asl(self, request: Request) -> Response:
        flow = self.data.flow(request.args.get("flow", ""))
        return Response(self.data.definition(flow), content_type="application/json")

    def on_executions(self, request: Request) -> Response:
        flow = request.args.get("flow") or None
        status = (request.args.get("status") or "").upper() or None
        if status is not None and status not in STATUSES:
            raise NotFound(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        rows = self.data.executions(flow, status)
        names = [f.name for f in self.data.flows()]
        return _html(pages.executions_page(rows, names, flow, status))

    def _execution(self, request: Request) -> tuple[Any, Selection | None]:
        arn = request.args.get("arn", "")
        if not arn:
            raise NotFound("no execution given (?arn=)")
        view = self.data.execution(arn)
        path = parse_path(request.args.get("run"))
        if path:
            selection = select(view.story.states, path)
            if selection is None:
                raise NotFound(f"no run {'/'.join(path)!r} in this execution")
            return view, selection
        # By default, point at what went wrong.
        culprit = failed_state(view.story)
        default = path_of(view.story.states, culprit) if culprit is not None else None
        return view, select(view.story.states, default) if default else None

    def on_execution(self, request: Request) -> Response:
        view, selection = self._execution(request)
        return _html(execution_page.execution_page(view, selection))

    def on_api_execution(self, request: Request) -> Response:
        view, selection = self._execution(request)
        body = {
            "arn": view.arn,
            "status": view.status,
            "version": execution_page.execution_version(view),
            "statuses": view.story.statuses,
            "error": view.error,
            "cause": view.cause,
            "html": execution_page.execution_main(view, selection),
        }
        return Response(json.dumps(body), content_type="application/json")

    def on_redrive_execution(self, request: Request) -> Response:
        arn = request.form.get("arn", "")
        if not arn:
            raise NotFound("no execution given (arn=)")
        self.data.redrive_execution(arn)  # ExecutionNotRedrivable -> a 400 page
        return Response(status=303, headers={"Location": pages.execution_url(arn)})

    def on_test_state(self, request: Request) -> Response:
        """ "Test this state": the state's recorded input, run through TestState on POST."""
        view, selection = self._execution(request)
        if selection is None or selection.run is None:
            raise NotFound("no state given (?run=)")
        state = test_state.state_definition(view.definition, selection.path)
        if state is None:
            raise NotFound(f"no state {'/'.join(selection.path)!r} in the definition")
        form = test_state.StateForm(
            definition=json.dumps(state, indent=2), input=pages.pretty(selection.run.input) or "{}"
        )
        answer = problem = None
        if request.method == "POST":
            form = test_state.StateForm(
                definition=request.form.get("definition", form.definition),
                input=request.form.get("input", form.input),
                level=request.form.get("level", form.level),
            )
            try:
                answer = self.data.test_state(view.arn, form.definition, form.input, form.level)
            except ClientError as exc:  # an invalid definition or input: shown on the page
                problem = str(_problem(exc))
        page = test_state.state_test_page(view, selection.path, form, answer, problem)
        return _html(page, 400 if problem else 200)

    def on_start(self, request: Request) -> Response:
        source = request.form if request.method == "POST" else request.args
        flow = self.data.flow(source.get("flow", ""))
        schema = schema_for(flow.name)
        name = source.get("name", "")
        text = source.get("input")
        if text is None:
            again = request.args.get("again")
            text = (self.data.execution(again).input or "{}") if again else "{}"
            text = pages.pretty(text)
        problems = []
        if request.method == "POST":
            try:
                arn = self.data.start(flow, text, name or None)
            except InvalidInput as exc:
                problems = exc.problems
            except ClientError as exc:
                problems = [_problem(exc)]
            else:
                return Response(status=303, headers={"Location": pages.execution_url(arn)})
        page = pages.start_page(
            flow, text, name, problems, schema_name(schema, flow.name), json_schema(schema)
        )
        return _html(page, 400 if problems else 200)

    def on_pipes(self, request: Request) -> Response:
        return _html(pages.pipes_page(self.data.pipes(), request.args.get("notice")))

    def on_pipe_state(self, request: Request) -> Response:
        name, running = request.form.get("pipe", ""), request.form.get("running") == "yes"
        try:
            self.data.set_pipe_running(name, running)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NotFoundException":
                raise
            raise NotFound(f"no pipe {name!r}") from None
        notice = f"{name}: {'started' if running else 'stopping after its batch in flight'}"
        return Response(status=303, headers={"Location": pages.url("/pipes", notice=notice)})

    def on_dlqs(self, request: Request) -> Response:
        queues = [(q, self.data.dlq_messages(q["name"])) for q in self.data.dlqs()]
        return _html(pages.dlqs_page(queues, request.args.get("notice")))

    def on_redrive(self, request: Request) -> Response:
        name = request.form.get("queue", "")
        try:
            result = self.data.redrive(name)
        except KeyError:
            raise NotFound(f"no dead-letter queue {name!r}") from None
        notice = f"{name}: redrove {result['redriven']} message(s)"
        if result.get("failed"):
            notice += f"; {len(result['failed'])} failed again: " + "; ".join(
                str(f.get("error")) for f in result["failed"]
            )
        return Response(status=303, headers={"Location": pages.url("/dlqs", notice=notice)})

    def on_static(self, request: Request, name: str) -> Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix not in STATIC_TYPES:
            raise NotFound(name)
        asset = resources.files("sluice.console") / "static" / name
        if not asset.is_file():
            raise NotFound(name)
        return Response(
            asset.read_bytes(),
            content_type=STATIC_TYPES[suffix],
            headers={"Cache-Control": "no-cache"},
        )


def _problem(exc: ClientError) -> Any:
    from sluice.console.service import InputProblem

    error = exc.response["Error"]
    return InputProblem("", f"{error.get('Code')}: {error.get('Message')}")
