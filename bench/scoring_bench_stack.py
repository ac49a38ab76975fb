"""The processes bench/scoring_bench.py and bench/analyze_bench.py run: a broker, the API
and one scoring worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil
from http_bench_servers import cpu_seconds

from moderation.broker import MAINTENANCE_QUEUE, SCORING_QUEUE, analyze_queue
from moderation.config import Settings
from workers.celery_app import create_celery


def broker(stack: contextlib.ExitStack, work: Path) -> str:
    """BROKER_URL when set, else an embedded Redis under `work`; its queues purged."""
    url = os.environ.get("BROKER_URL")
    if not url:
        from moderation.embedded import EmbeddedRedis

        print(f"BROKER_URL is not set: starting an embedded Redis in {work}")
        redis = EmbeddedRedis(work)
        stack.callback(redis.stop)
        url = redis.url
    purge(url)
    return url


def purge(url: str) -> None:
    """Drop wake-ups and analyze requests an earlier run left: a stale wake-up would claim
    this run's comments, stale requests would make the first batches of this one."""
    app = create_celery(Settings(database_url="unused", broker_url=url))
    with app.connection_for_write() as connection:
        for queue in (
            *(app.amqp.queues[name] for name in (SCORING_QUEUE, MAINTENANCE_QUEUE)),
            analyze_queue(),
        ):
            bound = queue.bind(connection)
            bound.declare()
            bound.purge()


def service_env(database_url: str, broker_url: str, models: Path, **extra: str) -> dict[str, str]:
    """What the API and the worker are configured with; nothing leaks in from our own env."""
    env = {
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "MODERATION_MODELS_DIR": str(models),
        "MODERATION_TOXICITY_MODELS": "original",
        "MODERATION_LOG_JSON": "false",
        # One access line per POST would be most of the API's log and some of its CPU.
        "MODERATION_ACCESS_LOG": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.update(extra)
    return env


@dataclass
class Worker:
    """`moderation worker`: the Celery parent and its prefork pool, in a group of its own."""

    process: subprocess.Popen[bytes]
    log: Path
    broker_url: str

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, env: dict[str, str], work: Path, concurrency: int, label: str
    ) -> Iterator[Worker]:
        log = work / f"worker-{label}.log"
        full_env = {k: v for k, v in os.environ.items() if not _leaks_into_service(k)}
        full_env.update(env)
        cli = Path(sys.executable).parent / "moderation"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(cli), "worker", f"--concurrency={concurrency}"],
                env=full_env,
                # Outside the repository so a developer's .env cannot change the settings.
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = cls(process, log, env["BROKER_URL"])
        try:
            worker._wait_ready(concurrency)
            yield worker
        finally:
            worker.stop()

    def _wait_ready(self, concurrency: int, timeout: float = 180.0) -> None:
        # Celery says "ready" once its pool processes have run worker_process_init,
        # which loads the models: from then on a task meets a loaded scorer.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited at start; see {self.log}:\n{self.tail()}")
            if " ready." in self.text() and len(self.pool()) == concurrency:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the worker is not ready after {timeout:.0f} s:\n{self.tail()}")

    def pause(self) -> None:
        """Stop taking scoring wake-ups (Celery's cancel_consumer): those sent meanwhile
        wait in the broker."""
        self._control("cancel_consumer")

    def resume(self) -> None:
        """Take scoring wake-ups again (add_consumer)."""
        self._control("add_consumer")

    def _control(self, command: str) -> None:
        app = create_celery(Settings(database_url="unused", broker_url=self.broker_url))
        # One node (its pool processes are not nodes): its reply ends the wait.
        replies = getattr(app.control, command)(SCORING_QUEUE, reply=True, timeout=5, limit=1)
        if not replies:
            raise RuntimeError(f"the worker did not answer {command}:\n{self.tail()}")

    def pool(self) -> list[int]:
        with contextlib.suppress(psutil.Error):
            return [child.pid for child in psutil.Process(self.process.pid).children()]
        return []

    def cpu_seconds(self) -> float:
        """CPU time of the Celery parent and its pool processes so far."""
        return cpu_seconds([self.process.pid, *self.pool()])

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def count(self, needle: str) -> int:
        return self.text().count(needle)

    def stop(self) -> None:
        if self.process.poll() is None:
            # Celery's warm shutdown finishes the task in hand, then stops the pool.
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Pool processes that outlived the parent are in its process group, which is ours.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def stop_on_signals() -> None:
    """SIGTERM and SIGINT exit through SystemExit, so the exit stack still stops the
    processes and drops the scratch database; SIGINT is set as a shell may ignore it."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    print(f"\n{signal.Signals(signum).name}: stopping the processes and dropping the database")
    raise SystemExit(128 + signum)


def _leaks_into_service(name: str) -> bool:
    # The bench decides these; inherited values would change what is measured.
    return name.startswith("MODERATION_") or name in ("BROKER_URL", "DATABASE_URL", "PYTHONPATH")
