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
from moderation.errors import ExportError, ModelBroken, ModelMissing
from moderation.scoring import onnx_export
from moderation.scoring.hardware import Runtime
from moderation.scoring.onnx_export import (
    AGREEMENT_SAMPLE,
    INT8_SCHEMES,
    TOLERANCE,
    export,
    read_exports,
)
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


def test_the_float32_backend_scores_claims_as_the_eager_model_does(trained: Path) -> None:
    eager = ToxicityModel.load(trained, "original").predict(texts())
    onnx = ToxicityModel.load(trained, "original", FLOAT32)
    assert onnx.runtime == FLOAT32
    scored = onnx.predict(texts())
    difference = max(abs(a[k] - b[k]) for a, b in zip(scored, eager, strict=True) for k in a)
    assert difference < 1e-4


def test_the_int8_backend_serves_the_agreement_its_export_registered(trained: Path) -> None:
    eager = ToxicityModel.load(trained, "original")
    int8 = ToxicityModel.load(trained, "original", INT8)
    assert int8.runtime == INT8
    # One text at a time, as the check scored them: int8 activations are scaled per batch,
    # so a claim's other comments move a score a little (within the tolerance on the
    # check's sample, not on every text: see the README's ONNX figures).
    difference = max(
        abs(int8.predict([text])[0][label] - scores[label])
        for text in AGREEMENT_SAMPLE
        for scores in eager.predict([text])
        for label in scores
    )
    assert difference == pytest.approx(
        read_exports(trained / "original")["int8"].max_abs_diff, abs=1e-5
    )
    assert difference <= TOLERANCE


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

    every_scheme = r" \(signed\), .* \(signed 7-bit\), .* \(unsigned\) on 129 sample texts"
    with pytest.raises(ExportError, match=rf"int8 ONNX model's scores differ .*{every_scheme}"):
        export(entry, int8=True, tolerance=1e-6)

    assert set(read_exports(entry)) == {"float32"}
    assert not (entry / "model.int8.onnx").exists()
    assert not [p for p in entry.iterdir() if p.name.startswith(".onnx-")]
    with pytest.raises(ModelMissing, match=r"export-onnx original --int8"):
        require_model(tmp_path, "original", "int8")


def test_int8_weights_are_stored_in_the_fastest_scheme_that_agrees_on_this_cpu(
    tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Which scheme that is depends on the CPU (signed weights saturate without VNNI), so
    # each scheme ahead of the registered one must fail the check here on its own.
    chosen = read_exports(trained / "original")["int8"].weights
    names = [scheme.name for scheme in INT8_SCHEMES]
    assert chosen in names
    for scheme in INT8_SCHEMES[: names.index(chosen)]:
        entry = tmp_path / scheme.name / "original"
        shutil.copytree(trained / "original", entry)
        monkeypatch.setattr(onnx_export, "INT8_SCHEMES", (scheme,))
        with pytest.raises(ExportError, match=rf"\({scheme.name}\)"):
            export(entry, int8=True)


def test_a_worker_refuses_an_export_that_scores_otherwise_on_its_cpu(
    tmp_path: Path, trained: Path
) -> None:
    entry = tmp_path / "original"
    shutil.copytree(trained / "original", entry)
    registered = json.loads((entry / "onnx.json").read_text())
    # As if checked on a CPU whose int8 kernels gave scores 0.1 away from these.
    probe = registered["int8"]["probe_scores"]
    registered["int8"]["probe_scores"] = [[abs(p - 0.1) for p in row] for row in probe]
    (entry / "onnx.json").write_text(json.dumps(registered))

    ToxicityModel.load(tmp_path, "original", FLOAT32)
    advice = r"another kind of CPU: run `moderation models export-onnx original --int8` on this"
    with pytest.raises(ModelBroken, match=advice):
        ToxicityModel.load(tmp_path, "original", INT8)


def test_an_export_replaces_a_manifest_of_an_older_format(tmp_path: Path) -> None:
    entry = make_tiny_checkpoint(tmp_path)
    older = {"file": "model.onnx", "sha256": "0" * 64, "max_abs_diff": 0.0}
    (entry / "onnx.json").write_text(json.dumps({"float32": older}))
    with pytest.raises(ExportError, match="unreadable ONNX manifest"):
        read_exports(entry)

    export(entry)

    assert set(read_exports(entry)) == {"float32"}


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
    monkeypatch.setenv("MODERATION_TOXICITY_BACKEND", "onnx")
    get_settings.cache_clear()
    before = runner.invoke(models, ["list"])
    assert (
        "runs on: onnx int8 on cpu, but a worker refuses it: toxicity model 'original' has "
        "no int8 ONNX export"
    ) in before.output
    assert json.loads(runner.invoke(models, ["list", "--json"]).output)[0]["refused"]

    exported = runner.invoke(models, ["export-onnx", "original", "--int8"])

    assert exported.exit_code == 0, exported.output
    assert "exported original float32" in exported.output
    assert "exported original int8" in exported.output
    assert " weights, scores within " in exported.output
    listed = runner.invoke(models, ["list"])
    assert "runs on: onnx int8 on cpu\n" in listed.output
    assert "onnx: float32 (max diff" in listed.output
    [entry] = json.loads(runner.invoke(models, ["list", "--json"]).output)
    assert entry["runtime"] == {"device": "cpu", "dtype": "int8", "backend": "onnx"}
    assert entry["refused"] is None
    assert set(entry["onnx"]) == {"float32", "int8"}


def test_export_onnx_of_a_model_not_there_fails_cleanly(models_dir: Path) -> None:
    result = CliRunner().invoke(models, ["export-onnx", "original"])
    assert result.exit_code == 1
    assert "moderation models import PATH" in result.output
    assert "Traceback" not in result.output
