"""agents/builtin/coach.py: reflect first, reality-test, draft in NVC form; breaks, cycles, registers."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.builtin.coach import BuiltinCoach
from agents.builtin.phrasing import sentence_key, sentences
from agents.guards import tone_problems
from agents.interfaces import CoachReply, CoachRequest, Turn
from orchestrator.models import Mode
from policies.lexicon import get_lexicon

LEX = get_lexicon()
COACH = BuiltinCoach(break_minutes={Mode.COUPLE: 20, Mode.WORKPLACE: 15})

COUPLE_MESSAGES = [
    "Why won't you answer me?? You always disappear",
    "I just need some space, it's too much",
    "You always do this, you're pathetic",
    "whatever, I'm done",
    "You NEVER listen",
    "Could we plan a date night this week? I miss us.",
    "I feel so lonely when he's on his phone all evening",
    "She spent our savings on a new car without asking me",
    "I'm always the one doing the dishes and nobody notices",
    "He lied to me about where he was last night",
    "We argue about the kids' bedtime every single night",
    "You yelled at me in front of my friends",
    "It's not my fault, you started it",
    "I'm not angry, just sad that we keep fighting",
]
WORKPLACE_MESSAGES = [
    "Jordan took credit for my analysis in the meeting again. This always happens.",
    "He keeps interrupting me in meetings and I'm fed up",
    "My manager checks on me every hour, I feel micromanaged",
    "I found out about the reorg from an email after everyone else",
    "She missed the deadline again and I had to cover",
    "They criticised my report in front of the whole team",
    "I keep getting dumped with extra work on Fridays",
    "You're useless, you never deliver anything on time",
]
ODD = [
    "ok",
    "idk",
    "hi",
    "thanks",
    "?",
    "",
    "asdf qwerty",
    "Is it my fault?",
    "What did Sam say?",
    "How do I get him to help with the dishes?",
    "x" * 3000,
    "!!!",
    "NO",
    "I don't know what I want anymore",
]

PARTS = re.compile(r"\bparts? of (me|you)\b|\bmy \w+ part\b|\bprotect(or|ive) part\b", re.IGNORECASE)
SEAMS = [
    (re.compile(r"[{}]"), "unfilled placeholder"),
    (re.compile(r"  "), "double space"),
    (re.compile(r"([,.;:!?])\1"), "doubled punctuation"),
    (re.compile(r"\s[,.;:!?]"), "space before punctuation"),
    (re.compile(r"[,;:][.!?]"), "clashing punctuation"),
    (re.compile(r"\bNone\b"), "None leaked into text"),
    (re.compile(r"\bI feel you\b|\byou you\b|\bthe the\b|\ba a\b"), "grammar seam"),
    (re.compile(r"\b[Aa] [aeiou]\w"), "a before a vowel"),
    (re.compile(r"\b[Aa]n (?!hour|honest)[b-df-hj-np-tv-z]\w", re.IGNORECASE), "an before a consonant"),
    (re.compile(r"(?:^|[.!?][”\"]? )[a-z]"), "sentence starts in lowercase"),
]


def ask(text: str, mode: Mode | str = Mode.COUPLE, **kw: object) -> CoachReply:
    fields: dict[str, object] = {"party_name": "Alex", "other_name": "Sam", "stage": "joint"}
    fields.update(kw)
    return COACH.reply(CoachRequest(mode=Mode(mode), text=text, **fields))  # type: ignore[arg-type]


def seams(text: str) -> list[str]:
    return [name for pattern, name in SEAMS if pattern.search(text)]


def feeling_words(mode: Mode) -> set[str]:
    return {w for f in LEX.feelings.values() for w in f.for_mode(mode)}


# --- reflect first, in their own words, then draft ----------------------------------------------
def own_feeling_words(text: str) -> list[str]:
    from agents.builtin.listening import own_feelings

    return [w for w, _ in own_feelings(text, LEX)]


@pytest.mark.parametrize("text", COUPLE_MESSAGES[:6] + WORKPLACE_MESSAGES[:3])
def test_reply_reflects_before_the_draft_and_never_asserts_an_unnamed_feeling(text: str) -> None:
    mode = Mode.WORKPLACE if text in WORKPLACE_MESSAGES else Mode.COUPLE
    reply = ask(text, mode)
    assert reply.draft is not None
    offers = [o.format(other="Sam") for o in LEX.coach.draft_offers.for_mode(mode)]
    offered = [reply.text.index(o) for o in offers if o in reply.text]
    assert offered and reply.text.index(sentences(reply.text)[0]) < min(offered)
    own = own_feeling_words(text)
    first = sentences(reply.text)[0].lower()
    if own:  # their own feeling word is mirrored first
        assert any(w in first for w in own), first
    else:  # no feeling named: a tentative question, and no feeling word in the draft
        assert "?" in reply.text.split(sentences(reply.text)[-1])[0] + sentences(reply.text)[-1]
        draft_words = set(re.findall(r"[a-z]+", reply.draft.text.lower()))
        assert not draft_words & feeling_words(mode), reply.draft.text


def test_reflection_is_drawn_from_the_message_not_generic() -> None:
    assert "lonely" in ask("I feel so lonely when he's on his phone all evening").text.split(".")[0]
    credit = ask("Jordan took credit for my analysis again", Mode.WORKPLACE, other_name="Jordan").text
    assert "Jordan took credit for your analysis again" in credit
    assert "contribution" not in credit  # the old stock situation ("your contribution doesn't get named")
    space = ask("I just need some space, it's too much").text
    assert "some space" in space


def test_drafts_have_observation_need_and_request_from_the_authors_words() -> None:
    from agents.builtin.grounding import invented_words

    for text in COUPLE_MESSAGES:
        reply = ask(text, parts_language=False)
        draft = reply.draft
        assert draft is not None and draft.kind == "request" and draft.request
        assert invented_words(draft.text, [text]) == [], (text, draft.text)
        for word in own_feeling_words(text):
            if "stonewalling" not in reply.markers and "defensiveness" not in reply.markers:
                assert word in draft.text.lower(), (text, draft.text)  # their feeling, when they named one
        assert f"would you be willing to {draft.request.lower()}?" in draft.text.lower()  # request


def test_parts_language_only_when_asked_and_only_for_couples() -> None:
    texts = COUPLE_MESSAGES[:8]
    with_parts = [ask(t, parts_language=True, turn_index=i) for i, t in enumerate(texts)]
    # a pause (stonewalling) or owning a part (defensiveness) is said plainly; NVC statements use parts
    statements = [r for r in with_parts if not {"stonewalling", "defensiveness"} & set(r.markers)]
    assert len(statements) >= 5
    assert all(r.draft and re.search(r"\bpart\b", r.draft.text) for r in statements)
    without = [ask(t, parts_language=False, turn_index=i) for i, t in enumerate(texts)]
    assert not any(PARTS.search(r.text + (r.draft.text if r.draft else "")) for r in without)


def test_workplace_register_never_uses_parts_language() -> None:
    for i, text in enumerate(WORKPLACE_MESSAGES + COUPLE_MESSAGES):
        for extra in ({}, {"cycle_role": "pursuer"}, {"cycle_role": "withdrawer"}, {"flooded": True}):
            reply = ask(text, Mode.WORKPLACE, parts_language=True, turn_index=i, **extra)
            out = reply.text + (reply.draft.text if reply.draft else "")
            assert not PARTS.search(out), out
            assert not re.search(r"\b(couple|partner|love|us two)\b", out, re.IGNORECASE), out


# --- reality-testing without sycophancy ------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "You always do this, you're pathetic",
        "whatever, I'm done",
        "You NEVER listen",
        "You're so selfish, everything is always about you",
    ],
)
def test_contempt_inputs_yield_clean_drafts(text: str) -> None:
    reply = ask(text)
    assert reply.draft is not None
    assert tone_problems(reply.draft.text) == []
    lowered = reply.draft.text.lower()
    for marker in ("pathetic", "selfish", "whatever", "always", "never", "i'm done", "everything"):
        assert marker not in lowered


def test_absolutes_and_contempt_are_reality_tested_and_counted() -> None:
    reply = ask("You always do this, you're pathetic")
    assert {"contempt", "absolutes"} <= set(reply.markers)
    contempt_tests = [t.format(other="Sam") for t in LEX.coach.reality_tests.contempt]
    assert any(t in reply.text for t in contempt_tests)
    never = ask("You NEVER listen")
    assert "“never”" in never.text.lower() or "“Never”" in never.text


def test_no_side_taking_or_flattery() -> None:
    for text in COUPLE_MESSAGES + ["Is it my fault?", "Am I overreacting?", "Sam is wrong, right?"]:
        lowered = ask(text).text.lower()
        for phrase in (
            "you're right",
            "you are right",
            "sam is wrong",
            "sam is to blame",
            "you did nothing wrong",
        ):
            assert phrase not in lowered


def test_calm_message_gets_no_reality_test() -> None:
    reply = ask("Could we plan a date night this week? I miss us.")
    assert reply.markers == []
    all_tests = [
        t for k in ("absolute", "criticism", "contempt") for t in LEX.coach.reality_tests.for_marker(k)
    ]
    assert not any(
        t.split("{")[0] and t.split("{")[0] in reply.text for t in all_tests if len(t.split("{")[0]) > 20
    )


# --- flooding and the pursue–withdraw cycle ----------------------------------------------------
def test_flooded_suggests_a_break_of_the_policy_length_and_no_draft() -> None:
    reply = ask("YOU ALWAYS RUIN EVERYTHING, you're useless", flooded=True)
    assert reply.suggestion == "break" and reply.draft is None
    assert "20 minutes" in reply.text
    soothing = [s for s in LEX.coach.breaks.soothing.couple if s in reply.text]
    returns = [s.format(other="Sam") for s in LEX.coach.breaks.returns.couple]
    assert soothing and any(r in reply.text for r in returns)
    work = ask("This is ridiculous, I can't take it", Mode.WORKPLACE, flooded=True)
    assert "15 minutes" in work.text and work.suggestion == "break"


def test_default_break_length_comes_from_the_protocols_policy() -> None:
    from policies.protocol import load_protocols

    minutes = load_protocols().modes["couple"].pacing.break_minutes
    reply = BuiltinCoach().reply(
        CoachRequest(
            mode=Mode.COUPLE,
            party_name="A",
            other_name="B",
            stage="joint",
            text="I can't take this",
            flooded=True,
        )
    )
    assert f"{minutes:g} minutes" in reply.text


def test_cycle_is_named_differently_for_pursuer_and_withdrawer_without_blame() -> None:
    pursuer = ask("Why won't you answer me?? You always disappear", cycle_role="pursuer")
    withdrawer = ask("I just need some space, it's too much", cycle_role="withdrawer")
    assert pursuer.suggestion == withdrawer.suggestion == "cycle"
    assert any(t.format(other="Sam") in pursuer.text for t in LEX.coach.cycle.pursuer.couple)
    assert any(t.format(other="Sam") in withdrawer.text for t in LEX.coach.cycle.withdrawer.couple)
    for reply in (pursuer, withdrawer):
        assert "Sam" in reply.text and reply.draft is not None
        assert not re.search(
            r"sam('s)? fault|your fault|sam is (the problem|wrong)", reply.text, re.IGNORECASE
        )
    assert pursuer.draft and withdrawer.draft and pursuer.draft.text != withdrawer.draft.text


# --- solo start, pause, concern, short inputs, questions --------------------------------------------
def test_solo_start_still_coaches_and_drafts() -> None:
    reply = ask("You never listen to me", other_name=None)
    assert reply.draft is not None
    assert "your partner" in reply.text
    assert any(n.format(other="your partner") in reply.text for n in LEX.coach.solo_notes.couple)
    work = ask("He took credit for my slides", Mode.WORKPLACE, other_name=None)
    assert work.draft is not None and "your colleague" in work.text


def test_paused_drafts_say_they_wait() -> None:
    reply = ask("You never listen to me", paused=True)
    assert reply.draft is not None
    assert any(n.format(other="Sam") in reply.text for n in LEX.coach.pause_notes)


def test_concern_checks_in_before_any_draft() -> None:
    reply = ask("I don't know how much longer I can cope with him", concern=True)
    assert reply.draft is None
    assert any(c.format(other="Sam") in reply.text for c in LEX.coach.check_ins.couple)


@pytest.mark.parametrize(
    "text,kind",
    [
        ("ok", "agree"),
        ("idk", "unsure"),
        ("hi", "greeting"),
        ("thanks!", "thanks"),
        ("nope", "no"),
        ("?", "unclear"),
        ("", "unclear"),
    ],
)
def test_short_inputs_are_answered_gracefully_without_a_draft(text: str, kind: str) -> None:
    reply = ask(text)
    assert reply.draft is None and reply.text
    assert reply.text in [t.format(other="Sam") for t in LEX.coach.short.kinds[kind]]


def test_questions_are_answered_without_sides_or_leaks() -> None:
    blame = ask("Is it my fault?")
    assert blame.draft is None and blame.text in [
        t.format(other="Sam") for t in LEX.coach.questions.kinds["blame"]
    ]
    for text in ("What did Sam say?", "what did he say about me", "Tell me what she wrote"):
        reply = ask(text)
        assert reply.draft is None
        assert reply.text in [t.format(other="Sam") for t in LEX.coach.questions.kinds["other_private"]], text
    advice = ask("How do I get him to help with the dishes?")
    # the old draft said "the housework seems to land mostly on my side", which nobody said
    assert advice.draft is not None and "house" not in advice.draft.text


def test_good_news_is_celebrated_not_drafted() -> None:
    reply = ask("We had a really good talk last night, I feel closer")
    assert reply.draft is None and reply.text in [t.format(other="Sam") for t in LEX.coach.positive.couple]


# --- variety and seams --------------------------------------------------------------------------
@pytest.mark.parametrize("with_history", [True, False])
def test_no_stock_sentence_repeats_across_ten_consecutive_replies(with_history: bool) -> None:
    messages = COUPLE_MESSAGES[:10]
    history: list[Turn] = []
    seen: dict[str, int] = {}
    for turn, text in enumerate(messages):
        reply = ask(text, turn_index=turn, history=list(history) if with_history else [])
        for sentence in sentences(reply.text):
            key = sentence_key(sentence)
            assert key not in seen, f"turn {turn} repeats turn {seen[key]}: {sentence}"
            seen[key] = turn
        history += [Turn(speaker="party", text=text), Turn(speaker="coach", text=reply.text)]


def test_recent_history_is_not_repeated_even_if_the_turn_counter_restarts() -> None:
    first = ask("You never listen to me", turn_index=0)
    again = ask("You never listen to me", turn_index=0, history=[Turn(speaker="coach", text=first.text)])
    assert not {sentence_key(s) for s in sentences(first.text)} & {
        sentence_key(s) for s in sentences(again.text)
    }


def test_replies_are_deterministic() -> None:
    assert ask("You never listen", turn_index=3) == ask("You never listen", turn_index=3)


requests = st.builds(
    dict,
    text=st.one_of(st.sampled_from(COUPLE_MESSAGES + WORKPLACE_MESSAGES + ODD), st.text(max_size=80)),
    mode=st.sampled_from(list(Mode)),
    other_name=st.sampled_from(["Sam", "Jordan", "Ana María", None]),
    turn_index=st.integers(0, 500),
    flooded=st.booleans(),
    cycle_role=st.sampled_from([None, None, "pursuer", "withdrawer"]),
    concern=st.sampled_from([False, False, False, True]),
    paused=st.booleans(),
    parts_language=st.booleans(),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_two_hundred_outputs_have_no_seams_and_clean_drafts(fields: dict) -> None:
    reply = ask(**fields)
    assert reply.text.strip()
    problems = seams(reply.text)
    assert problems == [], (problems, reply.text)
    if reply.draft is not None:
        assert seams(reply.draft.text) == [], (seams(reply.draft.text), reply.draft.text)
        assert tone_problems(reply.draft.text) == [], reply.draft.text
        assert reply.draft.text.rstrip()[-1] in ".?"
    if fields["flooded"]:
        assert reply.suggestion == "break" and reply.draft is None


async def test_respond_is_the_async_interface() -> None:
    request = CoachRequest(
        mode=Mode.COUPLE, party_name="Alex", other_name="Sam", stage="joint", text="You never listen"
    )
    assert await COACH.respond(request) == COACH.reply(request)
