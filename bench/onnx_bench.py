"""ONNX exports against the eager model: score agreement and in-process speed on the CPU.

Two models, each exported as `moderation models export-onnx NAME --int8` does:
- the tests' tiny BERT trained on the seed corpus's spam labels (tests/tiny_model.py),
  whose scores spread from 0 to 1: quantisation error shows where scores vary, which
  random weights (scores all near one value) would hide;
- detoxify `original` at bert-base size with random weights (bench/scoring_bench_model.py),
  for speed: the arithmetic is the real model's.

Agreement is measured on every comment of the seed corpus (1,138 texts), not only on the
export's fixed sample; speed on bench/scoring_bench_text.py's comments in claims of 32,
through `ToxicityModel.predict` (sorted micro-batches in a 512-token budget) with the
given threads.

    .venv/bin/python bench/onnx_bench.py              # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scoring_bench_text as text
import torch
from scoring_bench_model import CACHE, NAME, models_folder, with_onnx_export

from moderation.scoring.hardware import Runtime
from moderation.scoring.onnx_export import export
from moderation.scoring.spam import load_seed_corpus
from moderation.scoring.toxicity import ToxicityModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' tiny-model builder, shared rather than copied
from tests.tiny_model import make_trained_checkpoint  # noqa: E402

EAGER = Runtime("cpu", "float32", "torch")
ONNX = (Runtime("cpu", "float32", "onnx"), Runtime("cpu", "int8", "onnx"))


def agreement(models: Path, texts: list[str]) -> None:
    eager = _matrix(ToxicityModel.load(models, NAME, EAGER), texts)
    for runtime in ONNX:
        scored = _matrix(ToxicityModel.load(models, NAME, runtime), texts)
        difference = np.abs(scored - eager)
        flipped = int(((scored >= 0.5) != (eager >= 0.5)).sum())
        print(
            f"| {runtime.describe():<22} | {difference.max():>8.4f} | "
            f"{np.percentile(difference, 99):>8.4f} | {difference.mean():>9.5f} | "
            f"{flipped:>14} |"
        )
    spread = eager[:, 0]
    print(
        f"eager scores (toxicity label): min {spread.min():.3f}, max {spread.max():.3f}, "
        f"standard deviation {spread.std():.3f}"
    )


def speed(models: Path, texts: list[str], claim: int, rounds: int) -> None:
    rates: dict[str, float] = {}
    for runtime in (EAGER, *ONNX):
        model = ToxicityModel.load(models, NAME, runtime)
        model.predict(texts[:8])
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for start in range(0, len(texts), claim):
                model.predict(texts[start : start + claim])
            best = min(best, time.perf_counter() - started)
        rates[runtime.describe()] = len(texts) / best
    base = rates[EAGER.describe()]
    for label, rate in rates.items():
        print(f"| {label:<22} | {rate:>10.1f} | {rate / base:>9.2f}x |")


def _matrix(model: ToxicityModel, texts: list[str]) -> np.ndarray[Any, Any]:
    scores = []
    for start in range(0, len(texts), 32):
        scores += model.predict(texts[start : start + 32])
    return np.array([[row[label] for label in model.labels] for row in scores])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    parser.add_argument("--comments", type=int, default=128, help="comments for the speed rows")
    parser.add_argument("--rounds", type=int, default=2, help="speed passes; the best counts")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_texts, _ = load_seed_corpus()
    header = (
        f"| {'backend':<22} | {'max diff':>8} | {'p99 diff':>8} | {'mean diff':>9} "
        f"| {'flipped at 0.5':>14} |"
    )
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        tiny = Path(scratch)
        make_trained_checkpoint(tiny)
        export(tiny / NAME, int8=True)
        print(
            f"tiny BERT trained on the seed corpus and exported in "
            f"{time.perf_counter() - started:.0f} s"
        )
        print(f"agreement with the eager model on {len(seed_texts)} seed comments x 6 labels:")
        print(header)
        print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
        agreement(tiny, seed_texts)

    bert = models_folder(args.cache)
    with_onnx_export(bert)
    print(f"\nbert-base shape, random weights ({bert / NAME}): agreement on the seed comments")
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    agreement(bert, seed_texts)
    comments = text.comments(random.Random(20240611), args.comments)
    words = statistics.median(len(c.split()) for c in comments)
    print(
        f"\nspeed, in-process, {args.threads} threads, {len(comments)} comments (median "
        f"{words:.0f} words) in claims of 32, best of {args.rounds}:"
    )
    print(f"| {'backend':<22} | {'comments/s':>10} | {'vs eager':>10} |")
    print(f"|{'-' * 24}|{'-' * 12}|{'-' * 12}|")
    speed(bert, comments, 32, args.rounds)


if __name__ == "__main__":
    main()
