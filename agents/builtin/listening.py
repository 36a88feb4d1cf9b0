"""What this person has said in this session, in forms the coach can say back or draft from.

The builtin coach has no model, so it listens the plain way: it keeps the person's own clauses and
turns the pronouns. "Sam went out last night and didn't answer a single text" is said back to Alex
as it is, and becomes "you went out last night and didn't answer a single text" in a draft for Sam.
Nothing is paraphrased into a stock situation, so nothing is invented; a clause that carries blame,
an absolute or a feeling is not used as an observation (the feeling is mirrored separately).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.guards import tone_problems
from policies.lexicon import Lexicon, prepare, strip_apostrophes

_SENTENCES = re.compile(r"[^.!?;\n]+")
_PARTS = re.compile(r",|\s+(?:but|and then|so|because|although|though|except|while)\s+|\s+[-–—]\s+", re.I)
_WHEN = re.compile(r"\b(?:when|whenever)\s+(.+?)(?:,|\s+(?=(?:i|i'm|i’m|im|it|my)\b)|$)", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_NEGATED = re.compile(r"\b(not|never|no longer|isnt|arent|wasnt|dont|didnt|doesnt|without)\s+(\w+\s+)?$")

_FILLERS = {"and", "but", "so", "then", "like", "honestly", "basically", "well", "ok", "okay", "also", "plus"}
_ADVERBS = {
    "just",
    "also",
    "still",
    "really",
    "often",
    "usually",
    "sometimes",
    "then",
    "even",
    "barely",
    "hardly",
    "only",
    "actually",
    "suddenly",
    "literally",
    "completely",
    "totally",
    "apparently",
}
_THIRD_TO_SECOND = {
    "is": "are",
    "was": "were",
    "has": "have",
    "does": "do",
    "doesnt": "don't",
    "isnt": "aren't",
    "wasnt": "weren't",
    "hasnt": "haven't",
    "goes": "go",
    "says": "say",
}
_SECOND_TO_THIRD = {
    "are": "is",
    "were": "was",
    "have": "has",
    "do": "does",
    "dont": "doesn't",
    "arent": "isn't",
    "werent": "wasn't",
    "havent": "hasn't",
}
_IRREGULAR_PAST = {
    "went",
    "said",
    "did",
    "had",
    "made",
    "took",
    "came",
    "saw",
    "told",
    "left",
    "got",
    "bought",
    "forgot",
    "sent",
    "spent",
    "gave",
    "kept",
    "put",
    "thought",
    "felt",
    "brought",
    "ran",
    "sat",
    "stood",
    "wrote",
    "spoke",
    "broke",
    "drove",
    "ate",
    "drank",
    "met",
    "paid",
    "sold",
    "lost",
    "hid",
    "moved",
    "let",
    "cut",
    "could",
    "would",
    "should",
    "might",
    "will",
    "can",
    "didn't",
    "couldn't",
    "wouldn't",
    "won't",
    "can't",
}
_PARTNER_WORDS = (
    "my partner",
    "my husband",
    "my wife",
    "my boyfriend",
    "my girlfriend",
    "my manager",
    "my boss",
    "my colleague",
    "my fiance",
    "my fiancee",
)
_NO_OBSERVATION = re.compile(
    r"\b(feel|felt|feeling|think|thought|know|guess|wonder|bother|maybe|probably|like i|its like|"
    r"seems|apparently|always|never|ever|every time|constantly|everything|nothing|nobody|no one|anymore|"
    # evaluations dressed as facts (NVC's faux feelings) are not observations
    r"ignor\w*|abandon\w*|betray\w*|disrespect\w*|manipulat\w*|neglect\w*|gaslight\w*|used me|"
    r"doesnt care|dont care|didnt care|selfish|lazy|rude|miss|missed|missing|"
    # a need or a wish is not an account of what happened (it is mirrored as the need)
    r"(i|we) (just |really |only )?(need|want|wish|would like|d like))\b"
)
_SELF_START = ("i", "im", "ive", "id", "my", "we", "were", "our")
_OTHER_START = ("he", "she", "hes", "shes", "his", "her", "you", "youre", "youve", "your")
_DENIED = re.compile(
    r"\bi (?:wasnt|was not|wasn't) (\w+ing)((?: to \w+)?)(?: (anyone|anybody|you|him|her|them|[a-z]+))?\b"
)
_RETURN_TIME = re.compile(
    r"\b(in (?:an|half an|a couple of|a few|\d+|one|two|three|ten|twenty|thirty|fifteen)"
    r" (?:hours?|minutes?|mins?)"
    r"|tomorrow(?: morning| evening| night| after work)?|tonight|this evening|after (?:dinner|work|lunch)"
    r"|later (?:today|tonight|this evening)|(?:at|by|around|after) \d{1,2}(?::\d\d)?(?: ?(?:am|pm))?)\b"
)
_NEED = re.compile(
    r"\bi (?:really |just |only |simply )?(?:need|want|would like|d like) "
    r"((?:some |more |a bit of |a little |a little bit of )?(?:space|time to myself|time alone|quiet|rest|"
    r"help|support|reassurance|honesty|respect|a break|room to breathe|air|a breather|a moment)"
    r"|to (?:feel|be) (?:heard|understood|seen|respected|appreciated|included|trusted|safe|valued|"
    r"listened to|taken seriously|considered|noticed|supported|close to (?:you|him|her)))\b"
)
_OWN_REQUEST = re.compile(
    r"\bi (?:just |really )?(?:wish|want|need|would like|d like) (him|her|them|you|[a-z]+) (?:would |to |d )"
    r"(.{6,90}?)(?=[.!?;,]|$)"
)


@dataclass(frozen=True)
class Clause:
    """One clause of the person's own account, in two voices."""

    to_self: str | None  # for a reflection, said to the author ("Sam went out…"); None: no clean form
    to_other: str  # for a draft, said to the other ("you went out…")
    about_other: bool  # the other person is who the clause is about


