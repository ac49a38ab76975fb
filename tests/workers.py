"""Real worker, beat and broker processes for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import asyncpg
import httpx


class Process:
    """A `moderation ...` subprocess whose output goes to a log file the test can show."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, python: str = sys.executable
    ) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.popen = subprocess.Popen(
            [python, "-m", "moderation", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches its children
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL the whole group: the worker and its pool processes, mid-whatever."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def free_port(count: int = 1) -> int:
    """A free port on 127.0.0.1 with the `count - 1` ports above it free as well:
    `moderation dev` serves its demo page one port above the API."""
    while True:
        with contextlib.ExitStack() as held:
            first = held.enter_context(socket.socket())
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            try:
                for above in range(port + 1, port + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", above))
            except (OSError, OverflowError):  # taken, or past the last port
                continue
            return port


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """This process's environment with the service's own settings replaced by these."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODERATION_", "DATABASE_URL", "BROKER_URL"))
    }
    env.update({"DATABASE_URL": database_url, "MODERATION_LOG_JSON": "false", **extra})
    return env


def worker_env(
    database_url: str, broker_url: str, models_dir: Path, **extra: str
) -> dict[str, str]:
    return service_env(
        database_url,
        BROKER_URL=broker_url,
        MODERATION_MODELS_DIR=str(models_dir),
        MODERATION_TOXICITY_MODELS="original",
        MODERATION_TORCH_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        **extra,
    )


@contextlib.contextmanager
def live_api(
    tmp_path: Path, database_url: str, python: str = sys.executable, **extra: str
) -> Iterator[tuple[str, Process]]:
    """`moderation api` on a free port, ready, with the desk on over plain http; no broker
    (intake stores comments and nothing wakes a scorer). `python` is the one to run it with."""
    port = free_port()
    env = service_env(
        database_url,
        MODERATION_SESSION_SECRET=secrets.token_urlsafe(32),
        MODERATION_SESSION_COOKIE_SECURE="false",
        **extra,
    )
    process = Process(["api", "--port", str(port)], env, tmp_path / "api.log", python)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(base, lambda: process.popen.poll() is None, process.output, 60)
        yield base, process
    finally:
        process.stop()


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    seconds: float = 60,
    what: str = "condition",
    processes: Iterable[Process] = (),
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        for process in processes:
            if process.popen.poll() is not None:
                raise AssertionError(f"{what}: a process exited:\n{process.output()[-4000:]}")
        await asyncio.sleep(0.2)
    logs = "\n".join(p.output()[-4000:] for p in processes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def wait_http_ready(
    base: str,
    running: Callable[[], bool],
    output: Callable[[], str],
    seconds: float,
    until: Callable[[], bool] = lambda: True,
) -> None:
    """Block until `base`/readyz answers 200 and `until()` holds; fail at once, with its
    output, if the process serving it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert running(), output()
        try:
            ready = httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready and until():
            return
        time.sleep(0.2)
    raise AssertionError(f"{base} never became ready:\n{output()}")


def wait_stack_ready(
    base: str, running: Callable[[], bool], output: Callable[[], str], seconds: float
) -> None:
    """Block until a `moderation dev` stack serves `base` and its worker has loaded its
    models and can score (dev prints "worker ready" then)."""
    wait_http_ready(
        base, running, output, seconds, until=lambda: "worker ready: scoring with" in output()
    )


async def statuses(conn: asyncpg.Connection, ids: list[int]) -> dict[int, str]:
    rows = await conn.fetch("SELECT id, status FROM comments WHERE id = ANY($1)", ids)
    return {row["id"]: row["status"] for row in rows}
