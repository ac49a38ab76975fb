"""Loading the servers with wrk (and bench/http_bench.lua), and what one run measured."""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from http_bench_db import BIG_ARTICLE, ORIGIN, SITE, UNLIMITED_SITE
from http_bench_servers import Server, backends, cpu_seconds, cpu_seconds_since, cpu_ticks, settle

LUA = Path(__file__).resolve().parent / "http_bench.lua"
POST_ARTICLES = 50
# Warm-ups and profiles run at the connection count the targets are checked at.
TARGET_CONNECTIONS = 32
# The service's POST to a site without rate limits: no rate-limit locks to take.
UNLIMITED_POST = "POST comment, no rate limits"


@dataclass
class Target:
    label: str
    server: Server
    args: list[str]

    @property
    def is_baseline(self) -> bool:
        return self.label.startswith("baseline")

    @property
    def kind(self) -> str:
        return "POST" if "mode=post" in self.args else "GET"


@dataclass
class Result:
    label: str
    connections: int
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    # CPU milliseconds per request: the server's workers, the database's backends, wrk.
    # Unlike req/s these hardly move when other work shares the machine.
    app_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0
    wrk_cpu_ms: float = 0.0
    baseline: Result | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline.rps:
            return None
        return self.rps / self.baseline.rps

    @property
    def cpu_ratio(self) -> float | None:
        """Baseline's server-side CPU per request over this row's: the req/s ratio to expect
        when the servers and PostgreSQL have the CPUs to themselves."""
        own = self.app_cpu_ms + self.db_cpu_ms
        if self.baseline is None or not own:
            return None
        return (self.baseline.app_cpu_ms + self.baseline.db_cpu_ms) / own


def targets(servers: dict[str, Server], keys: dict[str, str], etag: str) -> list[Target]:
    """What each table row loads, in the order run at each connection count."""
    thread = f"path=/v1/sites/{SITE}/articles/{BIG_ARTICLE}/comments"

    def post_to(site: str) -> list[str]:
        path = f"path=/v1/sites/{site}/articles/{{article}}/comments"
        return ["mode=post", "expect=202", f"key={keys[site]}", f"articles={POST_ARTICLES}", path]

    # Widget requests come from readers' browsers on the news site: cross-origin, so
    # they carry Origin and go through the per-site CORS middleware.
    post = post_to(SITE)
    get = ["mode=get", "expect=200", thread]
    not_modified = ["mode=get", "expect=304", thread, f"etag={etag}"]
    widget = f"origin={ORIGIN}"
    baseline = servers["baseline"]
    # The service as configured, and the variants asked for, each measured in turn.
    variants = [
        (suffix, servers[key])
        for suffix, key in (
            ("", "service"),
            (", no access log", "quiet"),
            (", candidate", "candidate"),
        )
        if key in servers
    ]
    inm = [v for v in variants if v[1].name != "service-no-access-log"]
    return [
        Target("baseline POST", baseline, ["mode=post", "expect=202", "path=/items"]),
        *(Target(f"POST comment{suffix}", server, [*post, widget]) for suffix, server in variants),
        Target(UNLIMITED_POST, servers["service"], [*post_to(UNLIMITED_SITE), widget]),
        Target("baseline GET 50 rows", baseline, ["mode=get", "expect=200", "path=/items"]),
        *(Target(f"GET thread{suffix}", server, [*get, widget]) for suffix, server in variants),
        *(
            Target(f"GET If-None-Match{suffix}", server, [*not_modified, widget])
            for suffix, server in inm
        ),
    ]


