"""`sluice up` children forked from one process that has imported the runtime already.

A stack started as `python -m sluice up` spends about 2.5 CPU-s importing moto, the engine
and the gateway before it deploys anything: most of a test stack's start. The test harness
(`sluice.testing.StackProcess`) asks this zygote instead: one process per test process that
imports those modules once, then forks a stack per request, gives it its environment,
working directory and log, and runs the CLI in it as `python -m sluice` would. The zygote
is each stack's parent: it reaps them and reports how each exited. The harness's own CLI
calls (`StackProcess.cli`) are forked the same way (`Zygote.run`).

A stack whose environment differs from the zygote's in a variable read when those modules
are imported (`IMPORT_TIME_ENV`) is started as a fresh interpreter instead.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import Any

from sluice import lambda_runtime, lambda_zygote, long_lived

# Read at import by the interpreter, moto or the libraries the zygote holds.
IMPORT_TIME_ENV = ("PYTHON", "MOTO_", "TEST_SERVER_MODE", "AWS_DEFAULT_REGION")
FORK_ENV = "SLUICE_FORK_STACKS"  # "0": every stack is a fresh interpreter


def enabled() -> bool:
    return os.environ.get(FORK_ENV, "1") != "0"


class ForkedStack:
    """A stack forked by the zygote, as `subprocess.Popen` answers for it: its pid, poll,
    wait, terminate and kill. Signals go through a pidfd, so they never reach another
    process that later gets the same pid."""

    def __init__(self, pid: int, zygote: Zygote) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._zygote = zygote
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # exited and reaped already: the zygote reports how
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exit_status(self.pid, timeout=0)
        if self.returncode is None and self._zygote.gone and self._exited():
            self.returncode = 1  # how it exited went with the zygote
        return self.returncode

    def _exited(self) -> bool:
        return self._pidfd is None or bool(select.select([self._pidfd], [], [], 0)[0])

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._zygote.exit_status(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(f"stack {self.pid}", timeout or 0)
        self._close()
        return self.returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # exited already
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class Zygote:
    """The test process's side: starts the zygote and asks it for stacks."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        # The CLI's consoles fix their size from COLUMNS and LINES when created, at import:
        # without them here, each forked call reads its own. Passed explicitly, so that what
        # a C library exported behind os.environ's back stays out too (importing readline
        # exports both, COLUMNS=80 and LINES=24 without a terminal).
        self._env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.stack_zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=self._env,
        )
        theirs.close()
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._exited: dict[int, int] = {}
        self._replies: list[int] = []
        self.gone = False
        threading.Thread(target=self._read, name="sluice-stack-zygote", daemon=True).start()

    def fits(self, command: list[str], env: dict[str, str]) -> bool:
        """Whether COMMAND (with ENV) is a `python -m sluice` this zygote can fork."""
        if command[:3] != [sys.executable, "-m", "sluice"] or self.gone:
            return False
        names = set(env) ^ set(self._env) | {k for k in env if env[k] != self._env.get(k)}
        return not any(name.startswith(IMPORT_TIME_ENV) for name in names)

    def spawn(
        self, command: list[str], env: dict[str, str], cwd: str, log: str, err: str | None = None
    ) -> ForkedStack:
        """`python -m sluice ARGS` (COMMAND) forked with ENV, working directory CWD and its
        output appended to LOG (its standard error to ERR, if given)."""
        request = {"argv": command[3:], "env": env, "cwd": cwd, "log": log, "err": err or log}
        with self._lock:
            self._sock.send(json.dumps(request).encode())
            with self._changed:
                self._changed.wait_for(lambda: self._replies or self.gone)
                if not self._replies:
                    raise RuntimeError("the stack zygote exited")
                pid = self._replies.pop(0)
        return ForkedStack(pid, self)

    def run(
        self, command: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """`subprocess.run(COMMAND, capture_output=True, text=True)` of a `python -m sluice`
        command, forked: a CLI call without importing the CLI anew (~0.3 CPU-s of a 0.5 s
        call). TimeoutExpired after TIMEOUT seconds, the command killed."""
        with tempfile.TemporaryDirectory(prefix="sluice-cli-") as tmp:
            out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
            child = self.spawn(command, env, os.getcwd(), out, err)
            try:
                code = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise subprocess.TimeoutExpired(command, timeout) from None
            with open(out) as stdout, open(err) as stderr:
                return subprocess.CompletedProcess(command, code, stdout.read(), stderr.read())

    def stop(self) -> None:
        """Close the zygote's input; it exits once its stacks have (waited for, so that
        its CPU time and theirs count as this process's children's). Shut down first:
        while the reader thread is blocked in recv, close() alone leaves the socket open,
        and the zygote would see no end until the wait below timed out."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def exit_status(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exited or self.gone, timeout)
            return self._exited.get(pid)

    def _read(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            self._receive()
        with self._changed:
            self.gone = True
            self._changed.notify_all()

    def _receive(self) -> None:
        while message := self._sock.recv(1 << 16):
            reply = json.loads(message)
            with self._changed:
                if "exited" in reply:
                    self._exited[reply["exited"]] = reply["status"]
                else:
                    self._replies.append(reply["pid"])
                self._changed.notify_all()


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote | None:
    """This process's zygote, started on first use (None when forking is off)."""
    global _zygote
    if not enabled():
        return None
    with _zygote_lock:
        if _zygote is None or _zygote.proc.poll() is not None:
            _zygote = Zygote()
            atexit.register(_zygote.stop)
        return _zygote


def close() -> None:
    """Stop this process's zygote, if it started one (once its stacks have stopped), so that
    their CPU time counts as this process's children's."""
    global _zygote
    with _zygote_lock:
        if _zygote is not None:
            _zygote.stop()
            _zygote = None


# -- the zygote process ---------------------------------------------------------------


def _stack(request: dict[str, Any]) -> None:
    """In the forked child: run `sluice ARGV` as a fresh `python -m sluice` would (never
    returns)."""
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd, path in ((1, request["log"]), (2, request["err"])):
            file = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(file, fd)
            os.close(file)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]
        # What `python -m sluice` sets, from which the CLI's usage lines name the program.
        main = importlib.util.find_spec("sluice.__main__")
        assert main is not None and main.origin is not None
        sys.argv = [main.origin, *request["argv"]]
        sys.modules["__main__"].__spec__ = main
        importlib.import_module("sluice.cli").main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(sock: socket.socket) -> None:
    """Fork one stack per request until the test process closes the socket; report each
    stack's exit."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the pipe
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _report_exits(sock)
        if sock.fileno() in ready:
            message = sock.recv(1 << 20)
            if not message:
                lambda_zygote.close_template()
                _wait_for_stacks()
                return
            sys.stdout.flush()
            sys.stderr.flush()
            long_lived.before_fork()
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                sock.close()
                os.close(wake_r)
                os.close(wake_w)
                _stack(json.loads(message))
            sock.send(json.dumps({"pid": pid}).encode())


def _report_exits(sock: socket.socket) -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                return
            sock.send(
                json.dumps({"exited": pid, "status": os.waitstatus_to_exitcode(status)}).encode()
            )


def _wait_for_stacks() -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()


def main() -> None:
    # What `sluice up` imports before it deploys; importing starts no thread, so forking
    # after it is safe.
    for module in ("sluice.cli", "sluice.stack"):
        importlib.import_module(module)
    from sluice import stack_preload
    from sluice.engine import moto_services

    stack_preload.preload()
    # The stacks' Lambda zygotes come from one template that has imported the handlers'
    # libraries, instead of each importing them again (its environment: a stack's Lambda
    # base environment, less the stack's own endpoint).
    base_env = lambda_runtime.default_base_env("")
    del base_env["AWS_ENDPOINT_URL"]
    lambda_zygote.start_template(base_env)

    os.register_at_fork(after_in_child=moto_services.identifiers_reseeded)
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
