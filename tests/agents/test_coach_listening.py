"""The builtin coach listens: its own words back, session facts, no repeats (agents/builtin/*)."""

from __future__ import annotations

import re

import pytest

from agents.builtin.coach import BuiltinCoach
from agents.builtin.listening import Listener, infer_other_name
from agents.builtin.phrasing import sentence_key, sentences
from agents.interfaces import BreakFacts, CoachReply, CoachRequest, SessionFacts, Turn
from orchestrator.models import Mode
from policies.lexicon import get_lexicon

LEX = get_lexicon()
COACH = BuiltinCoach(break_minutes={Mode.COUPLE: 20, Mode.WORKPLACE: 15})
SAM_SHUTS_DOWN = "When Alex starts texting over and over I just shut down. It's too much and I need space."
SAM_DEFENDS = "I wasn't ignoring anyone, my phone was in my bag and I was with friends."
SAM_AWAY = SessionFacts(on_break=BreakFacts(by="other", due_back="08:30", minutes=20))


def ask(
    text: str,
    *,
    party: str = "Alex",
    other: str | None = "Sam",
    mode: Mode = Mode.COUPLE,
    history: list[Turn] | None = None,
    facts: SessionFacts | None = None,
    stage: str = "joint",
    turn: int = 0,
) -> CoachReply:
    return COACH.reply(
        CoachRequest(
            mode=mode,
            party_name=party,
            other_name=other,
            stage=stage,
            text=text,
            history=history or [],
            turn_index=turn,
            session=facts or SessionFacts(),
        )
    )


def converse(messages: list[str], **kw: object) -> list[CoachReply]:
    history: list[Turn] = []
    replies = []
    for turn, text in enumerate(messages):
        reply = ask(text, history=list(history), turn=turn, **kw)  # type: ignore[arg-type]
        replies.append(reply)
        history += [Turn(speaker="party", text=text), Turn(speaker="coach", text=reply.text)]
    return replies


# --- their own words -----------------------------------------------------------------------------
def test_pronouns_turn_towards_the_reader() -> None:
    listener = Listener(LEX, "Sam")
    own = listener.listen("Sam went out last night and didn't answer a single text.", [])
    assert own.account is not None
    assert own.account.to_self == "Sam went out last night and didn't answer a single text"
    assert own.account.to_other == "you went out last night and didn't answer a single text"
    his = Listener(LEX, "Sami").listen("His mum commented on my cooking in front of everyone.", [])
    assert his.account is not None and his.account.to_other.startswith("your mum commented on my cooking")
    assert his.account.to_self is not None and "your cooking" in his.account.to_self
    assert infer_other_name(["Sam went out again", "I told Sam twice"]) == "Sam"


def test_defensiveness_is_met_as_defensiveness() -> None:
    first, reply = converse([SAM_SHUTS_DOWN, SAM_DEFENDS], party="Sam", other="Alex")
    assert "defensiveness" in reply.markers
    assert "your phone was in your bag and you were with friends" in reply.text  # the wish to be understood
    assert reply.draft is not None
    assert "I was ignoring you" in reply.draft.text  # owning a part
    assert "My phone was in my bag and I was with friends." in reply.draft.text
    for invented in ("family", "weekend", "lonely", "Sunday", "plans"):
        assert invented not in reply.draft.text and invented not in reply.text
    assert "“I can see" in reply.text or "“I get" in reply.text  # a sentence they could own


def test_stonewalling_gets_self_soothing_and_a_return_time() -> None:
    reply = ask("I'm done. I'm not talking about this anymore.", other="Robin")
    assert "stonewalling" in reply.markers
    assert reply.draft is not None and re.search(r"come back|not leaving", reply.draft.text)
    assert any(q.format(other="Robin") in reply.text for q in LEX.coach.return_questions.couple)
    timed = ask("I'm done talking, I'll come back to it in an hour.", other="Robin")
    assert timed.draft is not None and "in an hour" in timed.draft.text


def test_no_feeling_words_get_a_tentative_question_not_an_assertion() -> None:
    reply = ask("Sam went out last night and didn't answer a single text.")
    assert "?" in reply.text
    assert "Sam went out last night and didn't answer a single text" in reply.text
    assert reply.draft is not None
    named = {w for f in LEX.feelings.values() for w in f.words}
    assert not set(re.findall(r"[a-z]+", reply.draft.text.lower())) & named


