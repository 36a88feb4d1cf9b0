"""Text normalisation for the safety screener: one canonical form that rules and classifier both read.

People who want past a filter (and people typing fast on a phone) write ``K1LL mys3lf``,
``k i l l``, ``ｋｉｌｌ``, Cyrillic ``кіll``, ``kiiiill`` or hide zero-width characters inside a word.
:func:`normalise` maps all of those to ``kill myself``. It also expands contractions (``I'm`` →
``i am``, ``don't``/``dont`` → ``do not``, ``gonna`` → ``going to``) so the policy's patterns are
written once, in plain words, without apostrophes.

The tables here are technical (what a character looks like), not policy (what is dangerous), so
they live in code. Nothing here logs anything.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Format characters that render as nothing: zero-width space/joiners, bidi marks, soft hyphen,
# word joiner, variation selectors, BOM, Hangul fillers.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)

# Letters from other scripts that look like Latin ones (after casefold). Mixing scripts inside a
# word is the usual way past a keyword filter; a real Russian or Greek text becomes gibberish
# here, which is fine for an English-language screener.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "г": "r", "д": "d", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u",
        "к": "k", "л": "n", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t",
        "у": "y", "х": "x", "ь": "b", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q",
        "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y", "ґ": "r", "є": "e",
        # Greek
        "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ς": "s", "σ": "o",
        # Latin letters that NFKD does not decompose
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d",
        # Punctuation people type from phones
        "\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2026": "...", "\u00a0": " ",
    }
)

# Leetspeak inside a word that also has letters ("k1ll", "su1c1de", "mys3lf", "$uicide").
_LEET_DIGITS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g"}
_LEET_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "l"}
_TOKEN = re.compile(r"[a-z0-9@$!|]+")
_HAS_LETTER = re.compile(r"[a-z]")
_NEEDS_LEET = re.compile(r"[0-9@$!|]")
# Numbers with units or ordinals are not leetspeak: "3rd", "5pm", "10km", "2nd", "4x".
_UNIT = re.compile(
    r"\d+(?:st|nd|rd|th|am|pm|s|k|m|h|hr|hrs|min|mins|yo|kg|lbs?|km|kms|mi|ft|cm|mm|g|mg|ml|gb|mb"
    r"|d|wk|wks|yr|yrs|ish|p)"  # not "x": "53x" is leetspeak far more often than a multiplier
)

# Three or more single letters separated by spaces or light punctuation: "k i l l", "k.i.l.l".
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z][ .\-_*·,+~]{1,2}){2,}[a-z](?![a-z0-9])")
_NON_LETTER = re.compile(r"[^a-z]")
_WORD_GAP = re.compile(r"\s{2,}|\s*[/|]\s*")
_RUN = re.compile(r"([a-z])\1{2,}")  # "kiiiill" -> "kill": three or more collapse to one
_PUNCT_RUN = re.compile(r"([!?.,])\1+")
_HYPHEN = re.compile(r"(?<=[a-z])-+(?=[a-z])")
_SPACES = re.compile(r"\s+")

_CONTRACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"\bain't\b"), "is not"),
    (re.compile(r"\b([a-z]+)n't\b"), r"\1 not"),
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    (
        re.compile(
            r"\b(he|she|it|that|what|there|who|where|here|how|when|why|this|everyone|everything"
            r"|nobody|someone|something|nothing|everybody|somebody|life)'s\b"
        ),
        r"\1 is",
    ),
    (re.compile(r"'"), ""),  # possessives and the rest: "john's" -> "johns"
]

# Apostrophe-less spellings and chat forms that are not ordinary English words.
_WORDS = {
    "dont": "do not", "cant": "can not", "cannot": "can not", "wont": "will not", "didnt": "did not",
    "doesnt": "does not", "isnt": "is not", "wasnt": "was not", "werent": "were not", "arent": "are not",
    "wouldnt": "would not", "couldnt": "could not", "shouldnt": "should not", "havent": "have not",
    "hasnt": "has not", "hadnt": "had not", "aint": "is not", "im": "i am", "ive": "i have", "id": "i would",
    "youre": "you are", "theyre": "they are", "hes": "he is", "shes": "she is", "youll": "you will",
    "theyll": "they will", "itll": "it will", "youve": "you have", "theyve": "they have",
    "gonna": "going to", "wanna": "want to", "gotta": "got to", "imma": "i am going to",
    "ima": "i am going to", "u": "you", "ur": "your", "idk": "i do not know", "tho": "though",
    "cuz": "because", "coz": "because", "bc": "because", "pls": "please", "plz": "please",
}
# "hell kill me", "shell find out": he'll / she'll typed without the apostrophe, before a verb
_HE_LL = re.compile(
    r"\b(he|she)ll (?=(?:kill|hurt|hit|murder|find|go|be|know|never|always|make|take|come|get|do|leave"
    r"|see|try|say|tell|beat|break|throw|lose|ruin|destroy|punish|stab|shoot|choke)\b)"
)
_WORD_RE = re.compile(r"\b(?:" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b")


@dataclass(frozen=True)
class Normalised:
    """The canonical text, plus the letter runs that were spelled out with gaps ("k i l l m e")."""

    text: str
    spaced_runs: list[str] = field(default_factory=list)


def normalise(text: str) -> str:
    """The canonical form of ``text``: casefolded, accents and look-alikes mapped to plain Latin,
    leetspeak decoded, spaced-out letters joined, letter runs shortened, contractions expanded."""
    return normalise_detail(text).text


def normalise_detail(text: str) -> Normalised:
    """Like :func:`normalise`, also returning the spaced-out letter runs that were joined (the
    rules check those against compact forms like ``killmyself``)."""
    s = _INVISIBLE.sub("", text)
    if s.isascii():
        s = s.lower()
    else:
        # NFKC folds fullwidth and mathematical letters to ASCII; NFKD then splits accents off.
        s = unicodedata.normalize("NFKC", s).casefold()
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    s = s.translate(_HOMOGLYPHS)
    if _NEEDS_LEET.search(s):
        s = _TOKEN.sub(_decode_leet, s)
    runs: list[str] = []
    if _SPACED.search(s):
        s = _SPACED.sub(lambda m: _join_run(m, runs), s)
    s = _RUN.sub(r"\1", s)
    s = _PUNCT_RUN.sub(r"\1", s)
    if "-" in s:
        s = _HYPHEN.sub(" ", s)  # "self-harm", "ex-husband": patterns are written with spaces
    if "'" in s:
        for pattern, repl in _CONTRACTIONS:
            s = pattern.sub(repl, s)
    s = _WORD_RE.sub(lambda m: _WORDS[m.group(0)], s)
    if "ll " in s:
        s = _HE_LL.sub(r"\1 will ", s)
    return Normalised(_SPACES.sub(" ", s).strip(), runs)


def _join_run(match: re.Match[str], runs: list[str]) -> str:
    # A wider gap (two spaces, " / ") between letter groups is a word break: "k i l l  m e" is
    # "kill me". With single gaps throughout the words run together ("killme"); the rules check
    # such runs against compact terms.
    words = [_NON_LETTER.sub("", part) for part in _WORD_GAP.split(match.group(0))]
    # "a g u n", "i k i l l": the article or pronoun before spelled-out letters is its own word
    words = [f"{w[0]} {w[1:]}" if len(w) >= 4 and w[0] in "ai" else w for w in words]
    joined = " ".join(w for w in words if w)
    runs.append(_RUN.sub(r"\1", joined.replace(" ", "")))
    return joined


def _decode_leet(match: re.Match[str]) -> str:
    token = match.group(0)
    if not _NEEDS_LEET.search(token) or not _HAS_LETTER.search(token) or _UNIT.fullmatch(token):
        return token
    out: list[str] = []
    last = len(token) - 1
    for i, ch in enumerate(token):
        if ch in _LEET_DIGITS:
            out.append(_LEET_DIGITS[ch])
        elif ch in _LEET_SYMBOLS:
            prev_ok = i > 0 and token[i - 1].isalnum()
            next_ok = i < last and token[i + 1].isalnum()
            # Only inside a word ("k!ll", "k@ll"), or "$" starting one ("$uicide"): a trailing
            # "!" is punctuation.
            if (prev_ok and next_ok) or (ch == "$" and i == 0 and next_ok):
                out.append(_LEET_SYMBOLS[ch])
            else:
                out.append(ch)
        else:
            out.append(ch)
    return "".join(out)
