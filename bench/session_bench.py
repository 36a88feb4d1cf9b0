"""CPU per message of the session core alone (no sockets): where a gateway's time goes.

Not a test. Run: ``python bench/session_bench.py [--sessions 200] [--messages 3000] [--profile FILE]``.
Builds SESSIONS couple sessions on the embedded store with the builtin roles, opens the joint room,
then sends MESSAGES messages in the gateway benchmark's mix (70 % ``say`` to a random party, 30 %
``share`` of a pending draft) one after another, and prints the CPU time per say and per share
(``time.process_time``, so other load on the machine does not count) and, with ``--profile``,
the top functions by own time. The collector runs as under ``accord serve`` (long-lived objects
frozen after set-up, ``ACCORD_GC_YOUNG_THRESHOLD``); ``--gc-young-threshold 0`` shows Python's
defaults. ``bench/gateway_bench.py`` measures the same path over sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import LINES  # noqa: E402

from agents.factory import build_roles  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from orchestrator.clock import ManualClock  # noqa: E402
from orchestrator.memory_store import MemoryStore  # noqa: E402
from orchestrator.models import DraftStatus  # noqa: E402
from orchestrator.session import SessionService  # noqa: E402


async def _joint_sessions(service: SessionService, count: int) -> list[tuple[str, list[str]]]:
    sessions = []
    for n in range(count):
        first = await service.create_session("couple", f"Alex{n}")
        assert first.invite_code is not None
        second = await service.accept_invite(first.invite_code, f"Sam{n}")
        for party in (first.party_id, second.party_id):
            await service.intake(first.session_id, party, skip=True)
        for party in (first.party_id, second.party_id):
            await service.ready(first.session_id, party)
        sessions.append((first.session_id, [first.party_id, second.party_id]))
    return sessions


async def _pending_draft(service: SessionService, session_id: str, party_id: str) -> str | None:
    state = await service.store.load(session_id)
    for draft in state.drafts.values():
        if draft.author == party_id and draft.status is DraftStatus.PENDING:
            return draft.id
    return None


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    clock = ManualClock(1_000_000.0)
    service = SessionService(MemoryStore(), build_roles(), clock)
    sessions = await _joint_sessions(service, args.sessions)
    if args.gc_young_threshold:  # the collector settings `accord serve` runs with (gateway/app.py)
        gc.collect()
        gc.freeze()
        gc.set_threshold(args.gc_young_threshold, *gc.get_threshold()[1:])
    cost: dict[str, list[float]] = {"say": [], "share": []}
    profiler = cProfile.Profile() if args.profile else None
    for i in range(args.messages):
        session_id, parties = rng.choice(sessions)
        party = rng.choice(parties)
        clock.advance(rng.uniform(0.5, 4.0))  # people pause between messages; keeps pacing calm
        draft = await _pending_draft(service, session_id, party) if rng.random() < args.share_ratio else None
        if profiler is not None:
            profiler.enable()
        started = time.process_time()
        if draft is not None:
            await service.share(session_id, party, draft, "send")
            kind = "share"
        else:
            await service.say(session_id, party, rng.choice(LINES), client_msg_id=f"c{i}")
            kind = "say"
        cost[kind].append((time.process_time() - started) * 1000)
        if profiler is not None:
            profiler.disable()
    for kind, samples in cost.items():
        if samples:
            samples.sort()
            p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
            print(
                f"{kind:<6} n={len(samples):>5}  CPU mean {statistics.fmean(samples):.3f} ms  "
                f"p50 {statistics.median(samples):.3f}  p99 {p99:.3f}  max {samples[-1]:.3f}"
            )
    total = sum(sum(s) for s in cost.values()) / max(1, sum(len(s) for s in cost.values()))
    print(f"all    CPU per message {total:.3f} ms ({args.sessions} sessions, {args.messages} messages)")
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(args.top)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--share-ratio", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--profile", help="write cProfile stats here and print the top functions")
    p.add_argument("--top", type=int, default=25)
    p.add_argument(
        "--gc-young-threshold",
        type=int,
        default=Settings.model_fields["gc_young_threshold"].default,
        help="as ACCORD_GC_YOUNG_THRESHOLD (0: Python's default collector settings)",
    )
    args = p.parse_args()
    # the gateway logs per event; here only the cost of the session core counts
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not 1 <= args.sessions <= 5000 or not 1 <= args.messages <= 100_000:
        p.error("--sessions must be 1..5000 and --messages 1..100000")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
