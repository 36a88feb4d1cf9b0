"""Privacy and tone properties of everything that reaches the shared room."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.guards import normalise_words, tone_problems
from orchestrator.memory_store import MemoryStore
from tests.orchestrator.session_helpers import joint_session, make_driver

PHRASES = [
    "you never listen to me when I talk about my day",
    "I feel lonely in the evenings when the phone comes out",
    "my mother keeps calling about the holiday plans and I am stuck in the middle",
    "I spent the savings on the car repair and did not tell you",
    "I need us to plan the weekend together instead of at the last minute",
    "the dishes pile up and I end up doing them late at night",
    "when you laugh at my job in front of friends I feel small",
    "I would like a quiet hour after work before we talk about problems",
]

actions = st.lists(
    st.tuples(
        st.sampled_from(["Alex", "Sam"]),
        st.sampled_from(["say", "send", "discard"]),
        st.lists(st.sampled_from(PHRASES), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=8,
)


def _runs(words: list[str], n: int = 6) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_shared_text_never_contains_unsent_private_words(steps) -> None:
    asyncio.run(_check_privacy(steps))


async def _check_privacy(steps) -> None:
    store = MemoryStore()
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    for name, action, phrases in steps:
        pid = d.pid(name)
        if action == "say":
            await d.service.say(sid, pid, ". ".join(phrases) + ".")
            continue
        try:
            draft = await d.latest_draft(name)
        except LookupError:
            continue
        await d.service.share(sid, pid, draft, "send" if action == "send" else "discard")
    state = await store.load(sid)
    sent = [d_.text for d_ in state.drafts.values() if d_.status.value == "sent"]
    sent_runs = set().union(*(_runs(normalise_words(t)) for t in sent)) if sent else set()
    private_runs = set()
    for party in state.parties.values():
        for turn in party.history:
            if turn.speaker == "party":
                private_runs |= _runs(normalise_words(turn.text))
    for message in state.shared:
        for run in _runs(normalise_words(message.text)):
            assert run not in private_runs or run in sent_runs, f"private words leaked: {' '.join(run)}"


HOSTILE = [
    "You always do this. You're pathetic.",
    "Whatever, I'm done. You never listen and you never will.",
    "You're so selfish, everything is always about you",
    "YOU ALWAYS RUIN EVERYTHING, you're useless",
]


async def test_shared_messages_from_hostile_input_carry_no_contempt() -> None:
    store = MemoryStore()
    d = make_driver(store)
    sid, a, b = await joint_session(d)
    for i, text in enumerate(HOSTILE):
        name = "Alex" if i % 2 == 0 else "Sam"
        pid = d.pid(name)
        await d.service.say(sid, pid, text)
        d.clock.advance(600)
        try:
            draft = await d.latest_draft(name)
        except LookupError:
            continue
        await d.service.share(sid, pid, draft, "send")
        # The author also tries to push the raw hostile words through as an edit.
        try:
            draft = await d.latest_draft(name)
            await d.service.share(sid, pid, draft, "edit", text)
        except LookupError:
            pass
    state = await store.load(sid)
    assert state.shared, "the gentle drafts should have been shared"
    for message in state.shared:
        assert tone_problems(message.text) == [], message.text
        lowered = message.text.lower()
        for marker in ("you always", "you never", "pathetic", "whatever, i'm done", "useless", "selfish"):
            assert marker not in lowered
