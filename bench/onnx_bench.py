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
import tempfile
import time
from pathlib import Path

import agreement
import scoring_bench_text as text
import torch
from scoring_bench_model import CACHE, NAME, models_folder, with_onnx_export

from moderation.scoring.hardware import Runtime
from moderation.scoring.onnx_export import export
from moderation.scoring.spam import load_seed_corpus
from moderation.scoring.toxicity import ToxicityModel

EAGER = Runtime("cpu", "float32", "torch")
ONNX = (Runtime("cpu", "float32", "onnx"), Runtime("cpu", "int8", "onnx"))


def compare(models: Path, texts: list[str]) -> None:
    agreement.print_header()
    eager = agreement.scores(ToxicityModel.load(models, NAME, EAGER), texts)
    for runtime in ONNX:
        found = agreement.scores(ToxicityModel.load(models, NAME, runtime), texts)
        agreement.print_row(runtime.describe(), found, eager)
    agreement.print_spread(eager)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    parser.add_argument("--comments", type=int, default=128, help="comments for the speed rows")
    parser.add_argument("--rounds", type=int, default=2, help="speed passes; the best counts")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_texts, _ = load_seed_corpus()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        tiny = agreement.trained_tiny(Path(scratch))
        export(tiny / NAME, int8=True)
        print(
            f"tiny BERT trained on the seed corpus and exported in "
            f"{time.perf_counter() - started:.0f} s"
        )
        print(f"agreement with the eager model on {len(seed_texts)} seed comments x 6 labels:")
        compare(tiny, seed_texts)

    bert = models_folder(args.cache)
    with_onnx_export(bert)
    print(f"\nbert-base shape, random weights ({bert / NAME}): agreement on the seed comments")
    compare(bert, seed_texts)
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