@dataclass(frozen=True)
class OwnWords:
    """What the coach can use from this person's turns (current message first)."""

    account: Clause | None  # what happened, to say back and to observe in a draft
    account_now: bool  # the account is in the current message (not said back again otherwise)
    explanation: Clause | None  # a first-person fact ("my phone was in my bag"), for defensiveness
    feelings: tuple[str, ...]  # feeling words they used, as they said them (at most two)
    feelings_now: bool  # the feelings are in the current message
    need: str | None  # their need, reading after "I need"/"you need": "space", "to feel heard"
    request: str | None  # their own request, addressed to the other: "text me when you're late"
    denied_act: str | None  # "ignoring you", from "I wasn't ignoring anyone"
    return_time: str | None  # "in an hour", from their words


def feeling_vocabulary(lexicon: Lexicon) -> dict[str, str]:
    """True feeling words (as people say them) -> their feeling group."""
    found: dict[str, str] = {}
    for name, feeling in lexicon.feelings.items():
        for word in [*feeling.said, *feeling.words, *feeling.workplace]:
            found.setdefault(strip_apostrophes(word).lower(), name)
    return found


def own_feelings(text: str, lexicon: Lexicon) -> list[tuple[str, str]]:
    """(word as said, group) for feeling words in ``text``, in order, negated ones left out."""
    prepared = prepare(text)
    hits: list[tuple[int, str, str]] = []
    for word, group in feeling_vocabulary(lexicon).items():
        for match in re.finditer(rf"\b{re.escape(word)}\b", prepared):
            if _NEGATED.search(prepared[max(0, match.start() - 24) : match.start()]):
                continue
            hits.append((match.start(), word, group))
            break
    hits.sort()
    # "let down" and "down" are not two feelings: drop words inside a longer one already found
    kept: list[tuple[str, str]] = []
    for _, word, group in hits:
        if not any(word in other and word != other for _, other, _ in hits):
            kept.append((word, group))
    return kept


