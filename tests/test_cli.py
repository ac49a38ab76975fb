"""The `moderation` command as operators run it: real processes, real databases."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.metadata
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import torch

from moderation.cli.dev import _free, _model_exports
from moderation.cli.workers import MODELS_POLL_SECONDS
from moderation.config import Settings
from tests.tiny_model import make_tiny_checkpoint
from tests.workers import (
    Process,
    free_port,
    live_api,
    wait_stack_ready,
    wait_until,
    worker_env,
)

MODERATION = str(Path(sys.executable).with_name("moderation"))


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODERATION_", "DATABASE_URL", "BROKER_URL"))
    }
    env.update({"MODERATION_DATA_DIR": str(tmp_path / "data"), "MODERATION_LOG_JSON": "false"})
    env.update(extra)
    return env


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODERATION, *args],
        cwd=tmp_path,
        env=environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def worker_cli(
    tmp_path: Path,
    database: str,
    models: Path,
    broker: str = "redis://127.0.0.1:9/0",
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`moderation worker` run to its end: these tests expect it to refuse to start."""
    return cli(
        tmp_path,
        "worker",
        DATABASE_URL=database,
        BROKER_URL=broker,
        MODERATION_MODELS_DIR=str(models),
        **env,
    )


def test_migrate_applies_then_reports_up_to_date(tmp_path: Path, fresh_url: str) -> None:
    first = cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    second = cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    assert second.returncode == 0
    assert "up to date" in second.stdout


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1/0;", "division by zero"),
        ("ALTER TABLE no_such_table ADD x int;", 'relation "no_such_table" does not exist'),
    ],
    ids=["runtime", "undefined-table"],
)
def test_migrate_names_a_failing_migration_in_one_line(
    tmp_path: Path, fresh_url: str, sql: str, message: str
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("CREATE TABLE first (id int);")
    (folder / "0002_broken.sql").write_text(sql)
    result = cli(tmp_path, "migrate", DATABASE_URL=fresh_url, MODERATION_MIGRATIONS_DIR=str(folder))
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line == f"Error: migration 0002_broken failed: {message}"


def test_commands_without_a_database_name_the_missing_variable(tmp_path: Path) -> None:
    result = cli(tmp_path, "migrate")
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://postgres@127.0.0.1:1/postgres",
            "cannot reach the database in DATABASE_URL (ConnectionRefusedError",
        ),
        ("notaurl", "DATABASE_URL is not a usable PostgreSQL URL (invalid DSN"),
        ("postgresql://postgres@127.0.0.1:port/db", "DATABASE_URL is not a usable PostgreSQL"),
        ("postgresql://postgres@127.0.0.1:99999/db", "DATABASE_URL is not a usable PostgreSQL"),
    ],
    ids=["down", "malformed", "bad-port", "port-out-of-range"],
)
def test_commands_name_an_unreachable_or_malformed_database_in_one_line(
    tmp_path: Path, url: str, message: str
) -> None:
    for command in (("site", "list"), ("moderator", "list"), ("migrate",), ("api",)):
        result = cli(tmp_path, *command, DATABASE_URL=url)
        assert result.returncode != 0
        [line] = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith(f"Error: {message}"), result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODERATION_DB_POOL_MAX", "abc", "Input should be a valid integer"),
        ("MODERATION_LOG_LEVEL", "LOUD", "Input should be 'DEBUG', 'INFO',"),
        ("MODERATION_TOXICITY_DEVICE", "gpu", "Value error, 'gpu' is not auto, cpu"),
        # A time that never comes overflows wherever it becomes a date.
        ("MODERATION_WEBHOOK_RETRY_BASE_SECONDS", "inf", "Input should be a finite number"),
    ],
)
def test_a_malformed_setting_is_named_in_one_line(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    for command in (("site", "list"), ("worker",)):
        result = cli(tmp_path, *command, **{variable: value})
        assert result.returncode != 0
        [line] = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith(f"Error: {variable}: {message}"), result.stderr


def test_commands_on_a_database_not_yet_migrated_say_to_migrate(
    tmp_path: Path, fresh_url: str
) -> None:
    for command in (("site", "list"), ("moderator", "list")):
        result = cli(tmp_path, *command, DATABASE_URL=fresh_url)
        assert result.returncode != 0
        [line] = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith("Error: the database in DATABASE_URL is not migrated"), line
        assert line.endswith("run `moderation migrate`"), line


def test_site_create_prints_a_key_and_json_for_scripts(tmp_path: Path, fresh_url: str) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    plain = cli(
        tmp_path,
        "site",
        "create",
        "daily",
        "--origin",
        "https://daily.example",
        DATABASE_URL=fresh_url,
    )
    assert plain.returncode == 0, plain.stderr
    assert re.search(r"widget key: wk_\S+", plain.stdout)

    scripted = cli(
        tmp_path,
        "site",
        "create",
        "weekly",
        "--origin",
        "https://weekly.example",
        "--json",
        DATABASE_URL=fresh_url,
    )
    created = json.loads(scripted.stdout)
    assert created["site"] == "weekly"
    assert created["key"].startswith("wk_")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad Slug",), "slug"),
        (("a" * 300,), "slug must be at most 63 characters (this one has 300)"),
        (("ok\n",), "must be lowercase letters, digits and dashes"),
        (("ok-slug", "--origin", "https://x.example/path"), "origin"),
        (("ok-slug", "--origin", "ftp://x.example"), "origin"),
        (("ok-slug", "--origin", "http://[::1"), "origin"),
    ],
)
def test_site_create_refuses_bad_input_clearly(
    tmp_path: Path, fresh_url: str, args: tuple[str, ...], message: str
) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    result = cli(tmp_path, "site", "create", *args, DATABASE_URL=fresh_url)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_names_with_control_characters_are_refused_in_one_line(
    tmp_path: Path, fresh_url: str
) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    cli(tmp_path, "site", "create", "paper", DATABASE_URL=fresh_url)
    for command in (
        ("moderator", "create", "--site", "paper"),
        ("apikey", "create", "--site", "paper"),
        ("site", "create", "other"),
    ):
        result = cli(tmp_path, *command, "--name", "Da\x1b[2Jna", DATABASE_URL=fresh_url)
        assert result.returncode != 0
        assert result.stderr == "Error: --name: control character U+001B is not allowed\n"
    listed = cli(tmp_path, "moderator", "list", DATABASE_URL=fresh_url)
    assert listed.stdout == (
        "no moderators yet; `moderation moderator create --site SLUG --role admin` makes one\n"
    )


