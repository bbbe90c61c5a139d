"""A real manager daemon in a subprocess, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from prover.api.client import ApiInfo, ManagerClient
from prover.api.tokens import make_token, read_secret
from prover.config import ENDPOINT_FILE
from prover.endpoints import Endpoint, read_endpoint, wait_for_endpoint


class ManagerProcess:
    def __init__(
        self,
        home: Path,
        *,
        database_url: str = "",
        replace: dict[str, str] | None = None,
        port: int = 0,
        sweep_interval_s: float = 0.2,
        heartbeat_interval_s: float = 0.5,
        secret: bytes | None = None,
    ) -> None:
        self.home = home
        # managers on one database share their token secret
        self.shared_secret = secret
        self.sweep_interval_s = sweep_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.fixed_port = port
        self.database_url = database_url
        self.replace = replace or {}
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None  # reads its log lines
        self.port: int | None = None
        self.http_port: int | None = None
        self.lines: list[dict] = []
        self._init()

    def _init(self) -> None:
        env = self.env()
        subprocess.run(
            [sys.executable, "-m", "prover.cli.manager_main", "daemon", "init"],
            env=env,
            check=True,
            capture_output=True,
        )
        config = self.home / "config.toml"
        text = config.read_text()
        text = text.replace('listen = "127.0.0.1:9700"', f'listen = "127.0.0.1:{self.fixed_port}"')
        # /metrics on a free port of its own (read back from its endpoint file)
        text = text.replace('listen = "127.0.0.1:9701"', 'listen = "127.0.0.1:0"')
        text = text.replace("json = false", "json = true")
        text = text.replace('url = ""', f'url = "{self.database_url}"')
        text = text.replace("sweep_interval_s = 1.0", f"sweep_interval_s = {self.sweep_interval_s}")
        for old, new in self.replace.items():
            assert old in text, old
            text = text.replace(old, new)
        # workers heartbeat at the interval the manager hands out at Register
        text = text.replace(
            "heartbeat_interval_s = 3.0", f"heartbeat_interval_s = {self.heartbeat_interval_s}"
        )
        config.write_text(text)
        if self.shared_secret is not None:
            (self.home / "secret").write_text(self.shared_secret.hex() + "\n")
        self.secret = read_secret(self.home / "secret")

    def env(self) -> dict[str, str]:
        return {**os.environ, "PROVER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}

    @property
    def endpoint_file(self) -> Path:
        return self.home / ENDPOINT_FILE

    def endpoint(self) -> Endpoint | None:
        """What the running manager's endpoint file says; None when it has none."""
        return read_endpoint(self.endpoint_file, pid=self.proc.pid) if self.proc else None

    def start(self, timeout: float = 30.0) -> ManagerProcess:
        self.endpoint_file.unlink(missing_ok=True)  # a killed run's
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prover.cli.manager_main", "daemon", "run"],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    event = {"event": "raw", "line": line.rstrip()}
                self.lines.append(event)
                if event.get("event") == "manager_started":
                    started.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        # its ports from the file it writes once started (the last thing it
        # does), then its start line read, for the tests that look at it
        until = time.monotonic() + timeout
        endpoint = wait_for_endpoint(
            self.endpoint_file,
            self.proc.pid,
            timeout_s=timeout,
            gone=lambda: self.proc.poll() is not None,
        )
        if endpoint is None or not started.wait(max(0.0, until - time.monotonic())):
            self.kill()
            raise RuntimeError(f"manager did not start: {self.lines}")
        self.port = endpoint.grpc_port
        self.http_port = endpoint.http_port or None
        return self

    def events(self, name: str) -> list[dict]:
        return [e for e in self.lines if e.get("event") == name]

    def token(self, perm: str) -> str:
        return make_token(self.secret, perm)

    def api_info(self, perm: str = "admin") -> str:
        return f"{self.token(perm)}:127.0.0.1:{self.port}"

    def client(self, perm: str = "admin") -> ManagerClient:
        return ManagerClient(ApiInfo(self.token(perm), f"127.0.0.1:{self.port}"))

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        # its last lines (manager_stopped) are read by then, not a moment later
        if self._reader is not None:
            self._reader.join(timeout)
        return code

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> ManagerProcess:
        """kill -9 and start again on the same home and database."""
        self.kill()
        self.lines = []
        time.sleep(0.1)
        return self.start()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoggedProcess:
    """A real daemon in a subprocess, its JSON log events collected."""

    name = "process"

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command = command
        self.env = env
        self.lines: list[dict] = []
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            for line in self.proc.stdout:
                try:
                    self.lines.append(json.loads(line))
                except json.JSONDecodeError:
                    self.lines.append({"event": "raw", "line": line.rstrip()})

        threading.Thread(target=read, daemon=True).start()
        return self

    def events(self, name: str, **match) -> list[dict]:
        return [
            e
            for e in list(self.lines)
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_for(self, name: str, timeout: float = 60.0, **match) -> dict:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            found = self.events(name, **match)
            if found:
                return found[0]
            if self.proc.poll() is not None and not self.events(name, **match):
                time.sleep(1.0)  # the reader may still be draining the pipe
                found = self.events(name, **match)
                if found:
                    return found[0]
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before {name}: {self.lines[-20:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"no {name} {match} within {timeout}s: {self.lines[-20:]}")

    def wait_for_endpoint(self, path: Path, timeout: float = 60.0) -> Endpoint:
        """What this process wrote to its endpoint file ``path`` once it
        listened (prover.endpoints)."""
        found = wait_for_endpoint(
            path, self.proc.pid, timeout_s=timeout, gone=lambda: self.proc.poll() is not None
        )
        if found is None:
            raise AssertionError(
                f"{self.name} wrote no endpoint to {path} ({self.proc.poll()}): {self.lines[-20:]}"
            )
        return found

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class WorkerProcess(LoggedProcess):
    """A real prover-worker."""

    name = "worker"

    def __init__(
        self,
        home: Path,
        api_info: str,
        *,
        name: str = "w1",
        storages=None,
        concurrency: int = 1,
        args: tuple[str, ...] = (),
        **settings,
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "worker.toml"
        values = {
            "name": name,
            "concurrency": concurrency,
            "tmpdir": str(home / "tmp"),
            "claim_wait_s": 5.0,
            **settings,
        }
        lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        for sname, path in (storages or {}).items():
            lines += ["[[storage]]", f'name = "{sname}"', f'path = "{path}"']
        self.config.write_text("\n".join(lines) + "\n")
        self.args = args
        command = [
            sys.executable,
            "-m",
            "prover.cli.worker_main",
            "--config",
            str(self.config),
            "--log-json",
            *args,
        ]
        env = {**os.environ, "PROVER_API_INFO": api_info, "PYTHONUNBUFFERED": "1"}
        super().__init__(command, env)


class StorageHostProcess(LoggedProcess):
    """A real prover-storage serving ``storages`` (name -> path)."""

    name = "storage host"

    def __init__(
        self, api_info: str, name: str, storages: dict, *, args: tuple[str, ...] = ()
    ) -> None:
        # where it says which ports it bound (removed when it stops cleanly)
        self.endpoint_file = Path(tempfile.gettempdir()) / f"prover-test-{uuid.uuid4().hex}.json"
        command = [
            sys.executable,
            "-m",
            "prover.cli.storage_main",
            "--name",
            name,
            "--listen",
            "127.0.0.1:0",
            "--endpoint-file",
            str(self.endpoint_file),
            "--log-json",
            *[f"--storage={n}={p}" for n, p in storages.items()],
            *args,
        ]
        env = {**os.environ, "PROVER_API_INFO": api_info, "PYTHONUNBUFFERED": "1"}
        super().__init__(command, env)
        self.host_name = name

    @property
    def port(self) -> int:
        return self.wait_for_endpoint(self.endpoint_file, 30).grpc_port

    def kill(self) -> None:
        super().kill()
        self.endpoint_file.unlink(missing_ok=True)  # left by a kill
