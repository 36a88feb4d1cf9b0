"""Requests and model answers shared by the LLM role tests (imported as ``llm_helpers``).

The roles themselves are always the real ones; the only stand-in is ``agents.testing.ScriptedModelClient``.
"""

from __future__ import annotations

import json
from typing import Any

from agents.interfaces import ApprovedItem, CoachRequest, ComposeRequest, Turn
from orchestrator.models import Mode


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

