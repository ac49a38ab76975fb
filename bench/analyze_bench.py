"""Perspective drop-in benchmark: `comments:analyze` latency and saturation, one run.

What a Perspective client sees: requests POSTed to `moderation api` as Coral sends them
(`{"comment": {"text"}, "doNotStore": true, "requestedAttributes": {"TOXICITY": {}},
"languages": ["en"]}`, the key in `?key=`), scored by one `moderation worker
--concurrency 1` (bert-base-sized detoxify `original` with random weights, torch on 2
threads) that gathers concurrent requests into batches, answers back over NOTIFY.

1. Open loop at `--rate` (10/s) for `--seconds` (60): request i leaves at i / rate
   whatever the answers do. p50/p90/p99/max latency, errors. Target: p99 < 500 ms, 0 errors.
2. The worker's own batch throughput: a burst of `--burst` requests, `--in-flight` at a
   time, keeps the worker's batches full; the worker logs each batch's size and time, and
   requests per second of batch time is its throughput (the burst's end-to-end rate is
   printed beside it). For scale, the bare model's rate on the same texts in one call, in
   this process while the worker idles.
3. Saturation: open loop at rising fractions of that throughput, `--step-seconds` each,
   until p99 passes 1 s; the rate where it crosses (interpolated between the two steps
   around it) as a ratio of the throughput. Target: >= 0.7.

Texts are bench/scoring_bench_text.py's English comments with a news site's long tail of
lengths (the same as the scoring bench's). The machine is shared: load from other work
moves every figure, so the load average is printed at the start and the end.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/analyze_bench.py
    .venv/bin/python bench/analyze_bench.py --seconds 10 --burst 64 --step-seconds 8  # smoke

DATABASE_URL names a server for the scratch database (dropped at the end), else an
embedded PostgreSQL runs; BROKER_URL names the broker (give it a Redis database of its
own: its queues are purged), else an embedded Redis runs.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import http_bench_db as scratch
import httpx
import scoring_bench_text as text
from http_bench_servers import WORKERS, Server, service_command
from scoring_bench_model import CACHE, NAME, RUNTIMES, models_folder, with_onnx_export
from scoring_bench_phases import percentile
from scoring_bench_stack import Worker, broker, service_env, stop_on_signals

from moderation import db
from moderation.db import migrations
from moderation.perspective import keys
from moderation.sites import SiteSettings, create_site

ROOT = Path(__file__).resolve().parent.parent
P99_TARGET = 0.5
SATURATION_P99 = 1.0
SATURATION_TARGET = 0.7
PERSPECTIVE_DEFAULT_QPS = 1.0  # Perspective's default quota: 1 query per second per project
_BATCH = re.compile(r"analyze_batch\s.*?requests=(\d+)\s.*?seconds=([\d.]+)")


@dataclass
class Run:
    """One open-loop (or burst) run: what each request took, and what failed."""

    label: str
    rate: float  # requests per second offered (0: a burst)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99) if not self.errors else float("inf")

    def describe(self) -> str:
        errors = sum(self.errors.values())
        shown = ", ".join(f"{k}: {v}" for k, v in self.errors.items()) or "none"
        return (
            f"{len(self.latencies) + errors} requests in {self.seconds:.1f} s: "
            f"p50 {_ms(percentile(self.latencies, 0.5))}, "
            f"p90 {_ms(percentile(self.latencies, 0.9))}, "
            f"p99 {_ms(percentile(self.latencies, 0.99))}, "
            f"max {_ms(max(self.latencies, default=float('nan')))}; errors {errors} ({shown})"
        )


class Client:
    """Sends Coral's own analyze request, with the key in the URL as Coral puts it."""

    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self._http = http
        self._key = key

    async def analyze(self, run: Run, comment: str) -> None:
        body = {
            "comment": {"text": comment},
            "doNotStore": True,
            "requestedAttributes": {"TOXICITY": {}},
            "languages": ["en"],
        }
        sent = time.perf_counter()
        try:
            response = await self._http.post(
                "/v1alpha1/comments:analyze", params={"key": self._key}, json=body
            )
        except httpx.HTTPError as exc:
            run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
            return
        if response.status_code != 200:
            status = f"HTTP {response.status_code}"
            run.errors[status] = run.errors.get(status, 0) + 1
            return
        response.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
        run.latencies.append(time.perf_counter() - sent)

    async def open_loop(self, label: str, rate: float, texts: Sequence[str]) -> Run:
        """Request i at i / rate seconds, however slow the answers; then wait for all."""
        run = Run(label, rate)
        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        for number, comment in enumerate(texts):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            tasks.append(asyncio.create_task(self.analyze(run, comment)))
        await asyncio.gather(*tasks)
        run.seconds = time.monotonic() - started
        return run

    async def burst(self, texts: Sequence[str], in_flight: int) -> Run:
        """All of `texts`, `in_flight` at a time: the worker never waits for work."""
        run = Run("burst", 0)
        queue = list(reversed(texts))

        async def sender() -> None:
            while queue:
                await self.analyze(run, queue.pop())

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        run.seconds = time.monotonic() - started
        return run


