"""Two real gateway processes sharing one real Redis: a conversation across nodes, and a client
that reconnects to the other node and resumes exactly where it left off."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.helpers import SECRET, WAIT, RoomClient, free_port

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gateway_process(port: int, redis_url: str, prefix: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ACCORD_REDIS_URL": redis_url,
        "ACCORD_REDIS_PREFIX": prefix,
        "ACCORD_SECRET": SECRET,
        "ACCORD_ENV": "production",
        "ACCORD_LOG_LEVEL": "WARNING",
        "ACCORD_RESUME_WAIT_SECONDS": "5",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--ws-max-size",
            str(64 * 1024),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    """Bounded start-up poll of /readyz (the one place a test may poll)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"gateway at {url} did not become ready")


@asynccontextmanager
async def two_nodes(redis_url: str, prefix: str) -> AsyncIterator[tuple[str, str]]:
    ports = free_port(), free_port()
    with (
        gateway_process(ports[0], redis_url, prefix) as p1,
        gateway_process(ports[1], redis_url, prefix) as p2,
    ):
        urls = f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
        await asyncio.gather(wait_ready(p1, urls[0]), wait_ready(p2, urls[1]))
        yield urls


async def room(node: str, creds: dict[str, Any], after_seq: int | None = 0) -> RoomClient:
    url = f"ws{node[4:]}/v1/sessions/{creds['session_id']}/ws?token={creds['token']}"
    if after_seq is not None:
        url += f"&after_seq={after_seq}"
    return await RoomClient.open(url)


async def get_draft(r: RoomClient, lines: list[str]) -> dict[str, Any]:
    """Say lines until the builtin coach offers a draft (it need not offer one every time)."""
    for line in lines:
        await r.send({"type": "say", "text": line})
        await r.expect("coach")
        await r.sync()
        drafts = [f for f in r.frames if f.get("type") == "draft" and f["draft"]["status"] == "pending"]
        if drafts:
            return dict(drafts[-1]["draft"])
    raise AssertionError("the coach offered no draft")


ALEX_LINES = [
    "When you come home late without a message I feel scared and alone.",
    "I need to know we are okay. Could we agree on a quick text when you are late?",
    "I would like us to talk calmly about evenings.",
]
SAM_LINES = [
    "I feel overwhelmed when many messages arrive at once and I need some space.",
    "I would like a calm way to tell Alex I am running late.",
    "Could we agree that I send a short text when I am late?",
]


async def test_two_processes_one_conversation_and_resume_on_the_other_node(
    redis_url: str, redis_prefix: str
) -> None:
    async with two_nodes(redis_url, redis_prefix) as (node1, node2), httpx.AsyncClient(timeout=WAIT) as http:
        created = await http.post(f"{node1}/v1/sessions", json={"mode": "couple", "name": "Alex"})
        alex = created.json()
        sam = (
            await http.post(f"{node2}/v1/invites/{alex['invite_code']}/accept", json={"name": "Sam"})
        ).json()
        a = await room(node1, alex)
        b = await room(node2, sam)
        for r in (a, b):
            await r.send({"type": "intake", "skip": True})
        for r in (a, b):
            await r.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "ready_check")
            await r.send({"type": "ready"})
        for r in (a, b):
            await r.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "joint")

        # say on node 1, share, and the shared message reaches both rooms (one through Redis)
        draft = await get_draft(a, ALEX_LINES)
        await a.send({"type": "share", "draft_id": draft["id"], "action": "send"})
        shared_a = await a.expect("shared")
        shared_b = await b.expect("shared")
        assert shared_a["text"] == shared_b["text"] and shared_b["authors"] == ["Alex"]
        assert not any(f["type"] in ("said", "coach", "draft") for f in b.frames)

        # Alex drops off; Sam shares meanwhile; Alex comes back on node 2 and resumes
        left_at = await a.sync()
        await a.close()
        draft_b = await get_draft(b, SAM_LINES)
        await b.send({"type": "share", "draft_id": draft_b["id"], "action": "send"})
        await b.expect(lambda f: f.get("type") == "shared" and f["authors"] == ["Sam"])
        await b.send({"type": "pause"})
        await b.expect("timeout")

        back = await room(node2, alex, after_seq=None)
        await back.send({"type": "resume", "after_seq": left_at})
        last = await back.sync()
        view = (
            await http.get(
                f"{node1}/v1/sessions/{alex['session_id']}",
                headers={"Authorization": f"Bearer {alex['token']}"},
            )
        ).json()
        got = [f["seq"] for f in back.events()]
        assert got == list(range(left_at + 1, view["last_seq"] + 1)), got  # exactly once, in order
        assert last == view["last_seq"]
        types = [f["type"] for f in back.events()]
        assert "shared" in types and "timeout" in types
        assert not any(line in json.dumps(back.frames) for line in SAM_LINES)  # Sam's private words

        # the resumed room is live: Sam ends the session and node 2 delivers it to Alex
        await b.send({"type": "close"})
        closed = await back.expect(lambda f: f.get("type") == "stage" and f.get("stage") == "closed")
        assert closed["seq"] == last + 1
        for r in (b, back):
            await r.close()