def test_site_create_refuses_a_taken_slug(tmp_path: Path, fresh_url: str) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    cli(tmp_path, "site", "create", "twice", DATABASE_URL=fresh_url)
    again = cli(tmp_path, "site", "create", "twice", DATABASE_URL=fresh_url)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_site_sign_readers_prints_a_new_secret_and_off_stops_signing(
    tmp_path: Path, fresh_url: str
) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    cli(tmp_path, "site", "create", "signed", DATABASE_URL=fresh_url)
    secrets = set()
    for _ in range(2):
        signed = cli(tmp_path, "site", "sign-readers", "signed", "--json", DATABASE_URL=fresh_url)
        assert signed.returncode == 0, signed.stderr
        secrets.add(json.loads(signed.stdout)["reader_secret"])
    assert len(secrets) == 2
    assert all(s.startswith("rs_") for s in secrets)
    off = cli(tmp_path, "site", "sign-readers", "signed", "--off", DATABASE_URL=fresh_url)
    assert off.stdout.strip() == "site signed: author ids are no longer signed"
    missing = cli(tmp_path, "site", "sign-readers", "nowhere", DATABASE_URL=fresh_url)
    assert missing.returncode != 0
    assert "no site 'nowhere'" in missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("webhook", "rotate", "1", "--grace-hours", "nan"),
        ("webhook", "rotate", "1", "--grace-hours", "1e10"),
        ("webhook", "replay", "99999999999999999999"),
        ("site", "sign-readers", "daily", "--keep-previous", "inf"),
        ("moderator", "revoke", "0"),
    ],
)
def test_absurd_numbers_on_the_command_line_are_named_in_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # Refused before any database is asked: no traceback from an overflow further in.
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error: Invalid value for" in result.stderr, result.stderr


