"""Requests and stand-in roles shared by the LLM role tests (imported as ``llm_helpers``)."""

from __future__ import annotations

import json
from typing import Any

from agents.interfaces import (
    ApprovedItem,
    Coach,
    CoachReply,
    CoachRequest,
    ComposeRequest,
    ComposeResult,
    Mediator,
    SafetyScreener,
    ScreenRequest,
    Turn,
)
from orchestrator.models import Mode, Severity, Verdict

BUILTIN_COACH_TEXT = "Builtin coach: that sounds heavy. What matters most to you here?"
BUILTIN_MEDIATOR_TEXT = "Builtin mediator: Alex wrote something for Sam."


def coach_request(**overrides: Any) -> CoachRequest:
    values: dict[str, Any] = {
        "mode": Mode.COUPLE,
        "party_name": "Alex",
        "other_name": "Sam",
        "stage": "joint",
        "text": "Sam ignored my texts all evening and I felt invisible.",
        "history": [
            Turn(speaker="party", text="I keep waiting for Sam to notice me."),
            Turn(speaker="coach", text="Waiting like that can feel lonely."),
        ],
        "turn_index": 1,
    }
    values.update(overrides)
    return CoachRequest(**values)


def compose_request(**overrides: Any) -> ComposeRequest:
    values: dict[str, Any] = {
        "mode": Mode.COUPLE,
        "parties": ["Alex", "Sam"],
        "items": [
            ApprovedItem(
                draft_id="d1",
                author_name="Alex",
                text="When my texts go unanswered in the evening, I feel lonely, because I need connection. "
                "Would you be willing to send a quick note when you are busy?",
                request="send a quick note when you are busy",
            )
        ],
        "shared_count": 0,
    }
    values.update(overrides)
    return ComposeRequest(**values)


def coach_json(
    text: str = "It makes sense that you felt invisible when the evening went quiet.", **fields: Any
) -> str:
    return json.dumps({"text": text, **fields})


def faithful_mediation(
    request: ComposeRequest, opening: str = "You are both here because this matters."
) -> str:
    """A mediator answer that passes the guards: reassurance, exact quotes, attribution, a bridge."""
    quotes = " ".join(f'{item.author_name} wrote: "{item.text}"' for item in request.items)
    agreements = [
        {"text": f"We agree to {item.request}.", "source_draft_ids": [item.draft_id]}
        for item in request.items
        if item.request
    ]
    return json.dumps(
        {"text": f"{opening} {quotes} What would help you both next?", "agreements": agreements}
    )


class FixedCoach(Coach):
    """Stands in for the builtin coach: one recognisable reply."""

    def __init__(self) -> None:
        self.calls = 0

    async def respond(self, request: CoachRequest) -> CoachReply:
        self.calls += 1
        return CoachReply(text=BUILTIN_COACH_TEXT)


class FixedMediator(Mediator):
    def __init__(self) -> None:
        self.calls = 0

    async def compose(self, request: ComposeRequest) -> ComposeResult:
        self.calls += 1
        return ComposeResult(text=BUILTIN_MEDIATOR_TEXT)


class WordScreener(SafetyScreener):
    """Flags (``high``) any text containing one of ``words``; records what it screened."""

    def __init__(self, *words: str) -> None:
        self.words = [w.lower() for w in words]
        self.seen: list[ScreenRequest] = []

    async def screen(self, request: ScreenRequest) -> Verdict:
        self.seen.append(request)
        if any(w in request.text.lower() for w in self.words):
            return Verdict(severity=Severity.HIGH, categories=["violence"], layer="rules")
        return Verdict()
