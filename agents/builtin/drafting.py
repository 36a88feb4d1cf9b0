"""NVC drafts: observation, feeling, need, request (Rosenberg), optionally in parts language (IFS).

A draft is built only from the lexicon: the topic's neutral observation and doable request, true
feeling words and a need. It never copies the party's own words, so contempt, absolutes or private
details in a message cannot travel into something that may be shared.
"""

from __future__ import annotations

from agents.builtin.phrasing import Picker, join_words, tidy
from agents.builtin.reading import Reading, read_message
from agents.interfaces import DraftProposal
from orchestrator.models import Mode
from policies.lexicon import Lexicon, Topic, get_lexicon


def build_draft(
    reading: Reading,
    mode: Mode,
    picker: Picker,
    *,
    parts_language: bool = False,
    topic: Topic | None = None,
    lexicon: Lexicon | None = None,
) -> DraftProposal:
    """A draft for the other person, from ``reading`` (or an explicit ``topic``, e.g. a cycle draft)."""
    lex = lexicon or get_lexicon()
    if topic is None:
        topic = reading.topic
        pairs = list(zip(reading.feelings, reading.feeling_words, strict=False))
        need = lex.needs[reading.need]
    else:
        pairs = [(f, lex.feelings[f].for_mode(mode)[0]) for f in topic.feelings[:2]]
        need = lex.needs[topic.needs[0]]
    feelings = join_words([word for _, word in pairs])
    part = lex.feelings[pairs[0][0]].part
    observation = picker.choose(f"observation:{topic.id}", topic.observations)
    request = picker.choose(f"request:{topic.id}", topic.requests)
    fill = {
        "observation": observation,
        "feelings": feelings,
        "because": need.because_for(mode),
        "part": part,
        "need_noun": need.noun,
    }

    pieces: list[str] = []
    if topic.repair:
        pieces.append(picker.pick("repair", lex.drafts.repairs.for_mode(mode)))
    if parts_language and mode is Mode.COUPLE:
        pieces.append(picker.pick("parts_frame", lex.drafts.parts_frames, **fill))
    else:
        pieces.append(picker.pick("frame", lex.drafts.frames.for_mode(mode), **fill))
    pieces.append(picker.pick("request_frame", lex.drafts.request_frames.for_mode(mode), request=request))
    return DraftProposal(text=tidy(" ".join(pieces)), kind="request", request=request)


def draft_for_text(
    text: str, mode: Mode, *, parts_language: bool = False, seed: str = "draft", turn: int = 0
) -> DraftProposal:
    """A draft for a raw message (used by :func:`agents.guards.soften`)."""
    reading = read_message(text, mode)
    return build_draft(reading, mode, Picker(seed, turn), parts_language=parts_language)
