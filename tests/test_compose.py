"""docker-compose.yml cannot run here (no Docker engine), so it is checked as data: the
stack the README promises, with health checks, calling commands this CLI really has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from moderation.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document


def resolve(command: list[str]) -> click.Command:
    """The click command a container's `moderation ...` command line would run."""
    assert command[0] == "moderation"
    context = click.Context(main)
    current: click.Command = main
    for word in command[1:]:
        if word.startswith("-") or not isinstance(current, click.Group):
            break
        found = current.get_command(context, word)
        assert found is not None, f"`moderation {word}` does not exist"
        current = found
    return current


def test_the_stack_has_its_services(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", "migrate", "api", "worker", "beat"} <= set(compose["services"])


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "api", "worker"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_every_service_command_is_a_real_cli_command_with_real_options(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        command = service.get("command", [])
        if not command or command[0] != "moderation":
            continue
        resolved = resolve(command)
        known = {opt for param in resolved.params for opt in getattr(param, "opts", [])}
        used = {word for word in command if word.startswith("--")}
        assert used <= known, f"{name}: unknown options {used - known}"


def test_migrations_run_before_the_api(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["command"] == ["moderation", "migrate"]
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_services_share_one_configuration(compose: dict[str, Any]) -> None:
    services = [s for s in compose["services"].values() if s.get("image") == "moderation:latest"]
    assert len(services) >= 2
    urls = {s["environment"]["DATABASE_URL"] for s in services}
    assert len(urls) == 1
    [url] = urls
    postgres_env = compose["services"]["postgres"]["environment"]
    assert f"{postgres_env['POSTGRES_USER']}:{postgres_env['POSTGRES_PASSWORD']}@postgres" in url
    assert url.endswith("/" + postgres_env["POSTGRES_DB"])


def test_the_worker_gets_its_models_from_a_volume(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "models:/models" in worker["volumes"]
    assert worker["environment"]["MODERATION_TOXICITY_MODELS"] == "original"
    # The image points MODERATION_MODELS_DIR at /models.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "MODERATION_MODELS_DIR=/models" in dockerfile


def test_desk_sessions_need_a_secret_the_operator_provides(compose: dict[str, Any]) -> None:
    secret = compose["services"]["api"]["environment"]["MODERATION_SESSION_SECRET"]
    # Compose's "${VAR:?message}": refuse to start rather than run with a default secret.
    assert secret.startswith("${MODERATION_SESSION_SECRET:?")
