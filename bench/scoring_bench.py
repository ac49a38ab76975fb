"""Scoring benchmark: the worker end to end against raw `Detoxify.predict`, same comments.

End to end is what a site sees: comments POSTed to the API (`moderation api`), stored in
PostgreSQL, a wake-up through the broker, one `moderation worker --concurrency 1` that
claims, scores (language, detoxify `original`, spam) and writes decisions. Its
throughput runs from the first POST of a burst to the last comment decided. The
baseline is detoxify's own `Detoxify(...).predict` on the same texts in batches of 32,
in this process with the worker's torch thread count, on the model loaded the way the
worker loads it (`open_detoxify`); `ToxicityModel.predict` on claims of the same size
shows what the model alone costs the worker. Then comments arrive at a steady rate
(5/s) and each one's time from POST to decision gives p50 and p99.

The model is bert-base-uncased's shape with random weights (bench/scoring_bench_model.py):
speed does not depend on the weights. Comments are English with a long tail of lengths
(bench/scoring_bench_text.py). Scores the worker stored are compared with the baseline's.

    .venv/bin/python bench/scoring_bench.py                    # about 4 minutes on 2 cores
    .venv/bin/python bench/scoring_bench.py --comments 64 --latency-seconds 10   # smoke run
    .venv/bin/python bench/scoring_bench.py --scoring-batch 32,8    # compare claim sizes
    .venv/bin/python bench/scoring_bench.py --candidate ../copy     # a change to the worker
    .venv/bin/python bench/scoring_bench.py --backlog          # each worker's own rate too
    python3 bench/scoring_bench.py --device cuda --comments 2048 --latency-seconds 0 --backlog

A burst is posted by `--posters` processes (one per 4 cores, up to 4): one Python process
spends about 3 ms of CPU a POST, so alone it cannot load a GPU worker. The report gives
the posters' CPU beside the posting time; when the two are close, the client was the limit.

`--backlog` also posts the burst's comments while the worker takes no wake-ups (Celery's
`cancel_consumer`), then lets it go (`add_consumer`): from then to the last decision is
the worker's own rate, claims, scoring and writes, with the API's intake left out.
`--device cuda` runs the worker and the in-process rows on a GPU (float16 weights, the
GPU's claim size and token budget) and moves the raw baseline's model there, as a caller
of detoxify would; bench/gpu_wheels.sh says how to run it on a GPU machine that has no
package index.

For each burst and backlog it prints where the time went: the worker's claim, score and
write seconds (from its `batch_scored` log lines; they overlap, since a worker writes
one claim and takes the next while it scores), and the scratch database's active
backends, sampled every 20 ms (`pg_stat_activity`: each statement and its wait event).

DATABASE_URL names a server to create the scratch database on (dropped at the end),
else an embedded PostgreSQL is started; BROKER_URL names the broker (give the bench a
Redis database of its own: its scoring queue is purged), else an embedded Redis. Every
process started here is stopped on exit and on Ctrl-C.

Measured on the 2-core development VM (2026-11-25, load average 1.1-1.5 during the run,
mostly the bench's own processes; other work on the machine moves every figure): raw
`Detoxify.predict` at batch 32 scores 2.3 comments/s: the long tail pads most batches of
32 to 300-512 tokens (89,440 tokens run for 17,098 real ones). The worker end to end
scores 10.8/s with the default MODERATION_SCORING_BATCH=32, 4.70x the raw baseline
(target 3x: met): ToxicityModel sorts each claim by length and fills micro-batches up to
512 tokens, running 20,309 tokens. Its scores are within 1.5e-7 of detoxify's, and all
256 comments are stored as English and scored by `original`. At 5 comments/s the worker
claims about one comment at a time and keeps up: POST to decision p50 119 ms, p90 345 ms,
p99 793 ms (the 400-token comments and what queues behind them), the median no higher in
the last third of the minute than in the first. Before the token budget (fixed
micro-batches of 4) the same bench gave 9.8-10.5/s, 3.5-3.6x. Absolute rates here are
about a third of the issue's (8/s raw, 30/s micro-batched) on the same kind of machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import http_bench_db as scratch
import scoring_bench_text as text
import torch
from http_bench_servers import WORKERS, Server, backends, cpu_seconds, service_command, settle
from scoring_bench_model import CACHE, NAME, models_folder, raw_detoxify, with_onnx_export
from scoring_bench_phases import (
    Activity,
    Burst,
    Poster,
    Posters,
    Steady,
    Widget,
    burst,
    client,
    median,
    percentile,
    post_all,
    prepare,
    progress,
    sampled,
    steady,
    stored,
    wait_decided,
)
from scoring_bench_stack import Worker, broker, service_env, stop_on_signals
from toxicity_speed import padded_tokens, raw_predict, timed

from moderation import db
from moderation.scoring import hardware
from moderation.scoring.hardware import Runtime
from moderation.scoring.toxicity import ToxicityModel

TARGET_RATIO = 3.0
ONNX_TARGET = 2.0
ONNX_TOLERANCE = 0.02
_FIELD = re.compile(r"(\w+)=(\d+)")
PHASES = ("claim", "score", "write")

Scores = list[dict[str, float]]


@dataclass
class Config:
    """One worker configuration to measure."""

    label: str
    env: dict[str, str]
    latency: bool
    candidate: bool = False
    backend: str = "torch"


@dataclass
class Row:
    label: str
    comments: int
    seconds: float
    scores: Scores | None = None
    claims: list[int] | None = None
    # CPU seconds of the worker processes (in-process rows: of this process)
    worker_cpu: float | None = None
    db_cpu: float | None = None  # seconds, the scratch database's backends
    api_cpu: float | None = None
    english: int | None = None  # stored language "en"
    scored: int | None = None  # scored by `original` (the others are held unscored)
    posting: float | None = None  # seconds from the first POST to the last 202
    posting_cpu: float | None = None  # CPU seconds of the processes that posted
    candidate: bool = False
    diff: float | None = None
    backend: str | None = None  # end-to-end rows: the worker's toxicity backend
    backlog: bool = False  # the worker draining a backlog: intake is not in the time
    phases: dict[str, float] | None = None  # seconds the worker's batches spent per phase
    activity: Activity | None = None  # the scratch database's backends, sampled

    @property
    def rate(self) -> float:
        return self.comments / self.seconds


def main() -> int:
    args = parse_args()
    stop_on_signals()
    torch.set_num_threads(args.torch_threads)
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load average {_load()}; torch "
        f"{torch.__version__}; this machine is shared, so figures move with its load"
    )
    args.backends = args.backends or (["torch", "onnx"] if args.device == "cpu" else ["torch"])
    runtimes = [hardware.resolve(args.device, backend=backend) for backend in args.backends]
    args.scoring_batch = args.scoring_batch or [hardware.default_batch(runtimes[0])]
    models = models_folder(args.cache)
    rng = random.Random(args.seed)
    burst_texts = text.comments(rng, args.comments)
    steady_texts = text.comments(rng, round(args.rate * args.latency_seconds), 1_000_000)
    warm_texts = text.comments(rng, 4, 2_000_000)

    if "onnx" in args.backends:
        with_onnx_export(models)
    in_process_rows = in_process(models, burst_texts, runtimes, args)
    raw = in_process_rows[0]
    configs = worker_configs(args, runtimes)
    with contextlib.ExitStack() as stack:
        bench_db = scratch.open_scratch(stack, "moderation_scoring_bench", args.keep_logs)
        work, name, url = bench_db.work, bench_db.name, bench_db.url
        site = asyncio.run(prepare(url))
        broker_url = broker(stack, work)
        print(f"database {name} on {bench_db.host}; broker {_redacted(broker_url)}")
        env = service_env(url, broker_url, models)
        api = stack.enter_context(Server.start("api", service_command(), env, work, "/readyz"))
        print(api.describe())

        posters = Posters(args.posters) if args.posters > 1 else None
        if posters:
            stack.callback(posters.close)
        widget = Widget(api.base, site.slug, site.widget_key)
        rows: list[Row] = list(in_process_rows)
        latencies: list[tuple[str, Steady]] = []
        for config in configs:
            worker_env = {**env, **config.env}
            with Worker.start(worker_env, work, args.concurrency, config.label) as worker:
                print(f"{config.label}: worker ready ({_settings_in(worker_env)})")
                session = Session(api, worker, widget, posters, url, name, config.label)
                asyncio.run(session.warm_up(warm_texts))
                best: Row | None = None
                for round_number in range(args.rounds):
                    row = asyncio.run(session.throughput(burst_texts, round_number, args))
                    row.diff, row.scored = compare(row.scores or [], raw.scores or [])
                    best = row if best is None or row.seconds < best.seconds else best
                    print(
                        f"  burst of {row.comments}: {row.seconds:.2f} s, {row.rate:.2f} "
                        f"comments/s, worker CPU {row.worker_cpu or 0:.1f} s"
                    )
                assert best is not None
                best.candidate = config.candidate
                best.backend = config.backend
                rows.append(best)
                if args.backlog:
                    drained = asyncio.run(session.drain(burst_texts, args))
                    drained.diff, drained.scored = compare(drained.scores or [], raw.scores or [])
                    drained.candidate, drained.backend = config.candidate, config.backend
                    rows.append(drained)
                    print(
                        f"  backlog of {drained.comments}: {drained.seconds:.2f} s, "
                        f"{drained.rate:.2f} comments/s, worker CPU {drained.worker_cpu or 0:.1f} s"
                    )
                if config.latency:
                    measured = asyncio.run(session.latency(steady_texts, args))
                    latencies.append((config.label, measured))
                    print(
                        f"  steady {args.rate:g}/s: p50 {measured.percentile(0.5):.2f} s, "
                        f"p99 {measured.percentile(0.99):.2f} s"
                    )
                if args.keep_logs:
                    print(f"  worker log: {worker.log}")
        report(rows, latencies, burst_texts, model_tokens(models, burst_texts), runtimes, args)
    return 0


def in_process(
    models: Path, texts: list[str], runtimes: Sequence[Runtime], args: argparse.Namespace
) -> list[Row]:
    """Raw `Detoxify.predict` (batches of --raw-batch), then `ToxicityModel.predict` on
    each runtime in claims of the worker's size, in this process, best of rounds."""
    detoxify = raw_detoxify(models, runtimes[0].device)
    batch, claim = args.raw_batch, args.scoring_batch[0]
    scorers: list[tuple[Row, Callable[[Sequence[str]], Scores], int]] = [
        (
            Row(f"Detoxify.predict, batch {batch} (raw, in-process)", len(texts), float("inf")),
            partial(raw_predict, detoxify),
            batch,
        )
    ]
    for runtime in runtimes:
        model = ToxicityModel.load(models, NAME, runtime)
        label = f"ToxicityModel.predict, {runtime.describe()}, claims of {claim}"
        scorers.append((Row(label, len(texts), float("inf")), model.predict, claim))
    for _, predict, _ in scorers:
        predict(texts[:8])  # first calls pay for lazy initialisation
    for _ in range(args.rounds):
        for row, predict, size in scorers:
            cpu = time.process_time()
            scores, seconds = timed(predict, texts, size)
            if seconds < row.seconds:
                row.seconds, row.scores = seconds, scores
                row.worker_cpu = time.process_time() - cpu
        print("in-process: " + ", ".join(f"{row.rate:.1f}/s" for row, _, _ in scorers))
    raw = scorers[0][0]
    for row, _, _ in scorers[1:]:
        row.diff, _ = compare(row.scores or [], raw.scores or [])
    return [row for row, _, _ in scorers]


