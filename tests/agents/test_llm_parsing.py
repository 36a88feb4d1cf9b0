"""Reading model output: JSON anywhere in the answer, and the reply text of a JSON still streaming."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from agents.llm.parsing import ReplyTextStream, find_json_object, partial_text_field, strip_fences


def test_find_json_object_skips_prose_and_stray_braces() -> None:
    assert find_json_object('I think {this} is it: {"text": "a {b} c"} done') == {"text": "a {b} c"}
    assert find_json_object('```json\n{"text": "x"}\n```') == {"text": "x"}
    assert find_json_object("no json here") is None
    assert find_json_object('["a list", {"text": "inner"}]') == {"text": "inner"}


def test_strip_fences() -> None:
    assert strip_fences("```\nhello\n```") == "hello"
    assert strip_fences("  plain  ") == "plain"


def test_partial_text_field_reads_top_level_text_only() -> None:
    assert partial_text_field('{"text": "I hear how tir') == "I hear how tir"
    assert partial_text_field('{"draft": {"text": "nested"}, "text": "top') == "top"
    assert partial_text_field('{"draft": {"text": "nested') is None
    assert (
        partial_text_field('{"text": "line\\nbreak and \\"quote\\" and \\u00e9')
        == 'line\nbreak and "quote" and é'
    )
    assert partial_text_field('{"text": "cut at escape \\') == "cut at escape "
    assert partial_text_field('{"text": "half unicode \\u00') == "half unicode "
    assert partial_text_field("plain words") is None


@given(st.text(min_size=1, max_size=80), st.integers(min_value=1, max_value=7))
def test_stream_reassembles_any_reply_text(text: str, step: int) -> None:
    raw = json.dumps({"text": text, "draft": None})
    reader = ReplyTextStream()
    out = "".join(reader.feed(raw[i : i + step]) for i in range(0, len(raw), step))
    assert out == text


def test_stream_passes_plain_text_through() -> None:
    reader = ReplyTextStream()
    assert reader.feed("  That ") + reader.feed("sounds hard.") == "That sounds hard."
