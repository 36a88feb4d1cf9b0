"""agents/builtin/grounding.py: a draft may say only what its author said, in neutral NVC words."""

from __future__ import annotations

import re

import pytest

from agents.builtin import coach as coach_module
from agents.builtin.coach import BuiltinCoach
from agents.builtin.grounding import content_words, grounding_problems, invented_words, neutral_stems, stem
from agents.interfaces import CoachRequest, DraftProposal
from orchestrator.models import Mode
from policies.lexicon import get_lexicon

LEX = get_lexicon()
SAM = [
    "When Alex starts texting over and over I just shut down. It's too much and I need space.",
    "I wasn't ignoring anyone, my phone was in my bag and I was with friends.",
]
# The draft the old coach offered Sam, and Sam approved: a grievance Sam never voiced.
OLD_DRAFT = (
    "When time with family fills the weekend before we've planned it together, my lonely part gets "
    "stirred up. It matters to me that my plans and feelings are taken into account. Would you be "
    "willing to talk through the week's plans together each Sunday evening?"
)


def test_the_old_invented_draft_fails_the_check_on_the_invented_topic() -> None:
    invented = invented_words(OLD_DRAFT, SAM)
    for word in ("family", "weekend", "lonely", "planned", "sunday", "evening"):
        assert word in invented, invented
    assert grounding_problems(OLD_DRAFT, SAM) == [f"grounding:invented_words:{len(invented)}"]


def test_the_authors_own_words_pass_whatever_their_form() -> None:
    draft = (
        "I can see it felt like I was ignoring you. My phone was in my bag and I was with friends. "
        "When you start texting over and over, I need space."
    )
    assert invented_words(draft, SAM) == []
    assert stem("ignoring") == stem("ignored") == stem("ignore")
    assert stem("texts") == stem("texting")


@pytest.mark.parametrize(
    "word",
    [
        "family",
        "weekend",
        "sunday",
        "evening",
        "phone",
        "money",
        "kids",
        "dishes",
        "friends",
        "text",
        "night",
        "holiday",
        "parents",
        "work late",
    ],
)
def test_topic_words_are_not_neutral(word: str) -> None:
    assert not {stem(w) for w in content_words(word)} <= neutral_stems()


def test_feeling_words_are_not_neutral() -> None:
    # a draft may only name a feeling its author named
    # single words: "let down" is made of words a request needs anyway ("let me know")
    feelings = {w for f in LEX.feelings.values() for w in [*f.words, *f.workplace, *f.said] if " " not in w}
    allowed = [w for w in feelings if {stem(x) for x in content_words(w)} <= neutral_stems()]
    assert allowed == []


def test_every_word_a_draft_template_adds_is_neutral() -> None:
    # otherwise the guard would reject the coach's own frames and the authors would get no draft
    drafts = LEX.drafts
    templates: list[str] = [*drafts.parts_frames, *drafts.parts_frames_unnamed]
    for variants in (
        drafts.frames,
        drafts.frames_unnamed,
        drafts.neutral_observations,
        drafts.request_frames,
        drafts.repairs,
        drafts.ownership_acts,
        drafts.ownerships,
        drafts.pauses_timed,
        drafts.pauses,
    ):
        templates += variants.couple + variants.workplace
    for need in LEX.needs.values():
        templates += [*need.asks, need.because, need.because_workplace or "", need.noun]
    for template in templates:
        plain = re.sub(r"\{\w+\}", " ", template)
        assert invented_words(plain, []) == [], template


def test_the_coach_withholds_a_draft_that_invents_a_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    def inventing(*args: object, **kwargs: object) -> DraftProposal:
        return DraftProposal(text=OLD_DRAFT, kind="request", request="talk through the week's plans")

    monkeypatch.setattr(coach_module, "build_draft", inventing)
    reply = BuiltinCoach().reply(
        CoachRequest(mode=Mode.COUPLE, party_name="Sam", other_name="Alex", stage="joint", text=SAM[1])
    )
    assert reply.draft is None


def test_no_draft_over_the_whole_quality_corpus_invents_anything() -> None:
    from bench.coach_quality import run

    exchanges = run()
    assert len(exchanges) >= 300
    drafts = [e for e in exchanges if e.reply.draft is not None]
    assert len(drafts) > 150
    assert [(e.text, e.invented) for e in drafts if e.invented] == []
