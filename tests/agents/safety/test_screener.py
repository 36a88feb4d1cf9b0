"""The layered screener: cheapest first, one verdict, and fail closed on any error."""

from __future__ import annotations

from pathlib import Path

import pytest
from autogen_agentchat.messages import StructuredMessage, TextMessage
from autogen_core import CancellationToken
from structlog.testing import capture_logs

from agents.base import RoleAgent
from agents.interfaces import SafetyScreener, ScreenRequest
from agents.safety.classifier import SafetyClassifier
from agents.safety.rules import RulesLayer
from agents.safety.screener import LayeredScreener, build_builtin_screener, error_verdict, merge
from orchestrator.models import Mode, Severity, Verdict
from policies.loader import POLICY_DIR

PRIVATE = "my private words about the holidays"


class _CountingClassifier:
    """Stands in for the classifier: a fixed verdict, and a count of calls."""

    def __init__(self, verdict: Verdict | None = None, boom: bool = False) -> None:
        self.verdict = verdict or Verdict(layer="classifier")
        self.boom = boom
        self.calls = 0

    def predict(self, text: str, normalised: str | None = None) -> Verdict:
        self.calls += 1
        if self.boom:
            raise RuntimeError("model exploded")
        return self.verdict


class _BrokenRules(RulesLayer):
    def __init__(self) -> None:  # noqa: D107 - deliberately skips policy loading
        pass

    def check_normalised(self, detail: object, mode: Mode | None = None) -> Verdict:
        raise RuntimeError("regex engine on fire")


def _layered(rules: RulesLayer, classifier: object) -> LayeredScreener:
    return LayeredScreener(rules, classifier)  # type: ignore[arg-type]


def test_it_is_a_role_agent_and_a_safety_screener(screener: LayeredScreener) -> None:
    assert isinstance(screener, RoleAgent) and isinstance(screener, SafetyScreener)


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("I've been saving my pills", Severity.CRITICAL),
        ("he checks my phone and won't let me see my sister", Severity.HIGH),
        ("he put his hands around my neck", Severity.CRITICAL),
        ("k1ll mys3lf", Severity.CRITICAL),
        ("I could kill for a coffee", Severity.NONE),
        ("this deadline is killing me", Severity.NONE),
        ("how do I kill a Python process", Severity.NONE),
        ("I'm dying to see that film", Severity.NONE),
        ("I would never hurt her", Severity.NONE),
        ("can you text me when you land?", Severity.NONE),
    ],
)
async def test_one_verdict_per_text(screener: LayeredScreener, text: str, severity: Severity) -> None:
    verdict = await screener.screen(ScreenRequest(text=text))
    assert verdict.severity is severity, verdict


async def test_it_answers_as_an_autogen_agent(screener: LayeredScreener) -> None:
    request = ScreenRequest(text="he put his hands around my neck")
    response = await screener.on_messages(
        [StructuredMessage[ScreenRequest](content=request, source="orchestrator")], CancellationToken()
    )
    assert response.chat_message.content.severity is Severity.CRITICAL  # type: ignore[union-attr]
    as_json = await screener.on_messages(
        [TextMessage(content=request.model_dump_json(), source="o")], CancellationToken()
    )
    assert as_json.chat_message.content.severity is Severity.CRITICAL  # type: ignore[union-attr]


def test_cheapest_first_a_critical_rule_skips_the_classifier(rules: RulesLayer) -> None:
    classifier = _CountingClassifier()
    screener = _layered(rules, classifier)
    assert screener.screen_fast("he put his hands around my neck").severity is Severity.CRITICAL
    assert classifier.calls == 0
    screener.screen_fast("can we talk about the holidays?")
    assert classifier.calls == 1


def test_the_worse_layer_wins_and_names_itself(rules: RulesLayer) -> None:
    flagged = Verdict(
        severity=Severity.HIGH, categories=["ipv_coercive_control"], layer="classifier", reasons=["c"]
    )
    verdict = _layered(rules, _CountingClassifier(flagged)).screen_fast("he keeps a close eye on me")
    assert verdict.severity is Severity.HIGH and verdict.layer == "classifier"


