"""Normalisation: the disguises people use to get past a keyword filter all map to plain words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.safety.normalise import normalise, normalise_detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("K1LL MYS3LF", "kill myself"),
        ("k1ll mys3lf", "kill myself"),
        ("su1c1d3", "suicide"),
        ("$uicide", "suicide"),
        ("k!ll", "kill"),
        ("k i l l  m y s e l f", "kill myself"),
        ("k.i.l.l", "kill"),
        ("k-i-l-l", "kill"),
        ("he held a g u n to my head", "he held a gun to my head"),
        ("\uff4b\uff49\uff4c\uff4c me", "kill me"),  # fullwidth
        ("\u043a\u0456ll", "kill"),  # Cyrillic ka and i
        ("\u039a\u0399LL", "kill"),  # Greek capitals
        ("su\u200bic\u200bide", "suicide"),  # zero-width spaces
        ("ki\u200dll\ufeff", "kill"),  # zero-width joiner, BOM
        ("kiiiiill", "kill"),
        ("sooooo sad", "so sad"),
        ("Café naïve", "cafe naive"),
        ("I\u2019m fine", "i am fine"),
        ("I don't want to live", "i do not want to live"),
        ("I dont wanna", "i do not want to"),
        ("can't", "can not"),
        ("self-harm", "self harm"),
        ("my ex-husband", "my ex husband"),
        ("Sam said hell kill me", "sam said he will kill me"),
        ("make my life hell", "make my life hell"),
        ("Id regret it", "i would regret it"),
    ],
)
def test_disguises_map_to_plain_words(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("text", ["meet at 5pm on the 3rd", "10km run", "24/7", "2x a week", "100 messages"])
def test_numbers_that_are_not_leetspeak_stay(text: str) -> None:
    assert normalise(text) == text


def test_spaced_runs_are_reported_joined() -> None:
    detail = normalise_detail("k i l l m y s e l f")
    assert detail.text == "killmyself"
    assert detail.spaced_runs == ["killmyself"]


@given(st.text(max_size=200))
def test_any_text_normalises_to_lower_case_without_invisible_characters(text: str) -> None:
    out = normalise(text)
    assert isinstance(out, str)
    assert not any(c in out for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad")
    assert not any("A" <= c <= "Z" for c in out)
    assert out == out.strip()
