"""Intake screening (LAP, MASIC) and the C-SSRS follow-up."""

from __future__ import annotations

import pytest

from agents.safety.intake import (
    cssrs_questions,
    intake_preamble,
    intake_questions,
    score_cssrs,
    score_intake,
)
from orchestrator.models import Mode, Severity
from policies.safety import intake_policy

COUNTED_LOW = ["lap_gun", "lap_separated", "lap_unemployed", "lap_child_not_theirs"]  # LAP 4, 7, 8, 10


def test_clients_see_the_questions_but_not_how_they_are_scored() -> None:
    for mode in Mode:
        questions = intake_questions(mode)
        assert questions, mode
        for q in questions:
            dumped = q.model_dump()
            assert set(dumped) == {"id", "text", "help", "skippable", "ask_if"}
            assert q.skippable
            assert "abuse" not in q.text.lower()  # neutral, behaviourally specific wording
        assert intake_preamble(mode)


def test_the_couple_screen_starts_with_a_lap_immediate_item() -> None:
    first = intake_policy().screens[Mode.COUPLE].questions[0]
    assert first.lap_item in (1, 2, 3)
    assert score_intake({first.id: True}).positive


@pytest.mark.parametrize("qid", ["lap_weapon", "lap_threat_kill", "lap_might_kill"])
def test_any_of_lap_items_1_to_3_is_critical_with_referral(qid: str) -> None:
    result = score_intake({qid: True})
    assert result.positive and result.referral
    assert result.severity is Severity.CRITICAL
    assert "violence_threat" in result.categories


def test_four_of_the_other_lap_items_is_high_with_referral() -> None:
    result = score_intake(dict.fromkeys(COUNTED_LOW, True))
    assert result.positive and result.referral and result.severity is Severity.HIGH
    assert "lap_count_4" in result.reasons


def test_three_of_the_other_lap_items_is_not_a_referral() -> None:
    result = score_intake(dict.fromkeys(COUNTED_LOW[:3], True))
    assert not result.referral and not result.positive
    assert result.severity is Severity.CONCERN  # gun access alone is worth attention


@pytest.mark.parametrize(
    ("qid", "category"),
    [
        ("masic_sexual", "sexual_coercion"),
        ("masic_physical", "violence_threat"),
        ("masic_money_phone", "ipv_coercive_control"),
        ("masic_psychological", "ipv_coercive_control"),
        ("lap_choke", "violence_threat"),
        ("lap_stalking", "ipv_coercive_control"),
    ],
)
def test_masic_abuse_types_are_high_and_separate(qid: str, category: str) -> None:
    result = score_intake({qid: True})
    assert result.positive and result.severity is Severity.HIGH
    assert category in result.categories
    assert any(r.startswith("masic:") for r in result.reasons)
    assert not result.referral  # a MASIC type alone is not a LAP referral


def test_skips_and_noes_never_count() -> None:
    every = [q.id for q in intake_policy().screens[Mode.COUPLE].questions]
    skipped = score_intake(dict.fromkeys(every, None))
    assert not skipped.positive and skipped.severity is Severity.NONE and skipped.skipped == len(every)
    no_to_all = score_intake({qid: False for qid in every if qid != "couple_speak_freely"})
    assert no_to_all.severity is Severity.NONE
    assert score_intake({}).severity is Severity.NONE
    assert score_intake({"no_such_question": True}).severity is Severity.NONE


def test_a_question_whose_risky_answer_is_no() -> None:
    result = score_intake({"couple_speak_freely": False})
    assert result.severity is Severity.CONCERN and not result.positive
    assert score_intake({"couple_speak_freely": True}).severity is Severity.NONE


def test_workplace_screen() -> None:
    assert score_intake({"work_sexual": True}).positive
    assert "workplace_harassment" in score_intake({"work_discrimination": True}).categories
    retaliation = score_intake({"work_retaliation": True})
    assert retaliation.severity is Severity.CONCERN and not retaliation.positive


def test_cssrs_questions_follow_the_screener() -> None:
    questions = cssrs_questions()
    assert len(questions) == 6
    by_id = {q.id: q for q in questions}
    for follow_up in ("cssrs_method", "cssrs_intent", "cssrs_plan"):
        assert by_id[follow_up].ask_if == "cssrs_thoughts"
    assert by_id["cssrs_behaviour"].ask_if is None


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, Severity.NONE),
        ({"cssrs_wish_dead": None, "cssrs_thoughts": None}, Severity.NONE),
        ({"cssrs_wish_dead": True}, Severity.CONCERN),
        ({"cssrs_wish_dead": True, "cssrs_thoughts": True}, Severity.CONCERN),
        ({"cssrs_thoughts": True, "cssrs_method": True}, Severity.HIGH),
        ({"cssrs_thoughts": True, "cssrs_intent": True}, Severity.CRITICAL),
        ({"cssrs_thoughts": True, "cssrs_plan": True}, Severity.CRITICAL),
        ({"cssrs_behaviour": True}, Severity.CRITICAL),
        ({"cssrs_thoughts": False, "cssrs_behaviour": False}, Severity.NONE),
    ],
)
def test_cssrs_scoring(answers: dict[str, bool | None], expected: Severity) -> None:
    assert score_cssrs(answers) is expected