class DevInstance:
    """`moderation dev` in a subprocess, with what it printed."""

    def __init__(self, tmp_path: Path) -> None:
        # The API, the demo page one above it and the worker's metrics two above.
        self.port = free_port(3)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"dev-{self.port}.log"
        # Append mode: dev and the worker it starts share this file, and every write lands
        # at its end; the test reads it through a handle of its own, never moving theirs.
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [MODERATION, "dev", "--port", str(self.port)],
                cwd=tmp_path,
                env=environment(tmp_path),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        wait_stack_ready(self.base, lambda: self.process.poll() is None, self.output, 90)

    def output(self) -> str:
        return self.log_path.read_text()

    @property
    def key(self) -> str:
        return self._printed(r"widget key: (wk_\S+)")

    @property
    def token(self) -> str:
        return self._printed(r"token: (mt_\S+)")

    @property
    def exports(self) -> str:
        return self._printed(r"(?m)^export (.+)$")

    @property
    def second_terminal(self) -> str:
        """The lines it prints for a second terminal, to paste as they are."""
        return self._printed(r"reaches this instance after:\n((?:.*\n)*?export .+)")

    def _printed(self, pattern: str) -> str:
        match = re.search(pattern, self.output())
        assert match, self.output()
        return match.group(1)

    def stop(self, signum: int = signal.SIGINT) -> None:
        """Send `signum` and expect a clean exit (status 0) within 30 s."""
        self.process.send_signal(signum)
        status = self.process.wait(timeout=30)
        assert status == 0, f"exit status {status}:\n{self.output()}"

    def reap(self) -> None:
        """Kill and collect the process if a failed test left it running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def started_processes(data_dir: Path) -> dict[str, psutil.Process]:
    """What a `moderation dev` on `data_dir` runs, by the pid files it keeps."""
    files = {
        "worker": data_dir / "worker.pid",
        "beat": data_dir / "beat.pid",
        "redis": data_dir / "redis" / "redis.pid",
        "postgres": data_dir / "postgres" / "postmaster.pid",
    }
    running = {}
    for name, path in files.items():
        if path.exists():
            with contextlib.suppress(psutil.NoSuchProcess):
                running[name] = psutil.Process(int(path.read_text().split()[0]))
    return running


def alive(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture
def dev_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    leftovers = list(started_processes(tmp_path / "data").values())
    for proc in psutil.process_iter(["cmdline"]):
        if str(tmp_path) in " ".join(proc.info["cmdline"] or ()):
            leftovers.append(proc)
    for proc in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


@pytest.fixture
def start_dev(dev_dir: Path) -> Iterator[Callable[[], DevInstance]]:
    """Start `moderation dev` on `dev_dir`, ready to serve; reaped when the test ends."""
    started: list[DevInstance] = []

    def start() -> DevInstance:
        instance = DevInstance(dev_dir)
        started.append(instance)
        instance.wait_ready()
        return instance

    yield start
    for instance in started:
        instance.reap()


def test_dev_hands_a_second_terminal_the_model_settings_it_runs_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Else `moderation models list` there describes another worker than dev's.
    for name in list(os.environ):
        if name.startswith("MODERATION_"):
            monkeypatch.delenv(name)
    assert _model_exports(Settings(_env_file=None)) == {}
    settings = Settings(
        _env_file=None, models_dir=tmp_path / "m", toxicity_backend="onnx", toxicity_dtype="int8"
    )
    assert _model_exports(settings) == {
        "MODERATION_MODELS_DIR": str((tmp_path / "m").resolve()),
        "MODERATION_TOXICITY_BACKEND": "onnx",
        "MODERATION_TOXICITY_DTYPE": "int8",
    }


def embedded_servers(data_dir: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(data_dir) in " ".join(p.info["cmdline"] or ())
    ]


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_dev_runs_the_whole_service_on_embedded_services_and_keeps_its_data(
    dev_dir: Path, start_dev: Callable[[], DevInstance]
) -> None:
    first = start_dev()
    key, token = first.key, first.token
    output = first.output()
    assert "embedded PostgreSQL" in output
    assert "embedded Redis" in output
    # No weights here: the dev scorer is announced, never silently used.
    assert "DEVELOPMENT keyword scorer" in output
    comment = {"author": {"name": "Ann"}, "body": "Hello from dev"}
    headers = {"X-Site-Key": key, "Idempotency-Key": "dev-1"}
    url = f"{first.base}/v1/sites/demo/articles/hello/comments"
    posted = httpx.post(url, json=comment, headers=headers)
    assert posted.status_code == 202

    # The worker and beat that dev started score it; the demo token works the queues.
    def published() -> bool:
        threads = httpx.get(url).json()["threads"]
        return [t["id"] for t in threads] == [posted.json()["id"]]

    wait_for(published, 120, f"the dev worker to approve the comment:\n{first.output()}")
    auth = {"Authorization": f"Bearer {token}"}
    counts = httpx.get(f"{first.base}/v1/moderation/queues?site=demo", headers=auth)
    assert counts.json()["counts"]["approved"] == 1
    # The worker's own metrics, where dev says they are, count that decision.
    worker_metrics = f"http://127.0.0.1:{first.port + 2}/metrics"
    assert f"worker: {worker_metrics}" in first.output()
    decided = 'moderation_comments_decided_total{actor="system",site="demo",status="approved"} 1.0'
    assert decided in httpx.get(worker_metrics).text.splitlines()

    # The printed lines are all a second terminal needs to reach this instance, the
    # `moderation` command included: `make dev` never activates the venv.
    exports = dict(word.split("=", 1) for word in shlex.split(first.exports))
    assert set(exports) == {"DATABASE_URL", "BROKER_URL", "MODERATION_DATA_DIR"}
    venv_bin = str(Path(MODERATION).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    listed = subprocess.run(
        ["bash", "-c", f"{first.second_terminal}\nmoderation site list --json"],
        cwd=dev_dir,
        env={**environment(dev_dir), "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert [site["key"] for site in json.loads(listed.stdout)] == [key]
    first.stop()
    assert embedded_servers(dev_dir) == [], "Ctrl-C left the embedded PostgreSQL running"

    second = start_dev()
    try:
        assert second.key == key
        replay = httpx.post(
            f"{second.base}/v1/sites/demo/articles/hello/comments", json=comment, headers=headers
        )
        # The same comment (a replay's answer carries a fresh secret for its poster).
        assert replay.json()["id"] == posted.json()["id"], "the comment did not survive the restart"
        # Each start prints a new demo token; the old one stops working.
        old = httpx.get(f"{second.base}/v1/moderation/queues?site=demo", headers=auth)
        assert old.status_code == 401
        new = {"Authorization": f"Bearer {second.token}"}
        assert httpx.get(f"{second.base}/v1/moderation/queues?site=demo", headers=new).is_success
    finally:
        second.stop()


def test_a_worker_without_model_weights_refuses_to_start_and_says_why(
    tmp_path: Path, fresh_url: str
) -> None:
    result = worker_cli(tmp_path, fresh_url, tmp_path / "models")
    assert result.returncode != 0
    assert f"missing {tmp_path / 'models' / 'original'}" in result.stderr
    assert "moderation models pull original" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("broken", ["checkpoint.ckpt", "onnx.json"])
def test_a_worker_whose_model_does_not_load_refuses_to_start_in_one_line(
    tmp_path: Path, fresh_url: str, redis_url: str, broken: str
) -> None:
    # The files are all there. A checkpoint cut short passes the check before the pool
    # starts, and the pool's process finds it as it loads; an unreadable export manifest
    # is found before.
    models = tmp_path / "models"
    make_tiny_checkpoint(models, "original")
    damaged = models / "original" / broken
    damaged.write_bytes(damaged.read_bytes()[:1000] if damaged.exists() else b"{bad")
    result = worker_cli(
        tmp_path,
        fresh_url,
        models,
        redis_url,
        MODERATION_TOXICITY_BACKEND="onnx" if broken == "onnx.json" else "torch",
        MODERATION_TORCH_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    assert result.returncode == 1
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert "Traceback" not in result.stderr
    if broken == "onnx.json":
        assert last.startswith(f"Error: unreadable ONNX manifest {damaged}: Expecting")
    else:
        assert last.startswith(f"Error: toxicity model 'original' in {damaged.parent} does not")
        assert f"{damaged} is not a readable torch checkpoint" in last


def test_a_worker_whose_metrics_port_is_taken_says_so_in_one_line(
    tmp_path: Path, fresh_url: str, models_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = worker_cli(
            tmp_path,
            fresh_url,
            models_dir,
            MODERATION_WORKER_METRICS_HOST="127.0.0.1",
            MODERATION_WORKER_METRICS_PORT=str(port),
        )
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(f"Error: MODERATION_WORKER_METRICS_PORT={port}: cannot serve")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU to run on")
def test_a_worker_asked_for_a_gpu_it_lacks_refuses_to_start_in_one_line(
    tmp_path: Path, fresh_url: str, models_dir: Path
) -> None:
    result = worker_cli(tmp_path, fresh_url, models_dir, MODERATION_TOXICITY_DEVICE="cuda:1")
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "MODERATION_TOXICITY_DEVICE=cuda:1 but this machine has no CUDA device" in line
    assert "Traceback" not in result.stderr


def test_moderator_create_prints_a_token_once_and_revoke_ends_it(
    tmp_path: Path, fresh_url: str
) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    cli(tmp_path, "site", "create", "paper", DATABASE_URL=fresh_url)
    created = cli(
        tmp_path,
        "moderator",
        "create",
        "--site",
        "paper",
        "--role",
        "admin",
        "--json",
        DATABASE_URL=fresh_url,
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["token"].startswith("mt_")
    listed = cli(tmp_path, "moderator", "list", DATABASE_URL=fresh_url)
    assert "admin" in listed.stdout
    assert "paper" in listed.stdout
    assert body["token"] not in listed.stdout

    revoked = cli(tmp_path, "moderator", "revoke", str(body["moderator"]), DATABASE_URL=fresh_url)
    assert revoked.returncode == 0
    again = cli(tmp_path, "moderator", "revoke", str(body["moderator"]), DATABASE_URL=fresh_url)
    assert again.returncode != 0
    # A site named twice counts once.
    twice = cli(
        tmp_path, "moderator", "create", "--site", "paper", "--site", "paper", "--json",
        DATABASE_URL=fresh_url,
    )  # fmt: skip
    assert twice.returncode == 0, twice.stderr
    moderator_id = json.loads(twice.stdout)["moderator"]
    listed = cli(tmp_path, "moderator", "list", DATABASE_URL=fresh_url)
    [line] = [line for line in listed.stdout.splitlines() if line.split()[0] == str(moderator_id)]
    assert line.endswith("sites: paper")
    unknown_site = cli(tmp_path, "moderator", "create", "--site", "nope", DATABASE_URL=fresh_url)
    assert unknown_site.returncode != 0
    assert "no site 'nope'" in unknown_site.stderr


def test_the_api_closes_idle_connections_after_its_keepalive(
    tmp_path: Path, database_url: str
) -> None:
    """MODERATION_API_KEEPALIVE_SECONDS reaches uvicorn: a connection serves several
    requests, then the API closes it once idle that long (the default is 5 s)."""
    with live_api(tmp_path, database_url, MODERATION_API_KEEPALIVE_SECONDS="1") as (base, _):
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        try:
            sockets = []
            for _ in range(2):
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                assert response.status == 200
                response.read()
                sockets.append(connection.sock)
            idle = sockets[0]
            assert idle is sockets[1]  # the same connection
            time.sleep(2.5)
            idle.settimeout(1)
            assert idle.recv(1) == b"", "the idle connection was still open after 2.5 s"
        finally:
            connection.close()


def test_version_names_the_installed_release(tmp_path: Path) -> None:
    result = cli(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"moderation {importlib.metadata.version('moderation')}"


def test_site_list_shows_each_site_and_its_key(tmp_path: Path, fresh_url: str) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    empty = cli(tmp_path, "site", "list", DATABASE_URL=fresh_url)
    assert "no sites yet" in empty.stdout
    created = json.loads(
        cli(
            tmp_path,
            "site",
            "create",
            "daily",
            "--origin",
            "https://daily.example",
            "--name",
            "The Daily",
            "--json",
            DATABASE_URL=fresh_url,
        ).stdout
    )
    cli(tmp_path, "site", "create", "atlas", DATABASE_URL=fresh_url)

    plain = cli(tmp_path, "site", "list", DATABASE_URL=fresh_url)
    assert plain.returncode == 0, plain.stderr
    daily = next(line for line in plain.stdout.splitlines() if line.startswith("daily"))
    assert created["key"] in daily
    assert "https://daily.example" in daily
    listed = json.loads(cli(tmp_path, "site", "list", "--json", DATABASE_URL=fresh_url).stdout)
    assert [site["site"] for site in listed] == ["atlas", "daily"]
    assert listed[1]["name"] == "The Daily"
    assert listed[1]["key"] == created["key"]
    assert listed[1]["origins"] == ["https://daily.example"]


async def test_rotate_key_replaces_the_widget_key_for_the_api_at_once(
    tmp_path: Path, database_url: str, make_site, app_client: httpx.AsyncClient, conn
) -> None:
    site = await make_site()
    comment = {"author": {"name": "Ann"}, "body": "Hello"}
    url = f"/v1/sites/{site.slug}/articles/rotation/comments"

    rotated = cli(tmp_path, "site", "rotate-key", site.slug, "--json", DATABASE_URL=database_url)
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["key"]
    assert new_key.startswith("wk_")
    assert new_key != site.widget_key

    # The test app caches sites for 0 s; production sees it within the cache time.
    old = await app_client.post(url, json=comment, headers={"X-Site-Key": site.widget_key})
    assert old.status_code == 401
    new = await app_client.post(url, json=comment, headers={"X-Site-Key": new_key})
    assert new.status_code == 202
    event = await conn.fetchrow(
        "SELECT change, before, after FROM site_events WHERE site_id = $1", site.id
    )
    assert event["change"] == "widget_key"
    assert event["before"] == {"widget_key": site.widget_key}
    assert event["after"] == {"widget_key": new_key}


def test_rotate_key_of_an_unknown_site_says_so(tmp_path: Path, fresh_url: str) -> None:
    cli(tmp_path, "migrate", DATABASE_URL=fresh_url)
    result = cli(tmp_path, "site", "rotate-key", "nowhere", DATABASE_URL=fresh_url)
    assert result.returncode != 0
    assert "no site 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_dev_stops_everything_it_started_on_hangup_and_terminate(
    dev_dir: Path, start_dev: Callable[[], DevInstance], signum: int
) -> None:
    instance = start_dev()
    started = started_processes(dev_dir / "data")
    assert set(started) == {"worker", "beat", "redis", "postgres"}, instance.output()
    assert alive(started.values()) == list(started.values())

    instance.stop(signum)
    wait_for(lambda: not alive(started.values()), 30, "the services dev started to stop")
    assert not (dev_dir / "data" / "dev.pid").exists()
    assert not (dev_dir / "data" / "worker.ready").exists()


def test_dev_refuses_a_second_start_and_cleans_up_after_a_killed_one(
    dev_dir: Path, start_dev: Callable[[], DevInstance]
) -> None:
    first = start_dev()
    second = cli(dev_dir, "dev", "--port", str(free_port()))
    assert second.returncode != 0
    assert f"already runs on {dev_dir / 'data'} (pid {first.process.pid})" in second.stderr

    # SIGKILL leaves no chance to clean up: the worker, beat, Redis and PostgreSQL stay.
    left = started_processes(dev_dir / "data")
    first.process.kill()
    first.process.wait()
    assert alive(left.values()) == list(left.values())

    again = start_dev()
    try:
        output = again.output()
        named = {"worker": "worker", "beat": "beat", "redis": "Redis", "postgres": "PostgreSQL"}
        for key, name in named.items():
            pid = left[key].pid
            assert f"stopped the {name} (pid {pid}) that an earlier start left running" in output
        assert not alive(left.values())
        # Redis renames its process; it runs in its data folder.
        redis_dir = str(dev_dir / "data" / "redis")
        servers = []
        for process in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if "redis" in (process.info["name"] or "") and process.cwd() == redis_dir:
                    servers.append(process)
        assert len(servers) == 1
    finally:
        again.stop()


async def test_a_worker_told_to_wait_for_weights_says_so_once_then_starts_with_them(
    tmp_path: Path,
    make_migrated_database: Callable[[], Awaitable[str]],
    redis_url: str,
) -> None:
    models = tmp_path / "models"
    ready = tmp_path / "worker.ready"
    env = worker_env(
        await make_migrated_database(), redis_url, models, MODERATION_WORKER_READY_FILE=str(ready)
    )
    worker = Process(["worker", "--wait-for-models"], env, tmp_path / "worker.log")
    try:

        async def waiting() -> bool:
            return "waiting for model weights" in worker.output()

        await wait_until(waiting, 60, "the waiting line", [worker])
        assert f"missing {models / 'original'}" in worker.output()
        await asyncio.sleep(3 * MODELS_POLL_SECONDS)  # it looks again, quietly
        assert worker.popen.poll() is None
        assert worker.output().count("waiting for model weights") == 1

        make_tiny_checkpoint(models, "original")
        await wait_until(lambda: asyncio.to_thread(ready.exists), 120, "the worker", [worker])
        assert json.loads(ready.read_text())["models"] == ["original@tiny test model"]
        assert worker.output().count("waiting for model weights") == 1
        assert "models_found" in worker.output()
    finally:
        worker.stop()
    assert not ready.exists(), "a stopped worker still says it is ready"


def json_lines(process: Process) -> list[dict[str, object]]:
    """A stopped process's output as log records; fails naming any line that is not one."""
    lines = process.log_path.read_text().splitlines()
    records, plain = [], []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            plain.append(line)
    assert plain == [], "\n".join(lines)
    return records


