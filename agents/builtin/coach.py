"""The builtin coach: offline, deterministic, no model.

Order of a reply (DOMAIN §2, §5): reflect a feeling and a need drawn from the message first;
validate the feeling (never the accusation); gently reality-test horsemen, absolutes and
"you"-accusations, ending in the antidote (support *and* reality-test: no sycophancy, no sides);
then offer an NVC draft. Flooded: a break instead of a draft. A pursue–withdraw cycle is named as
the common enemy, in different words for the pursuer and the withdrawer. Every stock sentence
rotates with the turn, so consecutive replies do not repeat themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

from agents.base import RoleAgent
from agents.builtin.drafting import build_draft
from agents.builtin.phrasing import Picker, join_words
from agents.builtin.reading import Reading, read_message
from agents.guards import tone_problems
from agents.interfaces import Coach, CoachReply, CoachRequest, DraftProposal
from orchestrator.models import Mode
from policies.lexicon import Lexicon, Topic, get_lexicon
from policies.lexicon_phrases import Variants
from policies.loader import cached_policy
from policies.protocol import Protocols

# Coach turns from the history that count as "recent" when avoiding repeated sentences.
_RECENT_COACH_TURNS = 12


def _break_minutes() -> dict[Mode, float]:
    protocols = cast(Protocols, cached_policy("protocols.yaml", Protocols))
    return {
        mode: protocols.modes[mode.value].pacing.break_minutes
        for mode in Mode
        if mode.value in protocols.modes
    }


class BuiltinCoach(RoleAgent[CoachRequest, CoachReply], Coach):
    """A party's private coach built from ``policies/lexicon.yaml`` and the protocols' break length."""

    request_type = CoachRequest
    response_type = CoachReply

    def __init__(
        self,
        name: str = "builtin_coach",
        *,
        lexicon: Lexicon | None = None,
        break_minutes: Mapping[Mode, float] | None = None,
    ) -> None:
        super().__init__(name, "Private coach: reflects, validates, reality-tests and drafts (offline).")
        # Loaded now so a broken policy fails at start-up, not in the middle of a session.
        self.lexicon = lexicon or get_lexicon()
        self.break_minutes = dict(break_minutes) if break_minutes is not None else _break_minutes()

    async def respond(self, request: CoachRequest) -> CoachReply:
        return await self.handle(request)

    async def handle(self, request: CoachRequest) -> CoachReply:
        return self.reply(request)

    # ------------------------------------------------------------------------------------------
    def reply(self, req: CoachRequest) -> CoachReply:
        """The whole reply, synchronously (pure: same request, same reply)."""
        lex, mode = self.lexicon, req.mode
        reading = read_message(req.text, mode, lex)
        other = req.other_name or lex.coach.default_other[mode]
        recent = [t.text for t in req.history if t.speaker == "coach"][-_RECENT_COACH_TURNS:]
        picker = Picker(req.party_name, req.turn_index, recent)
        markers = reading.markers
        phrases = lex.coach

        if req.flooded:
            return CoachReply(
                text=" ".join(self._flooded(reading, picker, mode, other)),
                suggestion="break",
                markers=markers,
            )
        if req.concern:
            lines = [self._reflection(reading, picker, mode, other)] if reading.complaint else []
            lines.append(picker.pick("check_in", phrases.check_ins.for_mode(mode), other=other))
            return CoachReply(text=" ".join(lines), markers=markers)
        question = reading.question_kind
        if question == "other_private":
            # Asking for the other side's private words: answered without a hint of them.
            return CoachReply(text=self._question(question, picker, other), markers=markers)
        if reading.short_kind is not None:
            text = picker.pick(
                f"short:{reading.short_kind}", phrases.short.kinds[reading.short_kind], other=other
            )
            return CoachReply(text=text, markers=markers)
        if reading.positive:
            return CoachReply(
                text=picker.pick("positive", phrases.positive.for_mode(mode), other=other), markers=markers
            )
        if question is not None and not reading.complaint:
            return CoachReply(text=self._question(question, picker, other), markers=markers)

        parts_language = req.parts_language and mode is Mode.COUPLE
        lines = [self._reflection(reading, picker, mode, other)]
        if question in ("blame", "why_other", "advice"):
            lines.append(self._question(question, picker, other))
        elif req.cycle_role is None:
            # "a part of you is on high alert" fits a heated message, not a calm request
            heated = parts_language and bool(reading.markers)
            validations = phrases.validations_parts if heated else phrases.validations.for_mode(mode)
            lines.append(picker.pick("validation", validations, other=other))
        tests = reading.reality_tests()
        if not reading.topic_matched and req.cycle_role is None:
            tests = tests[:1]  # a follow-up question comes too; keep the reply short
        for kind in tests:
            lines.append(
                picker.pick(
                    f"reality:{kind}",
                    phrases.reality_tests.for_marker(kind),
                    other=other,
                    word=reading.absolute_word or "always",
                )
            )

        suggestion: Literal["cycle", "none"] = "none"
        topic: Topic | None = None
        if req.cycle_role is not None:
            cycle: Variants = getattr(phrases.cycle, req.cycle_role)
            lines.append(picker.pick(f"cycle:{req.cycle_role}", cycle.for_mode(mode), other=other))
            topic = getattr(lex.cycle_topics, req.cycle_role)[mode]
            suggestion = "cycle"
        elif not reading.topic_matched:
            lines.append(picker.pick("follow_up", phrases.follow_ups.for_mode(mode), other=other))

        draft = self._draft(reading, mode, picker, parts_language, topic)
        if draft is not None:
            lines.append(picker.pick("draft_offer", phrases.draft_offers.for_mode(mode), other=other))
            if req.other_name is None:
                lines.append(picker.pick("solo_note", phrases.solo_notes.for_mode(mode), other=other))
            if req.paused:
                lines.append(picker.pick("pause_note", phrases.pause_notes, other=other))
        return CoachReply(
            text=" ".join(lines),
            draft=draft,
            suggestion=suggestion,
            markers=markers,
        )

    # ------------------------------------------------------------------------------------------
    def _reflection(self, reading: Reading, picker: Picker, mode: Mode, other: str) -> str:
        need = self.lexicon.needs[reading.need].reflect_for(mode)
        situation = reading.topic.situation.format(other=other)
        return picker.pick(
            "reflection",
            self.lexicon.coach.reflections.for_mode(mode),
            feelings=join_words(reading.feeling_words),
            need=need,
            situation=situation,
            other=other,
        )

    def _question(self, kind: str, picker: Picker, other: str) -> str:
        return picker.pick(f"question:{kind}", self.lexicon.coach.questions.kinds[kind], other=other)

    def _flooded(self, reading: Reading, picker: Picker, mode: Mode, other: str) -> list[str]:
        """Regulation before words: a reflection, then a break of at least the policy's minutes."""
        breaks = self.lexicon.coach.breaks
        minutes = self.break_minutes.get(mode, 20.0)
        shown = str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}"
        lines = [self._reflection(reading, picker, mode, other)] if reading.complaint else []
        lines.append(picker.pick("break_step", breaks.steps.for_mode(mode), minutes=shown, other=other))
        lines.append(picker.pick("break_soothing", breaks.soothing.for_mode(mode), other=other))
        lines.append(picker.pick("break_return", breaks.returns.for_mode(mode), other=other))
        return lines

    def _draft(
        self, reading: Reading, mode: Mode, picker: Picker, parts_language: bool, topic: Topic | None
    ) -> DraftProposal | None:
        """The NVC draft; a draft that would fail the tone guard is never offered."""
        draft = build_draft(
            reading, mode, picker, parts_language=parts_language, topic=topic, lexicon=self.lexicon
        )
        return None if tone_problems(draft.text, self.lexicon) else draft
