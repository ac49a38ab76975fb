"""The local models folder: one entry per toxicity model, ready to load offline.

An entry `<models>/<name>/` holds the detoxify checkpoint as published (`checkpoint.ckpt`,
never rewritten, so its sha256 stays the publisher's), the Hugging Face config and
tokenizer files for its architecture beside it, and `manifest.json` (what it is, which
languages it covers, the checkpoint's sha256). Entries are made by `import_checkpoint`
(any checkpoint in detoxify's format) or `pull` (a published detoxify model); nothing
here runs at scoring time except `open_detoxify`.

Checkpoints are pickles: loading one runs code, as detoxify itself does. Import only
files from a source you trust; `pull`, and `import` of a file under its published name,
verify the publisher's sha256 (the prefix in the file name, or `--sha256`).

Without network on the server: on any machine that has it, download the checkpoint
(`PUBLISHED[name].url`) and save the architecture's config and tokenizer, e.g. for
`original`: `BertConfig.from_pretrained("bert-base-uncased").save_pretrained("hf")` and
the same with `BertTokenizer`; copy both over and run
`moderation models import toxic_original-c1212f89.ckpt --config-dir hf`.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import transformers
from detoxify import Detoxify
from detoxify.detoxify import MODEL_URLS

from moderation.errors import ModelsError

CHECKPOINT = "checkpoint.ckpt"
MANIFEST = "manifest.json"
HF_CONFIG = "config.json"
TOKENIZER = "tokenizer.json"  # what transformers 5 writes for every tokenizer it saves
ENTRY_FILES = (CHECKPOINT, MANIFEST, HF_CONFIG, TOKENIZER)
# Any one of these holds a tokenizer's vocabulary (fast, WordPiece, BPE, SentencePiece).
_VOCABULARY_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)

# detoxify standardises the Jigsaw class names the same way when it loads a checkpoint.
_LABEL_NAMES = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
}
_ARCH_ARGS = ("model_type", "model_name", "tokenizer_name", "num_classes")
# torch.hub's convention, which detoxify's file names follow: `name-<sha256 prefix>.ext`.
_HASH_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.[a-z]+$")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Published:
    """A detoxify model as its authors publish it."""

    url: str
    base: str  # the Hugging Face architecture its checkpoint names
    architecture: str
    tokenizer: str
    languages: frozenset[str]

    @property
    def version(self) -> str:
        release, file_name = self.url.rsplit("/", 2)[-2:]
        return f"detoxify {release} {file_name}"


PUBLISHED: Mapping[str, Published] = {
    "original": Published(
        MODEL_URLS["original"],
        "bert-base-uncased",
        "BertForSequenceClassification",
        "BertTokenizer",
        frozenset({"en"}),
    ),
    "unbiased": Published(
        MODEL_URLS["unbiased"],
        "roberta-base",
        "RobertaForSequenceClassification",
        "RobertaTokenizer",
        frozenset({"en"}),
    ),
    "multilingual": Published(
        MODEL_URLS["multilingual"],
        "xlm-roberta-base",
        "XLMRobertaForSequenceClassification",
        "XLMRobertaTokenizer",
        frozenset({"en", "fr", "es", "it", "pt", "tr", "ru"}),
    ),
}


_PUBLISHED_FILES = frozenset(published.url.rsplit("/", 1)[-1] for published in PUBLISHED.values())


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a models folder entry holds, as written to its `manifest.json`."""

    name: str
    architecture: str
    base: str
    tokenizer: str
    languages: tuple[str, ...]
    labels: tuple[str, ...]
    sha256: str
    version: str
    source: str
    imported_at: str

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["languages"] = tuple(data["languages"])
            data["labels"] = tuple(data["labels"])
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelsError(f"unreadable model manifest {path}: {exc}") from exc

    def write(self, directory: Path) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True)
        (directory / MANIFEST).write_text(text + "\n", encoding="utf-8")


def list_models(models_dir: Path) -> list[Manifest]:
    """The entries in `models_dir`, by name (an absent folder holds none)."""
    if not models_dir.is_dir():
        return []
    return [
        Manifest.read(entry)
        for entry in sorted(models_dir.iterdir())
        if not entry.name.startswith(".") and (entry / MANIFEST).is_file()
    ]


