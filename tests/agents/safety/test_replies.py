"""Safety replies: warm, varied, with the right resources, and nothing leaked."""

from __future__ import annotations

import pytest

from agents.safety.replies import reply_key, resources_for, safety_reply
from orchestrator.models import Severity, Verdict
from policies.safety import safety_policy

SELF_HARM = Verdict(severity=Severity.CRITICAL, categories=["self_harm"], layer="rules")
MANIPULATION = Verdict(severity=Severity.HIGH, categories=["ai_manipulation"], layer="rules")
WORKPLACE = Verdict(
    severity=Severity.HIGH, categories=["workplace_harassment"], layer="rules", reasons=["formal_route"]
)
ERROR = Verdict(severity=Severity.HIGH, categories=["screen_error"], layer="error", reasons=["screen_error"])


def _names(verdict: Verdict, locale: str) -> list[str]:
    return [r.name for r in safety_reply(verdict, locale=locale, variant_seed=1)[1]]


def test_a_crisis_reply_carries_crisis_and_emergency_resources() -> None:
    assert _names(SELF_HARM, "en-US")[:1] == ["988 Suicide & Crisis Lifeline"]
    assert "Emergency services" in _names(SELF_HARM, "en-US")
    assert "Samaritans" in _names(SELF_HARM, "en-GB")
    assert "Samaritans" in _names(SELF_HARM, "en_gb")  # spelled as a POSIX locale
    assert "Find A Helpline" in _names(SELF_HARM, "default")
    assert _names(SELF_HARM, "fr-FR") == _names(SELF_HARM, "default")  # unknown: the default list


def test_replies_vary_with_the_seed_and_repeat_for_the_same_seed() -> None:
    texts = {safety_reply(SELF_HARM, variant_seed=seed)[0] for seed in range(20)}
    assert len(texts) >= 5
    assert safety_reply(SELF_HARM, variant_seed=7) == safety_reply(SELF_HARM, variant_seed=7)


def test_every_category_has_a_varied_reply() -> None:
    policy = safety_policy()
    for name in policy.categories:
        verdict = Verdict(severity=Severity.HIGH, categories=[name], layer="rules")
        variants = policy.replies[reply_key(verdict, policy)]
        assert len(variants.openings) >= 2 and len(variants.bodies) >= 2 and len(variants.closings) >= 2, name


def test_the_manipulation_reply_is_kind_and_gives_nothing_away() -> None:
    text, resources = safety_reply(MANIPULATION, locale="en-US", variant_seed=3)
    assert resources == []  # no crisis numbers for a question about the other room
    assert "private" in text.lower()
    for leak in ("said", "wrote", "told me", "mentioned"):
        assert leak not in text.lower(), leak


def test_the_workplace_reply_points_to_the_formal_route() -> None:
    text, resources = safety_reply(WORKPLACE, locale="en-GB", variant_seed=0)
    assert "formal" in text.lower()
    assert [r.name for r in resources] == ["Acas helpline"]  # advice, not an emergency line
    assert "U.S. Equal Employment Opportunity Commission" in _names(WORKPLACE, "en-US")


def test_a_screen_error_gets_its_own_reply_with_emergency_numbers() -> None:
    text, resources = safety_reply(ERROR, variant_seed=0)
    assert "couldn't check" in text or "didn't work" in text
    assert [r.name for r in resources] == ["Emergency services"]


def test_self_harm_thoughts_at_concern_get_a_gentler_reply_and_no_emergency_line() -> None:
    concern = Verdict(severity=Severity.CONCERN, categories=["self_harm"], layer="rules")
    text, resources = safety_reply(concern, locale="en-US", variant_seed=2)
    assert text not in {safety_reply(SELF_HARM, locale="en-US", variant_seed=s)[0] for s in range(10)}
    names = [r.name for r in resources]
    assert "988 Suicide & Crisis Lifeline" in names and "Emergency services" not in names


@pytest.mark.parametrize(
    "categories", [["ipv_coercive_control"], ["child_safety"], ["sexual_coercion"], ["violence_threat"]]
)
def test_danger_categories_get_a_specialist_line(categories: list[str]) -> None:
    names = [r.name for r in resources_for(Verdict(severity=Severity.HIGH, categories=categories), "en-US")]
    assert "Emergency services" in names and len(names) >= 2


def test_priority_decides_the_wording_when_several_categories_are_flagged() -> None:
    policy = safety_policy()
    both = Verdict(severity=Severity.CRITICAL, categories=["ai_manipulation", "self_harm"])
    assert reply_key(both, policy) == "self_harm"


def test_the_default_resources_are_marked_as_needing_review() -> None:
    assert all(not entry.reviewed for entry in safety_policy().resources.values())