async def test_a_worker_and_beat_with_json_logs_write_nothing_but_json_lines(
    tmp_path: Path,
    make_migrated_database: Callable[[], Awaitable[str]],
    redis_url: str,
    models_dir: Path,
) -> None:
    """No banner, warning or shutdown notice in plain text: a log pipeline reads each line."""
    ready = tmp_path / "worker.ready"
    env = worker_env(
        await make_migrated_database(),
        redis_url,
        models_dir,
        MODERATION_LOG_JSON="true",
        MODERATION_DATA_DIR=str(tmp_path / "data"),
        MODERATION_WORKER_READY_FILE=str(ready),
        # Beat is stopped just after it sent its first task, seconds before its next tick:
        # Celery's beat stopped in its first tick prints a traceback of its own.
        MODERATION_SWEEP_INTERVAL_SECONDS="3",
    )
    worker = Process(["worker"], env, tmp_path / "worker.log")
    beat = Process(["beat"], env, tmp_path / "beat.log")
    try:

        async def beat_sent() -> bool:
            return "Sending due task" in beat.output()

        await wait_until(lambda: asyncio.to_thread(ready.exists), 120, "the worker", [worker])
        await wait_until(beat_sent, 60, "beat", [beat])
    finally:
        worker.stop()
        beat.stop()
    worker_events = [record["event"] for record in json_lines(worker)]
    assert "worker_ready" in worker_events
    assert "worker: Warm shutdown (MainProcess)" in worker_events
    beat_events = [str(record["event"]) for record in json_lines(beat)]
    assert "beat: Starting..." in beat_events
    assert any(event.startswith("Scheduler: Sending due task") for event in beat_events)


