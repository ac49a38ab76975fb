"""A tiny toxicity model in detoxify's own checkpoint format, made on the spot for tests.

A 2-layer BERT of hidden size 32 with a locally built WordPiece vocabulary, so the real
`Detoxify(...)` loading and prediction code runs offline. Its weights are random except
for one planted feature: any text containing `PLANTED_WORD` scores near 1 on
`PLANTED_LABELS` and every other text scores low on every label (well under 0.1), with
small differences between texts so that mixing up their order would show.

How the word is planted: hidden dimension 0 is reserved for it. Only the planted word's
embedding has anything there; in the first layer one attention head's queries are
constant and its keys read dimension 0, so every position (the [CLS] one included)
attends almost only to planted words wherever they are, and copies their dimension 0;
the pooler and the classifier then read dimension 0 alone for the planted labels.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

from moderation.scoring.spam import load_seed_corpus
from moderation.scoring.weights import import_checkpoint

PLANTED_WORD = "zzztoxic"
PLANTED_LABELS = ("toxicity", "insult")
JIGSAW_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_WORD_LIST = """
the a an and or but of to in on at for with from by about as is are was were be been
this that these those it its i you he she we they me him her us them my your our their
not no yes very more most less so too just only also even still again never always
article comment comments news story report reporter editor paper page reader readers
city council mayor police school road tax taxes money budget election vote voters
government minister party law court judge people family children home house street
good great bad better worse best worst true false right wrong fair unfair honest
agree disagree think know say said says believe hope thanks thank please sorry well
what who why how when where which because if then than there here now today yesterday
"""
WORDS = tuple(_WORD_LIST.split())


def make_tiny_checkpoint(
    directory: Path, name: str = "original", planted_word: str = PLANTED_WORD
) -> Path:
    """A ready models-folder entry `directory/name`, made by `moderation models import`."""
    with tempfile.TemporaryDirectory() as source:
        checkpoint = write_tiny_source(Path(source), planted_word)
        import_checkpoint(directory, checkpoint, name=name, version="tiny test model")
    return directory / name


def write_tiny_source(directory: Path, planted_word: str = PLANTED_WORD) -> Path:
    """A raw detoxify checkpoint in `directory`, with its config and tokenizer files beside
    it as the hub has them (the config knows nothing of labels); returns the checkpoint."""
    if not (planted_word.isalpha() and planted_word.islower()):
        raise ValueError(f"planted word must be lowercase letters, not {planted_word!r}")
    directory.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary(planted_word)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(vocab=str(directory / "vocab.txt"), model_max_length=512).save_pretrained(
        directory
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    config.save_pretrained(directory)
    state_dict = _planted_weights(config, vocab.index(planted_word))
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    # As in detoxify's own checkpoints: a hub id, not a local folder.
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(JIGSAW_CLASSES),
                }
            },
            "dataset": {"args": {"classes": list(JIGSAW_CLASSES)}},
        },
        "state_dict": state_dict,
    }
    path = directory / "tiny-toxic.ckpt"
    torch.save(checkpoint, path)
    return path


def _vocabulary(planted_word: str) -> list[str]:
    # Single letters and their continuations let any lowercase word tokenize, so ordinary
    # texts differ token by token instead of collapsing to [UNK].
    letters = list(string.ascii_lowercase)
    pieces = [f"##{letter}" for letter in letters]
    punctuation = list(".,!?;:'\"-()")
    return [*SPECIAL_TOKENS, *punctuation, *letters, *pieces, *WORDS, planted_word]


def _planted_weights(config: BertConfig, planted_id: int) -> dict[str, torch.Tensor]:
    config.num_labels = len(JIGSAW_CLASSES)
    with torch.random.fork_rng():  # the same model every time, and the tests' seed untouched
        torch.manual_seed(20240611)
        model = BertForSequenceClassification(config)
    weights = {key: value.clone() for key, value in model.state_dict().items()}

    for table in ("word", "position", "token_type"):
        weights[f"bert.embeddings.{table}_embeddings.weight"][:, 0] = 0.0
    weights["bert.embeddings.word_embeddings.weight"][planted_id, 0] = 1.0
    # Normalised, ordinary tokens sit near 0 in dimension 0 and the planted word near 5.6;
    # the shift puts ordinary tokens clearly below zero.
    weights["bert.embeddings.LayerNorm.bias"][0] = -2.0

    for number in range(config.num_hidden_layers):
        layer = f"bert.encoder.layer.{number}"
        # Nothing but the planted head writes dimension 0 (LayerNorm only rescales it).
        for dense in (f"{layer}.attention.output.dense", f"{layer}.output.dense"):
            weights[f"{dense}.weight"][0, :] = 0.0
            weights[f"{dense}.bias"][0] = 0.0
    _plant_head(weights, "bert.encoder.layer.0.attention", gain=4.0)

    _read_dimension_zero(weights, "bert.pooler.dense", gain=1.0)
    classifier = weights["classifier.weight"]
    classifier.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(7))
    classifier[:, 0] = 0.0
    weights["classifier.bias"].fill_(-4.5)
    for label in PLANTED_LABELS:
        index = _label_index(label)
        classifier[index, 0] = 7.0
        weights["classifier.bias"][index] = -0.5
    return weights


def _plant_head(weights: dict[str, torch.Tensor], attention: str, gain: float) -> None:
    """Head 0's dimension 0: a constant query, a key and value reading hidden dimension 0,
    and the output writing it back."""
    weights[f"{attention}.self.query.weight"][0, :] = 0.0
    weights[f"{attention}.self.query.bias"][0] = gain
    _read_dimension_zero(weights, f"{attention}.self.key", gain=gain)
    _read_dimension_zero(weights, f"{attention}.self.value", gain=1.0)
    weights[f"{attention}.output.dense.weight"][0, 0] = 1.0


def _read_dimension_zero(weights: dict[str, torch.Tensor], dense: str, gain: float) -> None:
    """Output 0 of linear layer `dense` becomes `gain` times input 0, nothing else."""
    weights[f"{dense}.weight"][0, :] = 0.0
    weights[f"{dense}.weight"][0, 0] = gain
    weights[f"{dense}.bias"][0] = 0.0


def _label_index(label: str) -> int:
    renamed = {"toxicity": "toxic", "identity_attack": "identity_hate"}
    return JIGSAW_CLASSES.index(renamed.get(label, label))


def make_trained_checkpoint(
    directory: Path, name: str = "original", steps: int = 150, seed: int = 20240611
) -> Path:
    """A models-folder entry whose scores are spread out rather than flat: the tiny
    architecture trained `steps` steps on the shipped seed corpus's spam labels (every
    label learns "spam"), so an exported copy is compared where scores vary, not only
    near one value as random weights give."""
    texts, labels = load_seed_corpus()
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch)
        checkpoint = torch.load(write_tiny_source(source), weights_only=False)
        config = BertConfig.from_pretrained(source, num_labels=len(JIGSAW_CLASSES))
        tokenizer = BertTokenizer.from_pretrained(source)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = BertForSequenceClassification(config)
            model.load_state_dict(checkpoint["state_dict"])
            _train(model, tokenizer, texts, labels, steps)
        checkpoint["state_dict"] = model.state_dict()
        torch.save(checkpoint, source / "trained.ckpt")
        import_checkpoint(directory, source / "trained.ckpt", name=name, version="tiny, trained")
    return directory / name


def _train(
    model: BertForSequenceClassification,
    tokenizer: BertTokenizer,
    texts: list[str],
    labels: list[int],
    steps: int,
    batch: int = 16,
) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss = torch.nn.BCEWithLogitsLoss()
    model.train()
    order = torch.randperm(len(texts)).tolist()
    for step in range(steps):
        chosen = [order[(step * batch + i) % len(order)] for i in range(batch)]
        inputs = tokenizer(
            [texts[i] for i in chosen],
            truncation=True,
            max_length=32,
            padding=True,
            return_tensors="pt",
        )
        target = torch.tensor([[float(labels[i])] * len(JIGSAW_CLASSES) for i in chosen])
        optimizer.zero_grad()
        loss(model(**inputs).logits, target).backward()
        optimizer.step()
    model.eval()
