"""agents/builtin/mediator.py: approved words only, verbatim, attributed, balanced, warm, short."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.builtin.coach import BuiltinCoach
from agents.builtin.mediator import BuiltinMediator
from agents.builtin.phrasing import sentence_key, sentences
from agents.guards import leak_problems, tone_problems
from agents.interfaces import ApprovedItem, CoachRequest, ComposeRequest, ComposeResult
from orchestrator.models import Mode
from policies.lexicon import get_lexicon

LEX = get_lexicon()
MEDIATOR = BuiltinMediator()
COACH = BuiltinCoach(break_minutes={Mode.COUPLE: 20, Mode.WORKPLACE: 15})

PURSUER_DRAFT = (
    "When it goes quiet between us for a long stretch, a part of me feels anxious and lonely, "
    "because I need to know where we stand. Would you be willing to tell me when you need time, "
    "and roughly when you'll be back, so I can settle? I'm open to shaping it together."
)
PURSUER_REQUEST = "tell me when you need time, and roughly when you'll be back, so I can settle"


def compose(
    items: list[ApprovedItem],
    mode: Mode = Mode.COUPLE,
    parties: tuple[str, str] = ("Alex", "Sam"),
    shared_count: int = 0,
    previous: list[str] | None = None,
) -> ComposeResult:
    return MEDIATOR.compose_now(
        ComposeRequest(
            mode=mode,
            parties=list(parties),
            items=items,
            previous_shared=previous or [],
            shared_count=shared_count,
        )
    )


def item(text: str, author: str = "Alex", request: str | None = None, draft_id: str = "d1") -> ApprovedItem:
    return ApprovedItem(draft_id=draft_id, author_name=author, text=text, request=request)


def coach_draft(text: str, mode: Mode, turn: int) -> tuple[str, str | None]:
    reply = COACH.reply(
        CoachRequest(
            mode=mode,
            party_name="Alex",
            other_name="Sam",
            stage="joint",
            text=text,
            turn_index=turn,
            parts_language=turn % 2 == 0,
        )
    )
    assert reply.draft is not None
    return reply.draft.text, reply.draft.request


def test_one_item_is_quoted_verbatim_attributed_balanced_and_short() -> None:
    result = compose([item(PURSUER_DRAFT, request=PURSUER_REQUEST)])
    assert f"“{PURSUER_DRAFT}”" in result.text
    assert "Alex" in result.text and "Sam" in result.text
    assert len(result.text) < 600
    assert tone_problems(result.text) == []


def test_first_message_restores_connection_before_the_problem() -> None:
    first = compose([item(PURSUER_DRAFT, request=PURSUER_REQUEST)], shared_count=0)
    openings = [o.format(names="Alex and Sam") for o in LEX.mediator.openings.couple]
    opening = next(o for o in openings if first.text.startswith(o))
    assert first.text.index(opening) < first.text.index(PURSUER_DRAFT)
    later = compose([item(PURSUER_DRAFT, request=PURSUER_REQUEST)], shared_count=3)
    assert not any(o in later.text for o in openings)


def test_the_other_person_is_acknowledged_by_name_without_invented_words() -> None:
    result = compose([item("I miss our evenings together.")])
    acks = [a.format(other="Sam", author="Alex") for a in LEX.mediator.acknowledgements.couple]
    assert any(a in result.text for a in acks)
    # everything outside the quote is stock framing: nothing claims what Sam thinks or said
    framing = result.text.replace("“I miss our evenings together.”", "")
    assert "Sam said" not in framing and "Sam feels" not in framing and "Sam thinks" not in framing


def test_both_sides_sharing_gets_both_names_and_both_texts() -> None:
    a = item("I'd like us to have one quiet evening a week.", "Alex", draft_id="d1")
    b = item("I'd like that too, and I need Sundays for my family.", "Sam", draft_id="d2")
    result = compose([a, b], shared_count=2)
    assert a.text in result.text and b.text in result.text
    assert result.text.index("Alex") < result.text.index(a.text) < result.text.index(b.text)
    between = result.text[result.text.index(a.text) + len(a.text) : result.text.index(b.text)]
    assert "Sam" in between  # Sam's words are attributed to Sam
    assert any(t.format(names="Alex and Sam") in result.text for t in LEX.mediator.both_shared.couple)


def test_approved_text_is_never_altered() -> None:
    odd = "i  really  mean it…   would you be willing to talk tonight??\nplease"
    result = compose([item(odd)])
    assert f"“{odd}”" in result.text


def test_workplace_register() -> None:
    text = (
        "When work I contributed to is presented without my part being mentioned, I feel discouraged, "
        "because recognition for my work matters to me. Would you be willing to settle with me how we "
        "credit shared work in meetings and updates?"
    )
    result = compose(
        [item(text, "Priya", "settle with me how we credit shared work in meetings and updates")],
        Mode.WORKPLACE,
        ("Priya", "Jordan"),
    )
    assert text in result.text and "Priya" in result.text and "Jordan" in result.text
    assert any(
        result.text.startswith(o.format(names="Priya and Jordan")) for o in LEX.mediator.openings.workplace
    )
    framing = result.text.replace(text, "")
    assert not re.search(r"\bpart of (me|you)\b|\bcouple\b|\blove\b", framing)
    assert result.agreements[0].text.startswith("We") and "credit shared work" in result.agreements[0].text


def test_requests_become_mutual_agreements_with_their_sources() -> None:
    result = compose([item(PURSUER_DRAFT, request=PURSUER_REQUEST, draft_id="d7")])
    assert len(result.agreements) == 1
    agreement = result.agreements[0]
    assert agreement.source_draft_ids == ["d7"]
    assert "agree" in agreement.text.lower() and agreement.text.startswith(("We", "Together"))
    assert not re.search(r"\b(me|my|you|your|I)\b", agreement.text), agreement.text
    assert "each other" in agreement.text and tone_problems(agreement.text) == []


@pytest.mark.parametrize(
    "request_text,expected",
    [
        ("stop seeing your friends on weekends", "about seeing our friends on weekends"),
        (
            "let me finish my point in meetings, and I'll do the same for you",
            "let each other finish our point",
        ),
        (
            "send me a short note when you need time to yourself",
            "send each other a short note when we need time to ourselves",
        ),
        ("never yell at me again", "both of us"),
    ],
)
def test_boundaries_and_one_sided_requests_become_shared(request_text: str, expected: str) -> None:
    text = f"Would you be willing to {request_text}?"
    agreement = compose([item(text, request=request_text)]).agreements[0].text
    assert expected in agreement, agreement
    assert not agreement.lower().startswith("we agree to stop")


def test_agreement_follows_the_approved_words_when_the_stored_request_is_stale() -> None:
    edited = "I'd like more time together. Would you be willing to plan a walk with me on Saturday?"
    result = compose([item(edited, request="send me a short note when you need time")])
    assert result.agreements[0].text.endswith("plan a walk together on Saturday.")
    assert compose([item("Thank you for yesterday.")]).agreements == []


def test_consecutive_messages_do_not_reuse_framing() -> None:
    previous: list[str] = []
    seen: set[str] = set()
    for count in range(6):
        result = compose(
            [item(f"Message number {count} from me.", draft_id=f"d{count}")],
            shared_count=count,
            previous=previous[-3:],
        )
        framing = {sentence_key(s) for s in sentences(result.text) if "Message number" not in s}
        assert not framing & seen, result.text
        seen |= framing
        previous.append(result.text)


drafts = st.tuples(
    st.sampled_from(
        [
            "You never listen to me",
            "I just need some space, it's too much",
            "whatever, I'm done",
            "He took credit for my slides",
            "We keep fighting about money",
            "You're pathetic",
        ]
    ),
    st.sampled_from(list(Mode)),
    st.integers(0, 50),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(drafts, min_size=1, max_size=2), st.integers(0, 8))
def test_composed_messages_from_coach_drafts_pass_every_guard(specs: list, shared_count: int) -> None:
    mode = specs[0][1]
    items = []
    for index, (text, _, turn) in enumerate(specs):
        draft, request = coach_draft(text, mode, turn)
        items.append(item(draft, ["Alex", "Sam"][index % 2], request, f"d{index}"))
    result = compose(items, mode, shared_count=shared_count)
    assert tone_problems(result.text) == [], result.text
    for it in items:
        assert f"“{it.text}”" in result.text
    private = [text for text, _, _ in specs]  # what the parties wrote privately
    assert leak_problems(result.text, private, [it.text for it in items]) == []
    for agreement in result.agreements:
        assert tone_problems(agreement.text) == []
    if len(items) == 1:
        assert len(result.text) < 600


async def test_compose_is_the_async_interface() -> None:
    request = ComposeRequest(mode=Mode.COUPLE, parties=["Alex", "Sam"], items=[item("Hello Sam.")])
    assert await MEDIATOR.compose(request) == MEDIATOR.compose_now(request)


def test_agreement_never_doubles_a_word() -> None:
    from agents.builtin.mediator import BuiltinMediator

    text = BuiltinMediator().mutual_agreement("co-present the next quarterly update together")
    words = text.lower().rstrip(".").split()
    assert all(a != b for a, b in zip(words, words[1:], strict=False)), text
