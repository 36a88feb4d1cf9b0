"""The grounding guard: a draft may say only what its author said, in NVC's neutral words.

A draft is offered to its author as *their* message, and once approved it is shared as theirs. If it
names a situation, person, time or topic the author never mentioned ("time with family fills the
weekend"), it puts words in their mouth. The check is plain and strict: every content word of the
draft (not a function word such as "the", "when", "I") must occur in the author's own turns of this
session, or in the neutral NVC vocabulary (``drafts.neutral_words`` in ``policies/lexicon.yaml``:
the words the frames, requests and needs are made of, and no topic words). Words are compared by a
crude stem, so "ignoring" covers "ignored" and "texts" covers "text".

Feeling words are deliberately *not* neutral: a draft may only use a feeling its author named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from policies.lexicon import Lexicon, get_lexicon, strip_apostrophes

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Grammar, not policy: pronouns, articles, auxiliaries, prepositions, conjunctions, negations, and
# contractions as they look once apostrophes are dropped ("don't" -> "dont").
FUNCTION_WORDS = frozenset(
    """
    a an the i me my mine myself you your yours yourself we us our ours ourselves he him his himself
    she her hers herself they them their theirs themselves it its itself this that these those
    who whom whose which what when where why how whether if then than so as because since while
    though although until till unless once and or but nor not no yes
    am is are was were be been being have has had having do does did doing done
    will would shall should can could may might must
    to of in on at by for with without from into onto about over under after before between
    through during up down out off again further here there both each either neither
    any some all more most other such own same only just too very also even still really quite
    much many few little lot lots rather almost already yet ever
    im ive id ill youre youve youd youll hes shes were weve wed well theyre theyve theyd theyll
    its thats theres heres whats whos dont doesnt didnt cant couldnt wont wouldnt shouldnt isnt
    arent wasnt werent havent hasnt hadnt mustnt lets
    one ones something anything everything nothing someone anyone everyone thing things way
    """.split()
)


def stem(word: str) -> str:
    """A crude stem: good enough to match "ignoring" with "ignored", "families" with "family"."""
    w = word.lower()
    for suffix in ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "s", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("i" if suffix in ("ies", "ied") else "")
            break
    if w.endswith("y"):
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def words(text: str) -> list[str]:
    """Lowercase words with apostrophes dropped ("I'm" -> "im")."""
    return _WORD.findall(strip_apostrophes(text).lower())


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry content (not function words, not numbers alone)."""
    return [w for w in words(text) if w not in FUNCTION_WORDS and not w.isdigit()]


@lru_cache(maxsize=4)
def _neutral_stems(lexicon_id: int, neutral: tuple[str, ...]) -> frozenset[str]:
    return frozenset(stem(w) for phrase in neutral for w in words(phrase))


def neutral_stems(lexicon: Lexicon | None = None) -> frozenset[str]:
    """Stems of the neutral NVC vocabulary a draft may add to the author's words."""
    lex = lexicon or get_lexicon()
    return _neutral_stems(id(lex), tuple(lex.drafts.neutral_words))


def invented_words(draft: str, author_turns: Iterable[str], lexicon: Lexicon | None = None) -> list[str]:
    """Content words of ``draft`` found neither in ``author_turns`` nor in the neutral vocabulary.

    ``[]`` means the draft is grounded. Returns the words themselves: the caller holds them only in
    memory (they are the coach's own output, never logged).
    """
    own = {stem(w) for turn in author_turns for w in words(turn)}
    allowed = own | neutral_stems(lexicon)
    return list(dict.fromkeys(w for w in content_words(draft) if stem(w) not in allowed))


def grounding_problems(draft: str, author_turns: Iterable[str], lexicon: Lexicon | None = None) -> list[str]:
    """Guard form of :func:`invented_words`: ``["grounding:invented_words:N"]`` or ``[]`` (safe to log)."""
    found = invented_words(draft, author_turns, lexicon)
    return [f"grounding:invented_words:{len(found)}"] if found else []
