"""Guards on the words a model writes *to* a person (the coach's private reply, a draft, the
mediator's framing), beside the shared-text guards in :mod:`agents.guards`.

* :func:`reader_tone_problems` — contempt, criticism, blame or absolutes aimed at the reader: any
  sentence that speaks to "you" and trips the tone guard, and name-calling anywhere. A coach may
  quote the person's own words, briefly and marked as theirs (in quotation marks, at most
  ``MAX_QUOTE_WORDS`` words, found in what the person wrote): those quotes are not the coach's words.
* :func:`echo_problems` — the prompt read back: a run of ``ECHO_RUN`` words of the instructions, or
  most of the reply's word 4-grams found in them. The prompt's own quoted examples ("I want us to
  be okay") are offered for reuse and do not count; the person's own words never count.
* :func:`fragment_problems` — not a complete, readable answer (no sentence end; markup, symbols
  or words of no language), or an answer in another language than the person's. Detection is
  deliberately simple (the writing system, then stopwords of a few languages): no downloads, no
  model; when the person's language cannot be told, no language problem is reported.

Like :mod:`agents.guards`, problems are stable ids (``"echo:instructions"``), never the matched
words, so they are safe to log and count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from agents.guards import normalise_words, tone_problems

MAX_QUOTE_WORDS = 25  # a "brief" quote of the person's own words
ECHO_RUN = 8  # any run this long from the prompt is the prompt read back
ECHO_GRAM = 4
ECHO_SHARE = 0.6  # ... or this share of the reply's 4-grams
MIN_WORDS = 3
# Reader-directed tone: the kinds that blame or belittle (defensiveness and stonewalling describe a
# speaker's own stance, which a coach does not take towards its person).
_READER_KINDS = ("criticism", "contempt", "absolute", "you_accusation", "intensity")
_SECOND_PERSON = re.compile(r"\b(you|your|youre|yours|yourself|youve|youll|youd|u|ur)\b")
_QUOTE = re.compile(r"[\"“”„«»]([^\"“”„«»]{1,400})[\"“”„«»]")
_SENTENCES = re.compile(r"(?<=[.!?…])\s+|\n+")
_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*\s*$|[\U0001F300-\U0001FAFF]\s*$")
_MARKUP = re.compile(r"[{}\[\]<>]|\"\w+\"\s*:|```|\\[nt\"]")
# Blame aimed at the reader that the shared lexicon (written for messages between the parties) misses.
_READER_BLAME = (
    ("criticism:you_are_being", re.compile(r"\byou(re| are) being (so |very |really )?\w+")),
    ("criticism:should_know_better", re.compile(r"\byou should (know|have known) better\b")),
)
_FORMAT_LINE = re.compile(r'^\s*[{"\[]')  # a line of the JSON answer format: kept whole

# A few hundred of the most frequent words of the languages Accord is most likely to meet.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the a an and or but if of to in on at for with about from by as is are was were be been am "
        "i you he she it we they me him her us them my your his its our their this that these those "
        "what which who how when where why not no do does did have has had can could would should "
        "will just so very really there here feel feeling want need like it's im dont youre thats "
        "more some any all much than then too also only".split()
    ),
    "de": frozenset(
        "der die das und oder aber wenn ich du er sie es wir ihr mich dich mir dir uns euch ist sind "
        "war waren bin bist sein nicht kein keine ein eine einen einem mit für von zu im in auf an "
        "dass wie was wer wo warum auch noch schon sehr nur so dann doch mal möchte möchtest wärst "
        "würde kannst kann habe hast hat diese dieser dieses darüber euch beide gut".split()
    ),
    "fr": frozenset(
        "le la les un une des et ou mais si de du au aux en dans sur pour avec par je tu il elle nous "
        "vous ils elles me te se mon ma mes ton ta tes son sa ses est sont était être ai as avons "
        "pas ne que qui quoi comment quand très aussi plus moins ce cette ces tout bien".split()
    ),
    "es": frozenset(
        "el la los las un una unos y o pero si de del al en con por para que qué quien cómo cuando "
        "yo tú él ella nosotros vosotros ellos me te se mi mis tu tus su sus es son era estar estoy "
        "está no muy también más menos este esta esto todo bien lo le".split()
    ),
    "it": frozenset(
        "il lo la gli le un una e o ma se di da in con su per che chi come quando io tu lui lei noi "
        "voi loro mi ti si mio mia tuo tua è sono era essere non molto anche più meno questo questa "
        "tutto bene del della".split()
    ),
    "nl": frozenset(
        "de het een en of maar als van te in op aan voor met door dat die wat wie hoe wanneer ik jij "
        "je hij zij wij jullie mij me ons is zijn was waren ben bent niet geen ook nog al erg heel "
        "dit deze goed wel".split()
    ),
    "pt": frozenset(
        "o a os as um uma e ou mas se de do da dos das em no na com por para que quem como quando eu "
        "tu ele ela nós vocês eles me te se meu minha seu sua é são era estar estou está não muito "
        "também mais menos este esta isso tudo bem você".split()
    ),
}


# --- tone aimed at the reader -------------------------------------------------------------------
def _is_own_words(quote: str, own_words: Iterable[str]) -> bool:
    words = normalise_words(quote)
    if not words or len(words) > MAX_QUOTE_WORDS:
        return False
    needle = " " + " ".join(words) + " "
    return any(needle in " " + " ".join(normalise_words(text)) + " " for text in own_words)


def strip_own_quotes(text: str, own_words: Sequence[str]) -> str:
    """``text`` without the brief, marked quotes of the person's own words."""
    return _QUOTE.sub(lambda m: " " if _is_own_words(m.group(1), own_words) else m.group(0), text)


