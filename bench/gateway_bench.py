"""Gateway benchmark (a script, not a test): many concurrent sessions over loopback, builtin agents.

    python bench/gateway_bench.py                          # 500 sessions, 100 msg/s, 60 s
    python bench/gateway_bench.py --redis-url redis://127.0.0.1:6379/0 --nodes 2

What it does, in one run:

1. **Baseline**: a plain ``websockets`` echo server in its own process; 2 x SESSIONS sockets; the
   same open-loop load (RATE messages/s spread over all sockets); round-trip latency and RSS.
2. **Gateway**: ``accord serve`` (one process, or NODES processes sharing Redis under a private
   key prefix); SESSIONS couple sessions created over HTTP, both parties' room sockets connected
   (in 2-node mode the two parties of a session are on different nodes), intake skipped, both ready
   (joint room). Then the same load, RATE messages/s in all: ``say`` frames to random sockets, and
   (SHARE_RATIO of them) ``share`` of a draft the coach offered, in a session with no share in
   flight. Measured on the client:
   say → coach (the actor's socket receives the coach reply) and send → shared-delivered (the OTHER
   party's socket receives the shared message), events per second, and server RSS per connection
   (RSS after connecting the sockets minus before, over the socket count).

The client side lives in ``bench/load.py`` (sockets, the load, the statistics), the processes under
test in ``bench/servers.py`` (start, stop, CPU time, RSS, the echo server, the gateway in child mode).

Bounded: at most 5,000 sessions, 600 s, 5,000 msg/s; connects only to 127.0.0.1 (and a loopback
Redis). Keys it writes to Redis are deleted afterwards (SCAN + DEL on its own prefix, never FLUSHDB).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from load import Load, Room, Stats, connect_all  # bench/ is on the path when run as a script
from servers import (
    ROOT,
    cpu_seconds,
    delete_prefix,
    free_port,
    raise_fd_limit,
    redis_cpu_seconds,
    rss_kib,
    run_echo_server,
    run_gateway,
    scrape_say_to_coach,
    start_process,
    stop_process,
    wait_for_port,
    wait_healthy,
)

MAX_SESSIONS, MAX_DURATION, MAX_RATE = 5000, 600.0, 5000.0


async def measured(load: Load, args: argparse.Namespace, echo: bool, pids: list[int]) -> dict[str, Any]:
    """Warm up, then drive the measured window. Also the servers' CPU time per message in it, a
    number that holds even when other work shares the machine (latencies do not)."""
    load.stats.recording = False
    # The client is the measuring instrument: its own collector pauses would show up as server
    # latency, so its long-lived objects (sockets, sessions) are frozen out of the collector's way.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    await load.drive(args.rate, args.warmup, echo)
    load.stats.recording = True
    cpu0, client0 = sum(cpu_seconds(p) for p in pids), time.process_time()
    if args.profile and not echo:
        for pid in pids:
            os.kill(pid, signal.SIGUSR1)
    started = time.perf_counter()
    load.stats.window = (started, started + args.duration + 1.0)
    await load.drive(args.rate, args.duration, echo)
    sending_done = time.perf_counter()
    load.stats.window = (started, sending_done)
    lost = await load.drain(10.0)
    elapsed = time.perf_counter() - started
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    if args.profile and not echo:
        for pid in pids:
            os.kill(pid, signal.SIGUSR2)
    client_cpu = time.process_time() - client0
    gc.unfreeze()
    load.stats.recording = False
    messages = max(sum(load.stats.sent.values()), 1)
    return {
        "seconds": round(elapsed, 2),
        "server_cpu_ms_per_message": round(cpu / messages * 1000, 2),
        "server_cpu_utilisation": round(cpu / elapsed, 2),
        "client_cpu_utilisation": round(client_cpu / elapsed, 2),
        "load_average_1min": os.getloadavg()[0],
        "sent": load.stats.sent,
        "lost": lost,
        "events_per_s": round(load.stats.events / elapsed, 1),
        "errors": load.stats.errors,
    }


# --- the two phases --------------------------------------------------------------------------------------
async def bench_echo(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    port = free_port()
    proc = start_process(
        [sys.executable, __file__, "--child", "echo", "--port", str(port)],
        dict(os.environ),
        logs / "echo.log",
    )
    try:
        await wait_for_port(port, proc)
        rss0 = rss_kib(proc.pid)
        url = f"ws://127.0.0.1:{port}/"
        sockets = await connect_all([(url, {})] * (2 * args.sessions))
        rss1 = rss_kib(proc.pid)
        load = Load(Stats())
        for i, ws in enumerate(sockets):
            load.attach(Room(ws, i // 2, i % 2))
        result = await measured(load, args, echo=True, pids=[proc.pid])
        result.update(
            latency={"echo_round_trip": load.stats.summary("echo")},
            rss_kib={"before": rss0, "after": rss1},
            kib_per_connection=round((rss1 - rss0) / len(sockets), 1),
        )
        await load.close()
        return result
    finally:
        stop_process(proc)


async def bench_gateway(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    prefix = f"bench:{uuid.uuid4().hex}:"
    env = dict(
        os.environ,
        ACCORD_SECRET=secrets.token_urlsafe(48),
        ACCORD_MODEL="builtin",
        ACCORD_HOST="127.0.0.1",
        ACCORD_LOG_LEVEL=args.log_level,
        ACCORD_LOG_FORMAT="json",
        ACCORD_REDIS_PREFIX=prefix,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.pop("ACCORD_REDIS_URL", None)
    if args.redis_url:
        env["ACCORD_REDIS_URL"] = args.redis_url
    nodes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for n in range(args.nodes):
            port = free_port()
            child = [sys.executable, __file__, "--child", "gateway"]
            if args.profile:
                child += ["--profile", str(Path(args.profile).with_suffix(f".node{n}.prof"))]
            proc = start_process(child, dict(env, ACCORD_PORT=str(port)), logs / f"gateway{n}.log")
            nodes.append((f"http://127.0.0.1:{port}", proc))
        for url, proc in nodes:
            await wait_healthy(f"{url}/readyz", proc)
        return await _gateway_load(args, nodes)
    finally:
        for _, proc in nodes:
            stop_process(proc)
        if args.redis_url:
            await delete_prefix(args.redis_url, prefix)


async def _gateway_load(
    args: argparse.Namespace, nodes: list[tuple[str, subprocess.Popen[bytes]]]
) -> dict[str, Any]:
    first, second = nodes[0][0], nodes[-1][0]  # parties of one session on different nodes when there are two
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=120) as http:

        async def create(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
            async with gate:
                a = (await http.post(f"{first}/v1/sessions", json={"mode": "couple", "name": f"A{i}"})).json()
                b = (
                    await http.post(f"{second}/v1/invites/{a['invite_code']}/accept", json={"name": f"B{i}"})
                ).json()
                return a, b

        started = time.perf_counter()
        creds = await asyncio.gather(*(create(i) for i in range(args.sessions)))
        setup_http = time.perf_counter() - started
    rss0 = sum(rss_kib(p.pid) for _, p in nodes)
    targets = []
    for a, b in creds:
        for base, c in ((first, a), (second, b)):
            url = "ws" + base[4:] + f"/v1/sessions/{c['session_id']}/ws?after_seq=0"
            targets.append((url, {"Authorization": f"Bearer {c['token']}"}))
    started = time.perf_counter()
    sockets = await connect_all(targets)
    connect_seconds = time.perf_counter() - started
    load = Load(Stats(), share_ratio=args.share_ratio)
    for i, ws in enumerate(sockets):
        load.attach(Room(ws, i // 2, i % 2))
    async with asyncio.timeout(180):
        for room in load.rooms:
            await room.ws.send(json.dumps({"type": "intake", "skip": True}))
        await asyncio.gather(*(r.stage_event("ready_check").wait() for r in load.rooms))
        for room in load.rooms:
            await room.ws.send(json.dumps({"type": "ready"}))
        await asyncio.gather(*(r.stage_event("joint").wait() for r in load.rooms))
    rss1 = sum(rss_kib(p.pid) for _, p in nodes)
    redis_cpu0 = await redis_cpu_seconds(args.redis_url)
    result = await measured(load, args, echo=False, pids=[p.pid for _, p in nodes])
    redis_cpu = await redis_cpu_seconds(args.redis_url) - redis_cpu0
    rss2 = sum(rss_kib(p.pid) for _, p in nodes)
    if args.redis_url:  # Redis is shared with whatever else runs on this machine: an upper bound
        messages = max(sum(load.stats.sent.values()), 1)
        result["redis_cpu_ms_per_message"] = round(redis_cpu / messages * 1000, 2)
    result.update(
        latency={
            "say_to_coach": load.stats.summary("say_to_coach"),
            "send_to_shared_delivered": load.stats.summary("send_to_shared"),
        },
        rss_kib={"before_sockets": rss0, "after_sockets_joint": rss1, "after_load": rss2},
        kib_per_connection=round((rss1 - rss0) / len(sockets), 1),
        setup={"http_seconds": round(setup_http, 2), "connect_seconds": round(connect_seconds, 2)},
        server_say_to_coach=await scrape_say_to_coach([u for u, _ in nodes]),
    )
    await load.close()
    return result


# --- entry ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=500, help="concurrent sessions (2 sockets each)")
    p.add_argument("--rate", type=float, default=100.0, help="aggregate say messages per second")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    p.add_argument(
        "--share-ratio",
        type=float,
        default=0.3,
        help="fraction of the messages that send a pending draft (share) instead of a say",
    )
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    p.add_argument("--redis-url", default=None, help="run the gateway(s) on this (loopback) Redis")
    p.add_argument(
        "--nodes", type=int, default=1, choices=(1, 2), help="gateway processes (2 needs --redis-url)"
    )
    p.add_argument("--skip-echo", action="store_true", help="skip the echo baseline")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument(
        "--profile",
        default=None,
        help="cProfile each gateway during the measured window into PATH.nodeN.prof",
    )
    p.add_argument("--json", default=None, help="also write the results as JSON to this file")
    p.add_argument("--child", choices=("echo", "gateway"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return args
    if not (
        1 <= args.sessions <= MAX_SESSIONS and 0 < args.duration <= MAX_DURATION and 0 < args.rate <= MAX_RATE
    ):
        p.error(f"bounds: 1..{MAX_SESSIONS} sessions, up to {MAX_DURATION:g} s, up to {MAX_RATE:g} msg/s")
    if args.nodes == 2 and not args.redis_url:
        p.error("--nodes 2 needs --redis-url (the nodes share state through Redis)")
    if args.redis_url and urlsplit(args.redis_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error("the benchmark only talks to loopback: use a Redis on 127.0.0.1")
    return args


def report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Accord gateway benchmark: {results['config']}")
    for col in ("server", "measure", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right" if col not in ("server", "measure") else "left")
    for server in ("echo", "gateway"):
        for name, s in results.get(server, {}).get("latency", {}).items():
            if s.get("n"):
                table.add_row(
                    server,
                    name,
                    str(s["n"]),
                    *(f"{s[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                )
    console = Console()
    console.print(table)
    for server in ("echo", "gateway"):
        r = results.get(server)
        if r:
            console.print(
                f"{server}: {r['server_cpu_ms_per_message']} ms server CPU per message "
                f"({r['server_cpu_utilisation']:.0%} of a core"
                + (f", Redis {r['redis_cpu_ms_per_message']} ms" if "redis_cpu_ms_per_message" in r else "")
                + f"), load average {r['load_average_1min']:.1f}; "
                f"{r['events_per_s']} events/s received, {r['kib_per_connection']} KiB RSS per "
                f"connection, sent {r['sent']}, lost {r['lost']}, errors {r['errors']}"
            )
    if "ratio" in results:
        console.print(f"gateway / echo: {results['ratio']}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(4 * args.sessions + 1024)
    logs = Path(os.environ.get("BENCH_LOGS", "/tmp/accord-bench"))
    config = (
        f"{args.sessions} sessions ({2 * args.sessions} sockets), {args.rate:g} say/s, {args.duration:g} s, "
        f"{args.nodes} node(s){', Redis' if args.redis_url else ', memory store'}, {os.cpu_count()} CPUs"
    )
    results: dict[str, Any] = {"config": config}
    if not args.skip_echo:
        results["echo"] = await bench_echo(args, logs)
    results["gateway"] = await bench_gateway(args, logs)
    if "echo" in results:
        e, g = results["echo"], results["gateway"]
        ee, gg = e["latency"]["echo_round_trip"], g["latency"]["say_to_coach"]
        if ee.get("n") and gg.get("n"):
            results["ratio"] = {
                "p50": round(gg["p50_ms"] / ee["p50_ms"], 1),
                "p99": round(gg["p99_ms"] / ee["p99_ms"], 1),
                "memory_per_connection": round(
                    g["kib_per_connection"] / max(e["kib_per_connection"], 0.1), 1
                ),
                "server_cpu_per_message": round(
                    g["server_cpu_ms_per_message"] / max(e["server_cpu_ms_per_message"], 0.001), 1
                ),
            }
    return results


def main() -> None:
    args = parse_args()
    if args.child == "echo":
        run_echo_server(args.port)
        return
    if args.child == "gateway":
        run_gateway(args.profile)
        return
    import uvloop

    Path(os.environ.get("BENCH_LOGS", "/tmp/accord-bench")).mkdir(parents=True, exist_ok=True)
    results = uvloop.run(run(args))
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
