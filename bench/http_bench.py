"""HTTP benchmark: the API under production settings next to a bare Starlette + asyncpg app.

Starts the service as production runs it (`moderation api --workers 2`: uvicorn with
uvloop and httptools, access log on) and the bare baseline (bench/baseline_app.py)
with the same uvicorn settings, both against one fresh PostgreSQL database, and loads
them in turn with wrk (bench/http_bench.lua):

- POST a comment, spread over articles, each reader posting twice from an address of
  their own (X-Forwarded-For), so the site's default rate limits run their queries and
  take their locks without refusing anyone; then the same to a site with its rate
  limits off, which takes no locks: the two rows show what exact limits cost;
- GET the first page of an article with 10,000 approved comments, without and with
  If-None-Match (304s);
- the baseline's POST (one INSERT) and GET (50 rows) at the same connection counts,
  right before the service's rows, so each ratio compares figures taken seconds apart.

Any status other than the expected one (202, 200, 304) or a socket error makes a row
invalid. Besides req/s and latency, each row has the CPU time per request of the
server's workers, of PostgreSQL's backends for the bench database, and of wrk: on a
shared 2-core machine req/s move with whatever else runs, CPU per request hardly does.

    .venv/bin/python bench/http_bench.py                                # 20 s at 8, 32, 128
    .venv/bin/python bench/http_bench.py --duration 3 --connections 32  # smoke run
    .venv/bin/python bench/http_bench.py --candidate ../other-checkout  # before/after
    .venv/bin/python bench/http_bench.py --duration 0 --profile /tmp/prof   # py-spy

DATABASE_URL names a server to create the scratch database on (it is dropped at the
end); without it an embedded PostgreSQL is started in a temporary folder. Needs wrk
(`apt-get install wrk`), and py-spy for --profile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType

import http_bench_db as scratch
from http_bench_servers import Server, baseline_command, service_command
from http_bench_wrk import (
    HEADER,
    TARGET_CONNECTIONS,
    UNLIMITED_POST,
    Result,
    Runner,
    py_spy,
    row,
    sanity_check,
    targets,
)

# Targets from the issue, checked at TARGET_CONNECTIONS.
TARGET_POST_RATIO = 0.50
TARGET_GET_RATIO = 0.60
TARGET_P99_MS = 50.0


def main() -> int:
    args = parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print(
            "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or "
            "`brew install wrk` (macOS)",
            file=sys.stderr,
        )
        return 2
    spy = py_spy() if args.profile else None
    if args.profile and spy is None:
        print("--profile needs py-spy: `.venv/bin/pip install py-spy`", file=sys.stderr)
        return 2
    # Servers and wrk are stopped by the exit stack and finally blocks, which a signal
    # must unwind too; SIGINT is set explicitly as a shell may start us with it ignored.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    with contextlib.ExitStack() as stack:
        bench_db = scratch.open_scratch(stack, "moderation_bench", args.keep_logs)
        work, name, url = bench_db.work, bench_db.name, bench_db.url
        print(f"database {name} on {bench_db.host}")
        keys = asyncio.run(scratch.prepare(url))

        servers = _start_servers(stack, args, url, work)
        page = sanity_check(servers["service"].base, servers["baseline"].base, keys)
        print(
            f"thread page: {page.comments} comments in {page.threads} threads, "
            f"{page.size} bytes; ETag {page.etag}"
        )
        loads = targets(servers, keys, page.etag)
        bench = Runner(wrk, list(servers.values()), name, args.threads, args.duration, args.timeout)
        for target in loads:
            bench.warm_up(target, args.warmup)
        print(HEADER)
        results = bench.matrix(loads, args.connections) if args.duration > 0 else []
        _print_report(results, args, servers)
        if spy is not None:
            for target in loads:
                if not target.is_baseline and target.server.name == "service":
                    bench.profile(spy, target, args.profile_seconds, args.profile, args.native)
        return 0 if all(r.errors == 0 for r in results) else 1


def _start_servers(
    stack: contextlib.ExitStack, args: argparse.Namespace, url: str, work: Path
) -> dict[str, Server]:
    env = {"DATABASE_URL": url, "BENCH_DATABASE_URL": url}
    service_env = _from_root(env, args.service_root)
    servers = {
        "baseline": Server.start("baseline", baseline_command(), env, work, "/items"),
        "service": Server.start("service", service_command(), service_env, work, "/readyz"),
    }
    if args.without_access_log:
        quiet_env = {**service_env, "MODERATION_ACCESS_LOG": "false"}
        servers["quiet"] = Server.start(
            "service-no-access-log", service_command(), quiet_env, work, "/readyz"
        )
    if args.candidate:
        candidate_env = _from_root(env, args.candidate)
        servers["candidate"] = Server.start(
            "candidate", service_command(), candidate_env, work, "/readyz"
        )
    started = {key: stack.enter_context(server) for key, server in servers.items()}
    for server in started.values():
        print(server.describe())
    return started


def _from_root(env: dict[str, str], root: Path | None) -> dict[str, str]:
    """Run the moderation package found in `root` instead of the installed one."""
    return {**env, "PYTHONPATH": str(root.resolve())} if root else env


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument(
        "--connections",
        type=lambda s: [int(c) for c in s.split(",")],
        default=[8, 32, 128],
        help="comma-separated connection counts (default 8,32,128)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unreported load first")
    parser.add_argument("--timeout", type=int, default=5, help="wrk request timeout, seconds")
    parser.add_argument(
        "--without-access-log",
        action="store_true",
        help="also measure a service instance with MODERATION_ACCESS_LOG=false",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the temporary folder with server logs"
    )
    parser.add_argument(
        "--service-root",
        type=Path,
        metavar="DIR",
        help="run the service from the moderation package in DIR instead of this checkout",
    )
    parser.add_argument(
        "--candidate",
        type=Path,
        metavar="DIR",
        help="also measure the moderation package in DIR (a change under test, with the same "
        "migrations), each of its rows right after the service's",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help=f"after the table, record py-spy profiles of the service's workers under load "
        f"at {TARGET_CONNECTIONS} connections into DIR",
    )
    parser.add_argument("--profile-seconds", type=int, default=20)
    parser.add_argument("--native", action="store_true", help="profile with native frames too")
    return parser.parse_args()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    print(f"\n{signal.Signals(signum).name}: stopping the servers and dropping the database")
    raise SystemExit(128 + signum)


def _print_report(
    results: list[Result], args: argparse.Namespace, servers: dict[str, Server]
) -> None:
    print()
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.duration} s per row, "
        f"wrk with {args.threads} threads on the same machine"
    )
    print(HEADER)
    for result in results:
        print(row(result))
    print(
        "vs base: req/s as a share of the baseline row run just before it. CPU ms/req: CPU\n"
        "time per request of the server's workers, of PostgreSQL's backends for the bench\n"
        "database, and of wrk. CPU vs base: the baseline's app+db CPU per request over this\n"
        "row's, the req/s ratio to expect when nothing else wants the CPUs."
    )
    bad = [r for r in results if r.errors]
    for result in bad:
        print(f"  INVALID {result.label} at {result.connections}: statuses {result.statuses}")
    for server in servers.values():
        print(server.log_summary())
    print()
    _print_lock_cost(results)
    _print_targets(results)


def _print_lock_cost(results: list[Result]) -> None:
    """The two POST rows of the service, to the site with rate limits and to the one
    without: the difference is the rate-limit locks (a transaction around intake)."""
    limited = {r.connections: r for r in results if r.label == "POST comment"}
    unlimited = {r.connections: r for r in results if r.label == UNLIMITED_POST}
    for connections in sorted(limited.keys() & unlimited.keys()):
        on, off = limited[connections], unlimited[connections]
        print(
            f"rate-limit locks at {connections} connections: {on.rps:.0f} req/s with, "
            f"{off.rps:.0f} without ({on.rps / off.rps - 1:+.1%}); server CPU per request "
            f"{on.app_cpu_ms + on.db_cpu_ms:.3f} ms with, {off.app_cpu_ms + off.db_cpu_ms:.3f} "
            "ms without"
        )


def _print_targets(results: list[Result]) -> None:
    at = {r.label: r for r in results if r.connections == TARGET_CONNECTIONS}
    if "POST comment" not in at or "GET thread" not in at:
        print(f"targets are checked at {TARGET_CONNECTIONS} connections, which this run skipped")
        return
    print(f"targets at {TARGET_CONNECTIONS} connections:")
    if any(r.errors for r in at.values()):
        print("  (a row there had errors: its figures are not valid)")
    for label, goal in (("POST comment", TARGET_POST_RATIO), ("GET thread", TARGET_GET_RATIO)):
        result = at[label]
        verdict = "met" if (result.ratio or 0) >= goal else "NOT met"
        print(
            f"  {label} >= {goal:.0%} of the baseline's req/s: {result.ratio or 0:.0%} -> "
            f"{verdict} (by CPU per request: {result.cpu_ratio or 0:.0%})"
        )
    for label in ("POST comment", "GET thread", "GET If-None-Match"):
        p99 = at[label].p99_ms
        verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
        print(f"  {label} p99 < {TARGET_P99_MS:.0f} ms: {p99:.1f} ms -> {verdict}")


if __name__ == "__main__":
    sys.exit(main())
