"""Logs carry ids, types and timings, never what a party wrote."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from structlog.testing import capture_logs

from gateway.logging import _drop_private, configure_logging
from tests.gateway.helpers import DANGER_WORD, Gateway, joint_pair

PRIVATE = "the secret about my sister's debts"


async def test_a_whole_conversation_logs_no_private_text(gateway: Gateway) -> None:
    with capture_logs() as logs:
        alex, sam, a, b = await joint_pair(gateway)
        await a.send({"type": "say", "text": PRIVATE, "client_msg_id": "p1"})
        draft = (await a.expect("draft"))["draft"]
        await a.send(
            {"type": "share", "draft_id": draft["id"], "action": "edit", "text": PRIVATE + " (edited)"}
        )
        await b.expect("shared")
        await a.send({"type": "say", "text": f"{PRIVATE} {DANGER_WORD}"})
        await a.expect("safety")
        await a.send('{"type": "say", "text": "' + PRIVATE + '", "oops": 1}')
        await a.expect("error")
        await a.sync()
    assert logs, "nothing was logged at all"
    dumped = json.dumps(logs, default=str)
    assert "sister" not in dumped and DANGER_WORD not in dumped
    events = {entry["event"] for entry in logs}
    assert {"ws_connected", "ws_error"} <= events
    assert any(entry.get("session_id") == alex["session_id"] for entry in logs)


def test_keys_that_could_hold_text_are_redacted() -> None:
    record = {"event": "x", "text": PRIVATE, "answers": {"q": True}, "party_id": "p-1"}
    assert _drop_private(None, "info", record) == {
        "event": "x",
        "text": "[redacted]",
        "answers": "[redacted]",
        "party_id": "p-1",
    }


def test_configured_logs_are_json_lines_and_uvicorn_access_log_is_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json")
        structlog.get_logger("accord.test").info("hello", session_id="s-1", text=PRIVATE)
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["event"] == "hello" and record["session_id"] == "s-1" and record["text"] == "[redacted]"
        assert logging.getLogger("uvicorn.access").disabled
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.access").disabled = False
        structlog.reset_defaults()
