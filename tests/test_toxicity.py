"""Toxicity scoring through the real detoxify code, on a tiny generated checkpoint."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from moderation.errors import ModelBroken, ModelMissing
from moderation.scoring.hardware import Runtime
from moderation.scoring.toxicity import (
    TorchForward,
    ToxicityModel,
    Turns,
    micro_batches,
    require_model,
)
from moderation.scoring.weights import open_detoxify
from tests.tiny_model import PLANTED_LABELS, PLANTED_WORD, WORDS, make_tiny_checkpoint

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")


def sentence(words: int, offset: int = 0) -> str:
    return " ".join(WORDS[(offset + i * 7) % len(WORDS)] for i in range(words))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    make_tiny_checkpoint(directory)
    return directory


@pytest.fixture(scope="module")
def model(models_dir: Path) -> ToxicityModel:
    return ToxicityModel.load(models_dir, "original")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no network access allowed here")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("no_network", "torch_threads")
def test_loads_through_detoxify_without_network(models_dir: Path) -> None:
    loaded = ToxicityModel.load(models_dir, "original", batch_size=3, threads=1)

    assert loaded.name == "original"
    assert loaded.version == "tiny test model"
    assert loaded.labels == LABELS
    assert loaded.languages == frozenset({"en"})
    assert loaded.batch_size == 3
    assert torch.get_num_threads() == 1


def test_planted_word_scores_high_and_ordinary_text_low(model: ToxicityModel) -> None:
    clean, toxic = model.predict(
        ["Thanks for the fair report on the council budget", f"The mayor is a {PLANTED_WORD}!"]
    )

    for label in PLANTED_LABELS:
        assert toxic[label] > 0.95
    assert max(clean.values()) < 0.05
    assert set(clean) == set(toxic) == set(LABELS)


def test_predict_keeps_input_order_across_mixed_lengths(model: ToxicityModel) -> None:
    lengths = [300, 2, 40, 1, 120, 9, 75, 3, 200, 15, 60, 5]
    planted_at = {1, 4, 6, 11}
    texts = [
        sentence(n, offset=i) + (f" {PLANTED_WORD}" if i in planted_at else "")
        for i, n in enumerate(lengths)
    ]

    scores = model.predict(texts)

    assert {i for i, s in enumerate(scores) if s["toxicity"] > 0.5} == planted_at
    one_by_one = [model.predict([text])[0] for text in texts]
    for together, alone in zip(scores, one_by_one, strict=True):
        assert together == pytest.approx(alone, abs=1e-5)


def test_text_longer_than_the_model_takes_is_truncated(model: ToxicityModel) -> None:
    early = f"{PLANTED_WORD} " + sentence(2000)
    late = sentence(2000) + f" {PLANTED_WORD}"  # past the 512th token: the model never sees it

    scores = model.predict([early, late])

    assert scores[0]["toxicity"] > 0.95
    assert scores[1]["toxicity"] < 0.05


@pytest.mark.parametrize("batch_size", [1, 3, 8, 64])
def test_micro_batched_scores_equal_detoxify_predict(models_dir: Path, batch_size: int) -> None:
    texts = [sentence(n, offset=n) for n in (80, 1, 33, 7, 400, 12, 0, 55, 3, 250)]
    texts[3] += f" {PLANTED_WORD}"
    detoxify = open_detoxify(models_dir / "original")
    expected = detoxify.predict(texts)
    model = ToxicityModel.load(models_dir, "original", batch_size=batch_size)

    scores = model.predict(texts)

    differences = [
        abs(score[label] - expected[label][index])
        for index, score in enumerate(scores)
        for label in LABELS
    ]
    assert max(differences) < 1e-4


def test_an_empty_batch_scores_nothing(model: ToxicityModel) -> None:
    assert model.predict([]) == []


def test_missing_model_names_the_file_and_the_commands(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as raised:
        ToxicityModel.load(tmp_path, "original")

    message = raised.value.message
    assert str(tmp_path / "original" / "checkpoint.ckpt") in message
    assert "moderation models pull original" in message
    assert "moderation models import PATH" in message


def test_require_model_checks_files_without_loading(models_dir: Path, tmp_path: Path) -> None:
    assert require_model(models_dir, "original") == models_dir / "original"
    with pytest.raises(ModelMissing, match=r"checkpoint\.ckpt"):
        require_model(tmp_path, "original")


def test_entry_missing_its_config_names_that_file(models_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(models_dir / "original", tmp_path / "original")
    (tmp_path / "original" / "config.json").unlink()

    with pytest.raises(ModelMissing, match=r"original/config\.json"):
        ToxicityModel.load(tmp_path, "original")


def test_unpublished_model_is_only_offered_import(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as raised:
        ToxicityModel.load(tmp_path, "house-model")

    assert "pull" not in raised.value.message
    assert "moderation models import PATH" in raised.value.message


def test_corrupt_checkpoint_is_reported_as_broken(models_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(models_dir / "original", tmp_path / "original")
    (tmp_path / "original" / "checkpoint.ckpt").write_bytes(b"not a checkpoint")

    with pytest.raises(ModelBroken, match="does not load"):
        ToxicityModel.load(tmp_path, "original")


def test_micro_batches_fill_a_token_budget_shortest_first() -> None:
    lengths = [10, 500, 40, 12, 700, 30, 11, 90]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)

    batches = list(micro_batches(order, lengths, 32, 128))

    assert [[lengths[i] for i in batch] for batch in batches] == [
        [10, 11, 12, 30],
        [40],
        [90],
        [500],
        [700],
    ]
    assert next(micro_batches(order, lengths, 3, 10_000)) == order[:3]


def test_urgent_callers_take_the_model_before_others_waiting_for_it() -> None:
    turns = Turns()
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with turns.turn(urgent=False):
            holding.set()
            release.wait(10)

    def waiter(name: str, urgent: bool) -> None:
        with turns.turn(urgent=urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(10)
    queued = threading.Thread(target=waiter, args=("comment batch", False))
    queued.start()
    time.sleep(0.2)  # the comment batch is waiting first...
    urgent = threading.Thread(target=waiter, args=("analyze request", True))
    urgent.start()
    time.sleep(0.2)
    release.set()
    for thread in (first, queued, urgent):
        thread.join(10)
    assert order == ["analyze request", "comment batch"]  # ...yet the request goes first


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_weights_score_close_to_float32(
    models_dir: Path, model: ToxicityModel, dtype: str
) -> None:
    # The GPU path (weights converted, not autocast), run on the CPU where torch can.
    half = ToxicityModel.load(models_dir, "original", Runtime("cpu", dtype, "torch"))
    texts = [sentence(n, offset=n) for n in (3, 40, 200)] + [f"a {PLANTED_WORD} said"]

    scores, reference = half.predict(texts), model.predict(texts)

    forward = half._forward
    assert isinstance(forward, TorchForward)
    assert {p.dtype for p in forward.model.parameters()} == {getattr(torch, dtype)}
    assert half.runtime.dtype == dtype
    differences = [abs(a[k] - b[k]) for a, b in zip(scores, reference, strict=True) for k in a]
    assert 0 < max(differences) < 0.02
    assert scores[-1]["toxicity"] > 0.9
