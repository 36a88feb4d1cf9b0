"""The session's safety path: fail-closed screening, private safety replies, review cases, intake.

Kept apart from the session service so the rules that must never break are in one short file.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from agents.interfaces import SafetyScreener, ScreenRequest
from agents.safety.intake import IntakeResult, cssrs_questions, intake_questions, score_cssrs, score_intake
from agents.safety.replies import safety_reply
from orchestrator import metrics
from orchestrator.clock import Clock
from orchestrator.events import IntakeEvent, SafetyEvent
from orchestrator.models import Mode, Party, SessionState, Severity, Verdict

if TYPE_CHECKING:
    from orchestrator.core import SessionCore

log = structlog.get_logger("accord.safety")

SCREEN_TIMEOUT_SECONDS = 10.0
_CONTEXT_TURNS = 2  # a reviewer sees the flagged message and at most this many earlier lines


class SafetyPath:
    def __init__(self, review: Any | None, clock: Clock) -> None:
        self.review = review
        self.clock = clock

    async def screen(self, screener: SafetyScreener, request: ScreenRequest) -> Verdict:
        """Screen a text. Any error, timeout or unreadable verdict is ``high``: never a pass."""
        try:
            verdict = await asyncio.wait_for(screener.screen(request), SCREEN_TIMEOUT_SECONDS)
            if not isinstance(verdict, Verdict):
                raise TypeError("screener returned something that is not a Verdict")
            return verdict
        except Exception as exc:  # noqa: BLE001 - fail closed on anything
            metrics.SCREEN_ERRORS.inc()
            log.error("screen_error", error=type(exc).__name__, direction=request.direction)
            return Verdict(
                severity=Severity.HIGH, categories=["screen_error"], layer="error", reasons=["screen_error"]
            )

    async def reply(
        self, service: SessionCore, state: SessionState, party: Party, verdict: Verdict
    ) -> None:
        """The writer's private safety reply, with resources. Only their room sees it."""
        text, resources = safety_reply(verdict, locale="default", variant_seed=len(party.history))
        # C-SSRS follow-ups whenever self-harm shows up (not again once answered).
        questions: list[dict[str, object]] = []
        if "self_harm" in verdict.categories and not party.cssrs_answered:
            questions = [q.model_dump() for q in cssrs_questions()]
        event = SafetyEvent(
            severity=verdict.severity.value, text=text, resources=resources, questions=questions
        )
        await service._append(state, party.id, event)

    async def attend(
        self, service: SessionCore, state: SessionState, party: Party, verdict: Verdict
    ) -> None:
        """Severity ``concern``: the coach attends; self-harm thoughts also get resources privately."""
        if verdict.severity is not Severity.CONCERN or "self_harm" not in verdict.categories:
            return
        if verdict.layer == "classifier":
            # A statistical hunch alone makes the coach attentive; crisis numbers in reply to an
            # ordinary sentence would feel intrusive and teach people to ignore them.
            return
        await self.reply(service, state, party, verdict)

    async def open_case(self, state: SessionState, party: Party, verdict: Verdict, text: str) -> None:
        metrics.REVIEW_CASES.labels(verdict.severity.value).inc()
        log.warning(
            "safety_flag",
            session_id=state.id,
            severity=verdict.severity.value,
            categories=verdict.categories,
            layer=verdict.layer,
        )
        if self.review is None:
            return
        earlier = [t.text for t in party.history if t.speaker == "party" and t.text != text]
        case = await self.review.open_case(
            session_id=state.id,
            party_id=party.id,
            verdict=verdict,
            flagged_text=text,
            context=earlier[-_CONTEXT_TURNS:],
        )
        state.review_case_ids.append(case.id)

    def score_followup(self, answers: dict[str, bool | None]) -> Severity:
        return score_cssrs(answers)

    def score_intake(self, answers: dict[str, bool | None]) -> IntakeResult:
        return score_intake(answers)

    def intake_event(self, mode: Mode, text: str) -> IntakeEvent:
        return IntakeEvent(text=text, questions=[q.model_dump() for q in intake_questions(mode)])
