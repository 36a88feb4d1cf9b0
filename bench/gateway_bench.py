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

Bounded: at most 5,000 sessions, 600 s, 5,000 msg/s; connects only to 127.0.0.1 (and a loopback
Redis). Keys it writes to Redis are deleted afterwards (SCAN + DEL on its own prefix, never FLUSHDB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
MAX_SESSIONS, MAX_DURATION, MAX_RATE = 5000, 600.0, 5000.0
LINES = [  # ordinary, non-alarming things people say in a private room (varied so nothing caches)
    "I felt hurt when the plans changed at the last minute.",
    "I want us to figure out the weekends together.",
    "It bothers me when the dishes pile up, I end up doing them.",
    "Could we talk about how we split the chores?",
    "I was upset that my idea was presented without my name on it.",
    "I need a bit of quiet time after work before we talk.",
    "I'd like us to plan the holidays earlier this year.",
    "When the meeting ran late I felt ignored.",
    "I miss spending time together in the evenings.",
    "I want to feel that my work is seen by the team.",
]


# --- processes ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, 4096)), hard))


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited with {proc.returncode} while starting")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url, timeout=1.0)).status_code == 200:
                    return
            await asyncio.sleep(0.05)  # process start-up only; the measurements never sleep-poll
    raise RuntimeError(f"{url} did not become healthy in {limit:g}s")


def run_echo_server(port: int) -> None:
    """Child mode: the baseline, a plain websockets echo server."""
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                await ws.send(message)

    async def main() -> None:
        stop = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set_result, None)
        async with serve(echo, "127.0.0.1", port, max_size=2**16, ping_interval=20):
            await stop

    import uvloop

    uvloop.run(main())


def run_gateway(profile: str | None) -> None:
    """Child mode: ``accord serve`` from ACCORD_* variables. With ``profile``, cProfile runs from
    SIGUSR1 to SIGUSR2 (the measured window only) and the stats are written to that path."""
    from gateway.server import serve
    from gateway.settings import Settings

    if profile:
        import cProfile

        profiler = cProfile.Profile()

        def stop(*_: object) -> None:
            profiler.disable()
            profiler.dump_stats(profile)

        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
        signal.signal(signal.SIGUSR2, stop)
    serve(Settings())


# --- measurements -----------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Latencies in seconds, plus counters."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    events: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # says, shares
    errors: dict[str, int] = field(default_factory=dict)
    recording: bool = False
    window: tuple[float, float] = (float("inf"), float("inf"))  # perf_counter() start, end

    def add(self, name: str, sent_at: float, now: float) -> None:
        """A latency sample, counted only for what was sent inside the measured window."""
        if self.window[0] <= sent_at < self.window[1]:
            self.samples.setdefault(name, []).append(now - sent_at)

    def summary(self, name: str) -> dict[str, float | int]:
        values = sorted(self.samples.get(name, []))
        if not values:
            return {"n": 0}
        q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
        return {
            "n": len(values),
            "p50_ms": q[49] * 1000,
            "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000,
            "max_ms": values[-1] * 1000,
        }


@dataclass
class Room:
    """One client socket: a party of a session (or an echo client)."""

    ws: ClientConnection
    session: int
    side: int
    stage: str = ""
    reached: dict[str, asyncio.Event] = field(default_factory=dict)  # stage -> seen at least once

    def stage_event(self, stage: str) -> asyncio.Event:
        return self.reached.setdefault(stage, asyncio.Event())