# What a worker's main process says of a pool process killed mid-task (a SIGTERM to the
# whole process group, as systemd sends), after Celery has set up its logging.
POOL_PROCESS_LOST = """
from billiard import util
from moderation import logs
from moderation.config import Settings
from workers.celery_app import create_celery
settings = Settings(log_json=True)
logs.configure(settings)
create_celery(settings).log.setup_logging_subsystem(loglevel="INFO")
util.get_logger()
util.error("Process %r pid:%r exited with %r", "ForkPoolWorker-1", 1542, "signal 15 (SIGTERM)")
"""


def test_celerys_pool_logs_json_lines_too() -> None:
    # Billiard's logger does not propagate to the root: Celery gave it a plain-text
    # handler of its own, which broke a worker's JSON log whenever it stopped mid-task.
    env = {"PATH": os.environ["PATH"], "MODERATION_LOG_JSON": "true"}
    done = subprocess.run(
        [sys.executable, "-c", POOL_PROCESS_LOST], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    record = json.loads(line)
    assert (
        record["event"] == "Process 'ForkPoolWorker-1' pid:1542 exited with 'signal 15 (SIGTERM)'"
    )
    assert record["level"] == "error"


def test_dev_gives_its_worker_a_metrics_port_only_if_one_is_free() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _free("127.0.0.1", port) is None
    assert _free("127.0.0.1", port) == port
    assert _free("127.0.0.1", 65536) is None
