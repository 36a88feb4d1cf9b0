"""Scoring a screener against labelled lines ``{"text", "severity", "category"}``.

Used by ``python -m agents.safety.train`` (held-out report), ``accord eval-safety`` and the
held-out quality-gate test, so the numbers in docs/safety.md mean one thing everywhere:

* per category: precision and recall of "this category was flagged" (severity above none);
* per severity: recall = share of lines labelled s that the screener rated s or worse;
* over-flag rate: share of lines labelled ``none`` that the screener rated high or critical
  (those would hold a session that needed no holding);
* a severity confusion table (labelled rows x screened columns).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.models import Severity, Verdict

SEVERITIES = [Severity.NONE, Severity.CONCERN, Severity.HIGH, Severity.CRITICAL]


@dataclass(frozen=True)
class Labelled:
    """One labelled line (``line`` counts from 1)."""

    text: str
    severity: Severity
    category: str
    line: int = 0
    template: str = ""  # optional: the corpus template the line came from


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str


def parse_labelled(lines: Iterable[str]) -> tuple[list[Labelled], list[BadLine]]:
    """Parse JSONL lines; bad ones are returned with their line number, never dropped silently."""
    good: list[Labelled] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            bad.append(BadLine(number, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            bad.append(BadLine(number, 'expected an object with a string "text"'))
            continue
        try:
            severity = Severity(str(row.get("severity", "")).strip().lower())
        except ValueError:
            bad.append(BadLine(number, f"unknown severity {row.get('severity')!r}"))
            continue
        category = str(row.get("category") or "none").strip().lower()
        if severity is Severity.NONE:
            category = "none"
        elif category == "none":
            bad.append(BadLine(number, f"severity {severity.value} needs a category"))
            continue
        good.append(Labelled(row["text"], severity, category, number, str(row.get("template") or "")))
    return good, bad


def read_labelled(path: Path) -> tuple[list[Labelled], list[BadLine]]:
    """Read a JSONL file of labelled lines."""
    with path.open(encoding="utf-8") as handle:
        return parse_labelled(handle)


@dataclass
class Rates:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class EvalReport:
    """Everything ``evaluate`` measured."""

    total: int
    categories: dict[str, Rates] = field(default_factory=dict)
    severity_recall: dict[Severity, float] = field(default_factory=dict)
    severity_support: dict[Severity, int] = field(default_factory=dict)
    confusion: Counter[tuple[Severity, Severity]] = field(default_factory=Counter)
    benign: int = 0
    over_flagged: int = 0
    errors: int = 0  # verdicts from the error layer (fail-closed)

    @property
    def over_flag_rate(self) -> float:
        return self.over_flagged / self.benign if self.benign else 0.0

    def as_dict(self) -> dict[str, object]:
        """Plain numbers (for the classifier manifest and JSON output)."""
        return {
            "total": self.total,
            "over_flag_rate": round(self.over_flag_rate, 4),
            "benign": self.benign,
            "over_flagged": self.over_flagged,
            "severity_recall": {s.value: round(r, 4) for s, r in self.severity_recall.items()},
            "severity_support": {s.value: n for s, n in self.severity_support.items()},
            "categories": {
                c: {"precision": round(r.precision, 4), "recall": round(r.recall, 4), "support": r.support}
                for c, r in sorted(self.categories.items())
            },
            "errors": self.errors,
        }


def evaluate(examples: list[Labelled], verdicts: list[Verdict]) -> EvalReport:
    """Compare ``verdicts`` (same order) with the labels."""
    if len(examples) != len(verdicts):
        raise ValueError("one verdict per example is needed")
    report = EvalReport(total=len(examples))
    hits: Counter[Severity] = Counter()
    support: Counter[Severity] = Counter()
    for ex, verdict in zip(examples, verdicts, strict=True):
        report.confusion[(ex.severity, verdict.severity)] += 1
        if verdict.layer == "error":
            report.errors += 1
        support[ex.severity] += 1
        if ex.severity is not Severity.NONE and verdict.severity.rank >= ex.severity.rank:
            hits[ex.severity] += 1
        if ex.severity is Severity.NONE:
            report.benign += 1
            if verdict.flagged:
                report.over_flagged += 1
        flagged = set(verdict.categories) if verdict.severity is not Severity.NONE else set()
        if ex.category != "none":
            report.categories.setdefault(ex.category, Rates())
        for category in flagged:
            report.categories.setdefault(category, Rates())
        for category, rates in report.categories.items():
            truth = ex.category == category
            said = category in flagged
            rates.tp += truth and said
            rates.fn += truth and not said
            rates.fp += said and not truth
    for severity in SEVERITIES[1:]:
        if support[severity]:
            report.severity_recall[severity] = hits[severity] / support[severity]
            report.severity_support[severity] = support[severity]
    return report


def render(report: EvalReport, console: Console, title: str = "Safety screener") -> None:
    """Print the report as rich tables."""
    cats = Table(title=f"{title}: per category (flagged above none)")
    for col in ("category", "precision", "recall", "support"):
        cats.add_column(col, justify="left" if col == "category" else "right")
    for name, rates in sorted(report.categories.items()):
        cats.add_row(name, f"{rates.precision:.3f}", f"{rates.recall:.3f}", str(rates.support))
    console.print(cats)
    sev = Table(title="Recall per labelled severity (screened at that severity or worse)")
    for col in ("severity", "recall", "support"):
        sev.add_column(col, justify="left" if col == "severity" else "right")
    for severity, recall in report.severity_recall.items():
        sev.add_row(severity.value, f"{recall:.3f}", str(report.severity_support[severity]))
    console.print(sev)
    confusion = Table(title="Confusion: labelled (rows) x screened (columns)")
    confusion.add_column("labelled \\ screened")
    for s in SEVERITIES:
        confusion.add_column(s.value, justify="right")
    for truth in SEVERITIES:
        confusion.add_row(truth.value, *[str(report.confusion[(truth, pred)]) for pred in SEVERITIES])
    console.print(confusion)
    console.print(
        f"over-flag rate (labelled none, screened high or critical): {report.over_flag_rate:.2%} "
        f"({report.over_flagged} of {report.benign}); fail-closed errors: {report.errors}; "
        f"lines: {report.total}"
    )
