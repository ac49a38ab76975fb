"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they are
checked as data: the stack the README promises, built from the Dockerfile's targets, run
as a non-root user that owns its volumes, calling commands this CLI really has."""

from __future__ import annotations

import json
import os
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from moderation.cli import main
from moderation.config import Settings

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stage:
    """One `FROM ... AS name` stage of the Dockerfile, with the stage it builds on."""

    name: str
    parent: Stage | None
    instructions: list[tuple[str, str]]

    def lineage(self) -> list[tuple[str, str]]:
        """Every instruction that shapes this stage's image, its parents' first."""
        return (self.parent.lineage() if self.parent else []) + self.instructions

    def arguments(self, keyword: str) -> list[str]:
        return [args for word, args in self.lineage() if word == keyword]

    def shell_commands(self) -> list[list[str]]:
        """Each `&&`-joined command of every RUN, split into words."""
        return [
            shlex.split(command) for run in self.arguments("RUN") for command in run.split("&&")
        ]

    def pip_installs(self) -> list[list[str]]:
        return [words for words in self.shell_commands() if words[:2] == ["pip", "install"]]

    def env(self) -> dict[str, str]:
        pairs = [word.split("=", 1) for env in self.arguments("ENV") for word in shlex.split(env)]
        return {name: value for name, value in pairs}

    def user(self) -> str:
        users = self.arguments("USER")
        assert users, f"stage {self.name} runs as root (no USER)"
        return users[-1]


def parse_dockerfile(text: str) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1]
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            image, _, name = args.partition(" AS ")
            current = Stage(name.strip(), stages.get(image.strip()), [])
            stages[current.name] = current
        else:
            assert current is not None, f"{keyword} before FROM"
            current.instructions.append((keyword.upper(), args.strip()))
    return stages


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse_dockerfile((REPO / "Dockerfile").read_text())


def built(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run an image built from the Dockerfile."""
    return {name: s for name, s in compose["services"].items() if "build" in s}


def named_mounts(service: dict[str, Any]) -> dict[str, str]:
    """The service's named volumes and where each is mounted (bind mounts left out)."""
    mounts = [entry.split(":") for entry in service.get("volumes", [])]
    return {source: target for source, target, *_ in mounts if not source.startswith((".", "/"))}


def parse_command(command: list[str]) -> click.Context:
    """Parse a `moderation ...` command line as the CLI would, without running it.

    An unknown command, option or choice, or a missing argument, raises click's error.
    """
    assert command[0] == "moderation", command
    current: click.Command = main
    words = command[1:]
    while isinstance(current, click.Group):
        found = current.get_command(click.Context(current), words[0])
        assert found is not None, f"`moderation {words[0]}` does not exist ({command})"
        current, words = found, words[1:]
    return current.make_context(" ".join(command[: len(command) - len(words)]), list(words))


