"""NVC drafts built from the author's own words: observation, feeling, need, request (Rosenberg),
optionally in parts language (IFS).

The observation is the author's own account with the pronouns turned towards the other person;
the feeling is a feeling word the author used (or none: the draft then does not name one); the
need is theirs when they said it; the request is theirs when they made one, otherwise a neutral,
doable one for the need. Every candidate goes through the grounding check
(:mod:`agents.builtin.grounding`) and the tone guard, so a draft never carries a situation, person,
time or topic its author did not mention, nor contempt, blame or absolutes from the message.

Two horsemen get their own shape: defensiveness → owning a part; stonewalling → a pause with a
return ("I need a moment, but I'm not leaving").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from agents.builtin.grounding import invented_words
from agents.builtin.listening import Listener, OwnWords, infer_other_name, is_past
from agents.builtin.phrasing import Picker, capitalise, join_words, tidy
from agents.builtin.reading import Reading, read_message
from agents.guards import tone_problems
from agents.interfaces import DraftProposal
from orchestrator.models import Mode
from policies.lexicon import Lexicon, get_lexicon

Stance = Literal["nvc", "own_part", "pause"]

# Grammar, not policy: the frames are written in the present ("When …, I feel …"); an observation
# of a past event ("when you went out last night") reads right only with the frame in the past.
_PAST = (
    ("I end up feeling", "I ended up feeling"),
    ("I find myself feeling", "I found myself feeling"),
    ("I feel", "I felt"),
    ("it's hard", "it was hard"),
    ("it's difficult", "it was difficult"),
    ("it stays with me", "it stayed with me"),
    ("it matters to me,", "it mattered to me,"),
    ("it affects me", "it affected me"),
    ("it makes my work harder", "it made my work harder"),
    ("a part of me feels", "a part of me felt"),
    ("part of me gets", "part of me got"),
    ("part gets", "part got"),
    ("struggles", "struggled"),
    ("I notice a part", "I noticed a part"),
    ("I can feel my", "I could feel my"),
    ("shows up", "showed up"),
    ("I've noticed", "I noticed"),
)


def _in_past(template: str) -> str:
    for present, past in _PAST:
        template = template.replace(present, past)
    return template


def _grounded(text: str, author_turns: Sequence[str], lex: Lexicon) -> bool:
    return not invented_words(text, author_turns, lex) and not tone_problems(text, lex)


def _first_grounded(candidates: Sequence[str], author_turns: Sequence[str], lex: Lexicon) -> str | None:
    return next((c for c in candidates if c and _grounded(c, author_turns, lex)), None)


def ownership(own: OwnWords, mode: Mode, picker: Picker, lex: Lexicon) -> str:
    """The sentence that owns a part (the antidote to defensiveness), from what they denied."""
    if own.denied_act:
        return picker.pick("ownership_act", lex.drafts.ownership_acts.for_mode(mode), act=own.denied_act)
    return picker.pick("ownership", lex.drafts.ownerships.for_mode(mode))


def build_draft(
    own: OwnWords,
    reading: Reading,
    mode: Mode,
    picker: Picker,
    author_turns: Sequence[str],
    *,
    parts_language: bool = False,
    stance: Stance = "nvc",
    need_id: str | None = None,
    lexicon: Lexicon | None = None,
) -> DraftProposal | None:
    """A draft for the other person, or ``None`` when no grounded request can be made."""
    lex = lexicon or get_lexicon()
    need = lex.needs[need_id or (reading.need if reading.need_stated else "understanding")]
    if stance == "own_part":
        need = lex.needs["understanding"]  # the wish to be understood, under the defence
    elif stance == "pause":
        need = lex.needs["space"]
    own_request = [own.request] if own.request and stance == "nvc" else []
    topic_requests = reading.topic.requests if reading.topic_matched and stance == "nvc" else []
    request = _first_grounded([*own_request, *topic_requests, *need.asks], author_turns, lex)
    if request is None:
        return None
    because = f"I need {own.need}" if own.need and stance != "own_part" else need.because_for(mode)

    pieces: list[str] = []
    if stance == "own_part":
        pieces.append(ownership(own, mode, picker, lex))
        if own.explanation is not None and _grounded(own.explanation.to_other, author_turns, lex):
            pieces.append(capitalise(own.explanation.to_other) + ".")
        pieces.append(capitalise(because) + ".")
    else:
        if stance == "nvc" or own.account is not None:
            pieces += _statement(
                own,
                reading,
                mode,
                picker,
                author_turns,
                parts_language,
                because,
                need.noun,
                lex,
                stance == "nvc",
            )
        if stance == "pause":
            if own.return_time:
                pieces.append(
                    picker.pick("pause", lex.drafts.pauses_timed.for_mode(mode), when=own.return_time)
                )
            else:
                pieces.append(picker.pick("pause", lex.drafts.pauses.for_mode(mode)))
    pieces.append(picker.pick("request_frame", lex.drafts.request_frames.for_mode(mode), request=request))
    return DraftProposal(text=tidy(" ".join(pieces)), kind="request", request=request)


def _statement(
    own: OwnWords,
    reading: Reading,
    mode: Mode,
    picker: Picker,
    author_turns: Sequence[str],
    parts_language: bool,
    because: str,
    need_noun: str,
    lex: Lexicon,
    repair: bool,
) -> list[str]:
    """Observation, feeling and need: a repair phrase first where the topic asks for one."""
    pieces: list[str] = []
    observations = [own.account.to_other] if own.account is not None else []
    if reading.topic_matched:
        observations += reading.topic.observations
    observations += lex.drafts.neutral_observations.for_mode(mode)
    observation = _first_grounded(observations, author_turns, lex)
    assert observation is not None  # the neutral observations are grounded by construction
    listener_groups = Listener(lex, None).groups(own.feelings)
    fill = {
        "observation": observation,
        "feelings": join_words(list(own.feelings)),
        "because": because,
        "part": lex.feelings[listener_groups[0]].part if listener_groups else "",
        "need_noun": need_noun,
    }
    if reading.topic_matched and reading.topic.repair and repair:
        pieces.append(picker.pick("repair", lex.drafts.repairs.for_mode(mode)))
    parts = parts_language and mode is Mode.COUPLE
    if own.feelings:
        frames = lex.drafts.parts_frames if parts else lex.drafts.frames.for_mode(mode)
    else:
        frames = lex.drafts.parts_frames_unnamed if parts else lex.drafts.frames_unnamed.for_mode(mode)
    if is_past(observation):
        frames = [_in_past(f) for f in frames]
    pieces.append(picker.pick("frame", frames, **fill))
    return pieces


def draft_for_text(
    text: str, mode: Mode, *, parts_language: bool = False, seed: str = "draft", turn: int = 0
) -> DraftProposal:
    """A draft for a raw message, grounded in that message alone (used by :func:`agents.guards.soften`)."""
    lex = get_lexicon()
    reading = read_message(text, mode, lex)
    own = Listener(lex, infer_other_name([text])).listen(text, [])
    draft = build_draft(
        own, reading, mode, Picker(seed, turn), [text], parts_language=parts_language, lexicon=lex
    )
    assert draft is not None  # the need's neutral asks are always grounded
    return draft