def open_detoxify(directory: Path) -> Any:
    """A `Detoxify` for the entry in `directory`, loaded without any network."""
    directory = directory.resolve()  # a relative path could pass for a hub id
    checkpoint = read_checkpoint(directory / CHECKPOINT)
    # detoxify hands the checkpoint's `model_type` (a hub id such as bert-base-uncased) to
    # `from_pretrained` even when given `huggingface_config_path`: point it at this folder,
    # in a copy held in memory, so the file on disk stays the publisher's.
    checkpoint["config"]["arch"]["args"]["model_type"] = str(directory)
    patched = io.BytesIO()
    torch.save(checkpoint, patched)
    del checkpoint
    patched.seek(0)
    with _quiet_transformers():
        return Detoxify(checkpoint=patched, device="cpu", huggingface_config_path=str(directory))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents; zip-format files are memory-mapped rather than read whole."""
    try:
        loaded = torch.load(
            path, map_location="cpu", weights_only=False, mmap=zipfile.is_zipfile(path)
        )
    except Exception as exc:  # torch reports a bad file with whatever the unpickler raised
        raise ModelsError(f"{path} is not a readable torch checkpoint: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ModelsError(
            f"{path} is not a detoxify checkpoint: it holds a {type(loaded).__name__}"
        )
    return loaded


def import_checkpoint(
    models_dir: Path,
    source: Path,
    *,
    name: str | None = None,
    config_dir: Path | None = None,
    languages: Sequence[str] = (),
    version: str | None = None,
) -> Manifest:
    """Validate the detoxify checkpoint `source` and install it as an entry of `models_dir`.

    The Hugging Face config and tokenizer files come from `config_dir`, else from the
    checkpoint's own folder. The entry is loaded once before it replaces any old one.
    """
    args, classes = _checkpoint_config(read_checkpoint(source), source)
    name = name or _published_name(args["model_name"])
    if name is None:
        raise ModelsError(f"cannot tell which model {source} is; name it with --name")
    covered = tuple(sorted(set(languages or _published_languages(name, source))))
    labels = tuple(_LABEL_NAMES.get(label, label) for label in classes)
    models_dir.mkdir(parents=True, exist_ok=True)
    # Staged inside the models folder (hidden from `list_models`), so the final move is a
    # rename on one file system.
    with tempfile.TemporaryDirectory(prefix=f".import-{name}-", dir=models_dir) as staging:
        entry = Path(staging) / name
        entry.mkdir()
        sha256 = _copy_hashing(source, entry / CHECKPOINT)
        if source.name in _PUBLISHED_FILES:  # a download made by hand: check it as pull would
            _verify(source, sha256, None)
        _write_hf_files(entry, args, labels, config_dir or source.parent)
        manifest = Manifest(
            name=name,
            architecture=args["model_name"],
            base=args["model_type"],
            tokenizer=args["tokenizer_name"],
            languages=covered,
            labels=labels,
            sha256=sha256,
            version=version or f"{source.name} sha256:{sha256[:12]}",
            source=str(source),
            imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        manifest.write(entry)
        _check_loads(entry, labels)
        _replace(models_dir / name, entry)
    return manifest


def pull(
    models_dir: Path,
    name: str,
    *,
    config_dir: Path | None = None,
    sha256: str | None = None,
    timeout: float = 30.0,
) -> Manifest:
    """Download published model `name`, verify its sha256 and import it.

    The config and tokenizer files come from `config_dir`, else from the Hugging Face hub.
    """
    if name not in PUBLISHED:
        raise ModelsError(f"no published model {name!r}; known: {', '.join(PUBLISHED)}")
    published = PUBLISHED[name]
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".pull-{name}-", dir=models_dir) as staging:
        download = Path(staging) / published.url.rsplit("/", 1)[-1]
        actual = _download(published.url, download, timeout)
        _verify(download, actual, sha256)
        if config_dir is None:
            config_dir = Path(staging) / "hf"
            _fetch_hf_files(published, config_dir)
        return import_checkpoint(
            models_dir,
            download,
            name=name,
            config_dir=config_dir,
            languages=sorted(published.languages),
            version=published.version,
        )


def _checkpoint_config(checkpoint: dict[str, Any], path: Path) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint's `config.arch.args` and class names, checked for what detoxify needs."""
    if "config" not in checkpoint or "state_dict" not in checkpoint:
        raise ModelsError(
            f"{path} is not a detoxify checkpoint: it needs `config` and `state_dict`"
        )
    try:
        args = dict(checkpoint["config"]["arch"]["args"])
        classes = list(checkpoint["config"]["dataset"]["args"]["classes"])
    except (KeyError, TypeError) as exc:
        raise ModelsError(
            f"{path}: config lacks {exc} (config.arch.args, config.dataset.args)"
        ) from exc
    missing = [key for key in _ARCH_ARGS if key not in args]
    if missing:
        raise ModelsError(f"{path}: config.arch.args lacks {', '.join(missing)}")
    if len(classes) != args["num_classes"]:
        raise ModelsError(
            f"{path}: {len(classes)} classes but num_classes is {args['num_classes']}"
        )
    return args, classes


def _published_name(architecture: str) -> str | None:
    return next((n for n, p in PUBLISHED.items() if p.architecture == architecture), None)


def _published_languages(name: str, source: Path) -> frozenset[str]:
    if name not in PUBLISHED:
        raise ModelsError(f"which languages does {source} cover? list them with --language")
    return PUBLISHED[name].languages


