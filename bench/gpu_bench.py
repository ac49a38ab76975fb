"""Scoring on a GPU: the worker's full per-claim path against raw `Detoxify.predict`.

Rows, all on the same device and the same comments (bench/scoring_bench_text.py's long
tail of lengths), detoxify `original` at bert-base size with random weights
(bench/scoring_bench_model.py; speed does not depend on the weights):
- raw: `Detoxify(...).predict` in batches of 32, float32 weights, the model moved to the
  device as a caller of detoxify would;
- `ToxicityModel.predict` in claims of the device's defaults (512 comments, a 65,536-token
  budget on a GPU), float32, then each half precision of the GPU's weights (float16, and
  bfloat16 where it has it), with each one's largest score difference from float32;
- the full worker path per claim, `Scorer.score`: language, toxicity with the default
  dtype (float16), spam (classifier and rule signals on a thread beside the model), no
  database.
Target: the full path at least 3x raw. Then each part of the full path alone (language,
toxicity, spam) and the three in turn, the model's speed for claim sizes and token
budgets around the device's defaults, the half precisions' score differences from
float32 where scores spread out (bench/agreement.py: a tiny BERT trained on the seed
corpus; random weights score every comment near one value), and `--processes N` worker
processes load the models on the same GPU at once and score the full path together (as
Celery's pool processes do under `moderation worker --concurrency N`): each one's GPU
memory and rate.

    .venv/bin/python bench/gpu_bench.py                       # on a machine with a GPU
    .venv/bin/python bench/gpu_bench.py --device cpu --comments 64 --processes 2  # smoke run

Without a GPU (and without --device cpu) it says so and measures nothing. On a GPU
machine with PyTorch but no package index, bench/gpu_wheels.sh (run where pip works)
downloads into .whl/ what else it needs, and says how to install them there.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import agreement
import scoring_bench_text as text
import torch
import toxicity_speed
from scoring_bench_model import CACHE, NAME, models_folder, raw_detoxify

from moderation.scoring import hardware
from moderation.scoring.language import detect
from moderation.scoring.scorer import Scorer
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import SpamClassifier, SpamContext, load_seed_corpus, score_spam
from moderation.scoring.toxicity import ToxicityModel
from workers.runtime import rss_mib

TARGET = 3.0
Scores = list[dict[str, float]]


def main() -> int:
    args = parse_args()
    if args.device == "auto" and not torch.cuda.is_available():
        print("no CUDA device on this machine: nothing measured (--device cpu for a smoke run)")
        return 0
    runtime = hardware.resolve(args.device)
    device = runtime.device
    print(_describe(device))
    models = models_folder(args.cache)
    texts = text.comments(random.Random(args.seed), args.comments)
    claim = args.claim or hardware.default_batch(runtime)
    budget = args.token_budget or hardware.default_token_budget(runtime)

    rows: list[tuple[str, float, Scores]] = []
    raw_rate, raw_scores = raw(models, device, texts, args.rounds)
    rows.append(("Detoxify.predict, batch 32, float32 (raw)", raw_rate, raw_scores))
    _free(device)

    for dtype in ["float32", *(half_dtypes(runtime) if runtime.on_gpu else [])]:
        model = ToxicityModel.load(
            models,
            NAME,
            hardware.Runtime(device, dtype, "torch"),
            batch_size=claim,
            token_budget=budget,
        )
        rate, scores = timed(model.predict, texts, claim, args.rounds)
        rows.append((f"ToxicityModel.predict, claims of {claim}, {dtype}", rate, scores))
        del model
        _free(device)

    scorer = full_path(models, runtime, claim, budget, texts)
    rate, scores = timed(scorer, texts, claim, args.rounds)
    rows.append((f"Scorer.score (language, toxicity {runtime.dtype}, spam), claims of {claim}",
                 rate, scores))  # fmt: skip
    report(rows, raw_rate, raw_scores, args)
    parts(scorer, texts, claim, args.rounds)
    if not args.speed_only:
        sizes(models, runtime, texts, args.rounds)
        half_precision(device, half_dtypes(runtime))
    if args.processes > 1:
        processes(models, runtime, texts, claim, budget, args.processes)
    return 0


class FullPath:
    """The worker's scoring of a claim (`Scorer.score`: language, toxicity, spam) without
    the database, as a function of the claim's texts."""

    def __init__(self, scorer: Scorer, texts: Sequence[str]) -> None:
        self.scorer = scorer
        # The bench's comments are unique (each carries its number), so text finds context.
        self.contexts = {t: SpamContext(t, "Reader", False, 0, 0, 0, site_id=1) for t in texts}

    def __call__(self, chunk: Sequence[str]) -> Scores:
        found = self.scorer.score([self.contexts[t] for t in chunk])
        return [s.toxicity or {} for s in found]


