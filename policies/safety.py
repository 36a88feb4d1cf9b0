"""Safety policy, validated at load. Three files, reviewed by a clinician or a deployment, not Python:

* ``safety.yaml``: categories, the action per severity, crisis resources per locale, the wording of
  safety replies, classifier thresholds and the LLM judge's prompt and timeout;
* ``safety_patterns.yaml``: the rule patterns with their negation and figurative-use exceptions;
* ``safety_intake.yaml``: the private intake screens (LAP items, MASIC abuse types) and C-SSRS.

``safety_policy()``, ``safety_patterns()`` and ``intake_policy()`` are cached accessors for the
running process; the ``load_*`` functions read a given folder (tests, ``ACCORD_POLICY_DIR``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from orchestrator.errors import PolicyError
from orchestrator.models import Mode, Severity
from policies.loader import load_policy, policy_dir

_MACRO = re.compile(r"\{([A-Z][A-Z_]*)\}")


class Action(StrEnum):
    """What the session does at a severity."""

    CONTINUE = "continue"
    COACH_ATTENDS = "coach_attends"  # the coach gently attends to it; nothing is held
    HOLD_JOINT = "hold_joint"  # joint work is held; private support continues; a review case opens
    HOLD_AND_PAGE = "hold_and_page"  # held for both; a reviewer is paged now (top of the queue)


class CategorySpec(BaseModel):
    description: str
    reply: str  # key into ``replies``


class RulePattern(BaseModel):
    """One pattern of one category, matched against normalised text (see ``agents.safety.normalise``).

    ``negatable``: a negation just before the match ("I would never hurt her") lowers the result to
    ``negated_severity``. Statements whose danger *is* a negation ("I don't want to live") are
    written as their own non-negatable patterns. ``unless``: exceptions; a match overlapping one
    of them is ignored ("kill a python process").
    """

    id: str
    category: str
    severity: Severity
    pattern: str
    negatable: bool = True
    negated_severity: Severity = Severity.NONE
    unless: list[str] = Field(default_factory=list)
    also: list[str] = Field(default_factory=list)  # further categories the same match belongs to
    modes: list[Mode] = Field(default_factory=list)  # empty: every mode
    tag: str | None = None  # extra reason ("formal_route") that replies read

    @field_validator("severity")
    @classmethod
    def _not_none(cls, value: Severity) -> Severity:
        if value is Severity.NONE:
            raise ValueError("a rule must raise severity above none")
        return value


class CompactTerm(BaseModel):
    """A phrase written as one run of letters, checked only against spaced-out runs ("k i l l m e")."""

    term: str = Field(pattern=r"^[a-z]+$")
    category: str
    severity: Severity


class NegationPolicy(BaseModel):
    cues: str  # regex of negation words (normalised text has no apostrophes: "do not", "never")
    window_tokens: int = Field(ge=1, le=12)
    boundaries: str  # regex; a negation before a boundary does not reach the match
    pseudo: list[str] = Field(default_factory=list)  # "can not stop", "not sure": not negations


class ResourceSpec(BaseModel):
    name: str
    contact: str
    note: str = ""
    categories: list[str] = Field(default_factory=list)  # empty: offered for every category
    always: bool = False  # offered with every high/critical reply (emergency numbers)


class LocaleResources(BaseModel):
    reviewed: bool = False  # a deployment sets this after checking every entry for its region
    resources: list[ResourceSpec] = Field(min_length=1)


class ReplyVariants(BaseModel):
    """Pieces a reply is assembled from; the seed picks one of each, so replies vary naturally."""

    openings: list[str] = Field(min_length=1)
    bodies: list[str] = Field(min_length=1)
    closings: list[str] = Field(min_length=1)
    resources: bool = True  # attach resources (the ai_manipulation reply attaches none)
    emergency: bool = True  # add emergency numbers when high or critical (not for the formal route)


class ClassifierPolicy(BaseModel):
    """The trained classifier: where its artifact lives and how its probabilities are read."""

    version: str  # the manifest must name this version, or the classifier does not load
    artifact: str  # relative to the policy folder
    manifest: str
    # P(severity >= s) needed to report s. Set from cross-validation on the training split only;
    # the held-out split is for reporting, never for tuning.
    thresholds: dict[Severity, float]
    category_min_probability: float = Field(gt=0, lt=1)
    max_chars: int = Field(gt=50)  # longer texts are classified in chunks; the worst chunk counts
    # Categories the taxonomy only knows at this severity or worse (coercive control is never a
    # mere "concern"): a confident classifier verdict in one of them is raised to the floor.
    category_floor: dict[str, Severity] = Field(default_factory=dict)
    floor_min_probability: float = Field(default=0.8, gt=0, lt=1)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[Severity, float]) -> dict[Severity, float]:
        needed = [s for s in (Severity.CONCERN, Severity.HIGH, Severity.CRITICAL) if s not in value]
        if needed:
            raise ValueError(f"a threshold is required for {', '.join(s.value for s in needed)}")
        if any(not 0 < v < 1 for v in value.values()):
            raise ValueError("thresholds are probabilities strictly between 0 and 1")
        return value


class JudgePolicy(BaseModel):
    prompt_file: str  # relative to the policy folder
    timeout_seconds: float = Field(gt=0)
    max_chars: int = Field(default=4000, gt=100)  # longer texts are cut (the rules saw all of it)


class SafetyPolicy(BaseModel):
    """Everything in ``safety.yaml``."""

    version: str
    categories: dict[str, CategorySpec]
    actions: dict[Severity, Action]
    reply_priority: list[str]  # which category's reply wins when several are flagged
    replies: dict[str, ReplyVariants]
    resources: dict[str, LocaleResources]
    classifier: ClassifierPolicy
    judge: JudgePolicy

    def action(self, severity: Severity) -> Action:
        """What the session does at ``severity``."""
        return self.actions[severity]

    @model_validator(mode="after")
    def _consistent(self) -> SafetyPolicy:
        missing = [s.value for s in Severity if s not in self.actions]
        if missing:
            raise ValueError(f"actions: no action for severity {', '.join(missing)}")
        if "default" not in self.resources:
            raise ValueError("resources: a 'default' locale is required")
        for name, spec in self.categories.items():
            if spec.reply not in self.replies:
                raise ValueError(f"categories.{name}.reply: no reply named {spec.reply!r}")
        for needed in ("screen_error", "concern"):
            if needed not in self.replies:
                raise ValueError(f"replies: a {needed!r} reply is required")
        for name in self.reply_priority:
            if name not in self.categories:
                raise ValueError(f"reply_priority: unknown category {name!r}")
        for name in self.classifier.category_floor:
            if name not in self.categories:
                raise ValueError(f"classifier.category_floor: unknown category {name!r}")
        for locale, entry in self.resources.items():
            for i, res in enumerate(entry.resources):
                unknown = [c for c in res.categories if c not in self.categories]
                if unknown:
                    raise ValueError(f"resources.{locale}.{i}: unknown category {', '.join(unknown)}")
        return self


class PatternPolicy(BaseModel):
    """Everything in ``safety_patterns.yaml``: what the rules layer matches, and what it lets pass."""

    macros: dict[str, str] = Field(default_factory=dict)
    negation: NegationPolicy
    figurative: list[str] = Field(default_factory=list)  # exceptions shared by every rule
    rules: list[RulePattern]
    compact_terms: list[CompactTerm] = Field(default_factory=list)

    def expand(self, pattern: str) -> str:
        """``pattern`` with ``{MACRO}`` names replaced (unknown names raise ``KeyError``)."""
        for _ in range(5):  # macros may use macros, a few levels deep
            if not _MACRO.search(pattern):
                return pattern
            pattern = _MACRO.sub(lambda m: self.macros[m.group(1)], pattern)
        raise ValueError("macros nest too deeply")

    def check_categories(self, known: set[str]) -> None:
        """Raise ``ValueError`` naming the first rule or term whose category is not in ``known``."""
        for i, rule in enumerate(self.rules):
            for category in (rule.category, *rule.also):
                if category not in known:
                    raise ValueError(f"rules.{i} ({rule.id}): unknown category {category!r}")
        for i, term in enumerate(self.compact_terms):
            if term.category not in known:
                raise ValueError(f"compact_terms.{i}: unknown category {term.category!r}")

    @model_validator(mode="after")
    def _consistent(self) -> PatternPolicy:
        for i, rule in enumerate(self.rules):
            for where, source in [("pattern", rule.pattern), *[("unless", u) for u in rule.unless]]:
                self._check_regex(f"rules.{i} ({rule.id}).{where}", source)
        for i, source in enumerate(self.figurative):
            self._check_regex(f"figurative.{i}", source)
        self._check_regex("negation.cues", self.negation.cues)
        self._check_regex("negation.boundaries", self.negation.boundaries)
        for i, source in enumerate(self.negation.pseudo):
            self._check_regex(f"negation.pseudo.{i}", source)
        ids = [r.id for r in self.rules]
        dupes = sorted({x for x in ids if ids.count(x) > 1})
        if dupes:
            raise ValueError(f"rules: duplicate ids {', '.join(dupes)}")
        return self

    def _check_regex(self, where: str, source: str) -> None:
        try:
            re.compile(self.expand(source))
        except KeyError as exc:
            raise ValueError(f"{where}: unknown macro {exc.args[0]}") from None
        except re.error as exc:
            raise ValueError(f"{where}: invalid pattern ({exc})") from None


# --- intake ------------------------------------------------------------------------------------
class IntakeItem(BaseModel):
    """One private, skippable yes/no intake question, with how it is scored. ``risk_answer`` is the
    answer that signals risk. Only ``id``, ``text``, ``help`` and ``ask_if`` ever reach a client
    (``agents.safety.intake.IntakeQuestion``): the scoring stays on the server."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str
    help: str = ""
    category: str
    severity_if_risk: Severity
    risk_answer: bool = True
    lap_item: int | None = Field(default=None, ge=1, le=11)  # Lethality Assessment Program item
    masic: str | None = None  # MASIC abuse type
    ask_if: str | None = None  # only shown when this question was answered with its risk answer
    skippable: bool = True


