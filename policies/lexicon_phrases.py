"""Stock phrases of the builtin coach and mediator (the ``coach``, ``drafts`` and ``mediator``
sections of ``lexicon.yaml``), plus the template checks every phrase list goes through.

Each list names the placeholders it may use and how many variants it needs at least: the builtin
roles rotate through variants turn by turn, so a list shorter than that would make a sentence
repeat within a few consecutive replies (users notice, and stop trusting the coach).
"""

from __future__ import annotations

import re
import string
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from orchestrator.models import Mode

_FORMATTER = string.Formatter()

# (allowed placeholders, required placeholders, minimum number of variants)
Spec = tuple[frozenset[str], frozenset[str], int]


def _spec(allowed: str = "", required: str = "", minimum: int = 6) -> Spec:
    return frozenset(allowed.split()), frozenset(required.split()), minimum


def template_fields(template: str) -> set[str]:
    """The ``{placeholders}`` a template uses (raises ``ValueError`` on unbalanced braces)."""
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name is not None}


def check_templates(
    templates: list[str],
    allowed: frozenset[str] | set[str],
    required: frozenset[str] | set[str] = frozenset(),
    minimum: int = 0,
) -> list[str]:
    """Validate a list of variants: placeholders known and present, no stray spaces, no duplicates."""
    if len(templates) < minimum:
        raise ValueError(f"needs at least {minimum} variants so replies do not repeat; has {len(templates)}")
    for template in templates:
        try:
            used = template_fields(template)
        except ValueError as exc:
            raise ValueError(f"broken template {template!r}: {exc}") from None
        unknown = used - set(allowed)
        if unknown:
            raise ValueError(
                f"template {template!r} uses unknown placeholder(s) {sorted(unknown)}; "
                f"allowed: {sorted(allowed)}"
            )
        missing = set(required) - used
        if missing:
            raise ValueError(f"template {template!r} must use {sorted(missing)}")
        if "  " in template or template != template.strip() or not template:
            raise ValueError(f"template {template!r} has stray or missing spaces")
    if len(set(templates)) != len(templates):
        raise ValueError("duplicate variants: each variant must be different")
    return templates


class Strict(BaseModel):
    """Policy models reject unknown keys, so a misspelt key is reported instead of ignored."""

    model_config = ConfigDict(extra="forbid")


class Variants(Strict):
    """One stock phrase in both registers: ``couple`` (warm) and ``workplace`` (professional)."""

    couple: list[str]
    workplace: list[str]

    def for_mode(self, mode: Mode) -> list[str]:
        return self.workplace if mode is Mode.WORKPLACE else self.couple


class Kinded(Strict):
    """Replies per kind of input (short inputs like "ok", or questions to the coach)."""

    kinds: dict[str, list[str]]


class _Checked(Strict):
    """Base for phrase groups: every field is checked against ``SPEC[field_name]``."""

    SPEC: ClassVar[dict[str, Spec]] = {}

    @field_validator("*")
    @classmethod
    def _check(cls, value: object, info: ValidationInfo) -> object:
        spec = cls.SPEC.get(info.field_name or "")
        if spec is None:
            return value
        allowed, required, minimum = spec
        if isinstance(value, list):
            check_templates(value, allowed, required, minimum)
        elif isinstance(value, Variants):
            check_templates(value.couple, allowed, required, minimum)
            check_templates(value.workplace, allowed, required, minimum)
        elif isinstance(value, Kinded):
            for templates in value.kinds.values():
                check_templates(templates, allowed, required, minimum)
        return value


class RealityTests(_Checked):
    """Gentle reality-testing, one list per marker kind, each ending in that horseman's antidote."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "absolute": _spec("word other", "word", 10),
        "criticism": _spec("other", "", 10),
        "contempt": _spec("other", "", 10),
        "you_accusation": _spec("other", "", 8),
        "defensiveness": _spec("other", "", 8),
        "stonewalling": _spec("other", "", 8),
    }
    absolute: list[str]
    criticism: list[str]
    contempt: list[str]
    you_accusation: list[str]
    defensiveness: list[str]
    stonewalling: list[str]

    def for_marker(self, marker: str) -> list[str]:
        return list(getattr(self, marker))


class Breaks(_Checked):
    """A flooding break (Gottman): at least the policy's minutes, soothe instead of rehearsing
    grievances, agree a return time ("I need a moment, but I'm not leaving")."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "steps": _spec("minutes other", "minutes", 8),
        "soothing": _spec("other", "", 8),
        "returns": _spec("other", "", 8),
    }
    steps: Variants
    soothing: Variants
    returns: Variants