class Runner:
    def __init__(
        self,
        wrk: str,
        servers: list[Server],
        database: str,
        threads: int,
        duration: int,
        timeout: int,
    ) -> None:
        self.wrk = wrk
        self.servers = servers
        self.database = database
        self.threads = threads
        self.duration = duration
        self.timeout = timeout
        # Each wrk run gets its own number: authors and addresses never repeat across runs.
        self.run_number = 0

    def warm_up(self, target: Target, seconds: int) -> None:
        if seconds > 0:
            self.measure(target, TARGET_CONNECTIONS, seconds)

    def matrix(self, targets: list[Target], connections: list[int]) -> list[Result]:
        results = []
        for count in connections:
            # Each baseline row runs right before the service rows it is compared with.
            baseline: dict[str, Result] = {}
            for target in targets:
                result = self.measure(target, count, self.duration)
                if target.is_baseline:
                    baseline[target.kind] = result
                else:
                    result.baseline = baseline.get(target.kind)
                results.append(result)
                print(row(result), flush=True)
        return results

    def _settle(self) -> None:
        # A server still busy with the last run's tail (a client that went away mid-request
        # can cost a logged traceback) would take CPU from the next run.
        settle([pid for server in self.servers for pid in server.workers()])

    def profile(self, py_spy: str, target: Target, seconds: int, out: Path, native: bool) -> None:
        """Record every worker of the target's server with py-spy while wrk loads it."""
        out.mkdir(parents=True, exist_ok=True)
        self._settle()  # before py-spy starts, so that it samples only this load
        slug = "".join(c if c.isalnum() else "-" for c in target.label.lower())
        spies = []
        for pid in target.server.workers():
            raw = out / f"{slug}-{pid}.txt"
            command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds)]
            command += ["--rate", "200", "--format", "raw", "--output", str(raw)]
            # Native frames show what asyncpg's and uvloop's compiled code spends its time on.
            command += ["--native"] if native else []
            spies.append((raw, subprocess.Popen(command, stdout=subprocess.DEVNULL)))
        try:
            result = self.measure(target, TARGET_CONNECTIONS, seconds)
        except BaseException:
            for _, spy in spies:
                spy.kill()
                spy.wait()
            raise
        for _, spy in spies:
            spy.wait(timeout=seconds + 30)  # py-spy writes its file once its time is up
        print(
            f"\nprofile of {target.label} at {TARGET_CONNECTIONS} connections, "
            f"{result.rps:.0f} req/s; stacks in {out}:"
        )
        print(_hot_frames([raw for raw, _ in spies]))

    def measure(self, target: Target, connections: int, duration: int) -> Result:
        self.run_number += 1
        command = [
            self.wrk,
            f"-t{min(self.threads, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            f"--timeout={self.timeout}s",
            "-s",
            str(LUA),
            target.server.base,
            "--",
            f"run={self.run_number}",
            *target.args,
        ]
        self._settle()
        workers = target.server.workers()
        app_before = cpu_seconds(workers)
        db_before = cpu_ticks(backends(self.database))
        wrk_before = _children_cpu_seconds()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = process.communicate(timeout=duration + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        app_cpu = cpu_seconds(workers) - app_before
        # Pools open and close backends between and during runs: count per process.
        db_cpu = cpu_seconds_since(db_before, backends(self.database))
        wrk_cpu = _children_cpu_seconds() - wrk_before
        line = next(
            (ln for ln in out.decode().splitlines() if ln.startswith("BENCH_RESULT ")), None
        )
        if process.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()}{out.decode()}")
        if err.strip():
            print(f"  wrk ({target.label}, {connections} connections): {err.decode().strip()}")
        data = json.loads(line.removeprefix("BENCH_RESULT "))
        socket_errors = sum(data["socket_errors"].values())
        return Result(
            label=target.label,
            connections=connections,
            requests=data["requests"],
            rps=data["requests"] / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            errors=data["unexpected"] + socket_errors,
            statuses=data["statuses"],
            app_cpu_ms=1000 * app_cpu / max(data["requests"], 1),
            db_cpu_ms=1000 * db_cpu / max(data["requests"], 1),
            wrk_cpu_ms=1000 * wrk_cpu / max(data["requests"], 1),
        )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _hot_frames(files: list[Path], top: int = 20) -> str:
    """Where the event loop thread spends its time, from py-spy's raw (collapsed) stacks."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for file in files:
        if not file.exists():
            return f"  py-spy wrote no {file}: can it attach (ptrace permission)?"
        for line in file.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            # Other threads (uvicorn's supervisor heartbeat) are not serving requests.
            if "asyncio_run" not in stack:
                continue
            count = int(count_text)
            total += count
            # "func (path.py:12)": keeping the line number would split a function in many.
            frames = [frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")]
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + count
            own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return "  no samples"

    def name(frame: str) -> str:
        return re.sub(r"\(/\S*?(site-packages|python3\.\d+|main)/", "(", frame)

    lines = [f"  self time, of {total} samples of the event loop thread:"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {count / total:>6.1%}  {name(frame)}")
    lines.append("  including callees, the service's own functions and the libraries they call:")
    ours = ("moderation/", "asyncpg/pool", "structlog/_base", "pydantic/main", "responses.py")
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if any(part in frame for part in ours) and count / total >= 0.005:
            lines.append(f"  {count / total:>6.1%}  {name(frame)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Page:
    """The thread page the GET rows load, as the sanity check saw it."""

    threads: int
    comments: int
    size: int
    etag: str


def sanity_check(service: str, baseline: str, keys: dict[str, str]) -> Page:
    """One request of each kind by hand, so a broken setup fails before minutes of load."""
    body = json.dumps({"author": {"id": "sanity", "name": "Sanity"}, "body": "Hello"}).encode()
    for site, key in keys.items():
        headers = {"Content-Type": "application/json", "X-Site-Key": key, "Origin": ORIGIN}
        _expect(f"{service}/v1/sites/{site}/articles/news-0/comments", 202, body, headers)
    _expect(f"{baseline}/items", 202, body, {"Content-Type": "application/json"})
    items = _expect(f"{baseline}/items", 200).json()["items"]
    assert len(items) == 50, f"baseline GET returned {len(items)} rows"
    thread = f"{service}/v1/sites/{SITE}/articles/{BIG_ARTICLE}/comments"
    response = _expect(thread, 200, headers={"Origin": ORIGIN})
    etag = response.headers["ETag"]
    _expect(thread, 304, headers={"If-None-Match": etag, "Origin": ORIGIN})
    threads: list[dict[str, Any]] = response.json()["threads"]

    def count(nodes: list[dict[str, Any]]) -> int:
        return sum(1 + count(node["replies"]) for node in nodes)

    return Page(len(threads), count(threads), len(response.content), etag)


def _expect(
    url: str, status: int, data: bytes | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    method = "GET" if data is None else "POST"
    response = httpx.request(method, url, content=data, headers=headers, timeout=10)
    if response.status_code != status:
        raise RuntimeError(
            f"{method} {url} answered {response.status_code}, expected {status}: "
            f"{response.text[:300]}"
        )
    return response


HEADER = (
    f"{'endpoint':<30} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
    f"{'vs base':>7}   {'CPU ms/req: app':>15} {'db':>5} {'wrk':>5} {'CPU vs base':>11}"
)


def row(result: Result) -> str:
    ratio = f"{result.ratio:.0%}" if result.ratio is not None else ""
    cpu_ratio = f"{result.cpu_ratio:.0%}" if result.cpu_ratio is not None else ""
    return (
        f"{result.label:<30} {result.connections:>5} {result.rps:>7.0f} {result.p50_ms:>7.1f} "
        f"{result.p99_ms:>7.1f} {result.errors:>6} {ratio:>7}   {result.app_cpu_ms:>15.3f} "
        f"{result.db_cpu_ms:>5.3f} {result.wrk_cpu_ms:>5.3f} {cpu_ratio:>11}"
    )