def test_their_own_feeling_words_are_mirrored_and_drafted() -> None:
    replies = converse(
        [
            "Sam went out last night and didn't answer a single text.",
            "I was scared and I felt so alone sitting at home.",
        ]
    )
    assert "scared and alone" in replies[1].text
    assert replies[1].draft is not None and "scared and alone" in replies[1].draft.text
    assert "didn't answer a single text" in replies[1].draft.text


def test_different_messages_about_chores_get_different_readings() -> None:
    one = ask("Joe left the dishes in the sink for three days.", other="Joe")
    two = ask("I do all the laundry and Kim never notices.", other="Kim")
    assert sentences(one.text)[0] != sentences(two.text)[0]
    assert "a fairer share of the load" not in one.text + two.text  # the old stock reading


# --- the session -----------------------------------------------------------------------------------
def test_is_sam_leaving_during_the_break_gets_the_facts_and_reassurance() -> None:
    reply = ask("Sam paused. Is Sam leaving me?", facts=SAM_AWAY, stage="paused")
    assert "08:30" in reply.text and "break" in reply.text
    assert re.search(r"not leaving|not an exit|isn't leaving", reply.text)
    assert any(r in reply.text for r in LEX.coach.process.reassurance)
    assert reply.draft is None
    assert "Good question" not in reply.text


@pytest.mark.parametrize(
    "facts,expect",
    [
        (SessionFacts(), "haven't sent"),
        (SessionFacts(drafts_pending=1), "hasn't been sent"),
        (SessionFacts(drafts_waiting=1), "hasn't reached Sam yet"),
        (SessionFacts(drafts_shared=1), "already see"),
    ],
)
def test_can_i_take_back_what_i_sent_is_answered_from_my_drafts(facts: SessionFacts, expect: str) -> None:
    variants = {
        "haven't sent": LEX.coach.process.take_back_none,
        "hasn't been sent": LEX.coach.process.take_back_pending,
        "hasn't reached Sam yet": LEX.coach.process.take_back_waiting,
        "already see": LEX.coach.process.take_back_shared,
    }[expect]
    reply = ask("Can I take back what I sent?", facts=facts)
    assert reply.text in [v.format(other="Sam") for v in variants]


def test_will_she_see_this_and_what_happens_now_follow_the_state() -> None:
    alone = ask("Will she see any of this?", other=None, stage="waiting")
    assert (
        "hasn't joined" in alone.text or "isn't part of the session" in alone.text or "invite" in alone.text
    )
    shared = ask("Did Sam read what I sent?", facts=SessionFacts(drafts_shared=1))
    assert "shared room" in shared.text and "can't tell" in shared.text or "don't know" in shared.text
    now = ask("What happens now?", facts=SAM_AWAY, stage="paused")
    assert "08:30" in now.text and "Ready" in now.text
    ready = ask("What happens now?", stage="ready_check")
    assert "Ready" in ready.text
    assert ask("When will Sam be back?", facts=SAM_AWAY).text.count("08:30") == 1


def test_the_break_is_mentioned_once_not_every_turn() -> None:
    replies = converse(
        ["I keep checking my phone.", "I keep writing messages and deleting them."],
        facts=SAM_AWAY,
        stage="paused",
    )
    assert "08:30" in replies[0].text and "08:30" not in replies[1].text


def test_a_long_session_never_repeats_a_stock_sentence_or_a_question() -> None:
    messages = [
        "Sam went out last night and didn't answer a single text.",
        "You never answer me when you're out.",
        "I don't even know why I bother.",
        "Whatever.",
        "I'm done talking about it.",
        "It's not my fault, you started it.",
        "Sam forgot my birthday too.",
        "He's so selfish.",
        "I felt humiliated at the party.",
        "Is it my fault?",
        "Sam's mum called three times during dinner.",
        "I need some reassurance.",
        "ok",
        "What should I say?",
        "I'm exhausted.",
    ]
    seen: dict[str, int] = {}
    for turn, reply in enumerate(converse(messages)):
        for sentence in sentences(reply.text):
            key = sentence_key(sentence)
            if len(key.split()) < 3:
                continue
            assert key not in seen, f"turn {turn} repeats turn {seen[key]}: {sentence}"
            seen[key] = turn