def image_settings(
    stage: Stage, service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings the service's container reads: the image's ENV, then compose's."""
    for name in list(os.environ):
        if name.startswith("MODERATION_"):
            monkeypatch.delenv(name)
    for name, value in {**stage.env(), **service.get("environment", {})}.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_the_stack_has_its_services(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", "migrate", "api", "worker", "beat"} <= set(compose["services"])


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "api", "worker"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_every_built_image_is_a_dockerfile_target(
    compose: dict[str, Any], stages: dict[str, Stage]
) -> None:
    targets = {name: s["build"]["target"] for name, s in built(compose).items()}
    assert set(targets.values()) == {"api", "worker"}
    assert set(targets.values()) <= set(stages)
    for name, service in built(compose).items():
        assert service["build"]["context"] == ".", name
        # One tag per target: two targets under one tag would overwrite each other.
        assert service["image"] == f"moderation-{targets[name]}:latest", name
    # The API's side runs without the scoring stack; everything Celery runs with it.
    assert {targets[name] for name in ("api", "migrate")} == {"api"}
    assert {targets[name] for name in ("worker", "beat", "models")} == {"worker"}


def test_images_run_as_a_fixed_non_root_user_that_owns_their_volumes(
    compose: dict[str, Any], stages: dict[str, Stage]
) -> None:
    for target in ("api", "worker"):
        stage = stages[target]
        user = stage.user()
        assert user not in {"root", "0"}, target
        [useradd] = [words for words in stage.shell_commands() if words[0] == "useradd"]
        assert useradd[-1] == user
        # A fixed uid: host folders (and their backups) can be prepared for it.
        assert int(useradd[useradd.index("--uid") + 1]) >= 1000
    for name, service in built(compose).items():
        stage = stages[service["build"]["target"]]
        user = stage.user()
        # A named volume starts as a copy of the image's folder, owner included.
        owned = {
            word
            for words in stage.shell_commands()
            if words[:2] == ["install", "-d"] and words[words.index("-o") + 1] == user
            for word in words
            if word.startswith("/")
        }
        for volume, target in named_mounts(service).items():
            assert volume in compose["volumes"], (name, volume)
            assert target in owned, f"{name}: {volume} mounts on {target}, not owned by {user}"


def test_volumes_mount_where_the_settings_look(
    compose: dict[str, Any], stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    for name in ("worker", "models"):
        service = services[name]
        settings = image_settings(stages[service["build"]["target"]], service, monkeypatch)
        assert named_mounts(service)["models"] == str(settings.models_path), name
    beat = services["beat"]
    settings = image_settings(stages[beat["build"]["target"]], beat, monkeypatch)
    # `moderation beat` keeps its schedule in the data folder.
    assert named_mounts(beat)["beat-data"] == str(settings.data_dir)


def test_every_command_line_is_one_the_cli_accepts(
    compose: dict[str, Any], stages: dict[str, Stage]
) -> None:
    commands = [s["command"] for s in built(compose).values()]
    commands += [json.loads(stages[target].arguments("CMD")[-1]) for target in ("api", "worker")]
    for command in commands:
        parse_command(command)


def test_command_lines_are_checked_against_the_cli() -> None:
    with pytest.raises(AssertionError, match="does not exist"):
        parse_command(["moderation", "wrker"])
    with pytest.raises(click.NoSuchOption):
        parse_command(["moderation", "worker", "--wait-for-weights"])
    with pytest.raises(click.BadParameter):
        parse_command(["moderation", "models", "pull", "no-such-model"])


def test_the_api_image_installs_no_scoring_stack(stages: dict[str, Stage]) -> None:
    installs = stages["api"].pip_installs()
    assert installs == [["pip", "install", "."]]


def test_the_worker_image_takes_the_pinned_cpu_torch_first(stages: dict[str, Stage]) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [
        *pyproject["dependencies"],
        *(r for extra in pyproject["optional-dependencies"].values() for r in extra),
    ]
    [pin] = {r for r in requirements if r.startswith("torch==")}
    torch, project = stages["worker"].pip_installs()
    assert torch == ["pip", "install", pin, "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert project == ["pip", "install", ".[worker]"]


def test_the_worker_waits_for_the_weights_the_models_service_installs(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    worker, models = services["worker"], services["models"]
    assert parse_command(worker["command"]).params["wait_for_models"]
    assert worker["restart"] == "unless-stopped"
    # One-shot, and only when asked for: `docker compose --profile models run --rm models`.
    assert models["profiles"] == ["models"]
    assert models["restart"] == "no"
    assert named_mounts(models)["models"] == named_mounts(worker)["models"]
    install = parse_command(models["command"])
    assert install.command.name == "install"
    # What it imports from is the host folder, mounted read-only.
    assert f"./models-import:{install.params['source']}:ro" in models["volumes"]
    # Both name the same models: the worker's configuration is the installer's.
    names = {s["environment"]["MODERATION_TOXICITY_MODELS"] for s in (worker, models)}
    assert len(names) == 1


def test_migrations_run_before_the_api(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["command"] == ["moderation", "migrate"]
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_services_share_one_configuration(compose: dict[str, Any]) -> None:
    services = built(compose).values()
    urls = {s["environment"]["DATABASE_URL"] for s in services}
    assert len(urls) == 1
    [url] = urls
    postgres_env = compose["services"]["postgres"]["environment"]
    assert f"{postgres_env['POSTGRES_USER']}:{postgres_env['POSTGRES_PASSWORD']}@postgres" in url
    assert url.endswith("/" + postgres_env["POSTGRES_DB"])


def test_desk_sessions_need_a_secret_the_operator_provides(compose: dict[str, Any]) -> None:
    secret = compose["services"]["api"]["environment"]["MODERATION_SESSION_SECRET"]
    # Compose's "${VAR:?message}": refuse to start rather than run with a default secret.
    assert secret.startswith("${MODERATION_SESSION_SECRET:?")
