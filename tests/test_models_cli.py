"""`moderation models list / import / pull`, run through click against a temporary folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from moderation.cli.models import PUBLISHED_NAMES, models
from moderation.config import get_settings
from moderation.scoring.toxicity import ToxicityModel
from moderation.scoring.weights import PUBLISHED
from tests.tiny_model import PLANTED_WORD, write_tiny_source

LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """MODERATION_MODELS_DIR for the command, with the settings read afresh."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("MODERATION_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path / "models"
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny detoxify checkpoint with its config and tokenizer files beside it."""
    return write_tiny_source(tmp_path_factory.mktemp("source"))


def run(*args: str) -> Result:
    return CliRunner().invoke(models, list(args))


def listed(models_dir: Path) -> list[dict[str, object]]:
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    manifests: list[dict[str, object]] = json.loads(result.output)
    return manifests


def assert_clean_failure(result: Result, *fragments: str) -> None:
    """Exit 1 with our message: a ClickException, never a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


def test_empty_folder_says_how_to_get_a_model(models_dir: Path) -> None:
    result = run("list")

    assert result.exit_code == 0
    assert f"no models in {models_dir}" in result.output
    assert "moderation models pull original" in result.output


def test_import_then_list_shows_the_manifest(models_dir: Path, source: Path) -> None:
    imported = run("import", str(source))

    assert imported.exit_code == 0, imported.output
    [manifest] = listed(models_dir)
    assert manifest["name"] == "original"
    assert manifest["architecture"] == "BertForSequenceClassification"
    assert manifest["languages"] == ["en"]
    assert manifest["labels"] == LABELS
    assert manifest["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    entry = models_dir / "original"
    assert (entry / "checkpoint.ckpt").read_bytes() == source.read_bytes()
    assert {"config.json", "tokenizer_config.json", "manifest.json"} <= {
        path.name for path in entry.iterdir()
    }
    assert "original  BertForSequenceClassification  languages en" in run("list").output


def test_import_writes_the_checkpoint_labels_into_the_config(
    models_dir: Path, source: Path
) -> None:
    run("import", str(source))

    config = json.loads((models_dir / "original" / "config.json").read_text())
    # The hub's config (as in `source`) has no labels; detoxify needs all six.
    assert "id2label" not in json.loads((source.parent / "config.json").read_text())
    assert list(config["id2label"].values()) == LABELS


def test_import_takes_config_files_from_config_dir(
    models_dir: Path, source: Path, tmp_path: Path
) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(source, alone / "model.ckpt")

    without = run("import", str(alone / "model.ckpt"))
    assert_clean_failure(without, "no usable config and tokenizer files", "--config-dir")

    with_dir = run("import", str(alone / "model.ckpt"), "--config-dir", str(source.parent))
    assert with_dir.exit_code == 0, with_dir.output
    assert [m["name"] for m in listed(models_dir)] == ["original"]


def test_import_reads_a_checkpoint_in_torchs_legacy_format(
    models_dir: Path, source: Path, tmp_path: Path
) -> None:
    # Older checkpoints predate torch's zip format and cannot be memory-mapped.
    legacy = tmp_path / "legacy.ckpt"
    torch.save(torch.load(source, weights_only=False), legacy, _use_new_zipfile_serialization=False)

    result = run("import", str(legacy), "--config-dir", str(source.parent))

    assert result.exit_code == 0, result.output
    model = ToxicityModel.load(models_dir, "original")
    assert model.predict([f"what a {PLANTED_WORD}"])[0]["toxicity"] > 0.95


def test_import_rejects_a_file_that_is_not_a_detoxify_checkpoint(
    models_dir: Path, tmp_path: Path
) -> None:
    weights_only = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {}}, weights_only)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00not a pickle")

    assert_clean_failure(run("import", str(weights_only)), "needs `config` and `state_dict`")
    assert_clean_failure(run("import", str(garbage)), "not a readable torch checkpoint")
    assert listed(models_dir) == []


def test_import_of_a_published_file_name_checks_its_sha256(
    models_dir: Path, source: Path, tmp_path: Path
) -> None:
    impostor = tmp_path / "toxic_original-c1212f89.ckpt"
    shutil.copy(source, impostor)

    result = run("import", str(impostor), "--config-dir", str(source.parent))

    assert_clean_failure(result, "does not match the expected c1212f89")
    assert listed(models_dir) == []