class Load:
    """Open-loop traffic over a set of sockets and the bookkeeping that turns replies into latencies."""

    def __init__(self, stats: Stats, share_ratio: float = 0.0) -> None:
        self.stats = stats
        self.share_ratio = share_ratio  # fraction of the messages that are shares (when a draft waits)
        self.rooms: list[Room] = []
        self.shareable: dict[int, tuple[Room, str]] = {}  # room index -> its newest pending draft
        self.pending_say: dict[str, float] = {}  # client_msg_id -> sent at
        self.said: dict[tuple[int, str], float] = {}  # (room, message_id) -> sent at; ids are per session
        self.share_in_flight: dict[int, float] = {}  # session -> share sent at
        self.readers: list[asyncio.Task[None]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle = asyncio.Event()  # set whenever no say is waiting for its reply

    def attach(self, room: Room) -> None:
        self.rooms.append(room)
        self.readers.append(asyncio.create_task(self._read(room)))

    async def _read(self, room: Room) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in room.ws:
                now = time.perf_counter()
                self.stats.events += 1 if self.stats.recording else 0
                frame = json.loads(raw)
                self._on_frame(room, frame, now)
                if not self.pending_say and not self.said:
                    self.idle.set()

    def _on_frame(self, room: Room, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "echo":
            sent = self.pending_say.pop(frame["client_msg_id"], None)
            if sent is not None:
                self.stats.add("echo", sent, now)
        elif kind == "said" and frame.get("client_msg_id"):
            sent = self.pending_say.pop(frame["client_msg_id"], None)
            if sent is not None:
                self.said[(id(room), frame["message_id"])] = sent
        elif kind in ("coach", "safety") and frame.get("reply_to"):
            sent = self.said.pop((id(room), frame["reply_to"]), None)
            if sent is not None:
                self.stats.add("say_to_coach", sent, now)
        elif kind == "draft":
            draft, key = frame["draft"], id(room)
            if draft["status"] == "pending":
                self.shareable[key] = (room, draft["id"])
            elif key in self.shareable and self.shareable[key][1] == draft["id"]:
                del self.shareable[key]
        elif kind == "shared":
            # Delivered: the other party's socket has it (the author's arrives too; that one is not timed).
            sent = self.share_in_flight.get(room.session)
            if sent is not None and not self._is_author(room, frame):
                del self.share_in_flight[room.session]
                self.stats.add("send_to_shared", sent, now)
        elif kind == "stage":
            room.stage = frame["stage"]
            room.stage_event(room.stage).set()
        elif kind == "error":
            if frame.get("frame_type") == "share":  # e.g. the draft was superseded: free the session
                self.share_in_flight.pop(room.session, None)
            code = str(frame.get("code"))
            self.stats.errors[code] = self.stats.errors.get(code, 0) + 1

    @staticmethod
    def _is_author(room: Room, frame: dict[str, Any]) -> bool:
        return f"{'AB'[room.side]}{room.session}" in frame.get("authors", [])

    def _send(self, room: Room, frame: dict[str, Any]) -> None:
        task = asyncio.create_task(room.ws.send(json.dumps(frame)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drive(self, rate: float, seconds: float, echo: bool) -> None:
        """Send ``rate`` messages per second for ``seconds`` (open loop): ``say`` to random sockets,
        and a share of them (``share_ratio``) ``share`` of a pending draft in a session with no
        share in flight; with ``echo``, plain frames the echo server returns."""
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while (due := start + n / rate) < start + seconds:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            if not echo and self.shareable and random.random() < self.share_ratio:
                candidates = [
                    v
                    for v in self.shareable.values()
                    if v[0].session not in self.share_in_flight and v[0].stage in ("joint", "agreement")
                ]
                if candidates:
                    room, draft_id = random.choice(candidates)
                    del self.shareable[id(room)]
                    self.share_in_flight[room.session] = time.perf_counter()
                    self._send(room, {"type": "share", "draft_id": draft_id, "action": "send"})
                    self._count("shares")
                    continue
            room = random.choice(self.rooms)
            cmid = uuid.uuid4().hex
            self.pending_say[cmid] = time.perf_counter()
            frame = {"type": "echo" if echo else "say", "text": random.choice(LINES), "client_msg_id": cmid}
            self._send(room, frame)
            self._count("says")

    def _count(self, what: str) -> None:
        if self.stats.recording:
            self.stats.sent[what] = self.stats.sent.get(what, 0) + 1

    async def drain(self, within: float) -> int:
        """Wait (bounded) for replies still in flight; returns how many never came."""
        if self.pending_say or self.said:
            self.idle.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self.idle.wait()
        return len(self.pending_say) + len(self.said)

    async def close(self) -> None:
        await asyncio.gather(*(r.ws.close() for r in self.rooms), return_exceptions=True)
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def connect_all(
    urls: list[tuple[str, dict[str, str]]], concurrency: int = 64
) -> list[ClientConnection]:
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str, headers: dict[str, str]) -> ClientConnection:
        async with gate:
            return await connect(url, additional_headers=headers, open_timeout=30, max_size=2**20)

    return list(await asyncio.gather(*(one(u, h) for u, h in urls)))


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


async def wait_for_port(port: int, proc: subprocess.Popen[bytes], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the echo server exited while starting")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the echo server did not start")


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


async def redis_cpu_seconds(url: str | None) -> float:
    """CPU seconds the Redis server has used (INFO cpu), or 0 without Redis."""
    if not url:
        return 0.0
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    finally:
        await client.aclose()


async def scrape_say_to_coach(urls: list[str]) -> dict[str, float]:
    """The gateway's own histogram (say frame in → coach event out), summed over nodes."""
    buckets: dict[float, float] = {}
    async with httpx.AsyncClient() as http:
        for url in urls:
            for line in (await http.get(f"{url}/metrics")).text.splitlines():
                if "say_to_coach" in line and "_bucket{" in line:
                    le = line.split('le="')[1].split('"')[0]
                    bound = float("inf") if le == "+Inf" else float(le)
                    buckets[bound] = buckets.get(bound, 0) + float(line.rsplit(" ", 1)[1])
    if not buckets:
        return {}
    total = buckets.get(float("inf"), 0)
    out: dict[str, float] = {"n": total}
    for name, q in (("p50_ms_le", 0.5), ("p99_ms_le", 0.99)):
        out[name] = next((b * 1000 for b in sorted(buckets) if buckets[b] >= q * total), float("inf"))
    return out


async def delete_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


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