class Cycle(_Checked):
    """Naming the pursue–withdraw cycle as the common enemy, differently for each role."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "pursuer": _spec("other", "", 6),
        "withdrawer": _spec("other", "", 6),
    }
    pursuer: Variants
    withdrawer: Variants


class ProcessAnswers(_Checked):
    """Answers to questions about the process, one list per state of the session (as this party may
    know it). ``{due_back}`` is the break's end as the room's notice shows it (HH:MM)."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "leaving_break": _spec("other due_back minutes", "other due_back", 3),
        "leaving_not_joined": _spec("other", "", 3),
        "leaving_present": _spec("other", "other", 3),
        "leaving_self_break": _spec("other due_back", "due_back", 3),
        "own_break": _spec("other minutes", "minutes", 3),
        "reassurance": _spec("other", "", 4),
        "when_back_other": _spec("other due_back minutes", "due_back", 3),
        "when_back_self": _spec("other due_back minutes", "due_back", 3),
        "when_back_none": _spec("other", "", 3),
        "see_this": _spec("other", "", 3),
        "see_this_not_joined": _spec("other", "", 3),
        "see_this_pending": _spec("other", "", 3),
        "see_this_waiting": _spec("other", "", 3),
        "see_this_shared": _spec("other", "", 3),
        "take_back_none": _spec("other", "", 3),
        "take_back_pending": _spec("other", "", 3),
        "take_back_waiting": _spec("other", "", 3),
        "take_back_shared": _spec("other", "", 3),
    }
    leaving_break: list[str]
    leaving_not_joined: list[str]
    leaving_present: list[str]
    leaving_self_break: list[str]
    own_break: list[str]  # "will he think I'm leaving?": what the other hears if this party pauses
    reassurance: list[str]
    when_back_other: list[str]
    when_back_self: list[str]
    when_back_none: list[str]
    see_this: list[str]
    see_this_not_joined: list[str]
    see_this_pending: list[str]
    see_this_waiting: list[str]
    see_this_shared: list[str]
    take_back_none: list[str]
    take_back_pending: list[str]
    take_back_waiting: list[str]
    take_back_shared: list[str]
    # what happens next, per stage as this room shows it (plus the two sides of a break)
    what_next: dict[str, list[str]]

    @field_validator("what_next")
    @classmethod
    def _what_next(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        needed = {
            "intake",
            "waiting",
            "ready_check",
            "joint",
            "agreement",
            "paused_other",
            "paused_self",
            "closed",
        }
        missing = needed - set(value)
        if missing:
            raise ValueError(f"what_next needs answers for {sorted(missing)}")
        for templates in value.values():
            check_templates(templates, {"other", "due_back", "minutes"}, set(), 2)
        return value

    # process kinds that have answers (the lexicon checks its process questions against these)
    @property
    def kinds(self) -> set[str]:
        return {"leaving", "own_break", "when_back", "see_this", "take_back", "what_next"}


class CoachPhrases(_Checked):
    """What the builtin coach says around the draft."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "reflections": _spec("feelings need situation other", "feelings need situation", 10),
        "reflections_brief": _spec("feelings need other", "feelings need", 8),
        "reflections_situation": _spec("situation need other", "situation", 8),
        "tentative": _spec("guess other", "guess", 6),
        "needs_heard": _spec("need other", "need", 6),
        "defended": _spec("situation other", "situation", 6),
        "ownership_hints": _spec("own other", "own", 6),
        "return_questions": _spec("other", "", 6),
        "break_other": _spec("other due_back minutes", "due_back", 4),
        "break_self": _spec("other due_back minutes", "due_back", 4),
        "other_shared": _spec("other", "", 4),
        "agreement_accepted": _spec("other", "", 4),
        "unnamed_feeling_notes": _spec("other", "", 4),
        "validations": _spec("other", "", 10),
        "validations_parts": _spec("other", "", 10),
        "follow_ups": _spec("other", "", 10),
        "draft_offers": _spec("other", "", 10),
        "solo_notes": _spec("other", "", 6),
        "pause_notes": _spec("other", "", 6),
        "check_ins": _spec("other", "", 6),
        "positive": _spec("other", "", 6),
        "short": _spec("other", "", 4),
        "questions": _spec("other", "", 4),
    }
    default_other: dict[Mode, str]  # "your partner" / "your colleague" while the other is not there
    # {situation} is the person's own account, {feelings} their own feeling words
    reflections: Variants
    reflections_brief: Variants  # feelings given, no situation yet
    reflections_situation: Variants  # a situation, no feeling words: a tentative question follows
    tentative: Variants  # "might it have felt {guess}?": a guess offered, never asserted
    needs_heard: Variants  # the need they named, said back in their words
    defended: Variants  # defensiveness: the wish to be understood, in their own words
    ownership_hints: Variants  # the antidote to defensiveness, with a sentence they could own
    return_questions: Variants  # stonewalling: when could they come back?
    break_other: Variants  # the other person is on a break (a held session reads the same)
    break_self: Variants
    other_shared: Variants
    agreement_accepted: Variants
    unnamed_feeling_notes: Variants  # the draft leaves the feeling for them to name
    process: ProcessAnswers
    validations: Variants
    validations_parts: list[str]
    reality_tests: RealityTests
    follow_ups: Variants
    draft_offers: Variants
    solo_notes: Variants
    pause_notes: list[str]
    check_ins: Variants
    breaks: Breaks
    cycle: Cycle
    positive: Variants
    short: Kinded
    questions: Kinded


class DraftPhrases(_Checked):
    """The NVC frames a draft is built from: observation, feeling, need, then the request.

    Every word a frame adds must be in ``neutral_words``: the grounding guard
    (:mod:`agents.builtin.grounding`) allows a draft no other words than the author's own."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "frames": _spec("observation feelings because", "observation feelings because", 6),
        "frames_unnamed": _spec("observation because", "observation because", 4),
        "parts_frames": _spec("observation feelings because part need_noun", "observation", 6),
        "parts_frames_unnamed": _spec("observation because", "observation", 4),
        "neutral_observations": _spec("", "", 3),
        "request_frames": _spec("request", "request", 6),
        "repairs": _spec("", "", 4),
        "ownership_acts": _spec("act", "act", 4),
        "ownerships": _spec("", "", 4),
        "pauses_timed": _spec("when", "when", 4),
        "pauses": _spec("", "", 4),
    }
    frames: Variants
    frames_unnamed: Variants  # no feeling words from the author: the draft does not supply one
    parts_frames: list[str]
    parts_frames_unnamed: list[str]
    neutral_observations: Variants  # when the author gave no situation the draft can use
    request_frames: Variants
    repairs: Variants
    ownership_acts: Variants  # defensiveness: owning a part, with the act the author denied
    ownerships: Variants
    pauses_timed: Variants  # stonewalling: a pause with the return time the author named
    pauses: Variants
    neutral_words: list[str] = Field(min_length=50)


