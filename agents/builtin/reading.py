"""What a private message says, as far as the builtin coach can tell without a model: its topic,
the feelings and need behind it, any Four Horsemen markers, absolutes and "you"-accusations, and
whether it is a short reply, a question or good news. Everything comes from ``lexicon.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.models import Mode
from policies.lexicon import Lexicon, LexPattern, Topic, get_lexicon, prepare

# A feeling cue right after a negation ("I'm not angry") is not that feeling.
_NEGATED = re.compile(r"\b(not|never|no longer|isnt|arent|wasnt|dont|didnt|doesnt|without)\s+(\w+\s+)?$")
_WORDS = re.compile(r"\w+")

# Which marker the coach reality-tests first when several are present.
REALITY_ORDER = ("contempt", "criticism", "you_accusation", "absolute", "defensiveness", "stonewalling")


@dataclass(frozen=True)
class Reading:
    """The coach's reading of one message. Holds no private words beyond what it needs in memory."""

    topic: Topic
    topic_matched: bool
    feelings: tuple[str, ...]  # feeling group ids, most salient first (at most two)
    feelings_detected: bool  # False when they were inferred from the topic or markers
    feeling_words: tuple[str, ...]  # the words to mirror, in the mode's register
    need: str  # need id
    horsemen: dict[str, tuple[str, ...]]  # horseman -> marker ids
    directed_absolutes: tuple[str, ...]
    you_accusations: tuple[str, ...]
    absolute_word: str | None
    intensity: bool
    positive: bool
    short_kind: str | None
    question_kind: str | None
    word_count: int
    process_kind: str | None = None  # a question about the process itself ("is he leaving?")
    need_stated: bool = False  # the message names a need itself ("I need space")

    @property
    def markers(self) -> list[str]:
        """Marker kinds for metrics: horsemen, ``absolutes``, ``you_accusation``, ``intensity``."""
        found = list(self.horsemen)
        if self.directed_absolutes or (self.absolute_word and self.complaint):
            found.append("absolutes")
        if self.you_accusations:
            found.append("you_accusation")
        if self.intensity:
            found.append("intensity")
        return sorted(found)

    @property
    def complaint(self) -> bool:
        return (
            self.topic_matched
            or self.feelings_detected
            or bool(self.horsemen or self.you_accusations or self.directed_absolutes)
        )

    def reality_tests(self) -> list[str]:
        """Marker kinds worth gently reality-testing, most important first (at most two)."""
        kinds: list[str] = []
        contempt = set(self.horsemen.get("contempt", ()))
        # A bare "whatever," next to "I'm done" is a shutdown more than scorn.
        if contempt and not (contempt == {"dismissive_whatever"} and "stonewalling" in self.horsemen):
            kinds.append("contempt")
        criticism = set(self.horsemen.get("criticism", ()))
        # "you never told me" inside a defence is the defence's counter-attack: coach the defence
        verdict_only = criticism <= {"absolute_about_you", "absolute_about_them"}
        if criticism and not (verdict_only and "defensiveness" in self.horsemen):
            kinds.append("criticism")
        if self.you_accusations:
            kinds.append("you_accusation")
        if self.absolute_word and (self.directed_absolutes or self.complaint):
            kinds.append("absolute")
        if "defensiveness" in self.horsemen:
            kinds.append("defensiveness")
        if "stonewalling" in self.horsemen:
            kinds.append("stonewalling")
        ordered = [k for k in REALITY_ORDER if k in kinds]
        if not ordered:
            return []
        # The absolute check rides along as a second note when the main one is about something else.
        if ordered[0] != "absolute" and "absolute" in ordered:
            return [ordered[0], "absolute"]
        return ordered[:1]


def _first_hit(regexes: list[LexPattern], text: str, *, negatable: bool = False) -> int | None:
    best: int | None = None
    for regex in regexes:
        for match in regex.finditer(text):
            if negatable and _NEGATED.search(text[max(0, match.start() - 24) : match.start()]):
                continue
            if best is None or match.start() < best:
                best = match.start()
            break
    return best