class IntakeScreen(BaseModel):
    preamble: str
    questions: list[IntakeItem] = Field(min_length=1)


class LapRules(BaseModel):
    """Lethality Assessment Program: referral if any ``immediate_items`` is yes, or if at least
    ``count_threshold`` of ``counted_items`` are yes."""

    immediate_items: list[int]
    counted_items: list[int]
    count_threshold: int = Field(ge=1)
    immediate_severity: Severity
    count_severity: Severity


class CssrsQuestion(BaseModel):
    """One C-SSRS screener item; ``severity_if_yes`` is what a "yes" means."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    item: int = Field(ge=1, le=6)
    text: str
    help: str = ""
    severity_if_yes: Severity
    ask_if: str | None = None
    skippable: bool = True


class CssrsScreen(BaseModel):
    preamble: str
    questions: list[CssrsQuestion] = Field(min_length=1)


class IntakePolicy(BaseModel):
    """Everything in ``safety_intake.yaml``: one screen per mode, LAP rules, the C-SSRS follow-up."""

    screens: dict[Mode, IntakeScreen]
    lap: LapRules
    positive_at: Severity  # an intake result at or above this keeps the work separate
    cssrs: CssrsScreen

    @model_validator(mode="after")
    def _consistent(self) -> IntakePolicy:
        ids: list[str] = []
        for mode, screen in self.screens.items():
            known = {q.id for q in screen.questions}
            for q in screen.questions:
                if q.ask_if is not None and q.ask_if not in known:
                    raise ValueError(f"screens.{mode.value}.{q.id}.ask_if: unknown question {q.ask_if!r}")
            ids.extend(known)
            lap_items = set(self.lap.immediate_items) | set(self.lap.counted_items)
            for q in screen.questions:
                if q.lap_item is not None and q.lap_item not in lap_items:
                    raise ValueError(
                        f"screens.{mode.value}.{q.id}.lap_item: {q.lap_item} is not in lap's items"
                    )
        cssrs_ids = {q.id for q in self.cssrs.questions}
        for item in self.cssrs.questions:
            if item.ask_if is not None and item.ask_if not in cssrs_ids:
                raise ValueError(f"cssrs.{item.id}.ask_if: unknown question {item.ask_if!r}")
        ids.extend(q.id for q in self.cssrs.questions)
        dupes = sorted({x for x in ids if ids.count(x) > 1})
        if dupes:
            raise ValueError(f"question ids must be unique across screens: {', '.join(dupes)}")
        return self


# --- loading -----------------------------------------------------------------------------------
SAFETY_FILE = "safety.yaml"
PATTERNS_FILE = "safety_patterns.yaml"
INTAKE_FILE = "safety_intake.yaml"


def load_safety_policy(directory: Path | None = None) -> SafetyPolicy:
    """Read and validate ``safety.yaml`` (raises :class:`PolicyError` naming the file and field)."""
    return load_policy(SAFETY_FILE, SafetyPolicy, directory)


def load_safety_patterns(directory: Path | None = None) -> PatternPolicy:
    """Read ``safety_patterns.yaml`` and check its categories against ``safety.yaml``."""
    folder = directory or policy_dir()
    patterns = load_policy(PATTERNS_FILE, PatternPolicy, folder)
    try:
        patterns.check_categories(set(load_safety_policy(folder).categories))
    except ValueError as exc:
        raise PolicyError(f"{folder / PATTERNS_FILE}: {exc}") from None
    return patterns


def load_intake_policy(directory: Path | None = None) -> IntakePolicy:
    """Read ``safety_intake.yaml`` and check its categories against ``safety.yaml``."""
    folder = directory or policy_dir()
    intake = load_policy(INTAKE_FILE, IntakePolicy, folder)
    known = set(load_safety_policy(folder).categories)
    for mode, screen in intake.screens.items():
        for q in screen.questions:
            if q.category not in known:
                where = f"screens.{mode.value}.{q.id}.category"
                raise PolicyError(f"{folder / INTAKE_FILE}: {where}: unknown category {q.category!r}")
    return intake


@lru_cache(maxsize=8)
def _cached(kind: str, folder: str) -> BaseModel:
    loaders = {"safety": load_safety_policy, "patterns": load_safety_patterns, "intake": load_intake_policy}
    return loaders[kind](Path(folder))


def safety_policy() -> SafetyPolicy:
    """The process's ``safety.yaml`` (read once per policy folder)."""
    return _cached("safety", str(policy_dir()))  # type: ignore[return-value]


def safety_patterns() -> PatternPolicy:
    """The process's ``safety_patterns.yaml`` (read once per policy folder)."""
    return _cached("patterns", str(policy_dir()))  # type: ignore[return-value]


def intake_policy() -> IntakePolicy:
    """The process's ``safety_intake.yaml`` (read once per policy folder)."""
    return _cached("intake", str(policy_dir()))  # type: ignore[return-value]


def clear_safety_cache() -> None:
    """Forget the cached safety policies (tests that write their own policy folder call this)."""
    _cached.cache_clear()
