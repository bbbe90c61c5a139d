"""A real manager daemon in a subprocess, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from prover.client import ApiInfo, ManagerClient
from prover.manager.auth import make_token, read_secret


class ManagerProcess:
    def __init__(
        self, home: Path, *, database_url: str = "", replace: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.replace = replace or {}
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
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
        text = text.replace('listen = "127.0.0.1:9700"', 'listen = "127.0.0.1:0"')
        text = text.replace("json = false", "json = true")
        text = text.replace('url = ""', f'url = "{self.database_url}"')
        text = text.replace("sweep_interval_s = 1.0", "sweep_interval_s = 0.2")
        for old, new in self.replace.items():
            assert old in text, old
            text = text.replace(old, new)
        config.write_text(text)
        self.secret = read_secret(self.home / "secret")

    def env(self) -> dict[str, str]:
        return {**os.environ, "PROVER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}

    def start(self, timeout: float = 30.0) -> ManagerProcess:
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
                    self.port = int(event["listen"].rpartition(":")[2])
                    started.set()

        threading.Thread(target=read, daemon=True).start()
        if not started.wait(timeout):
            self.kill()
            raise RuntimeError(f"manager did not start: {self.lines}")
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
        return self.proc.wait(timeout)

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
