"""Spam scoring: a learned text classifier, raised by rule-based signals, with reasons.

The classifier starts from the seed corpus shipped in `seed/` (the YouTube Spam Collection,
CC BY 4.0, see seed/ATTRIBUTION.md) and is retrained from moderators' decisions by the beat
task. Everything here is plain functions on data: no Celery, no database.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import pickle
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, normalize

from moderation.errors import SpamModelError
from moderation.links import URL, domain, urls
from moderation.scoring.spam_signals import (
    Signal,
    SpamContext,
    cased_letters,
    spam_signals,
    strip_invisible,
)

__all__ = [
    "FORMAT_VERSION",
    "LINK_LOGIT_CAP",
    "MODEL_FORMAT",
    "SEED_FILES",
    "SeedComment",
    "SpamClassifier",
    "SpamContext",
    "SpamPredictor",
    "SpamVerdict",
    "WordTfidf",
    "combine",
    "load_seed_comments",
    "load_seed_corpus",
    "load_seed_file",
    "score_spam",
]

SEED_FILES = ("Youtube01-Psy.csv", "Youtube02-KatyPerry.csv", "Youtube03-LMFAO.csv")

# Bump whenever the pipeline's shape or the functions it pickles by name change: a blob of
# another format is refused with SpamModelError rather than scoring with a mismatched model.
FORMAT_VERSION = 5
_MAGIC = b"moderation-spam-model\n"
# What a blob must have been saved as for this release to load it (pickles do not cross
# scikit-learn versions); stored beside each model so that beat retrains the others.
MODEL_FORMAT = f"{FORMAT_VERSION} scikit-learn {sklearn.__version__}"

# The classifier's own evidence shows among the reasons once it leans to spam.
_CLASSIFIER_REASON_FROM = 0.5

# The most a link as such may add to the classifier's log-odds (odds times e). The seed
# teaches that every link is spam (YouTube readers almost never link; news readers cite
# sources), so uncapped "Source: <link>" scores 0.99; the rule signals weigh links instead.
# What it learns of particular domains, more or less spam than links in general, is kept.
LINK_LOGIT_CAP = 1.0


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    """The combined spam score of one comment and the reasons behind it, strongest first."""

    score: float
    reasons: tuple[str, ...]


def _folded(text: str) -> str:
    # NFKC folds fullwidth and "mathematical bold" letters back to plain ones.
    return unicodedata.normalize("NFKC", strip_invisible(text))


def model_text(text: str) -> str:
    """The words the classifier reads: folded, lower-cased, without invisible marks or links."""
    folded = _folded(text)
    return _without_links(folded, urls(folded))


def _without_links(folded: str, links: Sequence[str]) -> str:
    # Links are not words: `has_link` and `link_domains` carry them, so that the weight of
    # "a link" sits in one feature that can be capped rather than in n-grams of URLs. Nor is
    # the name of the site linked to ("on Facebook: facebook.com/..."): its domain carries
    # it, and the seed's spammers name Facebook and YouTube so often that the word alone
    # pushed a reader citing the mayor's page over the reject line. Names of one or two
    # letters (t.co, x.com) are words too ("don't"), so they stay.
    if not links:
        return folded.lower()
    text = URL.sub(" ", folded).lower()
    names = {_registered(domain(url)).split(".")[0] for url in links}
    named = "|".join(re.escape(name) for name in names if len(name) >= 3)
    return re.sub(rf"\b(?:{named})\b", " ", text) if named else text


def has_link(texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """One column: 1 where the text has a link."""
    return _link_column([urls(_folded(text)) for text in texts])


def _link_column(links: Sequence[Sequence[str]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    flags = [1.0 if found else 0.0 for found in links]
    return np.array(flags, dtype=np.float64).reshape(len(flags), 1)


def link_domains(text: str) -> list[str]:
    """The host of each link in `text`, and the domain it is under when that differs."""
    return _domains(urls(_folded(text)))


def _domains(links: Sequence[str]) -> list[str]:
    found: list[str] = []
    for url in links:
        host = domain(url)
        registered = _registered(host)
        found += [host] if registered == host else [host, registered]
    return found


# Second-level labels under which a country's domains are registered: "bbc.co.uk".
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "net", "org"})


def _registered(host: str) -> str:
    """Where `host` is registered: "m.facebook.com" under "facebook.com", "a.bbc.co.uk" under
    "bbc.co.uk"."""
    labels = host.split(".")
    under_country = len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL
    return ".".join(labels[-3:] if under_country else labels[-2:])


def shape_features(texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """What n-grams of lower-cased text miss: the share of capitals and the exclamation
    marks, in the words around any links (a video id's capitals are not shouting).

    Not length: in the seed, spam runs longer than the readers' "love this song", and
    the classifier learned that so well that a considered 500-character news comment
    scored 0.71 to 0.78, held as spam on every site that had yet to train its own."""
    rows = []
    for typed in texts:
        text = URL.sub(" ", typed) if urls(typed) else typed
        upper, cased = cased_letters(text)
        capitals = upper / cased if cased >= 8 else 0.0
        rows.append([capitals, min(text.count("!"), 5) / 5])
    return np.array(rows, dtype=np.float64).reshape(len(rows), 2)


class WordTfidf(TfidfVectorizer):  # type: ignore[misc]  # scikit-learn is untyped
    """Word n-grams' tf-idf, each row scaled to unit length as if the n-grams its
    vocabulary lacks were in it, each as rare as the rarest it holds. Plain L2
    normalisation gives a short comment's few known words all its weight: "My telephone!"
    was "my" alone, a word spam leans on ("check out my channel"), and scored 0.98; news
    readers write many words a YouTube seed never saw. Built with `norm=None`."""

    def fit_transform(self, raw_documents: Iterable[str], y: Any = None) -> sparse.csr_matrix:
        # Every n-gram of the texts it is fitted on is in the vocabulary.
        return normalize(super().fit_transform(raw_documents, y), copy=False)

    def transform(self, raw_documents: Iterable[str]) -> sparse.csr_matrix:
        analyze = self.build_analyzer()
        grams = [analyze(document) for document in raw_documents]
        return self.weigh(grams)

    def weigh(self, grams: Sequence[list[str]]) -> sparse.csr_matrix:
        """The rows of documents cut into `grams`."""
        matrix = _tfidf(self, _counts(self.vocabulary_, grams))
        rarest = float(self.idf_.max())
        unseen = [
            sum(
                _tf(self, count) ** 2
                for gram, count in Counter(found).items()
                if gram not in self.vocabulary_
            )
            for found in grams
        ]
        squares = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
        lengths = np.sqrt(squares + np.array(unseen, np.float64) * rarest**2)
        lengths[lengths == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / lengths) @ matrix, dtype=self.dtype)


_WORD = r"(?u)\b\w+\b"


def _pipeline() -> Pipeline:
    # Character n-grams within words survive misspellings and obfuscation; word n-grams,
    # weighted double, tell "check out my channel" from "check the views". Domains are
    # hashed so that a corpus without links still trains. `has_link` must stay the first
    # column: `_cap_link_weight` finds it there. Class weights keep the balance of spam
    # and not spam from setting the bar when moderators' decisions tilt it. C 10 rather
    # than 30 ranks better in bench/spam_adapt.py now that unseen words count (WordTfidf);
    # other n-grams, NB-SVM, a calibrated SVM and sentence embeddings did no better.
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 5),
        preprocessor=model_text,
        sublinear_tf=True,
        dtype=np.float32,
    )
    words = WordTfidf(
        ngram_range=(1, 2),
        preprocessor=model_text,
        sublinear_tf=True,
        token_pattern=_WORD,
        norm=None,
        dtype=np.float32,
    )

    domains = HashingVectorizer(
        analyzer=link_domains,
        token_pattern=None,
        n_features=2**12,
        binary=True,
        norm=None,
        alternate_sign=False,
        dtype=np.float32,
    )
    features = FeatureUnion(
        [
            ("link", FunctionTransformer(has_link)),
            ("chars", chars),
            ("words", words),
            ("shape", FunctionTransformer(shape_features)),
            ("domains", domains),
        ],
        transformer_weights={"words": 2.0},
    )
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=5000)
    return Pipeline([("features", features), ("model", model)])


def _cap_link_weight(pipeline: Pipeline, cap: float) -> None:
    # Fitted free, the link feature takes all that links have in common, so the words
    # around a link ("Source:", "see") are not learned as spam in its stead; capped
    # afterwards, it adds at most LINK_LOGIT_CAP for a link to a domain never seen.
    coefficients = pipeline.named_steps["model"].coef_
    coefficients[0, 0] = min(coefficients[0, 0], cap)


# What a site's own copies cover (`SpamClassifier.train`): the words its commenters write.
# Not the link column, which has a rule of its own per site (the cap, from the site's
# decisions on links), nor character n-grams: with their copies too, bench/spam_adapt.py's
# LMFAO site, whose moderators mark links spam, went on to reject a reader citing Reuters.
_OWN_BLOCKS = frozenset({"words"})


def _own_columns(union: FeatureUnion) -> np.ndarray[Any, np.dtype[np.intp]]:
    """The fitted union's columns in `_OWN_BLOCKS`."""
    columns, start = [], 0
    for name, transformer in union.transformer_list:
        width = transformer.transform([""]).shape[1]
        if name in _OWN_BLOCKS:
            columns.append(np.arange(start, start + width))
        start += width
    return np.concatenate(columns)


def _with_own_copies(
    features: sparse.csr_matrix, own: Sequence[bool], columns: np.ndarray[Any, Any]
) -> sparse.csr_matrix:
    """`features` beside a copy of their `columns` that only the rows marked `own` fill."""
    marks = sparse.diags(np.asarray(own, dtype=features.dtype))
    return sparse.hstack([features, marks @ features[:, columns]]).tocsr()


def _fold_own_copies(model: LogisticRegression, columns: np.ndarray[Any, Any]) -> None:
    """Add the weights of the own copies (`_with_own_copies`) to the shared ones: the
    site's comments, which the model will score, fill both."""
    width = model.coef_.shape[1] - len(columns)
    if len(columns) and width > 0:
        coefficients = model.coef_[:, :width].copy()
        coefficients[:, columns] += model.coef_[:, width:]
        model.coef_ = coefficients
        model.n_features_in_ = width


class _Features:
    """The fitted pipeline's features, as its FeatureUnion computes them, in a fraction of
    the time: each text is folded and searched for links once (the union does it in four
    transformers), character n-grams are counted for the whole batch in numpy
    (`_CharCounts`) and word n-grams by `Counter`, rather than by scikit-learn's Python
    loop per n-gram, which cost about 0.5 ms a comment and held back a GPU worker.
    Fitting stays scikit-learn's own; a test holds the two to the same matrix."""

    # The union's transformers, in its column order (`_pipeline`).
    ORDER = ("link", "chars", "words", "shape", "domains")

    def __init__(self, union: FeatureUnion) -> None:
        steps = dict(union.transformer_list)
        if tuple(steps) != self.ORDER:
            raise SpamModelError(f"spam model features {tuple(steps)}, not {self.ORDER}")
        self.chars: TfidfVectorizer = steps["chars"]
        self.words: WordTfidf = steps["words"]
        if not isinstance(self.words, WordTfidf):
            raise SpamModelError(f"spam model word features {type(self.words).__name__}")
        if self.words.ngram_range != (1, 2):
            raise SpamModelError(f"word n-grams {self.words.ngram_range}: only (1, 2) here")
        self.char_counts = _CharCounts(self.chars.vocabulary_, *self.chars.ngram_range)
        self.token = re.compile(self.words.token_pattern)
        domains: HashingVectorizer = steps["domains"]
        self.hasher = FeatureHasher(
            n_features=domains.n_features,
            input_type="string",
            dtype=domains.dtype,
            alternate_sign=domains.alternate_sign,
        )
        self.weights: dict[str, float] = union.transformer_weights or {}

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        folded = [_folded(text) for text in texts]
        links = [urls(text) for text in folded]
        prepared = list(map(_without_links, folded, links))
        domains = self.hasher.transform(_domains(found) for found in links)
        domains.data.fill(1)  # binary, no norm: as the HashingVectorizer was built
        blocks = [
            _link_column(links),
            _tfidf(self.chars, self.char_counts(prepared)),
            self.words.weigh([self._words(text) for text in prepared]),
            shape_features(texts),
            domains,
        ]
        weighted = [
            block * self.weights[name] if name in self.weights else block
            for name, block in zip(self.ORDER, blocks, strict=True)
        ]
        return sparse.hstack(weighted).tocsr()

    def _words(self, text: str) -> list[str]:
        tokens = self.token.findall(text)
        return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


class _CharCounts:
    """scikit-learn's char_wb n-gram counts over a fitted vocabulary, for a batch at once.

    char_wb takes every window of n characters of each space-padded word, for n up to the
    padded word's length. Here the batch's padded words are laid end to end between
    newlines (which no word holds) as one array of character codes, each character
    numbered by its place in the vocabulary's alphabet (0: none, and the newlines), and
    every window of n codes is packed into one 64-bit key, exact while the alphabet has
    at most 4,095 characters; keys are looked up in the vocabulary's, sorted. A larger
    alphabet (a site writing in thousands of CJK characters) is counted per n-gram.
    """

    _LENGTH_SHIFT = 61  # the n-gram's length sits in the key's top 3 bits

    def __init__(self, vocabulary: dict[str, int], low: int, high: int) -> None:
        self.vocabulary = vocabulary
        self.lengths = range(low, high + 1)
        alphabet = sorted({char for gram in vocabulary for char in gram})
        self.bits = len(alphabet).bit_length()
        self.packed = high * self.bits <= self._LENGTH_SHIFT
        if not self.packed:
            self.windows = [re.compile(rf"(?=([^\n]{{{n}}}))") for n in self.lengths]
            return
        self.alphabet = np.array([ord(char) for char in alphabet], dtype=np.uint32)
        code = {char: index + 1 for index, char in enumerate(alphabet)}
        keys = np.array([self._key([code[c] for c in gram]) for gram in vocabulary], np.uint64)
        order = np.argsort(keys)
        self.keys = keys[order]
        self.columns = np.fromiter(vocabulary.values(), np.int64, len(vocabulary))[order]

    def __call__(self, texts: Sequence[str]) -> sparse.csr_matrix:
        padded = ["\n".join(f" {word} " for word in text.split()) for text in texts]
        if not self.packed:
            grams = ([g for window in self.windows for g in window.findall(t)] for t in padded)
            return _counts(self.vocabulary, grams)
        characters = np.frombuffer("\n".join(padded).encode("utf-32-le"), np.uint32)
        rows = np.repeat(np.arange(len(texts)), [len(text) + 1 for text in padded])
        place = np.minimum(np.searchsorted(self.alphabet, characters), len(self.alphabet) - 1)
        codes = np.where(self.alphabet[place] == characters, place + 1, 0).astype(np.uint64)
        found_rows, found_columns = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for n in self.lengths:
            count = len(codes) - n + 1
            if count <= 0:
                break
            keys = np.full(count, n << self._LENGTH_SHIFT, np.uint64)
            whole = np.ones(count, bool)
            for offset in range(n):
                window = codes[offset : offset + count]
                whole &= window != 0
                keys |= window << np.uint64(self.bits * offset)
            keys, where = keys[whole], rows[:count][whole]
            place = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            known = self.keys[place] == keys
            found_rows.append(where[known])
            found_columns.append(self.columns[place[known]])
        found = (np.concatenate(found_rows), np.concatenate(found_columns))
        ones = np.ones(len(found[0]), np.float64)
        # Summing the duplicates of each (text, n-gram) pair makes the counts.
        return sparse.coo_matrix((ones, found), shape=(len(texts), len(self.vocabulary))).tocsr()

    def _key(self, codes: list[int]) -> int:
        key = len(codes) << self._LENGTH_SHIFT
        for offset, code in enumerate(codes):
            key |= code << (self.bits * offset)
        return key


def _counts(vocabulary: dict[str, int], documents: Iterable[list[str]]) -> sparse.csr_matrix:
    """CountVectorizer's counts of each document's n-grams over a fitted vocabulary."""
    indptr, indices, counts = [0], [], []
    for grams in documents:
        for gram, count in Counter(grams).items():
            column = vocabulary.get(gram)
            if column is not None:
                indices.append(column)
                counts.append(count)
        indptr.append(len(indices))
    shape = (len(indptr) - 1, len(vocabulary))
    return sparse.csr_matrix((np.array(counts, np.float64), indices, indptr), shape=shape)


def _tfidf(vectorizer: TfidfVectorizer, counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """TfidfVectorizer's transform from counts: sublinear tf, idf, norm, in its dtype."""
    matrix = counts.astype(vectorizer.dtype)
    matrix.sort_indices()
    if vectorizer.sublinear_tf:
        np.log(matrix.data, matrix.data)
        matrix.data += 1.0
    matrix.data *= vectorizer.idf_[matrix.indices]
    return normalize(matrix, norm=vectorizer.norm, copy=False) if vectorizer.norm else matrix


def _tf(vectorizer: TfidfVectorizer, count: int) -> float:
    return 1.0 + math.log(count) if vectorizer.sublinear_tf else float(count)


class SpamClassifier:
    """A text classifier giving each comment a spam probability."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._features = _Features(pipeline.named_steps["features"])

    @classmethod
    def seed(cls) -> SpamClassifier:
        """The classifier trained on the shipped seed corpus."""
        return cls.train(*load_seed_corpus())

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        weights: Sequence[float] | None = None,
        link_cap: float = LINK_LOGIT_CAP,
        own: Sequence[bool] | None = None,
    ) -> SpamClassifier:
        """A classifier trained on `texts`, labelled 1 for spam and 0 for not spam, each
        counted `weights[i]` times (default once).

        `own` marks the texts of the site the classifier is for. Their word n-grams also
        count in a copy of their own, which the seed's texts leave at zero (Daumé III,
        "Frustratingly easy domain adaptation", 2007), so a site's decisions can overrule
        what the seed taught of a word without fighting a thousand seed comments over one
        shared weight; the copies are then added to the shared weights, leaving an
        ordinary model of the same features. In bench/spam_adapt.py, 25 to 100 decisions
        in, this lifts hold F1 by about 0.005 and reject F1 by 0.01 to 0.015."""
        if len(texts) != len(labels) or (weights is not None and len(weights) != len(texts)):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if own is not None and len(own) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(own)} marks of a site's own")
        if set(labels) != {0, 1}:
            raise ValueError(f"labels must be 0 and 1, both present, not {sorted(set(labels))}")
        pipeline = _pipeline()
        union = pipeline.named_steps["features"]
        features = union.fit_transform(list(texts))
        columns = np.empty(0, np.intp)
        if own is not None and any(own):
            columns = _own_columns(union)
            features = _with_own_copies(features, own, columns)
        model: LogisticRegression = pipeline.named_steps["model"]
        fit_weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        model.fit(features, np.asarray(labels, dtype=np.int64), sample_weight=fit_weights)
        _fold_own_copies(model, columns)
        _cap_link_weight(pipeline, link_cap)
        return cls(pipeline)

    def predict(self, texts: Sequence[str]) -> list[float]:
        """The spam probability of each text."""
        if not texts:
            return []
        features = self._features.transform(texts)
        probabilities = self._pipeline.named_steps["model"].predict_proba(features)[:, 1]
        return [float(p) for p in probabilities]

    def probabilities(self, contexts: Sequence[SpamContext]) -> list[float]:
        """The spam probability of each comment's text."""
        return self.predict([ctx.body for ctx in contexts])

    def to_bytes(self) -> bytes:
        """The model as bytes to store (PostgreSQL bytea); `from_bytes` reads them back."""
        header = json.dumps({"format": FORMAT_VERSION, "sklearn": sklearn.__version__})
        payload = zlib.compress(pickle.dumps(self._pipeline, protocol=5), 6)
        return _MAGIC + header.encode() + b"\n" + payload

    @classmethod
    def from_bytes(cls, data: bytes) -> SpamClassifier:
        """A classifier from `to_bytes` output; refuses other formats with `SpamModelError`."""
        header = _read_header(data)
        if header.get("format") != FORMAT_VERSION:
            raise SpamModelError(
                f"spam model format {header.get('format')!r} is not {FORMAT_VERSION}; retrain it"
            )
        if header.get("sklearn") != sklearn.__version__:
            raise SpamModelError(
                f"spam model was saved by scikit-learn {header.get('sklearn')!r}, this is "
                f"{sklearn.__version__}; retrain it"
            )
        payload = data[len(_MAGIC) :].split(b"\n", 1)[1]
        try:
            # Blobs come only from our own database (to_bytes), never from a client.
            pipeline = pickle.loads(zlib.decompress(payload))  # noqa: S301
        except (zlib.error, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            raise SpamModelError(f"spam model blob is corrupt: {exc}") from exc
        if not isinstance(pipeline, Pipeline):
            raise SpamModelError(f"spam model blob holds a {type(pipeline).__name__}")
        return cls(pipeline)


def _read_header(data: bytes) -> dict[str, Any]:
    if not data.startswith(_MAGIC) or b"\n" not in data[len(_MAGIC) :]:
        raise SpamModelError("not a spam model blob (no header)")
    line = data[len(_MAGIC) :].split(b"\n", 1)[0]
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpamModelError(f"spam model header is unreadable: {exc}") from exc
    if not isinstance(header, dict):
        raise SpamModelError("spam model header is not an object")
    return header


def combine(probability: float, signals: Sequence[Signal]) -> float:
    """The classifier's probability raised by the signals, as independent alarms (noisy-OR).

    score = 1 - (1 - p) * prod(1 - strength): each signal alone would make the comment spam
    with its strength, so a signal can only raise the score, a strong one (a shortener,
    the same text posted ten times) lifts even a comment the classifier likes to its own
    strength, and weak ones (capitals, a long run of '!') matter only together.
    """
    clean = 1.0 - probability
    for signal in signals:
        clean *= 1.0 - signal.strength
    return 1.0 - clean


class SpamPredictor(Protocol):
    """One classifier (`SpamClassifier`), or one per site (`site_spam.SiteSpamModels`)."""

    def probabilities(self, contexts: Sequence[SpamContext]) -> list[float]: ...


def score_spam(predictor: SpamPredictor, contexts: Sequence[SpamContext]) -> list[SpamVerdict]:
    """A verdict per comment: one classifier call per model in the batch, then the signals."""
    probabilities = predictor.probabilities(contexts)
    return [_verdict(p, spam_signals(ctx)) for p, ctx in zip(probabilities, contexts, strict=True)]


def _verdict(probability: float, signals: list[Signal]) -> SpamVerdict:
    score = combine(probability, signals)
    evidence = list(signals)
    if probability >= _CLASSIFIER_REASON_FROM:
        evidence.append(Signal(f"spam classifier {probability:.2f}", probability))
    evidence.sort(key=lambda s: -s.strength)
    return SpamVerdict(score, tuple(s.reason for s in evidence))


def load_seed_corpus() -> tuple[list[str], list[int]]:
    """Texts and labels (1 spam, 0 not) of all seed files, as commenters typed them."""
    texts: list[str] = []
    labels: list[int] = []
    for name in SEED_FILES:
        file_texts, file_labels = load_seed_file(name)
        texts += file_texts
        labels += file_labels
    return texts, labels


def load_seed_file(name: str) -> tuple[list[str], list[int]]:
    """Texts and labels of one seed file (one video's comments)."""
    rows = load_seed_comments(name)
    return [row.text for row in rows], [row.label for row in rows]


@dataclass(frozen=True, slots=True)
class SeedComment:
    text: str
    label: int  # 1 spam, 0 not
    author: str
    posted_at: str  # ISO 8601, as the export has it


def load_seed_comments(name: str) -> list[SeedComment]:
    """One seed file's comments with their authors and times, in the file's order."""
    seed = resources.files("moderation.scoring").joinpath("seed", name)
    rows = list(csv.DictReader(io.StringIO(seed.read_text(encoding="utf-8"), newline="")))
    return [
        SeedComment(_typed_text(row["CONTENT"]), int(row["CLASS"]), row["AUTHOR"], row["DATE"])
        for row in rows
    ]


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def _typed_text(content: str) -> str:
    """The comment as its author typed it, from the export's rendered HTML."""
    # YouTube rendered line breaks, links, hashtags and mentions as markup (markup a spammer
    # typed is escaped, so tags go before unescaping), and the export ends most comments
    # with a byte-order mark; our comments arrive as plain text.
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", content)))
    return text.strip("\ufeff \t\n")