def model_tokens(models: Path, texts: list[str]) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(models / NAME)
    return [len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"]]


def worker_configs(args: argparse.Namespace, runtimes: Sequence[Runtime]) -> list[Config]:
    base = {
        "MODERATION_TORCH_THREADS": str(args.torch_threads),
        "MODERATION_TOXICITY_DEVICE": args.device,
    }
    configs = [
        Config(
            f"worker end to end, {runtime.describe()}, scoring_batch {size}",
            {
                **base,
                "MODERATION_SCORING_BATCH": str(size),
                "MODERATION_TOXICITY_BACKEND": runtime.backend,
            },
            latency=index == 0 and args.latency_seconds > 0,
            backend=runtime.backend,
        )
        for runtime in runtimes
        for index, size in enumerate(args.scoring_batch)
    ]
    if args.candidate:
        size, runtime = args.scoring_batch[0], runtimes[0]
        configs.append(
            Config(
                f"candidate {args.candidate.name}, {runtime.describe()}, scoring_batch {size}",
                {
                    **base,
                    "MODERATION_SCORING_BATCH": str(size),
                    "MODERATION_TOXICITY_BACKEND": runtime.backend,
                    "PYTHONPATH": str(args.candidate.resolve()),
                },
                latency=args.latency_seconds > 0,
                backend=runtime.backend,
                candidate=True,
            )
        )
    return configs


@dataclass
class Session:
    """One running worker configuration, with the API and the scratch database."""

    api: Server
    worker: Worker
    widget: Widget
    posters: Posters | None
    url: str
    database: str
    label: str

    async def warm_up(self, texts: list[str]) -> None:
        # The first batch pays for lazy starts (language detector, torch's first calls).
        async with self._poster("warm") as (poster, conn):
            ids = [await poster.post("warm-up", n, body) for n, body in enumerate(texts)]
            await _decided_or_fail(conn, ids, 120, self.worker)
        settle([self.worker.process.pid, *self.worker.pool()])

    async def throughput(self, texts: list[str], number: int, args: argparse.Namespace) -> Row:
        async with self._poster(f"burst{number}") as (poster, conn):
            before = self._cpu()
            log_offset = len(self.worker.text())
            async with self._sampled() as activity:
                result: Burst = await burst(
                    poster, conn, f"burst-{number}", texts, args.connections, args.timeout
                )
            if not result.decided:
                raise RuntimeError(f"{self.label}: comments still pending after {args.timeout} s")
            row = Row(
                self.label,
                len(texts),
                result.seconds,
                posting=result.posting_seconds,
                posting_cpu=result.posting_cpu,
            )
            row.activity = activity
            return await self._measured(row, conn, result.ids, before, log_offset)

    async def drain(self, texts: list[str], args: argparse.Namespace) -> Row:
        """The worker's own rate: the comments are posted while it takes no wake-ups, then
        it is let go, and timed from then to the last decision (the intake left out)."""
        async with self._poster("backlog") as (poster, conn):
            self.worker.pause()
            try:
                posting = time.time()
                posted = await post_all(poster, "backlog", texts, args.connections)
                posting = time.time() - posting
                ids = posted.ids
                waiting, _ = await progress(conn, ids)
                before, log_offset = self._cpu(), len(self.worker.text())
                started = time.time()
            finally:
                self.worker.resume()
            if waiting < len(ids):
                raise RuntimeError(f"{len(ids) - waiting} comments decided while paused")
            async with self._sampled() as activity:
                last = await wait_decided(conn, ids, args.timeout)
            if last is None:
                raise RuntimeError(f"{self.label}: comments still pending after {args.timeout} s")
            label = f"{self.label}, backlog"
            row = Row(
                label,
                len(ids),
                last.timestamp() - started,
                posting=posting,
                posting_cpu=posted.cpu_seconds,
                backlog=True,
            )
            row.activity = activity
            return await self._measured(row, conn, ids, before, log_offset)

    async def _measured(
        self,
        row: Row,
        conn: asyncpg.Connection,
        ids: list[int],
        before: tuple[float, float, float],
        log_offset: int,
    ) -> Row:
        """`row` with what the worker stored for `ids`, its claims and the CPU used since."""
        row.worker_cpu, row.db_cpu, row.api_cpu = (
            b - a for a, b in zip(before, self._cpu(), strict=True)
        )
        stored_rows = await stored(conn, ids)
        row.scores = [_toxicity(stored_row) for stored_row in stored_rows]
        row.english = sum(stored_row["language"] == "en" for stored_row in stored_rows)
        # Left-over wake-ups (one per 50 ms per API process) find nothing; let them pass.
        settle([self.worker.process.pid, *self.worker.pool()])
        batches = _batches(self.worker.text()[log_offset:])
        row.claims = [batch["claimed"] for batch in batches]
        row.phases = {p: sum(batch[f"{p}_ms"] for batch in batches) / 1000 for p in PHASES}
        return row

    async def latency(self, texts: list[str], args: argparse.Namespace) -> Steady:
        async with self._poster("steady") as (poster, conn):
            log_offset = len(self.worker.text())
            measured, _ = await steady(poster, conn, "steady", texts, args.rate, args.timeout)
        measured.claims = [batch["claimed"] for batch in _batches(self.worker.text()[log_offset:])]
        return measured

    def _cpu(self) -> tuple[float, float, float]:
        return (
            self.worker.cpu_seconds(),
            cpu_seconds(backends(self.database)),
            cpu_seconds(self.api.workers()),
        )

    def _sampled(self) -> contextlib.AbstractAsyncContextManager[Activity]:
        return sampled(scratch.with_database(self.url, "postgres"), self.database)

    @contextlib.asynccontextmanager
    async def _poster(self, run: str) -> AsyncIterator[tuple[Poster, asyncpg.Connection]]:
        conn = await db.connect(self.url)
        try:
            async with client(self.widget, 64) as http:
                yield Poster(http, self.widget, run, self.posters), conn
        finally:
            await conn.close()


async def _decided_or_fail(
    conn: asyncpg.Connection, ids: list[int], give_up_after: float, worker: Worker
) -> None:
    if await wait_decided(conn, ids, give_up_after) is None:
        raise RuntimeError(
            f"warm-up comments not decided in {give_up_after:.0f} s:\n{worker.tail()}"
        )


def _batches(log: str) -> list[dict[str, int]]:
    """The worker's `batch_scored` lines that claimed something, as their number fields."""
    lines = (line for line in log.splitlines() if "batch_scored" in line)
    batches = [{key: int(value) for key, value in _FIELD.findall(line)} for line in lines]
    return [batch for batch in batches if batch.get("claimed")]


def _toxicity(row: dict[str, Any]) -> dict[str, float]:
    # None when the comment was not routed to `original` (not read as English).
    if row["model"] is None:
        return {}
    return {label: value for label, value in (row["scores"] or {}).items() if label != "spam"}


def compare(scores: Scores, baseline: Scores) -> tuple[float, int]:
    """The largest score difference over comments scored by the model, and their count."""
    pairs = [(s, b) for s, b in zip(scores, baseline, strict=True) if s]
    if not pairs:
        return float("nan"), 0
    return max(abs(s[label] - b[label]) for s, b in pairs for label in b), len(pairs)


def report(
    rows: list[Row],
    latencies: list[tuple[str, Steady]],
    texts: list[str],
    tokens: list[int],
    runtimes: Sequence[Runtime],
    args: argparse.Namespace,
) -> None:
    raw = rows[0]
    claim = args.scoring_batch[0]
    micro, budget = hardware.default_batch(runtimes[0]), hardware.default_token_budget(runtimes[0])
    words = [len(t.split()) for t in texts]
    print()
    print(
        f"{len(texts)} comments (seed {args.seed}): words median {median(words):.0f}, "
        f"p90 {percentile(words, 0.9)}, max {max(words)}; tokens median {median(tokens):.0f}, "
        f"p90 {percentile(tokens, 0.9)}, p99 {percentile(tokens, 0.99)}, "
        f"{sum(t >= 512 for t in tokens)} truncated at 512"
    )
    raw_work = padded_tokens(tokens, args.raw_batch, 0)
    micro_work = padded_tokens(tokens, claim, micro, budget)
    print(
        f"tokens the model runs, padding included: {raw_work:,} in raw batches of "
        f"{args.raw_batch}, {micro_work:,} in ToxicityModel's sorted micro-batches of claims "
        f"of {claim} (at most {micro} comments, {budget:,} tokens) "
        f"({sum(tokens):,} without padding)"
    )
    print(
        f"worker: `moderation worker --concurrency {args.concurrency}` on {args.device}, "
        f"MODERATION_TORCH_THREADS={args.torch_threads}; API: {WORKERS} uvicorn workers; "
        f"raw baseline: torch {args.torch_threads} threads in this process"
    )
    header = (
        f"| {'scorer':<52} | {'comments/s':>10} | {'vs raw':>6} | {'seconds':>7} "
        f"| {'mean claim':>10} | {'CPU s/comment w/db/api':>22} | {'en/scored':>9} "
        f"| {'max abs diff':>12} |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    for row in rows:
        claim = f"{statistics.mean(row.claims):.1f}" if row.claims else "-"
        cpu = (
            f"{row.worker_cpu / row.comments:.3f}/{_per(row.db_cpu, row)}/{_per(row.api_cpu, row)}"
            if row.worker_cpu is not None
            else "-"
        )
        english = f"{row.english}/{row.scored}" if row.english is not None else "-"
        difference = f"{row.diff:.2e}" if row.diff is not None else "-"
        print(
            f"| {row.label:<52} | {row.rate:>10.1f} | {row.rate / raw.rate:>5.2f}x "
            f"| {row.seconds:>7.1f} | {claim:>10} | {cpu:>22} | {english:>9} | {difference:>12} |"
        )
    notes = (
        f"best of {args.rounds} round(s) each. End to end: from the first POST to the last "
        f"decision (the POSTs took {_posting(rows)}).",
        "mean claim: comments per batch the worker claimed. CPU: worker processes (in-process "
        "rows: this process) /",
        "PostgreSQL backends / API workers; on a busy machine CPU per comment moves less than "
        "comments/s.",
        "en/scored: comments stored with language en / scored by `original`. max abs diff: the "
        "largest difference",
        "from the raw row's scores over every label of the scored comments.",
    )
    print("\n".join(notes))
    phased = [row for row in rows if row.phases]
    if phased:
        print()
        print("the worker's batches, seconds in each phase (claim: lease and context read from")
        print("PostgreSQL; score: models and policy; write: scores and decisions committed;")
        print("a worker writes one claim and takes the next while it scores, so they overlap):")
        for row in phased:
            assert row.phases is not None
            spent = ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in row.phases.items())
            print(f"  {row.label}: {spent} (of {row.seconds:.1f} s)")
    sampled_rows = [row for row in rows if row.activity and row.activity.ticks]
    if sampled_rows:
        print()
        print("the scratch database's active backends, sampled every 20 ms: mean number found")
        print("running each statement, and what they waited on (CPU: nothing):")
        for row in sampled_rows:
            assert row.activity is not None
            print(f"  {row.label} ({row.activity.ticks} samples):")
            for statement, wait, busy in row.activity.top(6):
                print(f"    {busy:5.2f}  {wait:<24} {statement}")
    for label, measured in latencies:
        third = max(1, len(measured.latencies) // 3)
        claim = f"{statistics.mean(measured.claims):.1f}" if measured.claims else "-"
        print()
        print(
            f"POST to decision, {measured.rate:g} comments/s for {args.latency_seconds:g} s, "
            f"{label}:\n  {len(measured.latencies)} decided, {measured.pending} still pending "
            f"after the wait; mean claim {claim}; the POSTs themselves p50 "
            f"{median(measured.post_ms):.0f} ms"
        )
        print(
            f"  p50 {_ms(measured.percentile(0.5))}, p90 {_ms(measured.percentile(0.9))}, "
            f"p99 {_ms(measured.percentile(0.99))}, max "
            f"{_ms(max(measured.latencies, default=float('nan')))}"
        )
        print(
            f"  median of the first third {_ms(median(measured.latencies[:third]))}, of the "
            f"last third {_ms(median(measured.latencies[-third:]))} (a rise means the worker "
            f"falls behind the arrivals)"
        )
    print()
    print(f"load average now {_load()}")
    # The targets are end to end, POST to decision: backlog rows leave the intake out.
    ours = [row for row in rows if row.backend and not row.candidate and not row.backlog]
    eager = [row for row in ours if row.backend == "torch"]
    onnx = [row for row in ours if row.backend == "onnx"]
    if eager and onnx:
        fast, slow = max(onnx, key=lambda r: r.rate), max(eager, key=lambda r: r.rate)
        ratio = fast.rate / slow.rate
        within = fast.diff is not None and fast.diff <= ONNX_TOLERANCE
        verdict = "met" if ratio >= ONNX_TARGET and within else "NOT met"
        print(
            f"target: ONNX int8 worker end to end >= {ONNX_TARGET:g}x the eager float32 worker, "
            f"scores within {ONNX_TOLERANCE}: {ratio:.2f}x, max abs diff {fast.diff:.4f} "
            f"-> {verdict}"
        )
    if ours:
        best = max(ours, key=lambda row: row.rate)
        verdict = "met" if best.rate >= TARGET_RATIO * raw.rate else "NOT met"
        print(
            f"target: worker end to end >= {TARGET_RATIO:g}x raw Detoxify.predict at batch "
            f"{args.raw_batch}: {best.rate / raw.rate:.2f}x ({best.label}) -> {verdict}; "
            f"max abs score diff {best.diff:.2e}"
        )


def _per(seconds: float | None, row: Row) -> str:
    return "-" if seconds is None else f"{seconds / row.comments:.3f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _posting(rows: list[Row]) -> str:
    posting = [
        f"{row.posting:.1f} s with {row.posting_cpu or 0:.1f} s of the posters' CPU"
        for row in rows
        if row.posting is not None
    ]
    return ", ".join(posting) or "-"


def _settings_in(env: dict[str, str]) -> str:
    keys = (
        "MODERATION_SCORING_BATCH",
        "MODERATION_TORCH_THREADS",
        "MODERATION_TOXICITY_BACKEND",
        "PYTHONPATH",
    )
    return ", ".join(f"{key}={env[key]}" for key in keys if key in env)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.password, "***") if parts.password else url


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=256, help="comments in the burst")
    parser.add_argument("--rate", type=float, default=5.0, help="steady arrivals per second")
    parser.add_argument(
        "--latency-seconds", type=float, default=60, help="seconds of steady arrivals (0: skip)"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="MODERATION_TOXICITY_DEVICE for the worker and the in-process rows: cpu, cuda "
        "or cuda:N (the raw baseline's model is moved there too)",
    )
    parser.add_argument(
        "--scoring-batch",
        type=lambda s: [int(size) for size in s.split(",")],
        default=[],
        help="MODERATION_SCORING_BATCH values to try, comma-separated; the latency runs "
        "with the first (default: the device's, 32 on CPU)",
    )
    parser.add_argument(
        "--backends",
        type=lambda s: [b for b in s.split(",") if b],
        default=[],
        help="worker toxicity backends to measure: torch (eager; float32 on CPU, float16 on "
        "a GPU), onnx (CPU only, int8; exported into the cache on first use); default both "
        "on CPU, torch on a GPU",
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="also time each worker draining the burst's comments posted while it takes no "
        "wake-ups: its own rate, the API's intake left out",
    )
    parser.add_argument("--torch-threads", type=int, default=2, help="worker and baseline")
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes")
    parser.add_argument("--raw-batch", type=int, default=32, help="the baseline's batch size")
    parser.add_argument("--connections", type=int, default=32, help="POSTs in flight at once")
    parser.add_argument(
        "--posters",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 1) // 4)),
        help="processes that POST a burst between them (default: one per 4 cores, up to 4)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="bursts per config; best counts")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for decisions")
    parser.add_argument(
        "--cache",
        type=Path,
        default=CACHE,
        help="where the built model is kept between runs",
    )
    parser.add_argument(
        "--candidate",
        type=Path,
        metavar="DIR",
        help="also measure a worker running the moderation and workers packages in DIR",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker and API logs")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
