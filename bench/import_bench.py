"""Importing a large Disqus export: peak memory and comments per second.

Generates a Disqus XML export of `--comments` posts (1,000,000 by default; about a
third of them replies, some deleted, some spam, over `--comments / 20` threads, posts
in file order with replies after their parents as Disqus writes them), then measures,
each in a fresh process so that its peak RSS is its own:

1. parse: the streaming reader alone (`moderation.imports.disqus`), records counted;
2. import: `moderation import disqus` into a scratch database, end to end (parse, COPY
   into staging, resolve in SQL, insert depth by depth, commit);
3. again: the same import run a second time (every comment already imported).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/import_bench.py [--comments 1000000]

Peak RSS is the process's high-water mark (ru_maxrss); PostgreSQL's own memory is not
in it. The figures depend on the machine; the file and the database are dropped after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from http_bench_db import open_scratch

MODERATION = str(Path(sys.executable).with_name("moderation"))
HEADER = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <category dsq:id="1"><forum>bench</forum><title>General</title></category>
"""
THREAD = """    <thread dsq:id="{id}">
        <id>{ident}</id>
        <forum>bench</forum>
        <category dsq:id="1"/>
        <link>https://bench.example/{year}/story-{id}/</link>
        <title>Story number {id}</title>
        <message/>
        <createdAt>2019-01-01T00:00:00Z</createdAt>
        <isClosed>false</isClosed>
        <isDeleted>false</isDeleted>
    </thread>
"""
POST = """    <post dsq:id="{id}">
        <id/>
        <message><![CDATA[<p>{text}</p><p>Comment {id} on story {thread}.</p>]]></message>
        <createdAt>{created}</createdAt>
        <isDeleted>{deleted}</isDeleted>
        <isSpam>{spam}</isSpam>
        <author>
            <email>reader{author}@example.org</email>
            <name>Reader {author}</name>
            <isAnonymous>{anonymous}</isAnonymous>
            <username>reader-{author}</username>
        </author>
        <ipAddress>198.51.{a}.{b}</ipAddress>
        <thread dsq:id="{thread}"/>{parent}
    </post>
"""
WORDS = [
    *("the", "council", "budget", "river", "flood", "school", "market", "election"),
    *("road", "bridge", "mayor", "vote", "agree", "disagree", "think", "people", "city"),
    *("years", "money", "plan", "new", "old", "good", "bad", "why", "how"),
]


def generate(path: Path, comments: int) -> int:
    """Write the export; its size in bytes."""
    rng = random.Random(15)
    threads = max(1, comments // 20)
    recent: dict[int, list[int]] = {}
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for t in range(1, threads + 1):
            ident = f"story-{t}" if t % 4 else ""  # a quarter have no identifier
            out.write(THREAD.format(id=t, ident=ident, year=2015 + t % 8))
        for n in range(1, comments + 1):
            post_id = 1_000_000 + n
            thread = rng.randint(1, threads)
            earlier = recent.setdefault(thread, [])
            parent = ""
            if earlier and rng.random() < 0.35:
                parent = f'\n        <parent dsq:id="{rng.choice(earlier)}"/>'
            earlier.append(post_id)
            if len(earlier) > 30:
                earlier.pop(0)
            seconds = n * 60
            out.write(
                POST.format(
                    id=post_id,
                    text=" ".join(rng.choices(WORDS, k=rng.randint(5, 60))),
                    created=time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_500_000_000 + seconds)
                    ),
                    deleted="true" if rng.random() < 0.02 else "false",
                    spam="true" if rng.random() < 0.03 else "false",
                    author=rng.randint(1, comments // 8 + 1),
                    anonymous="true" if rng.random() < 0.1 else "false",
                    a=rng.randint(0, 255),
                    b=rng.randint(1, 254),
                    thread=thread,
                    parent=parent,
                )
            )
        out.write("</disqus>\n")
    return path.stat().st_size


PARSE = """
import sys, time
from moderation.imports import Comment, disqus
start = time.perf_counter()
count = 0
with open(sys.argv[1], "rb") as source:
    for record in disqus.read(source):
        count += isinstance(record, Comment)
print(count, time.perf_counter() - start)
"""
# Runs a command as its only child, so that RUSAGE_CHILDREN is that command's own peak.
WRAP = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(done.returncode)
"""


def measure(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a command; (seconds, its peak RSS in KiB, its stdout)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAP, *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return elapsed, int(done.stderr.split()[-1]), done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=1_000_000)
    parser.add_argument("--keep-logs", action="store_true")
    options = parser.parse_args()

    with contextlib.ExitStack() as stack:
        scratch = open_scratch(stack, "import_bench", options.keep_logs)
        export = scratch.work / "disqus.xml"
        started = time.perf_counter()
        size = generate(export, options.comments)
        print(
            f"generated {options.comments:,} comments, {size / 2**20:,.0f} MiB "
            f"in {time.perf_counter() - started:.0f} s"
        )
        env = {**os.environ, "DATABASE_URL": scratch.url, "MODERATION_LOG_JSON": "false"}
        subprocess.run([MODERATION, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [MODERATION, "site", "create", "bench"], env=env, check=True, capture_output=True
        )

        rows = []
        _, peak, out = measure([sys.executable, "-c", PARSE, str(export)], env)
        count, seconds = out.split()
        rows.append(("parse only", int(count), float(seconds), peak))
        for label in ("import", "import again"):
            seconds_, peak, out = measure(
                [MODERATION, "import", "disqus", str(export), "--site", "bench"], env
            )
            rows.append((label, options.comments, seconds_, peak))
            print(out.strip())

        print()
        print(f"{'run':<14} {'comments':>10} {'seconds':>9} {'comments/s':>11} {'peak RSS':>10}")
        for label, n, secs, peak in rows:
            print(f"{label:<14} {n:>10,} {secs:>9.1f} {n / secs:>11,.0f} {peak / 1024:>7.0f} MiB")


if __name__ == "__main__":
    main()
