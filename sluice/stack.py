"""A running local stack: the gateway, the deployed template and its triggers."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import threading
import tomllib
from pathlib import Path
from typing import Any

from sluice import deploy as deployer
from sluice import durable, long_lived
from sluice.client import STACK_FILE
from sluice.console import console_app
from sluice.gateway import Gateway
from sluice.lambda_runtime import provide_runtime_libs
from sluice.template import load_yaml
from sluice.trigger_service import Triggers

DEFAULT_TEMPLATE = Path("infra/template.yaml")
# Where `sam build` (make package) writes the built template and one directory per function.
BUILT_TEMPLATE = Path(".aws-sam/build/template.yaml")
DEFAULT_PORT = 4566


class BuildMissingError(Exception):
    """`--built` without a `sam build` output."""


def project_root(template: Path) -> Path:
    """The project a template belongs to (where samconfig.toml is): the parent of the
    template's directory (infra/template.yaml), or of `.aws-sam` for sam build's output."""
    directory = template.resolve().parent
    if directory.name == "build" and directory.parent.name == ".aws-sam":
        return directory.parent.parent
    return directory.parent


def samconfig_overrides(template: Path, env: str) -> tuple[str, dict[str, str]]:
    """Stack name and parameter overrides of one samconfig.toml environment."""
    path = project_root(template) / "samconfig.toml"
    if not path.exists():
        return "sluice", {}
    config = tomllib.loads(path.read_text())
    default = config.get("default", {})
    section = config.get(env, {})
    stack = (
        section.get("deploy", {}).get("parameters", {}).get("stack_name")
        or default.get("global", {}).get("parameters", {}).get("stack_name")
        or "sluice"
    )
    raw = section.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    overrides = dict(item.split("=", 1) for item in shlex.split(raw))
    return stack, overrides


class LocalStack:
    def __init__(
        self,
        template: Path = DEFAULT_TEMPLATE,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        data_dir: Path = Path(".sluice"),
        config_env: str = "local",
        overrides: dict[str, str] | None = None,
        built: bool = False,
        fresh: bool = False,
    ) -> None:
        if built and not template.exists():
            raise BuildMissingError(f"no built template at {template}: run `make package` first")
        self.template = template.resolve()
        # Step Functions Local's convention: mocked integrations come from SFN_MOCK_CONFIG.
        root = project_root(self.template)
        mock_config = root / "statemachines" / "test" / "MockConfigFile.json"
        if mock_config.exists():
            os.environ.setdefault("SFN_MOCK_CONFIG", str(mock_config))
        self.stack_name, params = samconfig_overrides(self.template, config_env)
        self.overrides = {**params, **(overrides or {})}
        self.gateway = Gateway(host, port, data_dir.resolve())
        # The data directory keeps the stack's state across restarts (--fresh: from nothing).
        if durable.enabled():
            self.gateway.durable = durable.DurableState(data_dir.resolve(), fresh=fresh)
        if built:  # each worker sees its own package and the Lambda runtime's libraries only
            runtime_libs = data_dir.resolve() / "lambda-runtime" / "python"
            self.gateway.lambdas.runtime_libs = provide_runtime_libs(runtime_libs)
        self.triggers = Triggers(self.gateway.endpoint, data_dir.resolve(), app=self.gateway)
        if self.gateway.durable is not None:
            self.triggers.positions = self.gateway.durable.positions
            self.triggers.pending = self.gateway.durable.pending
            self.triggers.rules.on_done = self.gateway.durable.pending.done
        self.gateway.on_deploy = self.deploy
        self.gateway.on_put_events = self.triggers.put_events
        self.gateway.extra["/_sluice/dlq"] = self.triggers.dlq_endpoint
        self.gateway.extra["/_sluice/stats"] = self.triggers.stats_endpoint
        self.gateway.extra["/_sluice/pipes"] = self.triggers.pipes_endpoint
        self.gateway.extra["/console"] = console_app(self)
        self._lock = threading.Lock()
        self._deployment: deployer.Deployment | None = None  # the last deploy's
        self._resumed = False  # undelivered events of an earlier run are delivered once

    @property
    def endpoint(self) -> str:
        return self.gateway.endpoint

    def start(self) -> dict[str, Any]:
        # Request lines and the engine's own tracebacks would drown the stack's output;
        # failures are read from execution histories and invoke logs instead.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        self.gateway.start()
        catalogue = self.deploy()
        # The modules, template and deployed resources live as long as the stack.
        long_lived.settle()
        return catalogue

    def deploy(self) -> dict[str, Any]:
        with self._lock:
            result = deployer.deploy(
                self.template,
                self.endpoint,
                overrides=self._overrides(),
                stack_name=self.stack_name,
                previous=self._deployment,
            )
            self._deployment = result
            if self.gateway.durable is not None:
                # The resources exist now; their saved contents go back before any trigger
                # polls them.
                self.gateway.durable.restore(self.gateway.bedrock)
            self.gateway.lambdas.deploy(result.functions)
            self.gateway.routes = result.routes
            self.triggers.apply(result.pipes, result.rules, result.resources)
            if self.gateway.durable is not None and not self._resumed:
                self.gateway.durable.restored_events = self.triggers.resume()
                self._resumed = True
            catalogue = result.catalogue()
            catalogue["stack_name"] = self.stack_name
            catalogue["endpoint"] = self.endpoint
            catalogue["data_dir"] = str(self.gateway.data_dir)
            if self.gateway.durable is not None:
                catalogue["durable"] = self.gateway.durable.describe()
            self.gateway.stack = catalogue
            # Tools that work on the data directory alone (`sluice sql`) read what is deployed.
            (self.gateway.data_dir / STACK_FILE).write_text(json.dumps(catalogue, default=str))
            if os.environ.get("SLUICE_PREWARM", "1") != "0":
                # Every handler is imported in the background once the stack is up, so the
                # first invoke is as fast as the hundredth (SLUICE_PREWARM=0: on first use).
                self.gateway.lambdas.start_workers()
            return catalogue

    def _overrides(self) -> dict[str, str]:
        """samconfig's values, plus LocalDataDir when the template declares it: embedded
        stores (search index, lake) then live with the stack's other local state."""
        try:
            declared = (load_yaml(self.template.read_text()) or {}).get("Parameters") or {}
        except Exception:  # unreadable: the deploy reports it with the reason
            declared = {}
        if "LocalDataDir" in declared:
            return {"LocalDataDir": str(self.gateway.data_dir), **self.overrides}
        return dict(self.overrides)

    def stop(self) -> None:
        self.triggers.stop()
        self.gateway.stop()
        if self.gateway.durable is not None:
            self.gateway.durable.stop()
        # A process that runs on after its stack (`sluice demo`) can free what it held.
        long_lived.release()

    def serve_until_stopped(self) -> None:
        """Serve until SIGTERM or Ctrl-C, then stop."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