def reader_tone_problems(text: str, own_words: Sequence[str] = ()) -> list[str]:
    """Blame, contempt, criticism or absolutes aimed at the reader, in the writer's own words.

    ``own_words``: what the person wrote (their messages), whose brief marked quotes are allowed.
    """
    mine = strip_own_quotes(text, own_words)
    found: set[str] = set()
    if "contempt:name_calling" in tone_problems(mine):
        found.add("contempt:name_calling")  # an insult is one wherever it points
    for sentence in _SENTENCES.split(mine):
        plain = " ".join(normalise_words(sentence))
        if not _SECOND_PERSON.search(plain):
            continue
        found.update(p for p in tone_problems(sentence) if p.split(":", 1)[0] in _READER_KINDS)
        found.update(marker for marker, pattern in _READER_BLAME if pattern.search(plain))
    return sorted(found)


# --- the prompt read back -----------------------------------------------------------------------------
def instruction_text(prompt: str) -> str:
    """The prompt without the example phrases it quotes for reuse ("I want us to be okay"); the
    lines of its JSON answer format stay whole (their placeholders must never come back)."""
    lines = prompt.splitlines()
    return "\n".join(line if _FORMAT_LINE.match(line) else _QUOTE.sub(" ", line) for line in lines)


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def echo_problems(text: str, prompts: Sequence[str], own_words: Sequence[str] = ()) -> list[str]:
    """``["echo:instructions"]`` when ``text`` reads the prompts back: any ``ECHO_RUN``-word run of
    them, or at least ``ECHO_SHARE`` of the reply's 4-grams (a short placeholder is caught so).
    Runs the person wrote themselves (``own_words``) are theirs to hear again, not an echo."""
    words = normalise_words(text)
    if not words or not prompts:
        return []
    runs: set[tuple[str, ...]] = set()
    grams: set[tuple[str, ...]] = set()
    for prompt in prompts:
        prompt_words = normalise_words(instruction_text(prompt))
        runs |= _grams(prompt_words, ECHO_RUN)
        grams |= _grams(prompt_words, ECHO_GRAM)
    for own in own_words:
        own_words_list = normalise_words(own)
        runs -= _grams(own_words_list, ECHO_RUN)
        grams -= _grams(own_words_list, ECHO_GRAM)
    if _grams(words, ECHO_RUN) & runs:
        return ["echo:instructions"]
    mine = [tuple(words[i : i + ECHO_GRAM]) for i in range(len(words) - ECHO_GRAM + 1)]
    if mine and sum(g in grams for g in mine) / len(mine) >= ECHO_SHARE:
        return ["echo:instructions"]
    return []


# --- a complete, readable answer in the person's language ------------------------------------------
def script_of(text: str) -> str | None:
    """The writing system most letters belong to, by Unicode name (``LATIN``, ``CYRILLIC``, ``CJK``
    ...), or None when there are no letters."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            script = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def language_of(text: str) -> str | None:
    """``en``, ``de``, ... for Latin text whose stopwords make it clear; else None."""
    if script_of(text) != "LATIN":
        return None
    words = normalise_words(text)
    if len(words) < 4:
        return None
    hits = sorted(((sum(w in sw for w in words), lang) for lang, sw in STOPWORDS.items()), reverse=True)
    (best, lang), (second, _) = hits[0], hits[1]
    if best < 2 or best < 1.5 * second:
        return None
    return lang


_KNOWN = frozenset().union(*STOPWORDS.values())


def fragment_problems(text: str, person_texts: Sequence[str] = ()) -> list[str]:
    """Why ``text`` is not a complete, readable answer in the language of ``person_texts``:
    ``fragment:unfinished`` / ``fragment:markup`` / ``fragment:unreadable``,
    ``language:script`` (another writing system) / ``language:other`` (another language)."""
    stripped = text.strip()
    words = normalise_words(stripped)
    if not words:
        return ["fragment:unfinished"]
    problems = []
    if not _END.search(stripped):
        problems.append("fragment:unfinished")
    if _MARKUP.search(stripped):
        problems.append("fragment:markup")
    visible = [ch for ch in stripped if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in visible)
    script = script_of(stripped)
    unreadable = letters == 0 or letters / len(visible) < 0.6
    if script == "LATIN" and len(words) >= MIN_WORDS:
        unreadable = unreadable or sum(w in _KNOWN for w in words) / len(words) < 0.1
    if unreadable:
        problems.append("fragment:unreadable")
    theirs = " ".join(person_texts)
    if sum(ch.isalpha() for ch in theirs) >= 3 and script is not None:
        if script != script_of(theirs):
            problems.append("language:script")
        else:
            mine_lang, their_lang = language_of(stripped), language_of(theirs)
            if mine_lang and their_lang and mine_lang != their_lang:
                problems.append("language:other")
    return problems
