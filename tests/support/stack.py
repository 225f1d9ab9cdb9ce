"""The product as real OS processes: embedded (`videofoundry up`) or distributed (API, AI
worker and composition worker against PostgreSQL, RabbitMQ, Redis and moto S3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "videofoundry"


@dataclass
class Stack:
    """Processes of one deployment; `env` is shared by all of them."""

    kind: str
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ledger(self) -> Path:
        return Path(self.env["VF_TEST_LEDGER"])

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")
        process = subprocess.Popen(
            [str(BIN), *args], cwd=self.workdir, env=self.env, stdout=log, stderr=log
        )
        self.processes[name] = process
        return process

    def start(self) -> None:
        if self.kind == "embedded":
            self.spawn(
                "up", "up", "--port", str(self.port), "--data-dir", str(self.workdir / "data")
            )
        else:
            self.spawn("api", "api", "--port", str(self.port))
            self.spawn("ai", "worker", "ai")
            self.spawn("composition", "worker", "composition")
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.logs(name)}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the stack did not become ready:\n{self.logs()}")

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def logs(self, name: str | None = None) -> str:
        names = [name] if name else [p.stem for p in self.workdir.glob("*.log")]
        return "\n".join(
            f"--- {n} ---\n{(self.workdir / f'{n}.log').read_text(errors='replace')[-4000:]}"
            for n in names
            if (self.workdir / f"{n}.log").exists()
        )


def base_env(workdir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "RABBITMQ_", "REDIS_", "S3_", "AWS_"))
    }
    env.update(
        {
            "ENVIRONMENT": "test",
            "SECRET_KEY": uuid.uuid4().hex,
            "PYTHONPATH": str(REPO),
            "EXTRA_ADAPTERS": "tests.support.counting:CountingProcedural",
            "DEFAULT_BUDGET_USD": "none",  # paid fakes render without an operator's grant
            # As in-process tests: every test registers from 127.0.0.1, and the distributed
            # stacks share one Redis, so the per-address limits would refuse them within the hour.
            "RATE_LIMITS_ENABLED": "false",
            "VF_TEST_LEDGER": str(workdir / "ledger.jsonl"),
            # Short leases so a killed worker's task is handed on within seconds.
            "LEASE_SECONDS": "4",
            "HEARTBEAT_SECONDS": "0.5",
            "RETRY_BASE_SECONDS": "0.1",
            "LOG_LEVEL": "INFO",
        }
    )
    return env
