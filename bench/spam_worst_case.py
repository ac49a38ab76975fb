"""What the text rules cost on the worst comments a reader can post, against a normal one.

Each body is as long as a site may allow (20,000 characters) and shaped to make a
backtracking regex work hard: runs of dotted or hyphenated labels that never end in a
TLD, a messenger's name followed by blanks, and the like. Printed per body: milliseconds
for the whole spam score (classifier features and rule signals, `score_spam`) and for the
policy's link count, each the median of a few runs. A rule that is linear in the text's
length keeps these within a few times a normal comment of the same length.

Before the bare-domain and messenger patterns were made linear, at 20,000 characters (one
run each, on a shared 2-core VM): "a.a.a." 15.7 s to score and 17.8 s to count links,
"a-a.a-a." 14.5 s and 7.7 s, "whatsapp" and blanks 4.5 s to score, against 46 ms for normal
prose. After (median of 3): 21-29 ms to score and 1-2 ms to count links for every body
here, normal prose 18 ms and 1.0 ms.

    PYTHONPATH=. .venv/bin/python bench/spam_worst_case.py [LENGTH [RUNS]]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

from moderation.policy import count_links
from moderation.scoring.spam import SpamClassifier, SpamContext, score_spam

LENGTH = 20_000  # the largest max_length a site may set
_RUNS = 3


def _repeat(unit: str, length: int = LENGTH) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def bodies(length: int = LENGTH) -> dict[str, str]:
    """Adversarial bodies of `length` characters, by name, and a normal comment as long."""
    return {
        "normal prose": _repeat("The council should fix the roads before the winter. ", length),
        "a.a.a.": _repeat("a.", length),
        "a-a-a-": _repeat("a-", length),
        "a-a.a-a.": _repeat("a-a.", length),
        "ab.ab.": _repeat("ab.", length),
        "a-.a-.": _repeat("a-.", length),
        "9.9.9.": _repeat("9.", length),
        "a.a.a.com": "a." * ((length - 3) // 2) + "com",  # one long link
        "aaa. aaa. ": _repeat("aaa. ", length),
        "a-a-a- dot": _repeat("a-", length - 4) + " dot",
        "@readers": _repeat("@readers ", length),
        "x.com/readers": _repeat("x.com/readers-reader ", length),
        "whatsapp + blanks": "whatsapp" + " " * (length - 8),
        "whatsapp: + blanks": "whatsapp:" + " " * (length - 9),
        "kik + tabs": "kik" + "\t" * (length - 3),
    }


def _median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    length = int(sys.argv[1]) if len(sys.argv) > 1 else LENGTH
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else _RUNS
    classifier = SpamClassifier.seed()
    print(f"{length:,} characters a body, median of {runs} runs")
    print(f"{'body':<20} {'score_spam ms':>14} {'count_links ms':>15}")
    for name, body in bodies(length).items():
        ctx = SpamContext(body, "Reader", True, 0, 0, 0)
        scored = _median_ms(partial(score_spam, classifier, [ctx]), runs)
        counted = _median_ms(partial(count_links, body), runs)
        print(f"{name:<20} {scored:>14.1f} {counted:>15.1f}")


if __name__ == "__main__":
    main()