class MutualRules(Strict):
    """Turning one person's request into an agreement both shape (seed 000: boundaries become
    mutual agreements). ``swaps`` are applied in order; ``boundaries`` spot restrictions."""

    swaps: list[tuple[str, str]] = Field(min_length=1)
    boundaries: list[str] = Field(min_length=1)

    @field_validator("swaps")
    @classmethod
    def _swaps_compile(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for pattern, _ in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value

    @field_validator("boundaries")
    @classmethod
    def _boundaries_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value


class MediatorPhrases(_Checked):
    """What the builtin mediator wraps around approved text."""

    SPEC: ClassVar[dict[str, Spec]] = {
        "openings": _spec("names", "", 8),
        "attributions": _spec("author other text", "author text", 10),
        "attributions_again": _spec("author text", "author text", 4),
        "acknowledgements": _spec("author other", "other", 10),
        "request_acks": _spec("author other", "other", 8),
        "both_shared": _spec("names", "", 6),
        "agreement_frames": _spec("action", "action", 3),
        "boundary_agreements": _spec("topic", "topic", 2),
        "generic_agreements": _spec("", "", 2),
    }
    openings: Variants
    attributions: Variants
    attributions_again: Variants
    acknowledgements: Variants
    request_acks: Variants
    both_shared: Variants
    agreement_frames: list[str]
    boundary_agreements: list[str]
    generic_agreements: list[str]
    mutual: MutualRules
