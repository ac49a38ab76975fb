"""What a newcomer installs: the base package serves the API without the scoring stack,
`make dev` serves on the port it is given, and `make test` says what to install when no
Chromium can be found."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.workers import live_api, service_env

REPO = Path(__file__).resolve().parent.parent
SCORING_STACK = ["torch", "detoxify", "transformers", "sklearn", "onnxruntime"]


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with `pip install .` and no extras."""
    venv = tmp_path_factory.mktemp("base") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return venv


def run(venv: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv / "bin" / "moderation", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_base_install_serves_the_api_without_the_scoring_stack(
    base_venv: Path, fresh_url: str, tmp_path: Path
) -> None:
    python = str(base_venv / "bin" / "python")
    for module in SCORING_STACK:
        found = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert found.returncode != 0, f"the base install has {module}"

    env = service_env(fresh_url)
    migrated = run(base_venv, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    created = run(base_venv, env, "site", "create", "base", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]

    with live_api(tmp_path, fresh_url, python=python) as (base, api):
        posted = httpx.post(
            f"{base}/v1/sites/base/articles/a/comments",
            json={"author": {"name": "Ann"}, "body": "Stored by an API without torch"},
            headers={"X-Site-Key": key},
        )
        assert posted.status_code == 202, posted.text
        desk = httpx.get(f"{base}/desk/", follow_redirects=True)
        assert desk.status_code == 200, desk.text
        assert "<form" in desk.text  # the sign-in page
        # The process that served all this never loaded the scoring stack either.
        assert "torch" not in api.output()

    # A command that needs the scoring stack names the extra to install.
    worker = run(base_venv, env, "worker")
    assert worker.returncode != 0
    assert "pip install 'moderation[worker]'" in worker.stderr


@pytest.fixture
def no_chromium() -> Iterator[Path]:
    """A copy of the Makefile in a folder any user can read, beside a `bin` with no Chromium."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        root.chmod(0o755)
        (root / "bin").mkdir(mode=0o755)
        (root / "bin" / "id").symlink_to(shutil.which("id") or "/usr/bin/id")
        shutil.copy(REPO / "Makefile", root / "Makefile")
        yield root


def make_browser(root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """`make browser` (what `make test` runs before pytest) in `root`, with only `root/bin` on
    PATH, as a user other than root."""
    env = {k: v for k, v in os.environ.items() if k != "MODERATION_CHROMIUM"}
    env.update({"PATH": str(root / "bin"), **extra})
    command = [shutil.which("make") or "make", "-s", "-C", str(root), "browser"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv") or "setpriv"
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_make_test_without_chromium_or_root_stops_with_one_line(no_chromium: Path) -> None:
    result = make_browser(no_chromium)
    assert result.returncode != 0
    assert result.stdout == ""
    # One line, then make's own "recipe failed" line; no apt-get ran (it would fail on its lock).
    said = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(said) == 1, result.stderr
    assert said[0].startswith("the browser tests need Chromium: install it")
    assert "MODERATION_CHROMIUM=" in said[0]


def test_make_test_takes_the_chromium_it_is_given(no_chromium: Path) -> None:
    result = make_browser(no_chromium, MODERATION_CHROMIUM="/bin/true")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(("args", "port"), [((), "8000"), (("PORT=8010",), "8010")])
def test_make_dev_serves_on_the_port_it_is_given(
    tmp_path: Path, args: tuple[str, ...], port: str
) -> None:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    # A PORT some other tool left in the environment is not a request for another port.
    env = {**os.environ, "PORT": "5000"}
    # -n prints what `make dev` runs; -o skips the install it depends on.
    command = ["make", "-s", "-n", "-C", str(tmp_path), "-o", ".venv/.installed-dev", "dev"]
    result = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f".venv/bin/moderation dev --port {port}\n"