def full_path(
    models: Path, runtime: hardware.Runtime, claim: int, budget: int, texts: Sequence[str]
) -> FullPath:
    model = ToxicityModel.load(models, NAME, runtime, batch_size=claim, token_budget=budget)
    return FullPath(Scorer({NAME: model}, SiteSpamModels(SpamClassifier.seed()), detect), texts)


def parts(path: FullPath, texts: list[str], claim: int, rounds: int) -> None:
    """Each part of the full path alone, and the three one after another: where a claim's
    time goes, and whether spam on its own thread overlaps the model or holds it back."""
    model = path.scorer.toxicity[NAME]
    spam = path.scorer.spam

    def language(chunk: Sequence[str]) -> Scores:
        return [{} for _ in detect(chunk)]

    def toxicity(chunk: Sequence[str]) -> Scores:
        return model.predict(chunk)

    def spam_only(chunk: Sequence[str]) -> Scores:
        return [{} for _ in score_spam(spam, [path.contexts[t] for t in chunk])]

    def in_turn(chunk: Sequence[str]) -> Scores:
        language(chunk)
        spam_only(chunk)
        return toxicity(chunk)

    print(f"\nthe full path's parts, claims of {claim} (comments/s; ms per comment):")
    steps: list[tuple[str, Callable[[Sequence[str]], Scores]]] = [
        ("language alone", language),
        ("toxicity alone", toxicity),
        ("spam alone (classifier and signals)", spam_only),
        ("the three one after another, no thread", in_turn),
        ("Scorer.score, spam on its own thread", path),
    ]
    for label, part in steps:
        rate = timed(part, texts, claim, rounds)[0]
        print(f"  {label:<42} {rate:>9.1f}/s  {1000 / rate:>7.3f} ms")


def raw(models: Path, device: str, texts: list[str], rounds: int) -> tuple[float, Scores]:
    """Detoxify as its README has it, the model moved to the device, in batches of 32."""
    detoxify = raw_detoxify(models, device)
    return timed(partial(toxicity_speed.raw_predict, detoxify), texts, 32, rounds)


def timed(
    predict: Callable[[Sequence[str]], Scores], texts: list[str], claim: int, rounds: int
) -> tuple[float, Scores]:
    """Comments per second, best of `rounds` after one warm-up claim, and the scores."""
    predict(texts[:claim])
    passes = [toxicity_speed.timed(predict, texts, claim) for _ in range(rounds)]
    scores, seconds = min(passes, key=lambda found: found[1])
    return len(texts) / seconds, scores


def report(
    rows: list[tuple[str, float, Scores]],
    raw_rate: float,
    raw_scores: Scores,
    args: argparse.Namespace,
) -> None:
    print()
    print(f"| {'scorer':<72} | {'comments/s':>10} | {'vs raw':>7} | {'max abs diff':>12} |")
    print(f"|{'-' * 74}|{'-' * 12}|{'-' * 9}|{'-' * 14}|")
    for label, rate, scores in rows:
        difference = toxicity_speed.diff(scores, raw_scores)
        print(f"| {label:<72} | {rate:>10.1f} | {rate / raw_rate:>6.2f}x | {difference:>12.2e} |")
    full = rows[-1][1]
    verdict = "met" if full >= TARGET * raw_rate else "NOT met"
    print(
        f"\n{args.comments} comments, best of {args.rounds}; max abs diff: against the raw "
        f"float32 scores.\ntarget: the full worker path per claim >= {TARGET:g}x raw "
        f"Detoxify.predict at batch 32 float32: {full / raw_rate:.2f}x -> {verdict}"
    )


def sizes(models: Path, runtime: hardware.Runtime, texts: list[str], rounds: int) -> None:
    """`ToxicityModel.predict` in the default dtype for claim sizes and token budgets of a
    quarter to twice the device's defaults (`MODERATION_SCORING_BATCH`, `..._TOKEN_BUDGET`)."""
    scales = (0.25, 0.5, 1, 2)
    claims = [int(hardware.default_batch(runtime) * scale) for scale in scales]
    budgets = [int(hardware.default_token_budget(runtime) * scale) for scale in scales]
    print(f"\nclaim size and token budget, ToxicityModel.predict, {runtime.dtype} (comments/s):")
    print("| claim | " + " | ".join(f"{budget:>7,}" for budget in budgets) + " |")
    print("|------:|" + "|".join("-" * 9 for _ in budgets) + "|")
    for claim in claims:
        rates = []
        for budget in budgets:
            model = ToxicityModel.load(models, NAME, runtime, batch_size=claim, token_budget=budget)
            rates.append(timed(model.predict, texts, claim, rounds)[0])
            del model
            _free(runtime.device)
        print(f"| {claim:>5} | " + " | ".join(f"{rate:>7.1f}" for rate in rates) + " |")


