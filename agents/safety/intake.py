"""Private intake screening (LAP items, MASIC abuse types) and the C-SSRS follow-up.

The questions and their scoring live in ``policies/safety_intake.yaml``; this module only applies
them. Clients receive :class:`IntakeQuestion` views (id, text, help, skippable, ask_if): how an
answer is scored never leaves the server. A skipped question (``None``) never counts either way.

Scoring, as in DOMAIN section 4:

* LAP: any "yes" to items 1-3 is ``critical`` with a referral; otherwise 4 or more "yes" among
  items 4-11 is ``high`` with a referral;
* every other question contributes its own severity (MASIC abuse types are ``high``), reported
  separately from the LAP result;
* the screen is positive at ``positive_at`` (``high``): the work stays separate and a review opens.

C-SSRS: intent, a plan or behaviour in the last three months is ``critical``; a method without
intent ``high``; thoughts or wishes alone ``concern``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from orchestrator.models import Mode, Severity
from policies.safety import CssrsQuestion, IntakeItem, IntakePolicy, intake_policy


class IntakeQuestion(BaseModel):
    """What a client sees of one question. Answers are ``true``/``false``, or ``null`` to skip."""

    id: str
    text: str
    help: str = ""
    skippable: bool = True
    ask_if: str | None = None  # show only after a "yes" to this question


class IntakeResult(BaseModel):
    """The outcome of one party's screen (never shown to the other party)."""

    positive: bool = False
    severity: Severity = Severity.NONE
    categories: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)  # question ids and rule names, never free text
    referral: bool = False  # LAP: offer a specialist (domestic abuse) referral
    answered: int = 0
    skipped: int = 0


def _view(item: IntakeItem | CssrsQuestion) -> IntakeQuestion:
    return IntakeQuestion(
        id=item.id, text=item.text, help=item.help, skippable=item.skippable, ask_if=item.ask_if
    )


def intake_questions(mode: Mode, policy: IntakePolicy | None = None) -> list[IntakeQuestion]:
    """The private intake screen for ``mode``, in order."""
    policy = policy or intake_policy()
    screen = policy.screens.get(mode)
    return [] if screen is None else [_view(q) for q in screen.questions]


def intake_preamble(mode: Mode, policy: IntakePolicy | None = None) -> str:
    """The few sentences shown above the intake questions."""
    policy = policy or intake_policy()
    screen = policy.screens.get(mode)
    return "" if screen is None else screen.preamble


def score_intake(answers: dict[str, bool | None], policy: IntakePolicy | None = None) -> IntakeResult:
    """Score one party's answers (question id -> yes/no/skipped). Unknown ids are ignored."""
    policy = policy or intake_policy()
    items = {q.id: q for screen in policy.screens.values() for q in screen.questions}
    lap = policy.lap
    severity = Severity.NONE
    categories: list[str] = []
    reasons: list[str] = []
    lap_counted = 0
    lap_immediate = False
    answered = skipped = 0

    def flag(level: Severity, category: str, reason: str) -> None:
        nonlocal severity
        severity = Severity.max(severity, level)
        if level is not Severity.NONE and category not in categories:
            categories.append(category)
        reasons.append(reason)

    for qid, answer in answers.items():
        item = items.get(qid)
        if item is None:
            continue
        if answer is None:
            skipped += 1
            continue
        answered += 1
        if bool(answer) is not item.risk_answer:
            continue
        if item.lap_item in lap.immediate_items:
            lap_immediate = True
            flag(lap.immediate_severity, item.category, f"lap_item_{item.lap_item}")
        elif item.lap_item in lap.counted_items:
            lap_counted += 1
        if item.masic is not None:
            flag(item.severity_if_risk, item.category, f"masic:{item.masic}")
        elif item.severity_if_risk is not Severity.NONE and item.lap_item not in lap.immediate_items:
            flag(item.severity_if_risk, item.category, f"q:{item.id}")
    if not lap_immediate and lap_counted >= lap.count_threshold:
        flag(lap.count_severity, "ipv_coercive_control", f"lap_count_{lap_counted}")
    return IntakeResult(
        positive=severity.rank >= policy.positive_at.rank,
        severity=severity,
        categories=categories,
        reasons=reasons,
        referral=lap_immediate or lap_counted >= lap.count_threshold,
        answered=answered,
        skipped=skipped,
    )


def cssrs_questions(policy: IntakePolicy | None = None) -> list[IntakeQuestion]:
    """The C-SSRS screener questions, asked when self-harm shows up anywhere in a session."""
    policy = policy or intake_policy()
    return [_view(q) for q in policy.cssrs.questions]


def cssrs_preamble(policy: IntakePolicy | None = None) -> str:
    policy = policy or intake_policy()
    return policy.cssrs.preamble


def score_cssrs(answers: dict[str, bool | None], policy: IntakePolicy | None = None) -> Severity:
    """The C-SSRS result: the worst severity among "yes" answers (skips never count)."""
    policy = policy or intake_policy()
    severity = Severity.NONE
    for q in policy.cssrs.questions:
        if answers.get(q.id) is True:
            severity = Severity.max(severity, q.severity_if_yes)
    return severity
