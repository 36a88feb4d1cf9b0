"""Latency of the safety screener's cheap layers: ``python -m bench.safety_bench``.

Screens every held-out message (``policies/safety_corpus/heldout.jsonl``) several times through
rules + classifier (``LayeredScreener.screen_fast``, the path every message takes before any LLM
judge) and prints p50 / p90 / p99 / max per message, plus the two layers alone. The target is a
p99 under 2 ms on the machine Accord runs on. Garbage collection stays on: it is part of the cost.
On a shared machine other processes take the CPU at random moments; each message's best round is
printed as well, as its own cost without that noise.
"""

from __future__ import annotations

import argparse
import os
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


def timings(fn: Callable[[str], object], texts: list[str], rounds: int) -> list[list[float]]:
    """Milliseconds per call: ``result[r][i]`` is round ``r`` on message ``i``, after a warm-up pass."""
    for text in texts:
        fn(text)
    out: list[list[float]] = []
    for _ in range(rounds):
        row: list[float] = []
        for text in texts:
            start = time.perf_counter_ns()
            fn(text)
            row.append((time.perf_counter_ns() - start) / 1e6)
        out.append(row)
    return out


def flat(rows: list[list[float]]) -> list[float]:
    return [v for row in rows for v in row]


def best_of(rows: list[list[float]]) -> list[float]:
    """Each message's fastest round: its own cost, without time lost to other processes."""
    return [min(values) for values in zip(*rows, strict=True)]


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{len(texts)} messages from {args.file}, {args.rounds} rounds each; load average {load:.2f} "
        f"on {os.cpu_count()} CPUs"
    )
    print("every call, as measured (includes time other processes took the CPU):")
    print(summary("rules + classifier", flat(combined)))
    print(summary("rules (incl. normalise)", flat(rules)))
    print(summary("classifier (incl. norm.)", flat(model)))
    print("each message's best round (its own cost):")
    print(summary("rules + classifier", best_of(combined)))
    p99 = percentile(flat(combined), 0.99)
    verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
    print(f"p99 rules + classifier, every call: {p99:.3f} ms ({verdict} the {TARGET_P99_MS} ms target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
