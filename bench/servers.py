"""The processes a gateway benchmark measures: start, wait for, stop and read them (CPU time,
RSS, Redis CPU, the gateway's own histogram); the echo baseline and the gateway in child mode."""


from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent


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
