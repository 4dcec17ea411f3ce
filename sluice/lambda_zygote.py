"""Lambda workers forked from one process that has imported the libraries handlers share.

A new worker is a whole interpreter importing boto3, pydantic, Powertools, … before its
handler: most of a cold start's CPU. The zygote is one child of the runtime that imports
those libraries once; each worker is then a fork of it, given its own function's
environment, working directory and sys.path before it imports the handler (Init), so a
handler sees what a freshly started worker would, and its own modules are never shared.

The zygote imports only what workers were seen to import (each worker reports which of
`lambda_worker.SHARED_LIBRARIES` its Init loaded), so a stack of small handlers never
pays for libraries it does not use. Not for built packages (`sluice up --built`): those
workers run isolated from site-packages, each on its own package's dependencies.

Where many stacks start in one test process, each would import those libraries again in
its own zygote (and its first workers before that). There the stack zygote
(`sluice.stack_zygote`) starts a template, a clean interpreter that has imported all of
them, and each stack's zygote is forked from it instead (`start_template`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from typing import Any, NoReturn, TextIO

from sluice import lambda_worker, long_lived

# The shared libraries read these variables when imported, an interpreter reads the
# PYTHON* ones at start, and boto3's default session (warmed in the zygote) its profile,
# configuration files and data path when made: a function setting one of them gets a
# fresh interpreter instead.
IMPORT_TIME_ENV = (
    "PYTHON",
    "AWS_XRAY_",
    "PYICEBERG_",
    "LAMBDA_",
    "AWS_EXECUTION_ENV",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_DATA_PATH",
)
# The services handlers call through the local gateway. A worker's first clients read
# botocore's JSON data (service models, endpoint rules, partitions): about 150 ms of CPU
# for three clients, 35 ms once boto3's default session has read it in the zygote.
WARM_SERVICES = (
    "dynamodb",
    "dynamodbstreams",
    "events",
    "lambda",
    "s3",
    "sns",
    "sqs",
    "stepfunctions",
)
FORK_ENV = "SLUICE_FORK_WORKERS"  # "0": every worker is a fresh interpreter


def enabled() -> bool:
    return os.environ.get(FORK_ENV, "1") != "0"


def fits(environment: dict[str, str]) -> bool:
    """Whether a function with this Environment may be forked from the zygote."""
    return not any(name.startswith(IMPORT_TIME_ENV) for name in environment)


class ForkedWorker:
    """A forked worker as `Sandbox` drives it: the `subprocess.Popen` attributes it uses.
    The zygote is its parent and reaps it; a pidfd keeps signals from reaching another
    process that later gets the same pid."""

    def __init__(self, pid: int, stdin: TextIO, stdout: TextIO) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # died and reaped already: its pipe says so (EOF)
            self._pidfd = None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # exited already
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def wait(self) -> None:
        if self._pidfd is not None:
            select.select([self._pidfd], [], [])  # readable once the process has exited
            os.close(self._pidfd)
            self._pidfd = None
        self.stdin.close()
        self.stdout.close()


# The template's socket, in a process forked from the stack zygote (None elsewhere).
_template: socket.socket | None = None


def start_template(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a template with ENV (run in the stack zygote, so that the stacks it forks find
    it); this process and its forks then get their zygotes from it."""
    global _template
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = _run_zygote(theirs, env, "--template")
    theirs.close()
    _template = ours
    return proc


