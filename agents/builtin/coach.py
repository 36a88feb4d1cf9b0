"""The builtin coach: offline, deterministic, no model, and listening.

Order of a reply (DOMAIN §2, §5): say back what the person said, in their own words (their account,
their feeling words, their need), and where they named no feeling, ask tentatively rather than
assert one; then what they may need to know about the session (the other person is on an agreed
break and due back at a time, has just shared something, an agreement was accepted); then gently
reality-test a horseman with its antidote (criticism → gentle start-up, contempt → appreciation and
the need under it, defensiveness → owning a part, stonewalling → self-soothing and a return time);
then offer a draft built from their own words (:mod:`agents.builtin.drafting`), checked by the
grounding guard and the tone guard. Questions about the process ("is he leaving?", "will she see
this?") are answered from the session's state (:mod:`agents.builtin.process`).

It remembers the whole session (``earlier_turns`` + ``history``): no stock sentence is said twice,
and no question is asked again once asked or answered. Pure: same request, same reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

from agents.base import RoleAgent
from agents.builtin import process
from agents.builtin.drafting import Stance, build_draft
from agents.builtin.grounding import grounding_problems
from agents.builtin.listening import Listener, infer_other_name
from agents.builtin.phrasing import Picker, join_words, sentences
from agents.builtin.reading import Reading, read_message
from agents.guards import tone_problems
from agents.interfaces import Coach, CoachReply, CoachRequest, DraftProposal
from orchestrator.models import Mode
from policies.lexicon import Lexicon, get_lexicon
from policies.lexicon_phrases import Variants
from policies.loader import cached_policy
from policies.protocol import Protocols


def _break_minutes() -> dict[Mode, float]:
    protocols = cast(Protocols, cached_policy("protocols.yaml", Protocols))
    return {
        mode: protocols.modes[mode.value].pacing.break_minutes
        for mode in Mode
        if mode.value in protocols.modes
    }


class _Turn:
    """Everything one reply is made from."""

    def __init__(self, coach: BuiltinCoach, req: CoachRequest) -> None:
        lex = coach.lexicon
        self.req, self.lex, self.mode = req, lex, req.mode
        turns = [*req.earlier_turns, *req.history]
        self.earlier_own = [t.text for t in turns if t.speaker == "party"]
        self.author_turns = [*self.earlier_own, req.text]
        self.picker = Picker(req.party_name, req.turn_index, [t.text for t in turns if t.speaker == "coach"])
        self.reading = read_message(req.text, req.mode, lex, other_name=req.other_name)
        self.listener = Listener(lex, req.other_name or infer_other_name(self.author_turns))
        self.own = self.listener.listen(req.text, self.earlier_own)
        self.other = req.other_name or lex.coach.default_other[req.mode]

    def pick(self, slot: str, variants: list[str], **fill: str) -> str:
        return self.picker.pick(slot, variants, other=self.other, **fill)

    def fresh(self, slot: str, variants: list[str], **fill: str) -> str | None:
        return self.picker.fresh(slot, variants, other=self.other, **fill)

    def asked(self, variants: list[str]) -> bool:
        return self.picker.said_before(variants)


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
        super().__init__(name, "Private coach: listens, reflects, reality-tests and drafts (offline).")
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
        t = _Turn(self, req)
        lex, mode, reading = self.lexicon, req.mode, t.reading
        phrases = lex.coach
        markers = reading.markers

        if req.flooded:
            return CoachReply(text=" ".join(self._flooded(t)), suggestion="break", markers=markers)
        if req.concern:
            check = [r] if reading.complaint and (r := self._reflection(t, ask=False)) else []
            check.append(t.pick("check_in", phrases.check_ins.for_mode(mode)))
            return CoachReply(text=" ".join(check), markers=markers)
        if reading.process_kind is not None:
            minutes = self.break_minutes.get(mode, 20.0)
            answer = process.answer(reading.process_kind, req, t.other, t.picker, lex, minutes)
            return CoachReply(text=" ".join(answer), markers=markers)
        question = reading.question_kind
        if question == "other_private":
            # Asking for the other side's private words: answered without a hint of them.
            return CoachReply(text=self._question(t, question), markers=markers)
        session = self._session_lines(t)
        if reading.positive:
            text = t.pick("positive", phrases.positive.for_mode(mode))
            return CoachReply(text=" ".join([text, *session]), markers=markers)
        helping = question == "advice" and t.own.account is not None  # "what should I say?" after an account
        if reading.short_kind is not None and not (t.own.feelings_now or helping):
            text = t.pick(f"short:{reading.short_kind}", phrases.short.kinds[reading.short_kind])
            return CoachReply(text=" ".join([*session, text]), markers=markers)
        if question is not None and not reading.complaint and not helping:
            return CoachReply(text=" ".join([*session, self._question(t, question)]), markers=markers)

        main = self._main_horseman(reading)
        lines: list[str] = []
        asking = False  # one question per reply at most
        if main == "defensiveness" and (said := t.own.explanation or t.own.account) and said.to_self:
            lines.append(t.pick("defended", phrases.defended.for_mode(mode), situation=said.to_self))
        # stonewalling asks when they will come back instead; one question per reply
        elif (
            reflection := self._reflection(
                t, ask=question is None and req.cycle_role is None and main != "stonewalling"
            )
        ) is not None:
            lines.append(reflection)
            asking = reflection.rstrip().endswith("?")
        lines += session

        if question in ("blame", "why_other", "advice"):
            lines.append(self._question(t, question))
            asking = True
        elif req.cycle_role is None and main is None and not t.own.feelings_now:
            validations = (
                phrases.validations_parts
                if (req.parts_language and mode is Mode.COUPLE and markers)
                else phrases.validations.for_mode(mode)
            )
            if (line := t.fresh("validation", validations)) is not None:
                lines.append(line)

        for kind in reading.reality_tests()[:2]:
            line = t.fresh(
                f"reality:{kind}",
                phrases.reality_tests.for_marker(kind),
                word=reading.absolute_word or "always",
            )
            if line is not None:
                lines.append(line)

        stance: Stance = "nvc"
        if main == "defensiveness":
            stance = "own_part"
        elif main == "stonewalling":
            stance = "pause"

        suggestion: Literal["cycle", "none"] = "none"
        need_id: str | None = None
        if req.cycle_role is not None:
            cycle: Variants = getattr(phrases.cycle, req.cycle_role)
            if (line := t.fresh(f"cycle:{req.cycle_role}", cycle.for_mode(mode))) is not None:
                lines.append(line)
            need_id = getattr(lex.cycle_topics, req.cycle_role)[mode].needs[0]
            suggestion = "cycle"
        elif need_id is None:
            need_id = self._need_id(t)

        draft = self._draft(t, stance, need_id)
        if stance == "own_part" and draft is not None:
            own = sentences(draft.text)[0]
            hint = t.fresh("ownership_hint", phrases.ownership_hints.for_mode(mode), own=own.rstrip("."))
            if hint is not None:
                lines.append(hint)
        if (
            stance == "pause"
            and not t.own.return_time
            and not asking
            and not t.asked(phrases.return_questions.for_mode(mode))
        ):
            lines.append(t.pick("return_question", phrases.return_questions.for_mode(mode)))
            asking = True
        if (
            stance == "nvc"
            and not asking
            and t.own.account is None
            and not t.own.feelings
            and question is None
            and not t.asked(phrases.follow_ups.for_mode(mode))
        ):
            lines.append(t.pick("follow_up", phrases.follow_ups.for_mode(mode)))

        if draft is not None:
            if (line := t.fresh("draft_offer", phrases.draft_offers.for_mode(mode))) is not None:
                lines.append(line)
            # once a session: without any history to check, only on the first reply
            seen = bool(req.history or req.earlier_turns) or req.turn_index == 0
            notes = phrases.unnamed_feeling_notes.for_mode(mode)
            if stance == "nvc" and not t.own.feelings and seen and not t.asked(notes):
                if (line := t.fresh("unnamed", phrases.unnamed_feeling_notes.for_mode(mode))) is not None:
                    lines.append(line)
            if req.other_name is None:
                if (line := t.fresh("solo_note", phrases.solo_notes.for_mode(mode))) is not None:
                    lines.append(line)
            if req.paused or req.session.on_break is not None:
                if (line := t.fresh("pause_note", phrases.pause_notes)) is not None:
                    lines.append(line)
        return CoachReply(text=" ".join(lines), draft=draft, suggestion=suggestion, markers=markers)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _main_horseman(reading: Reading) -> str | None:
        """The horseman this reply coaches: contempt and criticism first, as the tone guard would."""
        tests = reading.reality_tests()
        for name in ("contempt", "criticism", "defensiveness", "stonewalling"):
            if name in tests or (name in reading.horsemen and not tests):
                return name
        if "defensiveness" in reading.horsemen:
            return "defensiveness"
        if "stonewalling" in reading.horsemen:
            return "stonewalling"
        return None

    def _need_id(self, t: _Turn) -> str:
        """The need they named; else the one their own feeling words point to; else being heard.
        (A need guessed from the topic, "a fairer share of the load", is how stock readings crept in.)"""
        if t.reading.need_stated:
            return t.reading.need
        if t.own.feelings:
            return self.lexicon.feelings[t.listener.groups(t.own.feelings)[0]].needs[0]
        return "understanding"

    def _need(self, t: _Turn) -> str:
        if t.own.need:
            return t.own.need
        return self.lexicon.needs[self._need_id(t)].reflect_for(t.mode)

    def _guess(self, t: _Turn) -> str:
        words = [self.lexicon.feelings[f].for_mode(t.mode)[0] for f in t.reading.feelings]
        return " or ".join(dict.fromkeys(words))

    def _reflection(self, t: _Turn, *, ask: bool) -> str | None:
        """Their account, their feelings, their need; a tentative question where they named none."""
        phrases, mode = self.lexicon.coach, t.mode
        account = t.own.account.to_self if t.own.account is not None else None
        if account and not t.own.account_now and t.picker.said_before(["{x}"], x=account):
            account = None  # already said back; saying it again would be a seam, not listening
        if t.own.feelings:
            feelings = join_words(list(t.own.feelings))
            if account:
                return t.pick(
                    "reflection",
                    phrases.reflections.for_mode(mode),
                    feelings=feelings,
                    situation=account,
                    need=self._need(t),
                )
            return t.pick(
                "reflection_brief",
                phrases.reflections_brief.for_mode(mode),
                feelings=feelings,
                need=self._need(t),
            )
        lines: list[str] = []
        if account:
            lines.append(
                t.pick(
                    "reflection_situation", phrases.reflections_situation.for_mode(mode), situation=account
                )
            )
        tentative = phrases.tentative.for_mode(mode)
        recently = t.picker.said_before(tentative) and t.req.turn_index > 0 and self._asked_last(t, tentative)
        if t.own.need and t.reading.need_stated:
            lines.append(t.pick("need_heard", phrases.needs_heard.for_mode(mode), need=t.own.need))
        memory = bool(t.req.history or t.req.earlier_turns) or t.req.turn_index == 0
        if ask and memory and (account or t.reading.complaint) and not recently:
            guess = self._guess(t)
            if guess and not t.picker.said_before(tentative, guess=guess):
                lines.append(t.pick("tentative", tentative, guess=guess))
        return " ".join(lines) or None

    @staticmethod
    def _asked_last(t: _Turn, variants: list[str]) -> bool:
        last = [turn.text for turn in [*t.req.earlier_turns, *t.req.history] if turn.speaker == "coach"][-1:]
        return bool(last) and Picker("", 0, last).said_before(variants)

    def _session_lines(self, t: _Turn) -> list[str]:
        """What this party may know about the session, said once each time it changes."""
        phrases, mode, facts = self.lexicon.coach, t.mode, t.req.session
        lines: list[str] = []
        brk = facts.on_break
        if brk is not None:
            fill = {"due_back": brk.due_back, "minutes": f"{brk.minutes:g}"}
            variants = (phrases.break_other if brk.by == "other" else phrases.break_self).for_mode(mode)
            if not t.picker.said_before(variants, **fill) and brk.due_back not in t.picker.heard.replace(
                " ", ":"
            ):
                lines.append(t.pick(f"break:{brk.by}", variants, **fill))
        if facts.other_shared and t.req.other_name is not None:
            if (line := t.fresh("other_shared", phrases.other_shared.for_mode(mode))) is not None:
                lines.append(line)
        if facts.agreements_accepted and not t.asked(phrases.agreement_accepted.for_mode(mode)):
            lines.append(t.pick("agreement_accepted", phrases.agreement_accepted.for_mode(mode)))
        return lines

    def _question(self, t: _Turn, kind: str) -> str:
        return t.pick(f"question:{kind}", self.lexicon.coach.questions.kinds[kind])

    def _flooded(self, t: _Turn) -> list[str]:
        """Regulation before words: a reflection, then a break of at least the policy's minutes."""
        breaks, mode = self.lexicon.coach.breaks, t.mode
        minutes = self.break_minutes.get(mode, 20.0)
        shown = str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}"
        lines = [r] if t.reading.complaint and (r := self._reflection(t, ask=False)) else []
        lines.append(t.pick("break_step", breaks.steps.for_mode(mode), minutes=shown))
        lines.append(t.pick("break_soothing", breaks.soothing.for_mode(mode)))
        lines.append(t.pick("break_return", breaks.returns.for_mode(mode)))
        return lines

    def _draft(self, t: _Turn, stance: Stance, need_id: str | None) -> DraftProposal | None:
        """A draft from their own words. The grounding guard and the tone guard run on every one:
        a draft that would invent content or fail the tone guard is never offered."""
        req = t.req
        parts = req.parts_language and t.mode is Mode.COUPLE
        attempts: tuple[Stance, ...] = (stance, "nvc")
        for attempt in attempts:
            draft = build_draft(
                t.own,
                t.reading,
                t.mode,
                t.picker,
                t.author_turns,
                parts_language=parts,
                stance=attempt,
                need_id=need_id,
                lexicon=self.lexicon,
            )
            if draft is None:
                continue
            if not grounding_problems(draft.text, t.author_turns, self.lexicon) and not tone_problems(
                draft.text, self.lexicon
            ):
                return draft
        return None


__all__ = ["BuiltinCoach"]
