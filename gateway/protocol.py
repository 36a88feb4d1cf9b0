"""WebSocket frames. Client → server frames are a pydantic discriminated union on ``type``;
server → client frames are :data:`orchestrator.events.Event` plus :class:`ErrorFrame` and
:class:`PongFrame` (neither is part of the replayable log, so their ``seq`` is always null). One
event is transient too: ``coach_partial`` (a coach reply in progress) has ``seq`` 0, is sent live
only, never replayed, and is replaced by the ``coach`` event with the same ``reply_to``.
:data:`SERVER_FRAME_TYPES` lists every server → client ``type``.

:func:`parse_client_frame` turns raw bytes or text into a frame or a :class:`FrameError` whose
``code`` the client can switch on: ``bad_utf8``, ``bad_json``, ``unknown_type``, ``invalid_frame``.
Its messages never echo what the client wrote (frames carry private text).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from orchestrator.events import EVENT_TYPES, TRANSIENT_TYPES

_ID = Annotated[str, Field(min_length=1, max_length=128)]


class _ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SayFrame(_ClientFrame):
    """Write in your private room. ``client_msg_id`` makes a retry after a reconnect harmless."""

    type: Literal["say"]
    text: str
    client_msg_id: _ID | None = None


class ShareFrame(_ClientFrame):
    """Decide about one of your drafts: ``send`` as is, ``edit`` (send ``text`` instead), ``discard``."""

    type: Literal["share"]
    draft_id: _ID
    action: Literal["send", "edit", "discard"]
    text: str | None = None

    @model_validator(mode="after")
    def _text_goes_with_edit(self) -> ShareFrame:
        if self.action == "edit" and not (self.text and self.text.strip()):
            raise ValueError("action 'edit' needs the edited text")
        if self.action != "edit" and self.text is not None:
            raise ValueError("only action 'edit' takes text")
        return self


class PauseFrame(_ClientFrame):
    """Start the agreed break (a timeout)."""

    type: Literal["pause"]


class ReadyFrame(_ClientFrame):
    """Ready to (re)join the joint room."""

    type: Literal["ready"]


class AgreeFrame(_ClientFrame):
    """Accept (or, with ``accept: false``, decline) a proposed agreement."""

    type: Literal["agree"]
    agreement_id: _ID
    accept: bool = True


class IntakeFrame(_ClientFrame):
    """Answer the intake questions (``answers``: question id → yes/no/skip) or ``skip`` them."""

    type: Literal["intake"]
    answers: dict[str, bool | None] | None = None
    skip: bool = False


class FollowupFrame(_ClientFrame):
    """Answer the safety follow-up questions that came with a ``safety`` event (question id →
    yes/no/skip). Private: only the screener and, if needed, a human reviewer learn the answers."""

    type: Literal["followup"]
    answers: dict[str, bool | None]


class CloseFrame(_ClientFrame):
    """End the session for everyone."""

    type: Literal["close"]


class ResumeFrame(_ClientFrame):
    """Send every event of your room with ``seq > after_seq`` (then live ones)."""

    type: Literal["resume"]
    after_seq: int = Field(ge=0)


class PingFrame(_ClientFrame):
    """Liveness check; answered by ``pong``."""

    type: Literal["ping"]


ClientFrame = Annotated[
    SayFrame
    | ShareFrame
    | PauseFrame
    | ReadyFrame
    | AgreeFrame
    | IntakeFrame
    | FollowupFrame
    | CloseFrame
    | ResumeFrame
    | PingFrame,
    Field(discriminator="type"),
]
CLIENT_FRAME_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
CLIENT_FRAME_TYPES: frozenset[str] = frozenset(
    m.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for m in (
        SayFrame,
        ShareFrame,
        PauseFrame,
        ReadyFrame,
        AgreeFrame,
        IntakeFrame,
        FollowupFrame,
        CloseFrame,
        ResumeFrame,
        PingFrame,
    )
)


class ErrorFrame(BaseModel):
    """A frame or an action was refused. ``code`` is stable: clients switch on it."""

    type: Literal["error"] = "error"
    seq: None = None  # not part of the room's log
    code: str
    message: str
    frame_type: str | None = None  # the client frame this answers, when known
    client_msg_id: str | None = None


class PongFrame(BaseModel):
    """Answer to ``ping``; ``last_seq`` is the newest event this socket has sent."""

    type: Literal["pong"] = "pong"
    seq: None = None
    last_seq: int


# Every frame type the server sends: the room's events (logged, with a seq), the transient
# ``coach_partial`` (seq 0), and ``error`` / ``pong`` (seq null).
SERVER_FRAME_TYPES: frozenset[str] = EVENT_TYPES | {"error", "pong"}
TRANSIENT_FRAME_TYPES: frozenset[str] = TRANSIENT_TYPES


class FrameError(Exception):
    """A client frame that cannot be used. ``code`` goes into the ``error`` frame."""

    def __init__(self, code: str, message: str, frame_type: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.frame_type = frame_type


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Decode and validate one client frame; raises :class:`FrameError`.

    Binary frames are accepted as UTF-8 JSON; text frames were already UTF-8-checked by the
    WebSocket layer (RFC 6455 requires closing a connection on invalid text frames).
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("bad_utf8", "the frame is not valid UTF-8") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise FrameError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_frame", "a frame is a JSON object with a 'type'")
    frame_type = data.get("type")
    if not isinstance(frame_type, str):
        raise FrameError("invalid_frame", "a frame needs a string 'type'")
    if frame_type not in CLIENT_FRAME_TYPES:
        raise FrameError("unknown_type", f"unknown frame type; expected one of {sorted(CLIENT_FRAME_TYPES)}")
    try:
        return CLIENT_FRAME_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise FrameError("invalid_frame", describe_validation_error(exc), frame_type) from None


def describe_validation_error(exc: ValidationError) -> str:
    """Field paths and reasons only: pydantic's default text would echo the (private) input."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"][1:] if p is not None) or "(frame)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
