"""ONNX exports: `moderation models export-onnx`, the agreement check that guards them, and
the ONNX Runtime backend, on a tiny model trained until its scores spread from 0 to 1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from moderation.cli.models import models
from moderation.config import get_settings
from moderation.errors import ExportError, ModelMissing
from moderation.scoring.hardware import Runtime
from moderation.scoring.onnx_export import AGREEMENT_SAMPLE, TOLERANCE, export, read_exports
from moderation.scoring.spam import load_seed_corpus
from moderation.scoring.toxicity import ToxicityModel, require_model
from tests.tiny_model import make_tiny_checkpoint, make_trained_checkpoint

INT8 = Runtime("cpu", "int8", "onnx")
FLOAT32 = Runtime("cpu", "float32", "onnx")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder whose `original` is the trained tiny model, exported with --int8."""
    folder = tmp_path_factory.mktemp("trained")
    make_trained_checkpoint(folder)
    export(folder / "original", int8=True)
    return folder


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODERATION_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path / "models"
    get_settings.cache_clear()


def texts() -> list[str]:
    seed, _ = load_seed_corpus()
    return seed[::7]


def test_the_trained_model_scores_are_spread_out(trained: Path) -> None:
    scores = [s["toxicity"] for s in ToxicityModel.load(trained, "original").predict(texts())]
    assert min(scores) < 0.1
    assert max(scores) > 0.9


@pytest.mark.parametrize("runtime", [INT8, FLOAT32], ids=["int8", "float32"])
def test_onnx_scores_stay_within_the_tolerance_of_eager_ones(
    trained: Path, runtime: Runtime
) -> None:
    eager = ToxicityModel.load(trained, "original").predict(texts())
    onnx = ToxicityModel.load(trained, "original", runtime)
    assert onnx.runtime == runtime
    scored = onnx.predict(texts())
    difference = max(abs(a[k] - b[k]) for a, b in zip(scored, eager, strict=True) for k in a)
    assert difference <= TOLERANCE
    if runtime.dtype == "float32":
        assert difference < 1e-4


def test_each_export_is_registered_with_its_measured_agreement(trained: Path) -> None:
    exports = read_exports(trained / "original")
    assert set(exports) == {"float32", "int8"}
    manifest = json.loads((trained / "original" / "manifest.json").read_text())
    for registered in exports.values():
        assert (trained / "original" / registered.file).is_file()
        assert registered.sample == len(AGREEMENT_SAMPLE)
        assert 0 <= registered.max_abs_diff <= TOLERANCE
        assert registered.checkpoint_sha256 == manifest["sha256"]
    assert exports["float32"].max_abs_diff < exports["int8"].max_abs_diff


def test_an_export_that_disagrees_beyond_the_tolerance_is_not_registered(
    tmp_path: Path, trained: Path
) -> None:
    entry = tmp_path / "original"
    shutil.copytree(trained / "original", entry)
    (entry / "onnx.json").unlink()
    (entry / "model.int8.onnx").unlink()

    with pytest.raises(ExportError, match=r"int8 ONNX model's scores differ .* not registered"):
        export(entry, int8=True, tolerance=1e-6)

    assert set(read_exports(entry)) == {"float32"}
    assert not (entry / "model.int8.onnx").exists()
    assert not [p for p in entry.iterdir() if p.name.startswith(".onnx-")]
    with pytest.raises(ModelMissing, match=r"export-onnx original --int8"):
        require_model(tmp_path, "original", "int8")


def test_the_onnx_backend_without_an_export_says_which_command_makes_it(tmp_path: Path) -> None:
    make_tiny_checkpoint(tmp_path)
    with pytest.raises(ModelMissing, match=r"no int8 ONNX export .* export-onnx original --int8"):
        ToxicityModel.load(tmp_path, "original", INT8)


def test_an_export_of_an_older_checkpoint_is_refused(tmp_path: Path, trained: Path) -> None:
    entry = tmp_path / "original"
    shutil.copytree(trained / "original", entry)
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["sha256"] = "0" * 64  # as if `models import` had brought another checkpoint
    (entry / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelMissing, match="made from another checkpoint"):
        require_model(tmp_path, "original", "int8")


def test_export_onnx_command_then_list_shows_the_exports_and_runtime(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny_checkpoint(models_dir)
    runner = CliRunner()

    exported = runner.invoke(models, ["export-onnx", "original", "--int8"])

    assert exported.exit_code == 0, exported.output
    assert "exported original float32" in exported.output
    assert "exported original int8" in exported.output
    monkeypatch.setenv("MODERATION_TOXICITY_BACKEND", "onnx")
    get_settings.cache_clear()
    listed = runner.invoke(models, ["list"])
    assert "runs on: onnx int8 on cpu" in listed.output
    assert "onnx: float32 (max diff" in listed.output
    [entry] = json.loads(runner.invoke(models, ["list", "--json"]).output)
    assert entry["runtime"] == {"device": "cpu", "dtype": "int8", "backend": "onnx"}
    assert set(entry["onnx"]) == {"float32", "int8"}


def test_export_onnx_of_a_model_not_there_fails_cleanly(models_dir: Path) -> None:
    result = CliRunner().invoke(models, ["export-onnx", "original"])
    assert result.exit_code == 1
    assert "moderation models import PATH" in result.output
    assert "Traceback" not in result.output
