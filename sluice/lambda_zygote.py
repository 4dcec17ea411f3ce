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
from typing import Any, TextIO

from sluice import lambda_worker, long_lived

# The shared libraries read these variables when imported, and an interpreter reads the
# PYTHON* ones at start: a function setting one of them gets a fresh interpreter instead.
IMPORT_TIME_ENV = ("PYTHON", "AWS_XRAY_", "PYICEBERG_", "LAMBDA_", "AWS_EXECUTION_ENV")
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


class Zygote:
    """The runtime's side: starts the zygote process and asks it for workers."""

    def __init__(self, base_env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self.wanted: set[str] = set()  # shared libraries workers imported so far
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.lambda_zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=base_env,
        )
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
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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
        long_lived.before_fork()
        pid = os.fork()
        if pid == 0:
            sock.close()
            _worker(request, fds)
        for fd in fds:
            os.close(fd)
        sock.send(str(pid).encode())


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
