"""Technique lexicons (``lexicon.yaml``): the words the builtin coach, the builtin mediator and the
output guards work with.

Gottman's Four Horsemen markers and their antidotes, absolutes, "you"-accusations, intensity, the
NVC feelings and needs lexicons, conversation topics (what people complain about, mapped to likely
feelings, needs, neutral observations and doable requests), parts-language and repair phrases, and
every stock phrase the builtin roles say, each with many variants so nothing repeats.

Patterns are matched against :func:`prepare`-d text: lowercased, NFKC-normalised, apostrophes
removed. Apostrophes are removed from the patterns too before compiling, so a reviewer can write
``you're`` and it matches "you're", "you’re" and "youre" alike.

Templates are ``str.format`` strings. Each list declares which ``{placeholders}`` it may use (and
must use); a template with an unknown or missing placeholder fails at load time with the file and
the field named, so a typo can never reach a person as a visible ``{seam}``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cached_property
from typing import cast

from pydantic import Field, ValidationInfo, field_validator, model_validator

from orchestrator.models import Mode
from policies.lexicon_phrases import (
    CoachPhrases,
    DraftPhrases,
    MediatorPhrases,
    check_templates,
    template_fields,
)
from policies.lexicon_phrases import Strict as _Strict
from policies.loader import cached_policy

LEXICON_FILE = "lexicon.yaml"
_APOSTROPHE_MARKS = "'’‘`´ʼ"
_APOSTROPHES = str.maketrans("", "", _APOSTROPHE_MARKS)
_SPACES = re.compile(r"\s+")


def strip_apostrophes(text: str) -> str:
    """Drop apostrophes (str.replace: ``str.translate`` was the slowest step of the tone guard)."""
    for mark in _APOSTROPHE_MARKS:
        if mark in text:
            text = text.replace(mark, "")
    return text


def prepare(text: str) -> str:
    """Text as every lexicon pattern sees it: NFKC, lowercase, no apostrophes, single spaces."""
    folded = strip_apostrophes(unicodedata.normalize("NFKC", text)).lower()
    return _SPACES.sub(" ", folded).strip()


class LexPattern:
    """A compiled lexicon pattern, matched against :func:`prepare`-d (lowercase) text.

    A leading ``\\b`` is checked by hand after the match: with it in the regex, Python's engine can
    no longer skip ahead by first character, and every scan was about three times slower (the
    guards run on every published message, the coach on every private one).
    """

    __slots__ = ("pattern", "_bounded", "_regex")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern.translate(_APOSTROPHES)
        self._bounded = self.pattern.startswith("\\b")
        self._regex = re.compile(self.pattern[2:] if self._bounded else self.pattern)

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        while True:
            match = self._regex.search(text, pos)
            if match is None or not self._bounded:
                return match
            start = match.start()
            if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
                return match
            pos = start + 1

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        pos = 0
        while pos <= len(text) and (match := self.search(text, pos)) is not None:
            yield match
            pos = max(match.end(), match.start() + 1)


def compile_pattern(pattern: str) -> LexPattern:
    """Compile a lexicon pattern the way :func:`prepare` shapes text (apostrophes dropped). Text is
    already lowercase, so patterns are case-sensitive (``IGNORECASE`` costs ~20% per scan)."""
    return LexPattern(pattern)


_UPPERCASE = re.compile(r"(?<!\\)[A-Z]")


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        if _UPPERCASE.search(pattern):
            raise ValueError(f"pattern {pattern!r} has capital letters; text is lowercased before matching")
        try:
            compile_pattern(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return patterns


def _alternation(words: list[str]) -> str:
    escaped = sorted((re.escape(w.translate(_APOSTROPHES).lower()) for w in words), key=len, reverse=True)
    return "(?:" + "|".join(escaped) + ")"


# --- markers -------------------------------------------------------------------------------------
class Marker(_Strict):
    """One named pattern. Guards report its ``id``, never the matched words (no private text in logs)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _check_patterns([value])[0]

    @cached_property
    def regex(self) -> LexPattern:
        return compile_pattern(self.pattern)


