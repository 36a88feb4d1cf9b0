"""Turning stock phrases into finished sentences: choosing a variant, filling it, tidying it.

Variety is deterministic: a phrase list is walked one step per turn from a per-person, per-slot
offset (a stable hash, never Python's salted ``hash``), so consecutive turns never repeat a
sentence as long as the list is longer than the window; any variant whose sentences already
appear in the recent conversation is skipped as well (that covers restarts and shared history).
"""

from __future__ import annotations

import re
import string
import zlib
from collections.abc import Iterable, Mapping, Sequence

# Stands in for verbatim text while a frame is tidied, so tidying can never alter approved words.
VERBATIM = "\ue000"

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][”\"’])\s+")
_SPACES = re.compile(r"[ \t]+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_DOUBLED_PUNCT = re.compile(r"([,;:.])\1+")
_PUNCT_AFTER_END = re.compile(r"([.!?])[,;:.]")
_COMMA_BEFORE_END = re.compile(r"[,;:]([.!?])")
_SENTENCE_START = re.compile(r"(^|[.!?][”\"’]?\s+)([“\"‘(]?)([a-z])")
_ARTICLE = re.compile(r"\b([Aa]n?)\s+([“\"]?)([A-Za-z][\w'’-]*)")

# Words whose first sound differs from their first letter.
_VOWEL_SOUND = ("hour", "honest", "honour", "honor", "heir")
_CONSONANT_SOUND = (
    "one",
    "once",
    "use",
    "user",
    "usual",
    "unique",
    "union",
    "unit",
    "universal",
    "university",
    "euro",
    "european",
    "uniform",
    "useful",
    "utility",
)


def stable_hash(*parts: str) -> int:
    """A hash that is the same in every process (``hash()`` is salted per process)."""
    return zlib.crc32("\x1f".join(parts).encode("utf-8"))


def sentences(text: str) -> list[str]:
    """Split text into sentences (good enough for stock phrases and approved drafts)."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def sentence_key(sentence: str) -> str:
    """A sentence, normalised for "has this been said before?" comparisons."""
    return " ".join(re.findall(r"\w+", sentence.lower()))


def _article(match: re.Match[str]) -> str:
    article, quote, word = match.group(1), match.group(2), match.group(3)
    lower = word.lower()
    if lower.startswith(_VOWEL_SOUND):
        wants_an = True
    elif lower.startswith(_CONSONANT_SOUND):
        wants_an = False
    else:
        wants_an = lower[0] in "aeiou"
    fixed = ("An" if article[0] == "A" else "an") if wants_an else ("A" if article[0] == "A" else "a")
    return f"{fixed} {quote}{word}"


def tidy(text: str) -> str:
    """Remove template seams: stray spaces, doubled punctuation, wrong a/an, lowercase sentence starts."""
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _DOUBLED_PUNCT.sub(r"\1", text)
    text = _COMMA_BEFORE_END.sub(r"\1", text)
    text = _PUNCT_AFTER_END.sub(r"\1", text)
    text = _ARTICLE.sub(_article, text)
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2) + m.group(3).upper(), text)


def render(template: str, fill: Mapping[str, str]) -> str:
    """Fill a template strictly (a missing value raises ``KeyError``, never leaves a seam) and tidy it."""
    return tidy(template.format_map(dict(fill)))


def join_words(words: Sequence[str]) -> str:
    """``["anxious", "alone"]`` → ``"anxious and alone"``; three or more get commas."""
    items = [w for w in dict.fromkeys(words) if w]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class Picker:
    """Chooses phrase variants for one reply: rotating with the turn, skipping anything said recently."""

    def __init__(self, seed: str, turn: int, recent: Iterable[str] = ()) -> None:
        self.seed = seed
        self.turn = max(0, turn)
        recent = list(recent)
        self.avoid: set[str] = {sentence_key(s) for text in recent for s in sentences(text)}
        self.heard = " | ".join(" ".join(re.findall(r"\w+", text.lower())) for text in recent)

    def _start(self, slot: str, count: int) -> int:
        return (stable_hash(self.seed, slot) + self.turn) % count

    def choose(self, slot: str, variants: Sequence[str]) -> str:
        """A raw variant (a clause to embed elsewhere), rotated by turn; no tidying, no memory."""
        return variants[self._start(slot, len(variants))]

    def pick(self, slot: str, variants: Sequence[str], **fill: str) -> str:
        """A filled, tidied variant whose sentences were not said recently (or in this reply)."""
        count = len(variants)
        start = self._start(slot, count)
        first: str | None = None
        for step in range(count):
            rendered = render(variants[(start + step) % count], fill)
            keys = {sentence_key(s) for s in sentences(rendered.replace(VERBATIM, ""))}
            if first is None:
                first = rendered
            if not keys & self.avoid:
                self.avoid |= keys
                return rendered
        assert first is not None  # lists are never empty (the lexicon requires variants)
        return first

    def fresh(self, slot: str, variants: Sequence[str], **fill: str) -> str | None:
        """Like :meth:`pick`, but ``None`` when every variant was already said: for sentences a
        reply can do without, so a long session leaves them out rather than repeat one."""
        count = len(variants)
        start = self._start(slot, count)
        for step in range(count):
            rendered = render(variants[(start + step) % count], fill)
            keys = {sentence_key(s) for s in sentences(rendered.replace(VERBATIM, ""))}
            if not keys & self.avoid:
                self.avoid |= keys
                return rendered
        return None

    def said_before(self, variants: Sequence[str], **fill: str) -> bool:
        """Whether any variant was said earlier in the conversation; placeholders not in ``fill``
        match anything ("might it have felt {guess}?" was asked, whatever the guess was)."""
        for variant in variants:
            pattern = ""
            for literal, name, _, _ in string.Formatter().parse(variant):
                pattern += re.escape(" ".join(re.findall(r"\w+", literal.lower())))
                if name is not None:
                    value = fill.get(name)
                    pattern += re.escape(" ".join(re.findall(r"\w+", value.lower()))) if value else ".+?"
                pattern += " ?"
            pattern = pattern.replace("\\ ", " ").strip()
            if pattern and re.search(pattern, self.heard):
                return True
        return False