def is_past(clause: str) -> bool:
    """Whether a clause tells a past event ("you went out…"), judged by its first verb."""
    tokens = [_key(t) for t in _tokens(clause)]
    for token in tokens[1:4]:
        if token in _ADVERBS:
            continue
        return (
            token.endswith("ed")
            or token in _IRREGULAR_PAST
            or token in ("was", "were", "wasnt", "werent", "didnt", "had", "hadnt")
        )
    return False


def _key(token: str) -> str:
    return strip_apostrophes(token).lower()


def _agree(token: str, table: dict[str, str]) -> str:
    key = _key(token)
    if key in table:
        return table[key]
    return token


def _third_to_second(token: str) -> str:
    key = _key(token)
    if key in _THIRD_TO_SECOND:
        return _THIRD_TO_SECOND[key]
    if key.endswith("ies") and len(key) > 4:
        return token[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z)es$", key):
        return token[:-2]
    if key.endswith("s") and not key.endswith(("ss", "us", "is")) and len(key) > 3:
        return token[:-1]
    return token


class _Voices:
    """Turns one clause into the two voices, or says it cannot."""

    def __init__(self, other_name: str | None) -> None:
        self.other = (other_name or "").strip()
        self.other_key = _key(self.other.split()[0]) if self.other else ""

    def is_other(self, key: str) -> bool:
        return bool(self.other_key) and key in (self.other_key, self.other_key + "s")

    def subject(self, tokens: list[str]) -> str | None:
        """ "other", "self" or None for the clause's first word(s)."""
        if not tokens:
            return None
        first = _key(tokens[0])
        two = " ".join(_key(t) for t in tokens[:2])
        if self.is_other(first) or first in _OTHER_START or two in _PARTNER_WORDS:
            return "other"
        if first in _SELF_START:
            return "self"
        return None

    def to_other(self, tokens: list[str]) -> str:
        out: list[str] = []
        agree_next = False
        skip = 0
        for i, token in enumerate(tokens):
            if skip:
                skip -= 1
                continue
            key = _key(token)
            nxt = _key(tokens[i + 1]) if i + 1 < len(tokens) else ""
            two = f"{key} {nxt}"
            if agree_next and key not in _ADVERBS:
                out.append(_third_to_second(token))
                agree_next = False
                continue
            if two in _PARTNER_WORDS:
                out.append("you")
                skip = 1
                agree_next = True
            elif self.is_other(key):
                possessive = key.endswith("s") and key != self.other_key
                out.append("your" if possessive else "you")
                agree_next = not possessive
            elif key in ("he", "she"):
                out.append("you")
                agree_next = True
            elif key in ("hes", "shes"):
                out.append("you're")
            elif key in ("hed", "shed"):
                out.append("you'd")
            elif key in ("hell", "shell"):
                out.append("you'll")
            elif key in ("him",):
                out.append("you")
            elif key == "his":
                out.append("your" if nxt and nxt not in _CLAUSE_WORDS else "yours")
            elif key == "her":
                out.append("your" if nxt and nxt not in _CLAUSE_WORDS else "you")
            elif key in ("himself", "herself"):
                out.append("yourself")
            else:
                out.append(token)
        return _lower_first(" ".join(out))

    def to_self(self, tokens: list[str]) -> str | None:
        out: list[str] = []
        after_i = False
        after_you = False
        for token in tokens:
            key = _key(token)
            if after_i:
                after_i = False
                if key in ("am", "m"):
                    out.append("are")
                    continue
                if key == "was":
                    out.append("were")
                    continue
                if key == "wasnt":
                    out.append("weren't")
                    continue
            if after_you and key not in _ADVERBS:
                after_you = False
                if key in _SECOND_TO_THIRD:
                    out.append(_SECOND_TO_THIRD[key])
                    continue
                if not (key.endswith("ed") or key in _IRREGULAR_PAST):
                    return None  # "you answer" has no safe third-person form here
            mapped = _SELF.get(key)
            if mapped is not None:
                out.append(mapped)
                after_i = key == "i"
                continue
            if key in ("you", "youre", "youve", "your", "yours", "yourself"):
                if not self.other:
                    return None
                name = self.other
                out.append(
                    {
                        "you": name,
                        "youre": f"{name}'s",
                        "youve": f"{name} has",
                        "your": f"{name}'s",
                        "yours": f"{name}'s",
                        "yourself": "themselves",
                    }[key]
                )
                after_you = key == "you"
                continue
            out.append(token)
        return _lower_first(" ".join(out))