def test_an_exception_in_the_classifier_fails_closed_and_logs_no_text(rules: RulesLayer) -> None:
    screener = _layered(rules, _CountingClassifier(boom=True))
    with capture_logs() as logs:
        verdict = screener.screen_fast(PRIVATE)
    assert (
        verdict.severity is Severity.HIGH and verdict.layer == "error" and verdict.reasons == ["screen_error"]
    )
    assert logs == [
        {
            "event": "screen_error",
            "layer": "classifier",
            "error": "RuntimeError",
            "code": None,
            "direction": "inbound",
            "log_level": "error",
        }
    ]
    assert "holidays" not in repr(logs)


async def test_an_exception_in_the_rules_fails_closed(screener: LayeredScreener) -> None:
    broken = LayeredScreener(_BrokenRules(), screener.classifier)
    with capture_logs() as logs:
        verdict = await broken.screen(ScreenRequest(text=PRIVATE, direction="outbound"))
    assert verdict.severity is Severity.HIGH and verdict.layer == "error"
    assert (
        logs[0]["event"] == "screen_error"
        and logs[0]["layer"] == "rules"
        and logs[0]["direction"] == "outbound"
    )


@pytest.mark.parametrize(
    "text", ["Can we talk about the holidays?", "I love you", "", "he put his hands around my neck"]
)
def test_without_a_classifier_nothing_passes(rules: RulesLayer, text: str) -> None:
    screener = LayeredScreener(rules, None, classifier_error="missing")
    verdict = screener.screen_fast(text)
    assert verdict.severity.rank >= Severity.HIGH.rank
    assert verdict.layer == "error" and verdict.reasons[0] == "screen_error"


def test_building_over_a_folder_without_the_model_fails_closed_loudly(policy_copy: Path) -> None:
    for leftover in (policy_copy / "models").iterdir():
        leftover.unlink()
    with capture_logs() as logs:
        screener = build_builtin_screener()
        verdict = screener.screen_fast("what time is dinner?")
    assert not screener.healthy and screener.classifier_error == "missing"
    assert verdict.severity is Severity.HIGH and verdict.layer == "error"
    assert logs[0]["event"] == "classifier_unavailable" and logs[0]["code"] == "missing"
    assert any(e["event"] == "screen_error" for e in logs)


def test_with_judge_keeps_rules_and_classifier(screener: LayeredScreener) -> None:
    twin = LayeredScreener.with_judge(screener, None)
    assert twin.rules is screener.rules and twin.classifier is screener.classifier and twin.judge is None


def test_error_verdict_and_merge() -> None:
    critical = Verdict(
        severity=Severity.CRITICAL, categories=["self_harm"], layer="rules", reasons=["rule:a"]
    )
    failed = error_verdict(critical)
    assert (
        failed.severity is Severity.CRITICAL
        and failed.categories == ["self_harm"]
        and failed.layer == "error"
    )
    assert error_verdict().categories == ["screen_error"]
    high = Verdict(
        severity=Severity.HIGH, categories=["ipv_coercive_control"], layer="classifier", reasons=["c"]
    )
    merged = merge(high, critical)
    assert merged.severity is Severity.CRITICAL and merged.layer == "rules"
    assert merged.categories == ["self_harm", "ipv_coercive_control"]
    assert merge(Verdict(), Verdict(layer="classifier")).severity is Severity.NONE


def test_the_shipped_model_is_in_the_package_data() -> None:
    # pyproject ships policies/models/* with the package: the artifact must live there
    assert (POLICY_DIR / "models").is_dir()
    assert isinstance(SafetyClassifier.load(), SafetyClassifier)


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_the_coaches_and_protocols_own_wording_is_never_held(screener: LayeredScreener) -> None:
    # Coach replies and shared messages are screened too: Accord's own phrasing must pass.
    import yaml

    texts = []
    for name in ("lexicon.yaml", "protocols.yaml"):
        data = yaml.safe_load((POLICY_DIR / name).read_text(encoding="utf-8"))
        texts += [t for t in _strings(data) if len(t) >= 15 and "\\b" not in t]
    assert len(texts) > 200
    held = [t for t in texts if screener.screen_fast(t).flagged]
    assert held == []
