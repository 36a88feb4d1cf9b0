"""policies/lexicon.py + lexicon.yaml: loads, is complete, and a broken file fails naming file and field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from agents.guards import tone_problems
from orchestrator.errors import PolicyError
from orchestrator.models import Mode
from policies.lexicon import LEXICON_FILE, Lexicon, get_lexicon, prepare
from policies.lexicon_phrases import template_fields
from policies.loader import POLICY_DIR, load_policy

SHIPPED = POLICY_DIR / LEXICON_FILE


def _broken(tmp_path: Path, edit) -> Path:
    """Copy the shipped lexicon into ``tmp_path`` with one edit applied to the parsed YAML."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(data)
    (tmp_path / LEXICON_FILE).write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return tmp_path


def test_shipped_lexicon_loads_and_is_cached() -> None:
    lexicon = get_lexicon()
    assert isinstance(lexicon, Lexicon)
    assert get_lexicon() is lexicon


def test_four_horsemen_each_have_markers_and_an_antidote() -> None:
    horsemen = dict(get_lexicon().horsemen.items())
    assert set(horsemen) == {"criticism", "contempt", "defensiveness", "stonewalling"}
    for horseman in horsemen.values():
        assert horseman.antidote and horseman.markers


def test_needs_lexicon_covers_the_core_nvc_needs() -> None:
    needs = get_lexicon().needs
    for need in (
        "connection",
        "reassurance",
        "respect",
        "rest",
        "space",
        "fairness",
        "recognition",
        "reliability",
    ):
        assert need in needs


def test_feelings_map_what_people_say_to_true_feeling_words() -> None:
    lexicon = get_lexicon()
    said = {
        "I feel so ignored": "lonely",
        "I'm taken for granted": "discouraged",
        "he keeps nagging me": "pressured",
    }
    for text, group in said.items():
        feeling = lexicon.feelings[group]
        assert any(r.search(prepare(text)) for r in feeling.regexes), text
        # faux feelings ("ignored") are never mirrored back as if they were feelings
        assert not {"ignored", "taken for granted", "nagged"} & set(feeling.words)


def test_topics_have_neutral_observations_and_requests_in_both_modes() -> None:
    lexicon = get_lexicon()
    for mode in Mode:
        topics = lexicon.topics.for_mode(mode)
        assert sum(1 for t in topics if not t.cues) == 1  # exactly one fallback
        for topic in topics:
            for clause in topic.observations + topic.requests:
                assert tone_problems(clause) == [], (topic.id, clause)


def test_reflection_need_phrases_read_after_both_frames() -> None:
    """``reflect`` must read after "you need" and "what you need is": no bare verbs or "for"."""
    for need in get_lexicon().needs.values():
        for mode in Mode:
            phrase = need.reflect_for(mode)
            assert not re.match(r"(for|that|be|feel)\b", phrase), phrase


def test_workplace_phrases_carry_no_parts_or_couple_language() -> None:
    lexicon = get_lexicon()
    phrases = lexicon.coach
    lists = [
        phrases.reflections.workplace,
        phrases.validations.workplace,
        phrases.follow_ups.workplace,
        phrases.draft_offers.workplace,
        phrases.breaks.steps.workplace,
        phrases.cycle.pursuer.workplace,
        phrases.cycle.withdrawer.workplace,
        lexicon.drafts.frames.workplace,
        lexicon.mediator.openings.workplace,
        lexicon.mediator.acknowledgements.workplace,
    ]
    for text in (t for group in lists for t in group):
        assert not re.search(
            r"\bpart of (me|you)\b|\bmy \w+ part\b|\bcouple|\brelationship\b|\blove\b", text
        ), text


def test_mediator_and_draft_stock_phrases_pass_the_tone_guard() -> None:
    lexicon = get_lexicon()
    fill = {
        "author": "Alex",
        "other": "Sam",
        "names": "Alex and Sam",
        "text": "“…”",
        "action": "talk",
        "topic": "plans",
        "request": "talk",
        "observation": "plans change",
        "feelings": "sad",
        "because": "I care",
        "part": "sad",
        "need_noun": "rest",
    }
    groups = [
        lexicon.mediator.openings,
        lexicon.mediator.attributions,
        lexicon.mediator.acknowledgements,
        lexicon.mediator.request_acks,
        lexicon.mediator.both_shared,
        lexicon.drafts.frames,
        lexicon.drafts.request_frames,
        lexicon.drafts.repairs,
    ]
    templates = [t for g in groups for t in g.couple + g.workplace]
    templates += lexicon.mediator.agreement_frames + lexicon.drafts.parts_frames
    for template in templates:
        text = template.format(**{k: v for k, v in fill.items() if k in template_fields(template)})
        assert tone_problems(text) == [], text


def test_broken_regex_names_the_file_and_the_field(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["horsemen"]["contempt"]["markers"][0]["pattern"] = "(unclosed"

    with pytest.raises(PolicyError) as err:
        load_policy(LEXICON_FILE, Lexicon, directory=_broken(tmp_path, edit))
    message = str(err.value)
    assert "lexicon.yaml" in message
    assert "horsemen.contempt.markers.0.pattern" in message
    assert "invalid regular expression" in message


def test_unknown_placeholder_names_the_field_and_the_placeholder(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["coach"]["reflections"]["couple"][0] = "It sounds like you feel {feeling} and need {need}."

    with pytest.raises(PolicyError) as err:
        load_policy(LEXICON_FILE, Lexicon, directory=_broken(tmp_path, edit))
    message = str(err.value)
    assert "lexicon.yaml" in message and "coach.reflections" in message and "feeling" in message


def test_too_few_variants_is_refused(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["coach"]["validations"]["workplace"] = data["coach"]["validations"]["workplace"][:3]

    with pytest.raises(PolicyError, match=r"coach\.validations.*at least 10"):
        load_policy(LEXICON_FILE, Lexicon, directory=_broken(tmp_path, edit))


def test_reference_to_an_unknown_need_is_refused(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["topics"]["couple"][0]["needs"] = ["telepathy"]

    with pytest.raises(
        PolicyError, match=r"lexicon\.yaml.*topics\.couple\.unanswered\.needs: unknown need 'telepathy'"
    ):
        load_policy(LEXICON_FILE, Lexicon, directory=_broken(tmp_path, edit))


def test_misspelt_key_is_refused_not_ignored(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data["horsemen"]["critcism"] = data["horsemen"].pop("criticism")

    with pytest.raises(PolicyError) as err:
        load_policy(LEXICON_FILE, Lexicon, directory=_broken(tmp_path, edit))
    assert "horsemen.criticism" in str(err.value) and "horsemen.critcism" in str(err.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="lexicon.yaml: policy file not found"):
        load_policy(LEXICON_FILE, Lexicon, directory=tmp_path)
    shutil.copy(SHIPPED, tmp_path / LEXICON_FILE)
    (tmp_path / LEXICON_FILE).write_text("horsemen: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="lexicon.yaml: not valid YAML"):
        load_policy(LEXICON_FILE, Lexicon, directory=tmp_path)


def test_prepare_normalises_case_apostrophes_and_spaces() -> None:
    assert prepare("You’re  SO\tdone, don't") == "youre so done, dont"