_SELF = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "im": "you're",
    "ive": "you've",
    "id": "you'd",
    "ill": "you'll",
    "we": "you both",
    "our": "your",
    "us": "you both",
    "ours": "yours",
    "ourselves": "yourselves",
}
_CLAUSE_WORDS = {
    "and",
    "or",
    "but",
    "to",
    "that",
    "when",
    "if",
    "about",
    "with",
    "for",
    "at",
    "in",
    "on",
    "again",
    "so",
    "because",
    "the",
    "a",
    "an",
    "anything",
    "everything",
    "nothing",
    "yet",
}


def _lower_first(text: str) -> str:
    head, _, rest = text.partition(" ")
    if (
        head
        and head not in ("I", "I'm", "I've", "I'd", "I'll")
        and (head.lower() == head or _key(head) in _LOWERABLE)
    ):
        head = head.lower()
    elif head and _key(head) in _LOWERABLE:
        head = head.lower()
    return f"{head} {rest}".strip() if rest else head


_LOWERABLE = {
    "my",
    "you",
    "your",
    "we",
    "our",
    "the",
    "a",
    "an",
    "he",
    "she",
    "it",
    "they",
    "there",
    "this",
    "that",
    "his",
    "her",
    "when",
    "after",
    "before",
    "since",
    "last",
    "every",
    "on",
    "at",
    "in",
}


_NOT_NAMES = frozenset(
    """i im ive id ill when the my it its this that and but so then he she we they you your what why how
    is are do did can will would could should maybe honestly well ok okay oh sorry please yes no just also
    if because since after before last every today yesterday tomorrow tonight monday tuesday wednesday
    thursday friday saturday sunday christmas easter new hi hey hello thanks there here our his her their
    not now never always sometimes once again even like really actually anyway whatever fine sure who
    where which while though although until as at in on for with from by about hr ceo""".split()
)
_CAPITALISED = re.compile(r"\b([A-Z][a-z]{1,15})(?:'s|’s)?\s+[a-z]")


def infer_other_name(turns: Sequence[str]) -> str | None:
    """The name a person alone (the other has not joined) most often uses for someone who does
    something: "Sam went out…" -> "Sam". Only for turning pronouns; never shown as a fact."""
    counts: dict[str, int] = {}
    for turn in turns:
        for match in _CAPITALISED.finditer(turn):
            name = match.group(1)
            if name.lower() not in _NOT_NAMES:
                counts[name] = counts.get(name, 0) + 1
    return max(counts, key=lambda n: (counts[n], n)) if counts else None


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _strip_fillers(tokens: list[str]) -> list[str]:
    while tokens and _key(tokens[0]) in _FILLERS:
        tokens = tokens[1:]
    return tokens


