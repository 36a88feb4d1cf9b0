"""Output guards, run on every shared message (builtin or LLM) before it is published.

* :func:`tone_problems` — Four Horsemen markers, name-calling, absolutes aimed at the other person,
  accusing "you"-statements, SHOUTING and repeated ?!. Decision, documented and tested: an absolute
  is a problem when it is aimed at the other person ("you always…", "every time you…"), not every
  "never" — "I never thought of it that way" and "we always have fun" pass.
* :func:`leak_problems` — any run of ``n`` consecutive words from a party's private text that is
  not covered by text its author approved (privacy by construction: DOMAIN §5).
* :func:`length_problems` — outside the allowed size.
* :func:`soften` — a gentler rewrite to offer an author whose approved draft failed the tone guard
  (the draft itself is returned to its author, never shared).

Problems are reported as stable ids (``"contempt:name_calling"``), never as the matched words, so
they are safe to log and count. All functions are pure and cheap (precompiled patterns, sets).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import OrderedDict

from orchestrator.models import Mode
from policies.lexicon import Lexicon, get_lexicon, prepare, strip_apostrophes

_WORD = re.compile(r"\w+")
_FIRST_PERSON = re.compile(r"^(i|im|ive|id|my|we|our)\b")


def normalise_words(text: str) -> list[str]:
    """Words for comparison: NFKC, lowercase, apostrophes dropped (don't → dont), punctuation gone."""
    folded = strip_apostrophes(unicodedata.normalize("NFKC", text)).lower()
    return _WORD.findall(folded.replace("_", " "))


_TONE_MEMO: OrderedDict[bytes, tuple[str, ...]] = OrderedDict()
_TONE_MEMO_SIZE = 4096
_tone_memo_lexicon: list[Lexicon] = []  # the lexicon the memo's answers came from


def tone_problems(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """Tone problems in ``text`` as sorted ``"kind:marker_id"`` strings; ``[]`` means fine to share.

    One draft is checked several times on its way (the coach proposing it, the session offering
    it, the share), so results for the process's lexicon are remembered, keyed by a digest of the
    text: the memo holds no private words, only digests and marker ids.
    """
    if lexicon is not None:
        return _tone_problems(text, lexicon)
    lex = get_lexicon()
    if not _tone_memo_lexicon or _tone_memo_lexicon[0] is not lex:  # policies were reloaded
        _TONE_MEMO.clear()
        _tone_memo_lexicon[:] = [lex]
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    found = _TONE_MEMO.get(key)
    if found is None:
        found = tuple(_tone_problems(text, lex))
        _TONE_MEMO[key] = found
        if len(_TONE_MEMO) > _TONE_MEMO_SIZE:
            _TONE_MEMO.popitem(last=False)
    else:
        _TONE_MEMO.move_to_end(key)
    return list(found)


def _tone_problems(text: str, lex: Lexicon) -> list[str]:
    prepared = prepare(text)
    found: set[str] = set()
    for name, horseman in lex.horsemen.items():
        found.update(f"{name}:{marker}" for marker in horseman.find(prepared))
    if lex.insults.search(prepared):
        found.add("contempt:name_calling")
    found.update(f"absolute:{marker}" for marker in lex.absolutes.find_directed(prepared))
    found.update(f"you_accusation:{m.id}" for m in lex.you_accusations if m.regex.search(prepared))
    if lex.intensity.shouted(text):
        found.add("intensity:shouting")
    if lex.intensity.punctuation_regex.search(text):
        found.add("intensity:repeated_punctuation")
    return sorted(found)


def tone_signals(text: str, lexicon: Lexicon | None = None) -> set[str]:
    """Coarse signal kinds for pacing: ``horsemen``, ``absolutes``, ``intensity`` (subset present)."""
    kinds = {p.split(":", 1)[0] for p in tone_problems(text, lexicon)}
    signals = set()
    if kinds & {"criticism", "contempt", "defensiveness", "stonewalling", "you_accusation"}:
        signals.add("horsemen")
    if "absolute" in kinds:
        signals.add("absolutes")
    if "intensity" in kinds:
        signals.add("intensity")
    return signals


def _runs(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def leak_problems(
    shared_text: str, private_texts: list[str], approved_texts: list[str], n: int = 6
) -> list[str]:
    """Runs of ``n``+ consecutive private words in ``shared_text`` that no approved text covers.

    Every run of ``n`` words of the shared text that also occurs in a private text must occur in an
    approved text too (a longer leaked run contains an uncovered ``n``-word run, so checking
    ``n``-grams is enough). Returns one problem per offending private text, naming its index only.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    shared = _runs(normalise_words(shared_text), n)
    if not shared:
        return []
    covered: set[tuple[str, ...]] = set()
    for text in approved_texts:
        covered |= _runs(normalise_words(text), n)
    exposed = shared - covered
    if not exposed:
        return []
    problems = []
    for index, text in enumerate(private_texts):
        leaked = exposed & _runs(normalise_words(text), n)
        if leaked:
            problems.append(f"leak:private_text_{index}:{len(leaked)}_runs_of_{n}_words")
    return problems


def length_problems(text: str, min_chars: int, max_chars: int) -> list[str]:
    """``too_short``/``too_long`` problems for ``text`` (surrounding whitespace not counted)."""
    size = len(text.strip())
    problems = []
    if size < min_chars:
        problems.append(f"length:too_short:{size}<{min_chars}")
    if size > max_chars:
        problems.append(f"length:too_long:{size}>{max_chars}")
    return problems


def soften(text: str, mode: Mode | str = Mode.COUPLE, parts_language: bool = False) -> str | None:
    """A gentler version of ``text`` to offer its author, or ``None`` when the text is already fine.

    Keeps the author's own first-person sentences that pass the tone guard ("I'm tired of
    fighting."), drops the rest, and adds an NVC statement built from the lexicon (observation,
    feeling, need, request) for what the message is about. The result always passes
    :func:`tone_problems`. Pass the session's ``mode`` so a workplace draft stays professional.
    """
    from agents.builtin.drafting import draft_for_text  # local: guards stay importable on their own
    from agents.builtin.phrasing import sentences, stable_hash

    if not tone_problems(text):
        return None
    mode = Mode(mode)
    draft = draft_for_text(
        text,
        mode,
        parts_language=parts_language and mode is Mode.COUPLE,
        seed="soften",
        turn=stable_hash(text) % 101,
    )
    kept = [
        s
        for s in sentences(text)
        if len(s) <= 200 and _FIRST_PERSON.match(prepare(s)) and not tone_problems(s) and s.endswith(".")
    ][:2]
    candidate = " ".join([*kept, draft.text])
    if tone_problems(candidate):
        candidate = draft.text
    return None if tone_problems(candidate) else candidate


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+")


def repetition_problems(text: str, min_words: int = 3) -> list[str]:
    """A sentence said twice (of at least ``min_words`` words): the mark of a model looping.

    Returns ``["repetition"]`` or ``[]``; never the text itself, so it is safe to log.
    """
    seen: set[tuple[str, ...]] = set()
    for sentence in _SENTENCE_SPLIT.split(text.strip()):
        words = tuple(normalise_words(sentence))
        if len(words) < min_words:
            continue
        if words in seen:
            return ["repetition"]
        seen.add(words)
    return []