def _run_zygote(sock: socket.socket, env: dict[str, str], *flags: str) -> subprocess.Popen[bytes]:
    """`python -m sluice.lambda_zygote` serving SOCK (its end, passed on), with ENV."""
    return subprocess.Popen(
        [sys.executable, "-m", "sluice.lambda_zygote", str(sock.fileno()), *flags],
        pass_fds=[sock.fileno()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
    )


def close_template() -> None:
    """Close this process's end: the template exits once every holder has closed theirs."""
    global _template
    if _template is not None:
        _template.close()
        _template = None


class _TemplateChild:
    """A zygote forked by the template, as `Zygote.stop` waits for it or kills it (the
    template is its parent and reaps it): through a pidfd."""

    def __init__(self, pid: int) -> None:
        self._pidfd = os.pidfd_open(pid)

    def wait(self, timeout: float | None = None) -> None:
        if not select.select([self._pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired("the Lambda zygote", timeout or 0)
        os.close(self._pidfd)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)


class Zygote:
    """The runtime's side: starts the zygote process and asks it for workers."""

    def __init__(self, base_env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self.wanted: set[str] = set()  # shared libraries workers imported so far
        self.proc: subprocess.Popen[bytes] | _TemplateChild | None = _from_template(ours, theirs)
        if self.proc is None:
            self.proc = _run_zygote(theirs, base_env)
        theirs.close()

    def spawn(self, env: dict[str, str], cwd: str) -> ForkedWorker:
        """A worker forked with ENV and working directory CWD (its sys.path[0], as for
        `python -m` started there)."""
        worker_in, to_worker = os.pipe()
        from_worker, worker_out = os.pipe()
        request = {"env": env, "cwd": cwd, "preload": sorted(self.wanted)}
        try:
            with self._lock:
                socket.send_fds(self._sock, [json.dumps(request).encode()], [worker_in, worker_out])
                reply = self._sock.recv(64)
        finally:
            os.close(worker_in)
            os.close(worker_out)
        if not reply:
            os.close(to_worker)
            os.close(from_worker)
            raise RuntimeError("the Lambda zygote exited")
        return ForkedWorker(
            int(reply),
            os.fdopen(to_worker, "w"),
            os.fdopen(from_worker, "r"),
        )

    def stop(self) -> None:
        self._sock.close()  # the zygote exits at end of input; its workers at theirs
        assert self.proc is not None
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _from_template(ours: socket.socket, theirs: socket.socket) -> _TemplateChild | None:
    """A zygote serving THEIRS forked from this process's template; None if there is none
    (or it has gone)."""
    if _template is None:
        return None
    try:
        socket.send_fds(_template, [b"zygote"], [theirs.fileno()])
        reply = ours.recv(64)  # the new zygote's first message: its pid
    except OSError:
        return None
    return _TemplateChild(int(reply)) if reply else None


def _worker(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the function's worker (never returns)."""
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(fds[0], 0)
        os.dup2(fds[1], 1)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]
        lambda_worker.main()
    except SystemExit as exc:  # a handler's sys.exit: the worker exits, as on Lambda
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def _default_session_warmed() -> None:
    """boto3's default session, made before workers are forked, with the data its clients
    read loaded. The clients that load it are given placeholder credentials and a region,
    so the session holds no credentials: each worker resolves its own, from its own
    environment, when it makes its first client."""
    boto3: Any = sys.modules.get("boto3")
    if boto3 is None or boto3.DEFAULT_SESSION is not None:
        return
    session = boto3.Session()
    for service in WARM_SERVICES:
        session.client(
            service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
        )
    boto3.DEFAULT_SESSION = session


def _reap(*_: object) -> None:
    """Collect the workers that exited (waited for, so their CPU time is counted as the
    zygote's children's, as a worker started by the runtime itself is)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(sock: socket.socket) -> None:
    """Fork one worker per request until the runtime closes the socket."""
    # Workers are reaped as they exit; the runtime watches them through pidfds.
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        if not message:
            _reap()
            return
        request = json.loads(message)
        for name in request["preload"]:
            if name in lambda_worker.SHARED_LIBRARIES and name not in sys.modules:
                with contextlib.suppress(Exception):  # the worker that needs it says why
                    importlib.import_module(name)
        _default_session_warmed()
        long_lived.before_fork()
        pid = os.fork()
        if pid == 0:
            sock.close()
            _worker(request, fds)
        for fd in fds:
            os.close(fd)
        sock.send(str(pid).encode())


def serve_as_template(sock: socket.socket) -> NoReturn:
    """Import every shared library, then fork a zygote for each socket received, until the
    last holder of SOCK closes it."""
    for name in lambda_worker.SHARED_LIBRARIES:
        with contextlib.suppress(Exception):  # a worker that needs it will say why
            importlib.import_module(name)
    _default_session_warmed()
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        message, fds, _, _ = socket.recv_fds(sock, 64, 1)
        if not message:
            # Without the interpreter's teardown: the libraries' extensions would report
            # what they still hold as it runs (nanobind's leak warnings).
            _reap()
            os._exit(0)
        long_lived.before_fork()
        if os.fork() == 0:
            sock.close()
            child = socket.socket(fileno=fds[0])
            child.send(str(os.getpid()).encode())
            serve(child)
            os._exit(0)
        for fd in fds:
            os.close(fd)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    serve_as_template(sock) if sys.argv[2:] == ["--template"] else serve(sock)


if __name__ == "__main__":
    main()