def half_dtypes(runtime: hardware.Runtime) -> list[str]:
    """The half precisions to measure: float16 (the GPU default), and bfloat16 where the
    device has it (every CPU runs it)."""
    with_bfloat16 = not runtime.on_gpu or hardware.has_bfloat16(runtime.device)
    return ["float16", *(["bfloat16"] if with_bfloat16 else [])]


def half_precision(device: str, dtypes: list[str]) -> None:
    """Each half precision's scores against float32's on the same device, for the trained
    tiny BERT on every seed comment."""
    texts, _ = load_seed_corpus()
    where = " (CPU kernels: a worker runs half precision on a GPU only)" if device == "cpu" else ""
    print(
        f"\nhalf-precision weights against float32 on {device}{where}:\n"
        f"a tiny BERT trained on the seed corpus, {len(texts)} seed comments x 6 labels"
    )
    with tempfile.TemporaryDirectory() as scratch:
        models = agreement.trained_tiny(Path(scratch))
        reference = agreement.scores(
            ToxicityModel.load(models, NAME, hardware.Runtime(device, "float32", "torch")), texts
        )
        agreement.print_header()
        for dtype in dtypes:
            model = ToxicityModel.load(models, NAME, hardware.Runtime(device, dtype, "torch"))
            found = agreement.scores(model, texts)
            agreement.print_row(f"torch {dtype} on {device}", found, reference)
        agreement.print_spread(reference)


def processes(
    models: Path,
    runtime: hardware.Runtime,
    texts: list[str],
    claim: int,
    budget: int,
    count: int,
) -> None:
    """`count` processes load the models on one device at once and score together."""
    context = multiprocessing.get_context("spawn")  # CUDA cannot be used across fork
    start = context.Barrier(count)
    results = context.Queue()
    workers = [
        context.Process(
            target=_worker, args=(models, runtime, texts, claim, budget, start, results)
        )
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    measured = [results.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    print(f"\n{count} worker processes on {runtime.device}, each with its own models, "
          "scoring the full path (Scorer.score):")  # fmt: skip
    print(f"| {'pid':>8} | {'GPU MiB allocated':>17} | {'GPU MiB reserved':>16} | "
          f"{'RSS MiB':>8} | {'comments/s':>10} |")  # fmt: skip
    print(f"|{'-' * 10}|{'-' * 19}|{'-' * 18}|{'-' * 10}|{'-' * 12}|")
    for row in measured:
        print(
            f"| {row['pid']:>8} | {row['allocated']:>17.0f} | {row['reserved']:>16.0f} "
            f"| {row['rss']:>8.0f} | {row['rate']:>10.1f} |"
        )
    print(f"together: {sum(r['rate'] for r in measured):.1f} comments/s")


def _worker(
    models: Path,
    runtime: hardware.Runtime,
    texts: list[str],
    claim: int,
    budget: int,
    start: Any,
    results: Any,
) -> None:
    path = full_path(models, runtime, claim, budget, texts)
    path(texts[:claim])
    start.wait()
    rate, _ = timed(path, texts, claim, 1)
    on_gpu = runtime.on_gpu
    results.put(
        {
            "pid": os.getpid(),
            "allocated": torch.cuda.max_memory_allocated(runtime.device) / 2**20 if on_gpu else 0,
            "reserved": torch.cuda.memory_reserved(runtime.device) / 2**20 if on_gpu else 0,
            "rss": rss_mib(),
            "rate": rate,
        }
    )


def _free(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _describe(device: str) -> str:
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(device)
        return f"{name} ({device}); torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"{device}: {os.cpu_count()} CPUs, torch {torch.__version__} (a smoke run, not a GPU)"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, or cpu (smoke)")
    parser.add_argument("--comments", type=int, default=4096)
    parser.add_argument("--claim", type=int, default=0, help="default: the device's")
    parser.add_argument("--token-budget", type=int, default=0, help="default: the device's")
    parser.add_argument("--rounds", type=int, default=2, help="passes per row; best counts")
    parser.add_argument("--processes", type=int, default=4, help="worker processes at once")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="skip the claim-size sweep and the half-precision agreement",
    )
    parser.add_argument("--cache", type=Path, default=CACHE)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
