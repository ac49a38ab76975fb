"""CI's own space on shared services (.ci/services.sh): a Redis database and a RabbitMQ
virtual host per run, emptied and removed at its end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from kombu import Connection

REPO = Path(__file__).resolve().parent.parent


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def services(*command: str) -> str:
    """Run a function of .ci/services.sh; its output."""
    script = f"source {REPO / '.ci' / 'services.sh'}; " + " ".join(command)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def redis(*command: str) -> str:
    return subprocess.run(
        ["redis-cli", *command], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(
    not (shutil.which("redis-cli") and listening(6379)), reason="no local Redis to share"
)
def test_each_run_claims_an_empty_redis_database_and_leaves_nothing_behind() -> None:
    first = services("claim_redis_db", "run-a")
    try:
        assert redis("-n", first, "DBSIZE") == "0"
        redis("-n", first, "SET", "left-by-a-test", "1")
        second = services("claim_redis_db", "run-b")
        assert second != first, "two runs got the same database"
        services("release_redis_db", second)
    finally:
        services("release_redis_db", first)
    assert redis("-n", first, "DBSIZE") == "0"
    assert redis("-n", "0", "EXISTS", f"moderation-ci:db:{first}") == "0"
    assert redis("-n", "0", "EXISTS", f"moderation-ci:db:{second}") == "0"


@pytest.mark.skipif(
    not (shutil.which("rabbitmqctl") and listening(5672)), reason="no local RabbitMQ to share"
)
def test_each_run_has_a_rabbitmq_vhost_of_its_own_removed_at_its_end() -> None:
    vhost = f"moderation-ci-test-{uuid.uuid4().hex[:8]}"
    services("create_vhost", vhost)
    try:
        with Connection(f"amqp://guest:guest@127.0.0.1:5672/{vhost}") as connection:
            queue = connection.SimpleQueue("ci-isolation")
            queue.put({"run": vhost})
            assert queue.get(timeout=5).payload == {"run": vhost}
            queue.close()
    finally:
        services("delete_vhost", vhost)
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert vhost not in listed
