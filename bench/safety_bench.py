"""Latency of the safety screener's cheap layers: ``python -m bench.safety_bench``.

Screens every held-out message (``policies/safety_corpus/heldout.jsonl``) several times through
rules + classifier (``LayeredScreener.screen_fast``, the path every message takes before any LLM
judge) and prints p50 / p90 / p99 / max per message, plus the two layers alone. The target is a
p99 under 2 ms on the machine Accord runs on. Garbage collection stays on: it is part of the cost.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from agents.safety.evaluate import read_labelled
from agents.safety.normalise import normalise, normalise_detail
from agents.safety.screener import build_builtin_screener
from policies.loader import POLICY_DIR

HELDOUT = POLICY_DIR / "safety_corpus" / "heldout.jsonl"
TARGET_P99_MS = 2.0


def timings(fn: Callable[[str], object], texts: list[str], rounds: int) -> list[float]:
    """Milliseconds per call, ``rounds`` passes over ``texts`` after one warm-up pass."""
    for text in texts:
        fn(text)
    out: list[float] = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter_ns()
            fn(text)
            out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<24} n={len(values):>6}  mean {statistics.fmean(values):.3f} ms  "
        f"p50 {percentile(values, 0.5):.3f}  p90 {percentile(values, 0.9):.3f}  "
        f"p99 {percentile(values, 0.99):.3f}  max {max(values):.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=HELDOUT)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    examples, _ = read_labelled(args.file)
    texts = [e.text for e in examples]
    screener = build_builtin_screener()
    if screener.classifier is None:
        print("the classifier did not load: every message would be held (see the log); nothing to time")
        return 1
    classifier = screener.classifier
    combined = timings(screener.screen_fast, texts, args.rounds)
    rules = timings(lambda t: screener.rules.check_normalised(normalise_detail(t)), texts, args.rounds)
    model = timings(lambda t: classifier.predict(t, normalise(t)), texts, args.rounds)
    print(f"{len(texts)} messages from {args.file}, {args.rounds} rounds each")
    print(summary("rules + classifier", combined))
    print(summary("rules (incl. normalise)", rules))
    print(summary("classifier (incl. norm.)", model))
    p99 = percentile(combined, 0.99)
    verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
    print(f"p99 rules + classifier: {p99:.3f} ms ({verdict} the {TARGET_P99_MS} ms target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