def main() -> int:
    args = parse_args()
    stop_on_signals()
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load average {_load()}; this machine is "
        "shared, so figures move with its load"
    )
    models = models_folder(args.cache)
    if args.backend == "onnx":
        with_onnx_export(models)
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        bench_db = scratch.open_scratch(stack, "moderation_analyze_bench", args.keep_logs)
        key = asyncio.run(prepare(bench_db.url))
        broker_url = broker(stack, bench_db.work)
        env = service_env(
            bench_db.url,
            broker_url,
            models,
            MODERATION_TORCH_THREADS=str(args.torch_threads),
            MODERATION_ANALYZE_TIMEOUT_SECONDS=str(args.timeout),
            MODERATION_TOXICITY_DEVICE="cpu",
            MODERATION_TOXICITY_BACKEND=args.backend,
        )
        api = stack.enter_context(
            Server.start("api", service_command(), env, bench_db.work, "/readyz")
        )
        worker = stack.enter_context(Worker.start(env, bench_db.work, 1, "analyze"))
        _wait_for(worker, "analyze_server_ready", 60)
        print(
            f"database {bench_db.name} on {bench_db.host}; API: {WORKERS} uvicorn workers; "
            f"worker: --concurrency 1, MODERATION_TORCH_THREADS={args.torch_threads}, "
            f"{RUNTIMES[args.backend].describe()}"
        )
        asyncio.run(measure(args, api.base, key, worker, rng, models))
        if args.keep_logs:
            print(f"worker log: {worker.log}; API log: {api.log}")
    return 0


async def prepare(url: str) -> str:
    """Migrate the scratch database, make a site without a quota, return a key for it."""
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn, ROOT / "migrations")
        settings = SiteSettings(analyze_requests_per_minute=0)
        site = await create_site(
            conn, "analyze-bench", ["https://bench.example"], settings=settings
        )
        _, key = await keys.create(conn, site.slug, "bench")
        return key
    finally:
        await conn.close()


def model_alone(models: Path, texts: list[str], threads: int, backend: str) -> float:
    """Comments per second of the bare model on `texts` in one call (its micro-batches
    sorted by length and filled to the token budget): what no serving path can beat."""
    import torch

    from moderation.scoring.toxicity import ToxicityModel

    torch.set_num_threads(threads)
    model = ToxicityModel.load(models, NAME, RUNTIMES[backend], threads=threads)
    model.predict(texts[:4])  # lazy initialisation
    started = time.perf_counter()
    model.predict(texts)
    return len(texts) / (time.perf_counter() - started)


async def measure(
    args: argparse.Namespace,
    base: str,
    key: str,
    worker: Worker,
    rng: random.Random,
    models: Path,
) -> None:
    # uvicorn closes a connection idle for 5 s, and httpx reuses one for up to 5 s: with
    # the same expiry a request can go out on a connection the server is closing, which
    # the client sees as a ReadError. Expiring first is what any keep-alive client needs.
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=args.timeout + 10) as http:
        client = Client(http, key)
        await client.burst(text.comments(rng, 16, 9_000_000), 4)  # lazy starts, both APIs

        steady = await client.open_loop(
            f"open loop {args.rate:g}/s",
            args.rate,
            text.comments(rng, round(args.rate * args.seconds)),
        )
        print(f"{steady.label} for {args.seconds:g} s: {steady.describe()}")

        offset = len(worker.text())
        burst_texts = text.comments(rng, args.burst, 1_000_000)
        burst = await client.burst(burst_texts, args.in_flight)
        batches = [(int(n), float(s)) for n, s in _BATCH.findall(worker.text()[offset:])]
        if not batches:
            raise RuntimeError(f"the worker scored nothing during the burst:\n{worker.tail()}")
        served = sum(n for n, _ in batches)
        busy = sum(s for _, s in batches)
        throughput = served / busy
        print(
            f"burst of {args.burst} ({args.in_flight} in flight): {burst.describe()}; "
            f"end to end {len(burst.latencies) / burst.seconds:.1f} requests/s"
        )
        print(
            f"worker: {len(batches)} batches, mean {statistics.mean(n for n, _ in batches):.1f} "
            f"requests, {busy:.1f} s busy -> {throughput:.1f} requests/s of batch time"
        )
        bare = model_alone(models, burst_texts, args.torch_threads, args.backend)
        print(
            f"the model alone, in this process with the worker idle: ToxicityModel.predict on "
            f"the burst's {len(burst_texts)} texts at once: {bare:.1f} comments/s"
        )

        steps: list[Run] = []
        for fraction in args.fractions:
            rate = fraction * throughput
            count = max(1, round(rate * args.step_seconds))
            run = await client.open_loop(
                f"{fraction:.0%} of throughput", rate, text.comments(rng, count, 2_000_000)
            )
            steps.append(run)
            print(f"  {run.label} ({rate:.1f}/s): {run.describe()}")
            if run.p99 > SATURATION_P99:
                break
    report(args, steady, throughput, bare, steps)