def _write_hf_files(
    entry: Path, args: Mapping[str, Any], labels: Sequence[str], source: Path
) -> None:
    """Save the architecture's config (with this checkpoint's labels) and tokenizer into `entry`."""
    _require_hf_files(source, args["model_type"])
    model_class = getattr(transformers, args["model_name"], None)
    tokenizer_class = getattr(transformers, args["tokenizer_name"], None)
    if model_class is None or tokenizer_class is None:
        raise ModelsError(f"transformers has no {args['model_name']} or {args['tokenizer_name']}")
    try:
        with _quiet_transformers():
            config = model_class.config_class.from_pretrained(source, local_files_only=True)
            tokenizer = tokenizer_class.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelsError(
            f"no usable config and tokenizer files for {args['model_type']} in {source} ({exc}); "
            f"pass --config-dir with its config.json and tokenizer files"
        ) from exc
    # With `huggingface_config_path` the label count comes from config.json alone; a hub
    # config says 2 and the checkpoint's classifier would not fit.
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: index for index, label in enumerate(labels)}
    tokenizer.model_max_length = min(tokenizer.model_max_length, _max_tokens(config))
    config.save_pretrained(entry)
    tokenizer.save_pretrained(entry)


def _require_hf_files(source: Path, base: str) -> None:
    # transformers quietly falls back to a default config and an empty tokenizer for a
    # folder without these files; the model would then not match its checkpoint.
    has_vocabulary = any((source / name).is_file() for name in _VOCABULARY_FILES)
    if not (source / HF_CONFIG).is_file() or not has_vocabulary:
        raise ModelsError(
            f"no usable config and tokenizer files for {base} in {source} (it needs "
            f"{HF_CONFIG} and one of {', '.join(_VOCABULARY_FILES)}); "
            "pass --config-dir with the files that `save_pretrained` writes"
        )


def _max_tokens(config: Any) -> int:
    """The longest input the architecture accepts, for the tokenizer to truncate to."""
    # RoBERTa-family models number positions from padding_idx + 1, so of their 514
    # position slots only 512 are usable.
    offset = config.pad_token_id + 1 if config.model_type in ("roberta", "xlm-roberta") else 0
    return int(config.max_position_embeddings) - offset


def _check_loads(entry: Path, labels: Sequence[str]) -> None:
    try:
        detoxify = open_detoxify(entry)
        detoxify.predict(["a quick check"])
    except ModelsError:
        raise
    except Exception as exc:  # any failure here means the entry would not serve
        raise ModelsError(f"the model does not load from its files: {exc}") from exc
    if list(detoxify.class_names) != list(labels):
        raise ModelsError(f"the model loads with labels {detoxify.class_names}, expected {labels}")


def _replace(target: Path, staged: Path) -> None:
    """Move `staged` to `target`: a reader finds the old entry, for a moment none, or the
    new one, never a half-written one."""
    if target.exists():
        retired = target.with_name(f".retired-{target.name}")
        shutil.rmtree(retired, ignore_errors=True)
        target.rename(retired)
        staged.rename(target)
        shutil.rmtree(retired)
    else:
        staged.rename(target)


def _copy_hashing(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    try:
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
    except OSError as exc:
        raise ModelsError(f"cannot copy {source}: {exc}") from exc
    return digest.hexdigest()


def _download(url: str, target: Path, timeout: float) -> str:
    """Fetch `url` into `target`; the sha256 of what arrived."""
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (our own table's URLs)
        with response, target.open("wb") as writer:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        reason = getattr(exc, "reason", exc)
        raise ModelsError(
            f"cannot download {url}: {reason}; without network, fetch that file elsewhere "
            f"and run `moderation models import FILE --config-dir DIR`"
        ) from exc
    return digest.hexdigest()


def _verify(path: Path, actual: str, expected: str | None) -> None:
    """Check the full sha256 when given, else the prefix the published file name carries."""
    if expected is None:
        match = _HASH_PREFIX.search(path.name)
        if match is None:
            raise ModelsError(f"{path.name} carries no sha256 prefix; pass --sha256")
        expected = match.group(1)
    if not actual.startswith(expected.lower()):
        raise ModelsError(f"{path.name}: sha256 {actual} does not match the expected {expected}")


def _fetch_hf_files(published: Published, target: Path) -> None:
    """Save the architecture's config and tokenizer from the hub (at pull time only)."""
    cache = target.with_name("hub-cache")
    try:
        with _quiet_transformers():
            model_class = getattr(transformers, published.architecture)
            config = model_class.config_class.from_pretrained(published.base, cache_dir=cache)
            tokenizer = getattr(transformers, published.tokenizer).from_pretrained(
                published.base, cache_dir=cache
            )
    except (OSError, ValueError) as exc:
        raise ModelsError(
            f"cannot fetch the config and tokenizer of {published.base} from the Hugging Face "
            f"hub ({exc}); save them elsewhere and pass --config-dir DIR"
        ) from exc
    config.save_pretrained(target)
    tokenizer.save_pretrained(target)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars from transformers: they would land in a worker's structured logs."""
    enabled = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if enabled:
            transformers.utils.logging.enable_progress_bar()  # type: ignore[no-untyped-call]