class Listener:
    """Reads a person's turns with the lexicon and the other person's name."""

    def __init__(self, lexicon: Lexicon, other_name: str | None) -> None:
        self.lexicon = lexicon
        self.voices = _Voices(other_name)
        self.feeling_words = feeling_vocabulary(lexicon)

    def _usable(self, tokens: list[str]) -> bool:
        if not 3 <= len(tokens) <= 24:
            return False
        # "said nothing" is a plain fact, not an absolute
        prepared = re.sub(r"\b(said|did|say|do|heard) nothing\b", r"\1 zilch", prepare(" ".join(tokens)))
        if _NO_OBSERVATION.search(prepared):
            return False
        if any(re.search(rf"\b{re.escape(w)}\b", prepared) for w in self.feeling_words):
            return False
        return not (self.lexicon.insults.search(prepared) or self.lexicon.absolutes.first_word(prepared))

    def _clause(self, tokens: list[str]) -> Clause | None:
        tokens = _strip_fillers(tokens)
        if not self._usable(tokens):
            return None
        subject = self.voices.subject(tokens)
        to_other = self.voices.to_other(tokens)
        if tone_problems(to_other, self.lexicon):
            return None
        # sarcasm or a verdict about the other ("like Bo has ever…") is not an observation; a
        # first-person explanation ("my phone was in my bag") may be, even inside a defence
        if subject != "self" and any(
            h.recognise(prepare(" ".join(tokens))) for _, h in self.lexicon.horsemen.items()
        ):
            return None
        return Clause(self.voices.to_self(tokens), to_other, subject == "other")

    def clauses(self, text: str) -> tuple[list[Clause], list[Clause], list[Clause]]:
        """(when-clauses, clauses about the other, first-person clauses) of one message."""
        when: list[Clause] = []
        about: list[Clause] = []
        own: list[Clause] = []
        for sentence in _SENTENCES.findall(text):
            if "?" in sentence:
                continue
            for match in _WHEN.finditer(sentence):
                clause = self._clause(_tokens(match.group(1)))
                if clause is not None:
                    when.append(clause)
            for part in _PARTS.split(_WHEN.sub(" ", sentence)):
                tokens = _strip_fillers(_tokens(part))
                subject = self.voices.subject(tokens)
                if subject is None:
                    continue
                if subject == "self" and re.match(
                    r"(i|we) (wasnt|was not|didnt|did not|never|dont|cant|havent)\b", prepare(part.strip())
                ):
                    continue  # a denial is not an account of what happened
                if subject == "self" and re.match(r"(im|i am|i was|i feel|i felt)\b", prepare(part.strip())):
                    continue  # a state of mind ("I'm just wound up") is not an observation either
                clause = self._clause(tokens)
                if clause is not None:
                    (about if subject == "other" else own).append(clause)
        return when, about, own

    def listen(self, text: str, earlier: Sequence[str]) -> OwnWords:
        """Everything usable, the current message first, then earlier turns (most recent first)."""
        turns = [text, *reversed(earlier)]
        account: Clause | None = None
        account_now = False
        explanation: Clause | None = None
        for index, turn in enumerate(turns):
            when, about, own = self.clauses(turn)
            if account is None:
                account = next(iter(when + about), None)
                account_now = account is not None and index == 0
            if explanation is None and own:
                explanation = next((c for c in own if c.to_self), None)
            if account is not None and explanation is not None:
                break
        if account is None and explanation is not None:
            account = explanation
            account_now = bool(self.clauses(text)[2])
        feelings: list[tuple[str, str]] = []
        feelings_now = False
        for index, turn in enumerate(turns):
            found = own_feelings(turn, self.lexicon)
            if found:
                feelings = found[:2]
                feelings_now = index == 0
                break
        need = request = denied = back = None
        for turn in turns:
            prepared = prepare(turn)
            if need is None and (m := _NEED.search(prepared)):
                need = m.group(1)
            if request is None and (m := _OWN_REQUEST.search(prepared)):
                wanted = _tokens(m.group(1) + " " + m.group(2))
                candidate = self.voices.to_other(wanted)
                first = candidate.split(" ", 1)
                if first[0] == "you" and len(first) > 1 and not tone_problems(first[1], self.lexicon):
                    request = first[1]
            if denied is None and (m := _DENIED.search(prepared)):
                obj = m.group(3)
                target = obj and (
                    obj in ("anyone", "anybody", "you", "him", "her", "them") or self.voices.is_other(obj)
                )
                denied = m.group(1) + m.group(2) + (" you" if target else "")
            if back is None and turn is text and (m := _RETURN_TIME.search(prepared)):
                back = m.group(
                    1
                )  # a return time counts only when offered now, not "tired after work" earlier
        return OwnWords(
            account=account,
            account_now=account_now,
            explanation=explanation if explanation is not account else None,
            feelings=tuple(w for w, _ in feelings),
            feelings_now=feelings_now,
            need=need,
            request=request,
            denied_act=denied,
            return_time=back,
        )

    def groups(self, feelings: Sequence[str]) -> list[str]:
        return [self.feeling_words[strip_apostrophes(w).lower()] for w in feelings]
