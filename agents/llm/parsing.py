"""Reading what a model wrote: tolerant JSON extraction, and the reply text out of a JSON answer that
is still streaming.

Small and local models wrap JSON in code fences, add a sentence before it, or forget it altogether;
these helpers accept all of that without ever evaluating anything the model wrote.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?|\n?\s*```\s*$")


def strip_fences(text: str) -> str:
    """Remove one surrounding Markdown code fence (```json ... ```), if there is one."""
    stripped = text.strip()
    if stripped.startswith("```"):
        return _FENCE.sub("", stripped).strip()
    return stripped


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first well-formed JSON object in ``text`` (after removing code fences), or None.

    Scans for each ``{`` in turn and lets ``json.JSONDecoder.raw_decode`` decide where the object
    ends, so prose before or after the object, and braces inside strings, do no harm.
    """
    body = strip_fences(text)
    decoder = json.JSONDecoder()
    start = body.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(body, start)
        except json.JSONDecodeError:
            start = body.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = body.find("{", start + 1)
    return None


def looks_like_json(text: str) -> bool:
    """True when the answer was evidently meant to be JSON (so plain-text fallbacks do not apply)."""
    body = strip_fences(text)
    return body.startswith("{") or body.startswith("[") or '"text"' in body[:200]


def _decode_partial_string(raw: str) -> str:
    """Decode the body of a JSON string that may be cut off mid-way (drop an unfinished escape)."""
    cut = len(raw)
    # an unfinished escape at the very end: a lone backslash, or \\u with fewer than 4 hex digits
    tail = raw.rfind("\\")
    if tail != -1:
        backslashes = len(raw[:tail + 1]) - len(raw[:tail + 1].rstrip("\\"))
        if backslashes % 2 == 1:  # the last backslash starts an escape
            escape = raw[tail:]
            if len(escape) == 1 or (escape[1] == "u" and len(escape) < 6):
                cut = tail
    try:
        decoded: str = json.loads('"' + raw[:cut] + '"')
        if decoded and "\ud800" <= decoded[-1] <= "\udbff":
            decoded = decoded[:-1]  # half a surrogate pair: wait for the other half
        return decoded
    except json.JSONDecodeError:
        return raw[:cut].replace('\\"', '"').replace("\\n", "\n")


def _scan_string(buf: str, start: int) -> tuple[str, int, bool]:
    """Scan a JSON string whose opening quote is at ``start - 1``.

    Returns (raw body, index after the closing quote, complete?).
    """
    i = start
    while i < len(buf):
        c = buf[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return buf[start:i], i + 1, True
        i += 1
    return buf[start:], len(buf), False


def partial_text_field(buf: str, field: str = "text") -> str | None:
    """The value of the top-level ``field`` of a JSON object that is still arriving, decoded so far.

    ``'{"text": "I hear how tir'`` gives ``'I hear how tir'``. Returns None while the field has not
    started (or if the buffer is not a JSON object). Nested objects (``draft.text``) are skipped.
    """
    body = buf.lstrip()
    if body.startswith("```"):
        newline = body.find("\n")
        if newline == -1:
            return None
        body = body[newline + 1:]
    start = body.find("{")
    if start == -1 or body[:start].strip():
        return None
    depth = 0
    i = start
    while i < len(body):
        c = body[i]
        if c == '"':
            raw, end, complete = _scan_string(body, i + 1)
            if not complete:
                return None
            i = end
            if depth != 1:
                continue
            # a key at the top level: is it ours, and does a string value follow?
            j = i
            while j < len(body) and body[j] in " \t\r\n":
                j += 1
            if j >= len(body) or body[j] != ":":
                continue
            j += 1
            while j < len(body) and body[j] in " \t\r\n":
                j += 1
            if _decode_partial_string(raw) == field and j < len(body) and body[j] == '"':
                value_raw, _, _ = _scan_string(body, j + 1)
                return _decode_partial_string(value_raw)
            i = j
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return None


class ReplyTextStream:
    """Turns a model's streamed answer into the reply text as it grows.

    Works for a JSON answer (reads the top-level ``text`` field) and for a plain-text answer (passes
    it through). ``feed`` returns only the new part of the reply text since the previous call.
    """

    def __init__(self, field: str = "text") -> None:
        self._field = field
        self._buf = ""
        self._emitted = 0
        self._mode: str | None = None  # "json" | "plain", decided from the first visible characters

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        if self._mode is None:
            head = self._buf.lstrip()
            if head.startswith("```"):
                newline = head.find("\n")
                if newline == -1:
                    return ""
                head = head[newline + 1:].lstrip()
            if not head:
                return ""
            self._mode = "json" if head[0] in "{[" else "plain"
        if self._mode == "plain":
            text = strip_fences(self._buf) if self._buf.lstrip().startswith("```") else self._buf.lstrip()
        else:
            text = partial_text_field(self._buf, self._field) or ""
        if len(text) <= self._emitted:
            return ""
        new = text[self._emitted:]
        self._emitted = len(text)
        return new

    @property
    def raw(self) -> str:
        """Everything the model has written so far."""
        return self._buf
