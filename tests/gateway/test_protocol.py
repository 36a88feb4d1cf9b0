"""Client frames: each kind parses; each kind of bad frame gets its own stable code."""

from __future__ import annotations

import json

import pytest

from gateway.protocol import (
    CLIENT_FRAME_TYPES,
    ErrorFrame,
    FrameError,
    SayFrame,
    ShareFrame,
    parse_client_frame,
)

VALID = [
    {"type": "say", "text": "hello", "client_msg_id": "c1"},
    {"type": "share", "draft_id": "d1", "action": "send"},
    {"type": "share", "draft_id": "d1", "action": "edit", "text": "softer words"},
    {"type": "share", "draft_id": "d1", "action": "discard"},
    {"type": "pause"},
    {"type": "ready"},
    {"type": "agree", "agreement_id": "a1"},
    {"type": "agree", "agreement_id": "a1", "accept": False},
    {"type": "intake", "answers": {"q1": True, "q2": None}},
    {"type": "intake", "skip": True},
    {"type": "close"},
    {"type": "resume", "after_seq": 7},
    {"type": "ping"},
]


@pytest.mark.parametrize("frame", VALID, ids=lambda f: f["type"])
def test_every_valid_frame_parses_to_its_model(frame: dict[str, object]) -> None:
    parsed = parse_client_frame(json.dumps(frame))
    assert parsed.type == frame["type"]
    assert parsed.model_dump(exclude_defaults=True, exclude_none=True) | {"type": frame["type"]} == {
        k: v for k, v in frame.items() if v is not None and not (k == "accept" and v is True)
    }


def test_frame_types_cover_the_documented_set() -> None:
    assert CLIENT_FRAME_TYPES == {
        "say",
        "share",
        "pause",
        "ready",
        "agree",
        "intake",
        "followup",
        "close",
        "resume",
        "ping",
    }


def test_binary_utf8_json_is_accepted() -> None:
    parsed = parse_client_frame('{"type":"say","text":"grüß dich"}'.encode())
    assert isinstance(parsed, SayFrame) and parsed.text == "grüß dich"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe{}", "bad_utf8"),
        ("{not json", "bad_json"),
        ("", "bad_json"),
        ("[1, 2]", "invalid_frame"),
        ('"say"', "invalid_frame"),
        ('{"text": "no type"}', "invalid_frame"),
        ('{"type": 3}', "invalid_frame"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "say"}', "invalid_frame"),
        ('{"type": "say", "text": 5}', "invalid_frame"),
        ('{"type": "say", "text": "x", "extra": 1}', "invalid_frame"),
        ('{"type": "share", "draft_id": "d1", "action": "edit"}', "invalid_frame"),
        ('{"type": "share", "draft_id": "d1", "action": "send", "text": "x"}', "invalid_frame"),
        ('{"type": "share", "draft_id": "d1", "action": "burn"}', "invalid_frame"),
        ('{"type": "resume", "after_seq": -1}', "invalid_frame"),
        ('{"type": "resume"}', "invalid_frame"),
        ('{"type": "agree", "agreement_id": ""}', "invalid_frame"),
        ("[" * 100_000, "bad_json"),
    ],
)
def test_bad_frames_get_precise_codes(raw: str | bytes, code: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_client_frame(raw)
    assert caught.value.code == code


def test_error_messages_never_echo_the_input() -> None:
    secret = "my very private words"
    for raw in (
        json.dumps({"type": "say", "text": secret, "bogus": secret}),
        json.dumps({"type": "share", "draft_id": "d1", "action": "send", "text": secret}),
        json.dumps({"type": "say", "text": [secret]}),
    ):
        with pytest.raises(FrameError) as caught:
            parse_client_frame(raw)
        assert secret not in caught.value.message


def test_edit_needs_text_and_keeps_it() -> None:
    parsed = parse_client_frame('{"type":"share","draft_id":"d9","action":"edit","text":"new"}')
    assert isinstance(parsed, ShareFrame) and parsed.text == "new"


def test_error_frame_has_null_seq() -> None:
    dumped = json.loads(ErrorFrame(code="bad_json", message="m").model_dump_json())
    assert dumped["type"] == "error" and dumped["seq"] is None and dumped["code"] == "bad_json"
