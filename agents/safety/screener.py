"""The layered safety screener: rules, then the classifier, then (if configured) an LLM judge.

Cheapest first, one verdict ``{severity, categories, layer, reasons}``:

1. **rules** (``agents.safety.rules``): policy patterns over normalised text;
2. **classifier** (``agents.safety.classifier``): the trained TF-IDF model;
3. **judge** (``agents.safety.judge``): only when a model is configured, only when the first two
   did not already say ``critical``; it can raise the severity, never lower it.

The worst severity wins; its layer is reported. **Fail closed**: if the classifier could not be
loaded, or any layer raises, the verdict is ``high`` (or worse, if a layer already said so) with
layer ``error`` and reason ``screen_error``, and a structlog ``screen_error`` event is written
with the error's type and the layer, never the text.
"""

from __future__ import annotations

import structlog

from agents.base import RoleAgent
from agents.interfaces import SafetyScreener, ScreenRequest
from agents.safety.classifier import ClassifierUnavailable, SafetyClassifier
from agents.safety.judge import LLMJudge
from agents.safety.normalise import normalise_detail
from agents.safety.rules import RulesLayer
from agents.safety.verdicts import SCREEN_ERROR, error_verdict, merge
from agents.safety.verdicts import log_screen_error as _log_error
from orchestrator.models import Mode, Severity, Verdict

log = structlog.get_logger("accord.safety.screener")
__all__ = ["SCREEN_ERROR", "LayeredScreener", "build_builtin_screener", "error_verdict", "merge"]


class LayeredScreener(RoleAgent[ScreenRequest, Verdict], SafetyScreener):
    """Rules → classifier → judge. ``screen`` never raises and never passes on error."""

    request_type = ScreenRequest
    response_type = Verdict

    def __init__(
        self,
        rules: RulesLayer,
        classifier: SafetyClassifier | None,
        judge: LLMJudge | None = None,
        classifier_error: str | None = None,
        name: str = "safety_screener",
    ) -> None:
        super().__init__(name=name, description="Screens every text for risk; fails closed.")
        self.rules = rules
        self.classifier = classifier
        self.judge = judge
        # why the classifier is missing ("missing", "hash_mismatch", ...): every screen fails closed
        self.classifier_error = classifier_error if classifier is None else None
        if classifier is None and self.classifier_error is None:
            self.classifier_error = "missing"

    @classmethod
    def with_judge(cls, base: LayeredScreener, judge: LLMJudge | None) -> LayeredScreener:
        """The same rules and classifier with an LLM judge on top (the factory's model screener)."""
        return cls(base.rules, base.classifier, judge, classifier_error=base.classifier_error)

    @property
    def healthy(self) -> bool:
        """False when the classifier failed to load (every message is then held)."""
        return self.classifier is not None

    # ------------------------------------------------------------------ screening
    async def screen(self, request: ScreenRequest) -> Verdict:
        return await self.handle(request)

    async def handle(self, request: ScreenRequest) -> Verdict:
        verdict = self.screen_fast(request.text, request.mode, request.direction)
        if self.judge is None or verdict.layer == "error" or verdict.severity is Severity.CRITICAL:
            return verdict  # nothing above critical; an error verdict already holds
        try:
            return await self.judge.judge(request, verdict)
        except Exception as exc:  # noqa: BLE001 - the judge guards itself; this is a last resort
            _log_error("judge", exc, request.direction)
            return error_verdict(verdict)

    def screen_fast(self, text: str, mode: Mode = Mode.COUPLE, direction: str = "inbound") -> Verdict:
        """Rules and classifier only, synchronously (the benchmark and the CLI time this path)."""
        layer = "rules"
        verdict = Verdict(layer="rules")
        try:
            detail = normalise_detail(text)  # once, for both layers
            verdict = self.rules.check_normalised(detail, mode)
            if self.classifier is None:
                _log_error("classifier", None, direction, code=self.classifier_error)
                return error_verdict(verdict)
            if verdict.severity is Severity.CRITICAL:
                return verdict  # nothing can raise it further: skip the rest
            layer = "classifier"
            return merge(verdict, self.classifier.predict(text, detail.text))
        except Exception as exc:  # noqa: BLE001 - fail closed on anything
            _log_error(layer, exc, direction)
            return error_verdict(verdict)


def build_builtin_screener(judge: LLMJudge | None = None) -> LayeredScreener:
    """Rules and the shipped classifier (and ``judge`` if given), from the process's policy.

    A classifier that fails to load does not stop start-up: the screener then holds every message
    (layer ``error``) and says so in the log, so a broken deployment is loud but never unsafe.
    """
    rules = RulesLayer.from_policy()
    try:
        classifier: SafetyClassifier | None = SafetyClassifier.load()
        error = None
    except ClassifierUnavailable as exc:
        classifier, error = None, exc.code
        log.error("classifier_unavailable", code=exc.code, detail=exc.detail)
    return LayeredScreener(rules, classifier, judge, classifier_error=error)