def test_import_under_another_name_needs_its_languages(models_dir: Path, source: Path) -> None:
    unnamed = run("import", str(source), "--name", "house")
    assert_clean_failure(unnamed, "--language")

    languages = ("--language", "HY", "--language", "ru", "--language", "hy")
    named = run("import", str(source), "--name", "house", *languages)
    assert named.exit_code == 0, named.output
    [manifest] = listed(models_dir)
    assert manifest["name"] == "house"
    assert manifest["languages"] == ["hy", "ru"]


def test_import_again_replaces_the_entry_and_leaves_nothing_behind(
    models_dir: Path, source: Path
) -> None:
    run("import", str(source), "--version", "first")
    again = run("import", str(source), "--version", "second")

    assert again.exit_code == 0, again.output
    assert [m["version"] for m in listed(models_dir)] == ["second"]
    assert sorted(path.name for path in models_dir.iterdir()) == ["original"]


def test_published_names_match_the_table() -> None:
    assert tuple(PUBLISHED) == PUBLISHED_NAMES


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def publish_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setitem(PUBLISHED, "original", dataclasses.replace(PUBLISHED["original"], url=url))


def test_pull_without_network_fails_with_a_way_out(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refused connection stands in for a network that is not there: quick and certain.
    url = f"http://127.0.0.1:{closed_port()}/v0.1-alpha/toxic_original-c1212f89.ckpt"
    publish_at(monkeypatch, url)

    result = run("pull", "original", "--timeout", "2")

    assert_clean_failure(result, f"cannot download {url}", "moderation models import FILE")
    assert listed(models_dir) == []
    assert [path.name for path in models_dir.iterdir()] == []


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a line each in the test output."""


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server; files put in the returned folder are at the returned URL."""
    root = tmp_path / "served" / "v0-test"
    root.mkdir(parents=True)
    handler = partial(QuietHandler, directory=str(tmp_path / "served"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v0-test/", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_pull_checks_the_sha256_in_the_file_name(
    models_dir: Path,
    source: Path,
    file_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, root = file_server
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    wrong = "0" * 8 if not digest.startswith("0" * 8) else "1" * 8
    shutil.copy(source, root / f"toxic_original-{wrong}.ckpt")
    shutil.copy(source, root / f"toxic_original-{digest[:8]}.ckpt")

    publish_at(monkeypatch, f"{base}toxic_original-{wrong}.ckpt")
    tampered = run("pull", "original", "--config-dir", str(source.parent))
    assert_clean_failure(tampered, f"does not match the expected {wrong}")

    publish_at(monkeypatch, f"{base}toxic_original-{digest[:8]}.ckpt")
    pulled = run("pull", "original", "--config-dir", str(source.parent))
    assert pulled.exit_code == 0, pulled.output
    [manifest] = listed(models_dir)
    assert manifest["sha256"] == digest
    assert manifest["version"] == f"detoxify v0-test toxic_original-{digest[:8]}.ckpt"


def test_pull_checks_a_full_sha256_when_given(
    models_dir: Path,
    source: Path,
    file_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, root = file_server
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    shutil.copy(source, root / f"toxic_original-{digest[:8]}.ckpt")
    publish_at(monkeypatch, f"{base}toxic_original-{digest[:8]}.ckpt")
    almost = digest[:-1] + ("0" if digest[-1] != "0" else "1")

    result = run("pull", "original", "--config-dir", str(source.parent), "--sha256", almost)

    assert_clean_failure(result, f"does not match the expected {almost}")
    assert listed(models_dir) == []


def test_install_imports_from_the_offered_folder_once(
    models_dir: Path, source: Path, tmp_path: Path
) -> None:
    offered = tmp_path / "import" / "original"
    shutil.copytree(source.parent, offered)

    first = run("install", "original", "--from", str(tmp_path / "import"))
    assert first.exit_code == 0, first.output
    assert f"original: imported from {offered / source.name}" in first.output
    [manifest] = listed(models_dir)
    ToxicityModel.load(models_dir, "original")

    again = run("install", "original", "--from", str(tmp_path / "import"))
    assert again.exit_code == 0, again.output
    assert f"original: already in {models_dir}" in again.output
    assert listed(models_dir) == [manifest]


def test_install_without_weights_or_network_says_where_to_put_them(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_at(monkeypatch, f"http://127.0.0.1:{closed_port()}/v0.1-alpha/toxic_original.ckpt")
    result = run("install", "original", "--from", str(tmp_path / "import"), "--timeout", "2")
    assert_clean_failure(result, "cannot download", f"{tmp_path / 'import' / 'original'}/")
    unknown = run("install", "in-house", "--from", str(tmp_path / "import"))
    assert_clean_failure(unknown, "'in-house' is not a published model")
    assert listed(models_dir) == []