def report(
    args: argparse.Namespace, steady: Run, throughput: float, bare: float, steps: list[Run]
) -> None:
    crossing = saturation(steps)
    print()
    print("| measure | value | target |")
    print("|---|---|---|")
    ok = steady.p99 < P99_TARGET and not steady.errors
    print(
        f"| open loop {args.rate:g}/s for {args.seconds:g} s: p50 / p99, errors | "
        f"{_ms(percentile(steady.latencies, 0.5))} / {_ms(percentile(steady.latencies, 0.99))}, "
        f"{sum(steady.errors.values())} | p99 < {_ms(P99_TARGET)}, 0 errors: "
        f"{'met' if ok else 'NOT met'} |"
    )
    print(f"| worker batch throughput | {throughput:.1f} requests/s | |")
    print(f"| the model alone, all burst texts in one call | {bare:.1f} comments/s | |")
    if crossing is None:
        print(
            f"| saturation (p99 > {SATURATION_P99:g} s) | not reached up to "
            f"{steps[-1].rate:.1f}/s | |"
        )
    else:
        verdict = "met" if crossing / throughput >= SATURATION_TARGET else "NOT met"
        print(
            f"| saturation: rate where p99 crosses {SATURATION_P99:g} s | {crossing:.1f}/s = "
            f"{crossing / throughput:.2f} x throughput | >= {SATURATION_TARGET:g}: {verdict} |"
        )
    sustained = crossing if crossing is not None else steps[-1].rate
    print(
        f"| vs Perspective's default quota ({PERSPECTIVE_DEFAULT_QPS:g} QPS per project) | "
        f"{sustained / PERSPECTIVE_DEFAULT_QPS:.0f}x ({sustained:.1f} requests/s, one worker) | |"
    )
    print()
    print(f"load average now {_load()}")


def saturation(steps: list[Run]) -> float | None:
    """The offered rate where p99 crosses SATURATION_P99, interpolated between the last
    step under it and the first over it; None if no step went over."""
    for before, after in zip([None, *steps], steps, strict=False):
        if after.p99 <= SATURATION_P99:
            continue
        if before is None:
            return after.rate
        under, over = before.p99, min(after.p99, 10 * SATURATION_P99)
        share = (SATURATION_P99 - under) / (over - under)
        return before.rate + share * (after.rate - before.rate)
    return None


def _wait_for(worker: Worker, needle: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while needle not in worker.text():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker never logged {needle!r}:\n{worker.tail()}")
        time.sleep(0.2)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="open-loop requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="open-loop duration")
    parser.add_argument("--burst", type=int, default=256, help="requests in the burst")
    parser.add_argument("--in-flight", type=int, default=64, help="burst requests at a time")
    parser.add_argument(
        "--fractions",
        type=lambda s: [float(f) for f in s.split(",")],
        default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2],
        help="saturation steps, as fractions of the measured throughput",
    )
    parser.add_argument("--step-seconds", type=float, default=20.0, help="per saturation step")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument(
        "--backend",
        choices=sorted(RUNTIMES),
        default="torch",
        help="the worker's toxicity backend: eager float32, or the int8 ONNX export",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="analyze timeout, seconds")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument(
        "--cache",
        type=Path,
        default=CACHE,
        help="where the built model is kept between runs (shared with scoring_bench.py)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker and API logs")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
