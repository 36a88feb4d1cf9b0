"""The screener's first and cheapest layer: policy patterns over normalised text.

Each rule in ``policies/safety_patterns.yaml`` is a regular expression with a category and a
severity. A match is dropped when it overlaps a figurative-use exception ("I could kill for a
coffee") or one of the rule's own exceptions, and lowered (usually to nothing) when a negation
comes just before it ("I would never hurt her"). Rules whose danger *is* a negation
("I don't want to live anymore") are marked ``negatable: false`` in the policy.

Reasons name rule ids only, never the text.
"""

from __future__ import annotations

import re
import re._constants as _sre  # type: ignore[import-not-found]  # opcodes, to derive prefilters
import re._parser as _sre_parse  # type: ignore[import-not-found]
from dataclasses import dataclass

from agents.safety.normalise import Normalised, normalise_detail
from orchestrator.models import Mode, Severity, Verdict
from policies.safety import PatternPolicy, RulePattern, safety_patterns

LAYER = "rules"
_FIGURATIVE_REACH = 120  # characters before a match where a figurative phrase may start


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired (after exceptions and negation), for the verdict and for debugging."""

    rule_id: str
    categories: tuple[str, ...]
    severity: Severity
    negated: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class _Compiled:
    spec: RulePattern
    regex: re.Pattern[str]
    unless: tuple[re.Pattern[str], ...]
    modes: frozenset[Mode]
    # Substrings at least one of which every match contains (None: no cheap test). Derived from
    # the pattern itself, so skipping a rule whose prefilter fails can never miss a match.
    prefilter: frozenset[str] | None


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def required_substrings(pattern: str) -> tuple[str, ...] | None:
    """Strings one of which must occur in any text ``pattern`` matches, or None if none is known.

    Most rule patterns start with generic words ("he", "my", any name) that the regex engine tries
    at every position; a plain substring test on the rarer words they need ("strangled",
    "passwords") rules almost every text out in a few microseconds.
    """
    found = _required(list(_sre_parse.parse(pattern)))
    return tuple(sorted(found)) if found else None


def _frozen(found: tuple[str, ...] | None) -> frozenset[str] | None:
    return frozenset(found) if found else None


def _trie_pattern(words: list[str]) -> str:
    """A regex matching any of ``words``, shaped as a trie so the engine branches once per
    character instead of trying every word at every position."""
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longest word wins

    return build(root)


def _score(found: frozenset[str]) -> tuple[int, int]:
    # the shortest member decides how often the test passes; spaces say little ("my " is common)
    return (min(len(x.strip()) for x in found), -len(found))


def _minimal(found: frozenset[str]) -> frozenset[str]:
    # "hit" occurring is implied by "hits" occurring: keep only the shortest forms
    return frozenset(x for x in found if not any(y != x and y in x for y in found))


def _required(items: list[tuple[object, object]]) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(candidate: frozenset[str] | None) -> None:
        nonlocal best
        if candidate and all(candidate) and (best is None or _score(candidate) > _score(best)):
            best = candidate

    for op, arg in items:
        if op is _sre.LITERAL:
            run.append(chr(arg))  # type: ignore[arg-type]
            continue
        if run:
            consider(frozenset(["".join(run)]))
            run = []
        candidate: frozenset[str] | None = None
        if op is _sre.BRANCH:
            parts = [_required(list(alt)) for alt in arg[1]]  # type: ignore[index]
            if all(part is not None for part in parts):
                candidate = _minimal(frozenset().union(*parts))  # type: ignore[arg-type]
        elif op is _sre.SUBPATTERN:
            candidate = _required(list(arg[-1]))  # type: ignore[index]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and arg[0] >= 1:  # type: ignore[index]
            candidate = _required(list(arg[2]))  # type: ignore[index]
        consider(candidate)
    if run:
        consider(frozenset(["".join(run)]))
    return best


class RulesLayer:
    """Matches the policy's patterns. ``check`` never raises for any text (the screener still
    guards it: an exception anywhere is a ``high`` verdict)."""

    def __init__(self, patterns: PatternPolicy) -> None:
        self.patterns = patterns
        self._rules = [
            _Compiled(
                spec=rule,
                regex=re.compile(patterns.expand(rule.pattern)),
                unless=tuple(re.compile(patterns.expand(u)) for u in rule.unless),
                modes=frozenset(rule.modes),
                prefilter=_frozen(required_substrings(patterns.expand(rule.pattern))),
            )
            for rule in patterns.rules
        ]
        # one alternation: figurative phrases are only looked for around a match, in one pass
        self._figurative = re.compile(
            "|".join(f"(?:{patterns.expand(f)})" for f in patterns.figurative) or "(?!)"
        )
        self._cues = re.compile(patterns.expand(patterns.negation.cues))
        self._boundary = re.compile(patterns.expand(patterns.negation.boundaries))
        pseudo = [patterns.expand(p) for p in patterns.negation.pseudo]
        self._pseudo = re.compile("|".join(f"(?:{p})" for p in pseudo)) if pseudo else None
        self._window = patterns.negation.window_tokens
        self._compact = [(t.term, t.category, t.severity) for t in patterns.compact_terms]
        # Every rule's prefilter substrings, found in one pass: a trie-shaped regex reports the
        # longest one starting at each position, and ``_contained`` adds the ones inside it.
        literals = sorted({x for r in self._rules if r.prefilter for x in r.prefilter})
        self._literals = re.compile(f"(?=({_trie_pattern(literals)}))") if literals else None
        self._contained = {x: frozenset(y for y in literals if y in x) for x in literals}

    @classmethod
    def from_policy(cls) -> RulesLayer:
        """The layer for the process's ``safety_patterns.yaml``."""
        return cls(safety_patterns())

    # ------------------------------------------------------------------ public
    def check(self, text: str, mode: Mode | None = None) -> Verdict:
        """The rules' verdict on ``text`` (layer ``rules``): the worst surviving match decides."""
        return self.verdict(self.hits(normalise_detail(text), mode))

    def check_normalised(self, detail: Normalised, mode: Mode | None = None) -> Verdict:
        """Like :meth:`check`, for text the caller already normalised."""
        return self.verdict(self.hits(detail, mode))

    def hits(
        self, detail: Normalised, mode: Mode | None = None, include_negated: bool = False
    ) -> list[RuleHit]:
        """Every rule that fired on normalised text. With ``include_negated``, also the ones a
        negation cancelled."""
        s = detail.text
        present: set[str] = set()
        if self._literals is not None:
            for m in self._literals.finditer(s):
                present.update(self._contained[m.group(1)])
        found: list[RuleHit] = []
        for rule in self._rules:
            if rule.modes and mode is not None and mode not in rule.modes:
                continue
            if rule.prefilter is not None and rule.prefilter.isdisjoint(present):
                continue
            for match in rule.regex.finditer(s):
                span = match.span()
                if self._figurative_at(s, span):
                    continue
                if rule.unless and _overlaps(span, [m.span() for u in rule.unless for m in u.finditer(s)]):
                    continue
                spec = rule.spec
                categories = (spec.category, *spec.also)
                if spec.negatable and self._negated(s, match):
                    if spec.negated_severity is not Severity.NONE or include_negated:
                        found.append(RuleHit(spec.id, categories, spec.negated_severity, True, spec.tag))
                    continue
                found.append(RuleHit(spec.id, categories, spec.severity, False, spec.tag))
                break  # one surviving match per rule is enough
        for run in detail.spaced_runs:
            for term, category, severity in self._compact:
                if term in run:
                    found.append(RuleHit(f"compact:{term}", (category,), severity))
        return found

    @staticmethod
    def verdict(hits: list[RuleHit]) -> Verdict:
        """Fold hits into one verdict: the worst severity; categories worst first; rule ids as reasons."""
        live = [h for h in hits if h.severity is not Severity.NONE]
        if not live:
            return Verdict(severity=Severity.NONE, layer=LAYER)
        live.sort(key=lambda h: -h.severity.rank)  # stable: policy order within a severity
        categories: list[str] = []
        reasons: list[str] = []
        for hit in live:
            for category in hit.categories:
                if category not in categories:
                    categories.append(category)
            reason = f"rule:{hit.rule_id}" + (":negated" if hit.negated else "")
            if reason not in reasons:
                reasons.append(reason)
            if hit.tag and hit.tag not in reasons:
                reasons.append(hit.tag)
        return Verdict(severity=live[0].severity, categories=categories, layer=LAYER, reasons=reasons)

    def _figurative_at(self, s: str, span: tuple[int, int]) -> bool:
        """Does a figurative phrase overlap ``span``? (Phrases are short: look only nearby.)"""
        for m in self._figurative.finditer(s, max(0, span[0] - _FIGURATIVE_REACH)):
            if m.start() >= span[1]:
                return False
            if m.end() > span[0]:
                return True
        return False

    # ------------------------------------------------------------------ negation
    def _negated(self, s: str, match: re.Match[str]) -> bool:
        """A negation cue in the few words before the match, within its clause. (Negations inside
        a match are excluded by the patterns themselves: wildcards are ``{ANY}``.)"""
        before = s[: match.start()]
        boundaries = [m.end() for m in self._boundary.finditer(before)]
        if boundaries:
            before = before[boundaries[-1] :]
        window = " ".join(before.split()[-self._window :])
        if not window:
            return False
        if self._pseudo is not None:
            window = self._pseudo.sub(" ~ ", window)
        return self._cues.search(window) is not None
