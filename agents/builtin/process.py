"""Answers to questions about the process itself, from the session's state as this party may know it.

"Is Sam leaving me?" during a break gets the break's facts (an agreed pause, when Sam is due back,
not leaving) and reassurance before anything else (seed 001). "Will she see this?", "what happens
now?", "can I take back what I sent?" are answered from the stage and this party's own drafts. The
facts come from :class:`agents.interfaces.SessionFacts`, which never carries the other room's words
or safety state (a held session reads exactly like a break).
"""

from __future__ import annotations

from agents.builtin.phrasing import Picker
from agents.interfaces import CoachRequest
from policies.lexicon import Lexicon


def _minutes(minutes: float) -> str:
    return str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}"


def answer(
    kind: str, req: CoachRequest, other: str, picker: Picker, lex: Lexicon, break_minutes: float
) -> list[str]:
    """The sentences answering a process question of ``kind`` (see ``process_questions``);
    ``break_minutes`` is the protocol's break length, for a break not yet taken."""
    answers = lex.coach.process
    facts = req.session
    brk = facts.on_break
    fill = {"other": other, "minutes": _minutes(break_minutes)}
    if brk is not None:
        fill |= {"due_back": brk.due_back, "minutes": _minutes(brk.minutes)}
    joined = req.other_name is not None

    def say(slot: str, variants: list[str]) -> str:
        return picker.pick(f"process:{slot}", variants, **fill)

    if kind == "leaving":
        if not joined:
            return [say("leaving_not_joined", answers.leaving_not_joined)]
        if brk is not None and brk.by == "other":
            return [say("leaving_break", answers.leaving_break), say("reassurance", answers.reassurance)]
        if brk is not None:
            return [say("leaving_self_break", answers.leaving_self_break)]
        return [say("leaving_present", answers.leaving_present), say("reassurance", answers.reassurance)]
    if kind == "own_break":
        if brk is not None and brk.by == "you":
            return [say("leaving_self_break", answers.leaving_self_break)]
        return [say("own_break", answers.own_break)]
    if kind == "when_back":
        if brk is None:
            return [say("when_back_none", answers.when_back_none)]
        slot = "when_back_other" if brk.by == "other" else "when_back_self"
        return [say(slot, getattr(answers, slot))]
    if kind == "see_this":
        lines = [say("see_this", answers.see_this)]
        if not joined:
            lines.append(say("see_this_not_joined", answers.see_this_not_joined))
        elif facts.drafts_shared:
            lines.append(say("see_this_shared", answers.see_this_shared))
        elif facts.drafts_waiting:
            lines.append(say("see_this_waiting", answers.see_this_waiting))
        elif facts.drafts_pending:
            lines.append(say("see_this_pending", answers.see_this_pending))
        return lines
    if kind == "take_back":
        if facts.drafts_waiting:
            slot = "take_back_waiting"
        elif facts.drafts_shared:
            slot = "take_back_shared"
        elif facts.drafts_pending:
            slot = "take_back_pending"
        else:
            slot = "take_back_none"
        return [say(slot, getattr(answers, slot))]
    # what_next
    stage = req.stage
    if brk is not None:
        stage = "paused_other" if brk.by == "other" else "paused_self"
    elif not joined:
        stage = "waiting"
    elif stage == "paused":  # the break is over; the readiness check comes next
        stage = "ready_check"
    variants = answers.what_next.get(stage) or answers.what_next["joint"]
    return [say(f"what_next:{stage}", variants)]