def _topic(lexicon: Lexicon, mode: Mode, prepared: str) -> tuple[Topic, bool]:
    topics = lexicon.topics.for_mode(mode)
    fallback = next(t for t in topics if not t.cues)
    best, best_score = fallback, 0
    for topic in topics:
        score = topic.score(prepared) if topic.cues else 0
        if score > best_score:
            best, best_score = topic, score
    return best, best_score > 0


def read_message(
    text: str, mode: Mode, lexicon: Lexicon | None = None, *, other_name: str | None = None
) -> Reading:
    """Read one message with the lexicon. Pure and fast: a few dozen precompiled regexes.

    ``other_name`` lets "Sam always…" count like "you always…": a global verdict on the person
    (Gottman's criticism), said about them rather than to them."""
    lex = lexicon or get_lexicon()
    prepared = prepare(text)
    word_count = len(_WORDS.findall(prepared))

    horsemen = {name: tuple(found) for name, h in lex.horsemen.items() if (found := h.recognise(prepared))}
    verdicts: list[str] = []
    if lex.absolutes.find_directed(prepared):
        verdicts.append("absolute_about_you")
    name = prepare(other_name.split()[0]) if other_name and other_name.split() else ""
    if name and re.search(rf"\b{re.escape(name)}s?( is| has)? (always|never|constantly)\b", prepared):
        verdicts.append("absolute_about_them")
    if verdicts:
        horsemen["criticism"] = horsemen.get("criticism", ()) + tuple(verdicts)
    if lex.insults.search(prepared):
        horsemen["contempt"] = horsemen.get("contempt", ()) + ("name_calling",)
    directed = tuple(lex.absolutes.find_directed(prepared))
    accusations = tuple(m.id for m in lex.you_accusations if m.regex.search(prepared))
    intensity = bool(
        lex.intensity.word_regex.search(prepared)
        or lex.intensity.shouted(text)
        or lex.intensity.punctuation_regex.search(text)
    )

    topic, matched = _topic(lex, mode, prepared)

    hits: list[tuple[int, str]] = []
    for name, feeling in lex.feelings.items():
        at = _first_hit(feeling.regexes, prepared, negatable=True)
        if at is not None:
            hits.append((at, name))
    feelings = tuple(name for _, name in sorted(hits))[:2]
    detected = bool(feelings)
    if not feelings:
        if matched:
            feelings = tuple(topic.feelings[:2])
        elif horsemen.keys() & {"contempt", "criticism"} or accusations or directed:
            feelings = ("frustrated", "hurt")
        elif "stonewalling" in horsemen:
            feelings = ("exhausted",)
        elif "defensiveness" in horsemen:
            feelings = ("hurt",)
        else:
            feelings = tuple(topic.feelings[:2])

    words: list[str] = []
    for name in feelings:
        options = lex.feelings[name].for_mode(mode)
        own = [w for w in options if re.search(rf"\b{re.escape(w)}\b", prepared)]
        # Mirror the person's own feeling word when they used one; otherwise the group's first word.
        words.append(own[0] if own else options[0])

    need_hits = [
        (at, name)
        for name, need in lex.needs.items()
        if (at := _first_hit(need.regexes, prepared)) is not None
    ]
    if need_hits:
        need = min(need_hits)[1]
    elif matched or not detected:
        need = topic.needs[0]
    else:
        need = lex.feelings[feelings[0]].needs[0]

    marked = bool(horsemen or directed or accusations)
    positive = lex.positive.matches(prepared) and not detected and not marked

    short_kind: str | None = None
    if word_count <= lex.short_inputs.max_words and not marked:
        kind = lex.short_inputs.classify(prepared)
        # "thanks!" is a short reply even though "thank" is also a topic cue; "so lonely" is not.
        if kind is not None and (kind != "unclear" or not (matched or detected)):
            short_kind = kind

    return Reading(
        topic=topic,
        topic_matched=matched,
        feelings=feelings,
        feelings_detected=detected,
        feeling_words=tuple(dict.fromkeys(words)),
        need=need,
        horsemen=horsemen,
        directed_absolutes=directed,
        you_accusations=accusations,
        absolute_word=lex.absolutes.first_word(prepared),
        intensity=intensity,
        positive=positive,
        short_kind=short_kind,
        question_kind=lex.questions.classify(prepared),
        word_count=word_count,
        process_kind=lex.process_questions.classify(prepared),
        need_stated=bool(need_hits),
    )