class Horseman(_Strict):
    """One of Gottman's Four Horsemen, how to spot it, and its antidote.

    ``markers`` are tone problems anywhere (a shared message carrying one goes back to its author);
    ``cues`` are softer signs the coach recognises in private ("my phone was in my bag") that would
    be unfair to block in a shared message."""

    antidote: str
    markers: list[Marker] = Field(min_length=1)
    cues: list[Marker] = Field(default_factory=list)

    def find(self, prepared: str) -> list[str]:
        return [m.id for m in self.markers if m.regex.search(prepared)]

    def recognise(self, prepared: str) -> list[str]:
        """Markers and cues: what the coach reads in a private message."""
        return self.find(prepared) + [m.id for m in self.cues if m.regex.search(prepared)]


class Horsemen(_Strict):
    criticism: Horseman
    contempt: Horseman
    defensiveness: Horseman
    stonewalling: Horseman

    def items(self) -> list[tuple[str, Horseman]]:
        return [
            ("criticism", self.criticism),
            ("contempt", self.contempt),
            ("defensiveness", self.defensiveness),
            ("stonewalling", self.stonewalling),
        ]


class Insults(_Strict):
    """Name-calling: nouns are contempt anywhere; adjectives only when aimed (``frames``) at someone,
    so "I felt so stupid" (a vulnerable share) is not flagged but "you're so stupid" is."""

    nouns: list[str] = Field(min_length=1)
    adjectives: list[str] = Field(min_length=1)
    frames: list[str] = Field(min_length=1)

    @field_validator("frames")
    @classmethod
    def _frames_compile(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @cached_property
    def _patterns(self) -> tuple[LexPattern, LexPattern]:
        frames = "(?:" + "|".join(f.translate(_APOSTROPHES) for f in self.frames) + ")"
        nouns = LexPattern(rf"\b{_alternation(self.nouns)}s?(?![\w-])")
        aimed = LexPattern(rf"\b{frames}\s+(?:\w+\s+){{0,2}}?{_alternation(self.adjectives)}\b")
        return nouns, aimed

    def search(self, prepared: str) -> bool:
        """Name-calling in ``prepared`` text (a noun inside a hyphenated word, "knee-jerk", is not)."""
        nouns, aimed = self._patterns
        if any(m.start() == 0 or prepared[m.start() - 1] != "-" for m in nouns.finditer(prepared)):
            return True
        return aimed.search(prepared) is not None


class Absolutes(_Strict):
    """Absolute words. Only ``directed`` ones ("you always", "every time you") are a tone problem;
    "I never thought of it that way" is not. The coach reality-tests any absolute inside a complaint."""

    words: list[str] = Field(min_length=1)
    directed: list[Marker] = Field(min_length=1)

    @cached_property
    def word_regex(self) -> LexPattern:
        return LexPattern(r"\b" + _alternation(self.words) + r"\b")

    def first_word(self, prepared: str) -> str | None:
        found = self.word_regex.search(prepared)
        return found.group(0) if found else None

    def find_directed(self, prepared: str) -> list[str]:
        return [m.id for m in self.directed if m.regex.search(prepared)]


class Intensity(_Strict):
    """Signs of a raised voice in writing: intensity words, SHOUTING, repeated ?!."""

    words: list[str] = Field(min_length=1)
    caps_min_letters: int = Field(default=3, ge=2)
    acronyms: list[str] = Field(default_factory=list)  # all-caps words that are not shouting
    repeated_punctuation: str = r"[!?]{2,}"

    @field_validator("repeated_punctuation")
    @classmethod
    def _punct_compiles(cls, value: str) -> str:
        return _check_patterns([value])[0]

    @cached_property
    def word_regex(self) -> LexPattern:
        return LexPattern(r"\b" + _alternation(self.words) + r"\b")

    @cached_property
    def punctuation_regex(self) -> re.Pattern[str]:
        return re.compile(self.repeated_punctuation)

    @cached_property
    def _caps(self) -> tuple[re.Pattern[str], frozenset[str]]:
        return re.compile(rf"\b[A-Z]{{{self.caps_min_letters},}}\b"), frozenset(
            a.upper() for a in self.acronyms
        )

    def shouted(self, raw: str) -> list[str]:
        """All-caps words in the raw (not lowercased) text, acronyms excepted."""
        pattern, allowed = self._caps
        return [w for w in pattern.findall(strip_apostrophes(raw)) if w not in allowed]


# --- feelings, needs, topics ---------------------------------------------------------------------
class Feeling(_Strict):
    """A group of feelings: what people say (``cues``, faux feelings like "ignored" included) and
    the true feeling words to mirror back (``words``; ``workplace`` for the professional register)."""

    words: list[str] = Field(min_length=1)
    workplace: list[str] = Field(min_length=1)
    # other true feeling words people use for this group; the coach mirrors them back as said
    said: list[str] = Field(default_factory=list)
    part: str  # adjective for parts language: "my anxious part"
    cues: list[str] = Field(min_length=1)
    needs: list[str] = Field(min_length=1)

    @field_validator("cues")
    @classmethod
    def _cues_compile(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @cached_property
    def regexes(self) -> list[LexPattern]:
        return [compile_pattern(c) for c in self.cues]

    def for_mode(self, mode: Mode) -> list[str]:
        return self.workplace if mode is Mode.WORKPLACE else self.words


class Need(_Strict):
    """An NVC need. ``reflect`` reads after "you need" and after "what you need is"; ``because``
    is a first-person clause that reads after "because"."""

    noun: str
    reflect: str
    because: str
    reflect_workplace: str | None = None
    because_workplace: str | None = None
    cues: list[str] = Field(default_factory=list)
    # doable requests in neutral words only (drafts.neutral_words): after "Would you be willing to"
    asks: list[str] = Field(min_length=2)

    @field_validator("cues")
    @classmethod
    def _cues_compile(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @field_validator("asks")
    @classmethod
    def _asks(cls, value: list[str]) -> list[str]:
        check_templates(value, set())
        for clause in value:
            if clause[-1] in ".?!,;:" or clause.lower().startswith("would you"):
                raise ValueError(
                    f"asks clause {clause!r} must be a bare clause (no 'would you', no final punctuation)"
                )
        return value

    @cached_property
    def regexes(self) -> list[LexPattern]:
        return [compile_pattern(c) for c in self.cues]

    def reflect_for(self, mode: Mode) -> str:
        return (self.reflect_workplace if mode is Mode.WORKPLACE else None) or self.reflect

    def because_for(self, mode: Mode) -> str:
        return (self.because_workplace if mode is Mode.WORKPLACE else None) or self.because


class Topic(_Strict):
    """What a message is about, and the neutral words a draft uses for it (never the party's own).

    ``situation`` is second person (after "when"), ``observations`` first person (after "When"),
    ``requests`` read after "Would you be willing to"."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    cues: list[str] = Field(default_factory=list)  # empty: the fallback topic
    feelings: list[str] = Field(min_length=1)
    needs: list[str] = Field(min_length=1)
    situation: str
    observations: list[str] = Field(min_length=2)
    requests: list[str] = Field(min_length=2)
    repair: bool = False  # open the draft with a repair phrase ("I'm not going anywhere.")

    @field_validator("cues")
    @classmethod
    def _cues_compile(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @field_validator("situation")
    @classmethod
    def _situation(cls, value: str) -> str:
        check_templates([value], {"other"})
        return value

    @field_validator("observations", "requests")
    @classmethod
    def _clauses(cls, value: list[str], info: ValidationInfo) -> list[str]:
        check_templates(value, set())
        for clause in value:
            if clause[-1] in ".?!,;:" or clause.lower().startswith(("when ", "would you")):
                raise ValueError(
                    f"{info.field_name} clause {clause!r} must be a bare clause (no leading "
                    "'when'/'would you', no final punctuation)"
                )
        return value

    @cached_property
    def regexes(self) -> list[LexPattern]:
        return [compile_pattern(c) for c in self.cues]

    def score(self, prepared: str) -> int:
        return sum(1 for r in self.regexes if r.search(prepared))


class Topics(_Strict):
    couple: list[Topic] = Field(min_length=2)
    workplace: list[Topic] = Field(min_length=2)

    @field_validator("couple", "workplace")
    @classmethod
    def _one_fallback(cls, value: list[Topic]) -> list[Topic]:
        fallbacks = [t.id for t in value if not t.cues]
        if len(fallbacks) != 1:
            raise ValueError(f"exactly one topic must have no cues (the fallback); found {fallbacks}")
        return value

    def for_mode(self, mode: Mode) -> list[Topic]:
        return self.workplace if mode is Mode.WORKPLACE else self.couple


class CycleTopics(_Strict):
    """Drafts for the pursue–withdraw cycle, one per role and mode."""

    pursuer: dict[Mode, Topic]
    withdrawer: dict[Mode, Topic]


class Kinds(_Strict):
    """Named patterns that classify short inputs or questions to the coach."""

    kinds: dict[str, list[str]]

    @field_validator("kinds")
    @classmethod
    def _compile(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for patterns in value.values():
            _check_patterns(patterns)
        return value

    @cached_property
    def regexes(self) -> dict[str, list[LexPattern]]:
        return {k: [compile_pattern(p) for p in ps] for k, ps in self.kinds.items()}

    def classify(self, prepared: str) -> str | None:
        for kind, regexes in self.regexes.items():
            if any(r.search(prepared) for r in regexes):
                return kind
        return None


class ShortInputs(Kinds):
    max_words: int = Field(default=3, ge=1)


class Positive(_Strict):
    """Good news rather than a complaint ("we had a good talk"), unless negated ("not happy")."""

    cues: list[str] = Field(min_length=1)
    negations: list[str] = Field(default_factory=list)

    @field_validator("cues", "negations")
    @classmethod
    def _compile(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @cached_property
    def regexes(self) -> tuple[list[LexPattern], list[LexPattern]]:
        return [compile_pattern(p) for p in self.cues], [compile_pattern(p) for p in self.negations]

    def matches(self, prepared: str) -> bool:
        cues, negations = self.regexes
        return any(r.search(prepared) for r in cues) and not any(r.search(prepared) for r in negations)


class Lexicon(_Strict):
    """Everything in ``lexicon.yaml``."""

    version: int = 1
    horsemen: Horsemen
    insults: Insults
    absolutes: Absolutes
    you_accusations: list[Marker] = Field(min_length=1)
    intensity: Intensity
    feelings: dict[str, Feeling] = Field(min_length=3)
    needs: dict[str, Need] = Field(min_length=3)
    topics: Topics
    cycle_topics: CycleTopics
    short_inputs: ShortInputs
    questions: Kinds
    process_questions: Kinds  # questions about the process itself, answered from the session's state
    positive: Positive
    coach: CoachPhrases
    drafts: DraftPhrases
    mediator: MediatorPhrases

    @model_validator(mode="after")
    def _references(self) -> Lexicon:
        """Topics and feelings may only name feelings and needs that exist."""
        problems: list[str] = []
        for name, feeling in self.feelings.items():
            problems += [
                f"feelings.{name}.needs: unknown need {n!r}" for n in feeling.needs if n not in self.needs
            ]
        topics = [(f"topics.{m}", t) for m in ("couple", "workplace") for t in getattr(self.topics, m)]
        topics += [
            (f"cycle_topics.{r}.{m.value}", t)
            for r in ("pursuer", "withdrawer")
            for m, t in getattr(self.cycle_topics, r).items()
        ]
        for where, topic in topics:
            problems += [
                f"{where}.{topic.id}.feelings: unknown feeling {f!r}"
                for f in topic.feelings
                if f not in self.feelings
            ]
            problems += [
                f"{where}.{topic.id}.needs: unknown need {n!r}" for n in topic.needs if n not in self.needs
            ]
        for role in ("pursuer", "withdrawer"):
            missing = {Mode.COUPLE, Mode.WORKPLACE} - set(getattr(self.cycle_topics, role))
            problems += [f"cycle_topics.{role}: missing mode {m.value!r}" for m in sorted(missing)]
        for kind in self.short_inputs.kinds:
            if kind not in self.coach.short.kinds:
                problems.append(f"coach.short: no replies for short input kind {kind!r}")
        for kind in self.questions.kinds:
            if kind not in self.coach.questions.kinds:
                problems.append(f"coach.questions: no replies for question kind {kind!r}")
        for kind in self.process_questions.kinds:
            if kind not in self.coach.process.kinds:
                problems.append(f"coach.process: no answers for process question kind {kind!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def get_lexicon() -> Lexicon:
    """The lexicon from the policy folder, loaded and validated once (``policies.loader.clear_cache``
    forgets it). Raises :class:`~orchestrator.errors.PolicyError` naming the file and field."""
    return cast(Lexicon, cached_policy(LEXICON_FILE, Lexicon))


__all__ = [
    "LEXICON_FILE",
    "Lexicon",
    "Marker",
    "Horseman",
    "Feeling",
    "Need",
    "Topic",
    "get_lexicon",
    "prepare",
    "compile_pattern",
    "LexPattern",
    "template_fields",
]
