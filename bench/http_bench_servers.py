"""The servers under test, and the CPU time their processes and PostgreSQL's spend."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
WORKERS = 2
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def service_command() -> list[str]:
    # The console script next to this interpreter: the venv the bench runs in.
    cli = Path(sys.executable).parent / "moderation"
    return [str(cli), "api", "--host", "127.0.0.1", "--workers", str(WORKERS)]


def baseline_command() -> list[str]:
    # The same uvicorn choices `moderation api` makes: loop and http "auto" (uvloop and
    # httptools when installed), two workers, no uvicorn access log.
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "baseline_app:create_app",
        "--factory",
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, name: str, command: list[str], env: dict[str, str], work: Path, ready_path: str
    ) -> Iterator[Server]:
        port = _free_port()
        log = work / f"{name}.log"
        full_env = {k: v for k, v in os.environ.items() if not _leaks_into_server(k)}
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(BENCH)]))
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                env=full_env,
                # Outside the repository so a developer's .env cannot change the settings.
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own process group: the uvicorn supervisor and its workers stop together.
                start_new_session=True,
            )
        server = cls(name, process, f"http://127.0.0.1:{port}", log)
        try:
            server._wait_ready(ready_path)
            yield server
        finally:
            server.stop()

    def _wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log}:\n{self.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (
                    httpx.get(self.base + path).status_code == 200
                    and len(self.workers()) == WORKERS
                ):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            # uvicorn's supervisor stops its workers gracefully on SIGTERM.
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Workers that outlived their supervisor are in its process group, which is ours.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def workers(self) -> list[int]:
        """Worker pids: children of the supervisor that have loaded asyncpg."""
        return [pid for pid in _children(self.process.pid) if "asyncpg/protocol" in _maps(pid)]

    def describe(self) -> str:
        workers = self.workers()
        maps = [_maps(pid) for pid in workers]
        uvloop = sum("uvloop/loop" in m for m in maps)
        httptools = sum("httptools/parser" in m for m in maps)
        return (
            f"{self.name}: {self.base}, {len(workers)} workers, "
            f"uvloop in {uvloop}/{len(workers)}, httptools in {httptools}/{len(workers)}"
        )

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def log_summary(self) -> str:
        size = self.log.stat().st_size
        text = self.log.read_text(errors="replace")
        return (
            f"{self.name} log: {size / 1e6:.1f} MB, {text.count(chr(10))} lines, "
            f"{text.count('unhandled_error')} unhandled errors"
        )


def _leaks_into_server(name: str) -> bool:
    # The bench decides these; inherited values would change what is measured.
    return name.startswith("MODERATION_") or name in (
        "BROKER_URL",
        "DATABASE_URL",
        "FORWARDED_ALLOW_IPS",
        "PYTHONPATH",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    """User plus system CPU ticks of each process still there, from /proc."""
    ticks = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            # Fields after the command name, which may itself hold spaces or parentheses.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of the processes (0 for one that is gone)."""
    return sum(cpu_ticks(pids).values()) / _CLOCK_TICKS


def cpu_seconds_since(before: dict[int, int], pids: list[int]) -> float:
    """CPU time `pids` spent since `before` was taken. A process started meanwhile counts
    all its time; one that ended meanwhile counts none (its ticks went with it), rather
    than taking its whole past off the sum."""
    after = cpu_ticks(pids)
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / _CLOCK_TICKS


def settle(pids: list[int], window: float = 0.5, busy: float = 0.1, limit: float = 60.0) -> None:
    """Wait until the processes use less than `busy` of a CPU, for at most `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_seconds(pids) - before < busy * window:
            return
    print(f"  servers still busy after {limit:.0f} s; measuring anyway")


def backends(database: str) -> list[int]:
    """PostgreSQL backends serving `database`: their process title names it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes()
            if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
                found.append(int(entry.name))
    return found
