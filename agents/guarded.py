"""Every model output passes the output guards; whatever the model cannot do, the builtin role does.

``GuardedCoach`` and ``GuardedMediator`` wrap an LLM role (or nothing, for ``builtin``) and its
builtin counterpart behind the same interfaces. For each model answer they check:

* **safety**: the screener (passed in) must not flag it ``high`` or ``critical``;
* **leak**: no run of 6+ words of private text nobody approved (:class:`GuardContext`);
* **tone**: no horsemen markers or absolutes in shared text and drafts (the mediator's own words;
  the approved quotes belong to their authors), and none aimed at the reader in a coach's private
  reply (a brief quotation of the person's own words is theirs: :mod:`agents.reply_guards`);
* **echo**: no run of the prompt's own instructions read back (n-gram overlap with the prompts);
* **fragment** / **language**: a complete, readable answer in the person's language;
* **length**: bounds from ``policies/llm.yaml``;
* mediator only: every approved message quoted word for word (**fidelity**) and attributed.

On a failure the model gets one retry with the reason (worded in policy, never quoting private
text); then the builtin answer is used. A model that errors, answers unreadably or runs past its
role's timeout falls back the same way. The party always gets a normal reply; the fallback shows up
in ``accord_model_fallbacks_total{role,reason}`` and a ``model_fallback`` log event that carries
no text at all.

The timeout is one deadline for the whole model phase (queueing for a slot, the call, the retry,
the guards): past it the party gets the builtin reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import structlog
from autogen_core.models import SystemMessage
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field

from agents.base import RoleAgent
from agents.guards import leak_problems, length_problems, repetition_problems, tone_problems
from agents.interfaces import (
    Coach,
    CoachReply,
    CoachRequest,
    ComposeRequest,
    ComposeResult,
    Mediator,
    SafetyScreener,
    ScreenRequest,
)
from agents.llm.coach import CoachAnswer, LLMCoach
from agents.llm.common import ModelOutputError
from agents.llm.mediator import LLMMediator
from agents.reply_guards import echo_problems, fragment_problems, reader_tone_problems
from policies.llm import LLMPolicy, load_llm_policy

log = structlog.get_logger("accord.models")

MODEL_FALLBACKS = Counter(
    "accord_model_fallbacks_total",
    "Model answers replaced by the builtin role, by role and reason.",
    ["role", "reason"],
)
GUARD_RETRIES = Counter(
    "accord_model_guard_retries_total",
    "Model answers rejected by an output guard and asked again, by role and reason.",
    ["role", "reason"],
)
MODEL_SECONDS = Histogram(
    "accord_model_seconds",
    "Time from request to reply for LLM roles, by role and outcome (model or fallback).",
    ["role", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)

# the order a failure is reported in (the first one names the metric's reason)
KIND_ORDER = (
    "safety", "leak", "echo", "fidelity", "attribution", "tone", "fragment", "language", "repetition",
    "too_long", "too_short",
)
_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*\s+|\n+")


class GuardContext(BaseModel):
    """What the orchestrator knows about one call and the model must never see.

    ``private_texts``: words that must not appear in the output. For a coach: the OTHER party's
    private turns and undecided drafts. For the mediator: every party's private turns and
    unapproved drafts. ``approved_texts``: words both parties may see (approved drafts, shared
    messages): a run found there is not a leak. ``party_id`` keys the coach's memory.
    """

    party_id: str | None = None
    private_texts: list[str] = Field(default_factory=list)
    approved_texts: list[str] = Field(default_factory=list)


class GuardRejected(Exception):
    """The model's answers failed the output guards (twice). Carries kinds only, never text."""

    def __init__(self, kinds: Sequence[str]) -> None:
        super().__init__(", ".join(kinds))
        self.kinds = list(kinds)


def _ordered(kinds: set[str]) -> list[str]:
    return [k for k in KIND_ORDER if k in kinds]


def _length_kinds(text: str, lo: int, hi: int) -> set[str]:
    if not length_problems(text, lo, hi):
        return set()
    return {"too_long" if len(text.strip()) > hi else "too_short"}


def _fragment_kinds(text: str, person_texts: Sequence[str]) -> set[str]:
    """``fragment`` and/or ``language`` (the kinds' families) for a text shown to a person."""
    return {p.split(":", 1)[0] for p in fragment_problems(text, person_texts)}


def _metric_reason(kind: str) -> str:
    return "length" if kind in ("too_long", "too_short") else kind


class _Guarded:
    """What both wrappers share: the screener, the policy, the fallback bookkeeping."""

    role: str
    backend: str

    def __init__(self, screener: SafetyScreener, policy: LLMPolicy, timeout: float) -> None:
        self.screener = screener
        self.policy = policy
        self.timeout = timeout

    async def _flagged(
        self, text: str, request_mode: Any, direction: Literal["inbound", "draft", "outbound"]
    ) -> bool:
        verdict = await self.screener.screen(ScreenRequest(text=text, mode=request_mode, direction=direction))
        return verdict.flagged

    def _reasons(self, kinds: Sequence[str]) -> list[str]:
        return [self.policy.retry_reasons[k].strip() for k in kinds if k in self.policy.retry_reasons]

    def _record_fallback(self, reason: str, started: float, kinds: Sequence[str] = ()) -> None:
        MODEL_FALLBACKS.labels(role=self.role, reason=reason).inc()
        MODEL_SECONDS.labels(role=self.role, outcome="fallback").observe(time.monotonic() - started)
        # no text here, ever: kinds and timings only
        log.warning(
            "model_fallback", role=self.role, reason=reason, kinds=list(kinds), backend=self.backend,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )

    def _record_retry(self, kinds: Sequence[str]) -> None:
        GUARD_RETRIES.labels(role=self.role, reason=_metric_reason(kinds[0])).inc()
        log.info("model_guard_retry", role=self.role, kinds=list(kinds), backend=self.backend)

    def _instructions(self) -> list[str]:
        """What the model may be told besides the role prompt (retry reasons): never to be echoed."""
        return [*self.policy.retry_reasons.values(), self.policy.retry_intro, self.policy.unparsable]

    async def close_model(self) -> None:
        """Close the model client (its HTTP connections) while the event loop still runs.
        (Not ``close``: autogen's ``BaseChatAgent.close`` comes first in the wrappers' MRO.)"""
        primary: Any = getattr(self, "primary", None)
        if primary is not None:
            await primary.client.close()

    def _record_success(self, started: float) -> None:
        MODEL_SECONDS.labels(role=self.role, outcome="model").observe(time.monotonic() - started)


def _failure_reason(exc: BaseException) -> tuple[str, list[str]]:
    if isinstance(exc, TimeoutError):
        return "timeout", []
    if isinstance(exc, GuardRejected):
        return _metric_reason(exc.kinds[0]) if exc.kinds else "guard", exc.kinds
    if isinstance(exc, ModelOutputError):
        return "unparsable", []
    return "error", [type(exc).__name__]


class GuardedCoach(RoleAgent[CoachRequest, CoachReply], Coach, _Guarded):
    """The coach Accord runs: an LLM coach under the output guards, the builtin one as fallback.

    With ``primary=None`` (``ACCORD_MODEL=builtin``) it is the builtin coach with the same API
    (``respond(request, context=...)``, ``respond_stream``, ``save_state(key=...)``).
    """

    request_type = CoachRequest
    response_type = CoachReply
    role = "coach"

    def __init__(
        self,
        primary: LLMCoach | None,
        fallback: Coach,
        screener: SafetyScreener,
        *,
        timeout: float = 20.0,
        policy: LLMPolicy | None = None,
        partial_screener: SafetyScreener | None = None,
        backend: str = "builtin",
        name: str = "coach",
    ) -> None:
        RoleAgent.__init__(self, name=name, description="A party's private coach (guarded, with fallback).")
        _Guarded.__init__(self, screener, policy or load_llm_policy(), timeout)
        self.primary = primary
        self.fallback = fallback
        # partial frames are screened by a cheap screener (rules + classifier); the final reply by all
        self.partial_screener = partial_screener or screener
        self.backend = backend

    async def handle(self, request: CoachRequest) -> CoachReply:
        return await self.respond(request)

    async def respond(self, request: CoachRequest, context: GuardContext | None = None) -> CoachReply:
        """A reply that passed the guards, or the builtin reply. Never raises for model trouble."""
        if self.primary is None:
            return await self.fallback.respond(request)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._model_phase(request, context)
        except Exception as exc:  # noqa: BLE001 - any model trouble means the builtin answers
            reason, kinds = _failure_reason(exc)
            self._record_fallback(reason, started, kinds)
            return await self.fallback.respond(request)
        self._record_success(started)
        return reply

    async def _model_phase(self, request: CoachRequest, context: GuardContext | None) -> CoachReply:
        assert self.primary is not None
        key = context.party_id if context else None
        memory = self.primary.memory(key)
        feedback: list[str] = []
        kinds: list[str] = []
        for attempt in range(2):
            answer = await self.primary.attempt(request, feedback=feedback, memory=memory)
            kinds = await self.problems(answer.reply, request, context)
            if not kinds:
                self.primary.remember(key, answer)
                return answer.reply
            if attempt == 0:
                self._record_retry(kinds)
                feedback = self._reasons(kinds)
        raise GuardRejected(kinds)

    async def problems(
        self, reply: CoachReply, request: CoachRequest, context: GuardContext | None
    ) -> list[str]:
        """The guard kinds this reply fails (empty: it may be shown)."""
        pol = self.policy.coach
        private = context.private_texts if context else []
        approved = context.approved_texts if context else []
        kinds = _length_kinds(reply.text, pol.reply_min_chars, pol.reply_max_chars)
        if "too_long" in kinds:
            return ["too_long"]  # rejected whatever else it holds: spare the screener a huge text
        own, prompts = self._own_texts(request, context), self._prompts(request, context)
        if repetition_problems(reply.text):
            kinds.add("repetition")
        if reader_tone_problems(reply.text, own):
            kinds.add("tone")
        if echo_problems(reply.text, prompts, own):
            kinds.add("echo")
        kinds |= _fragment_kinds(reply.text, own)
        if leak_problems(reply.text, private, approved):
            kinds.add("leak")
        if await self._flagged(reply.text, request.mode, "outbound"):
            kinds.add("safety")
        if reply.draft is not None:
            draft_text = reply.draft.text
            kinds |= _length_kinds(draft_text, pol.draft_min_chars, pol.draft_max_chars)
            shared_words = " ".join(t for t in (draft_text, reply.draft.request) if t)
            if tone_problems(shared_words):
                kinds.add("tone")
            if echo_problems(shared_words, prompts, own):
                kinds.add("echo")
            kinds |= _fragment_kinds(draft_text, own)
            if leak_problems(shared_words, private, approved):
                kinds.add("leak")
            if await self._flagged(shared_words, request.mode, "draft"):
                kinds.add("safety")
        return _ordered(kinds)

    @staticmethod
    def _own_texts(request: CoachRequest, context: GuardContext | None) -> list[str]:
        """The person's own words in this room: a reply may quote and mirror them."""
        return [request.text, *(t.text for t in request.history if t.speaker == "party")]

    def _prompts(self, request: CoachRequest, context: GuardContext | None) -> list[str]:
        """The instructions the model was given for this request (its system prompt as sent)."""
        if self.primary is None:
            return []
        memory = self.primary.memory(context.party_id if context else None)
        system = [
            m.content
            for m in self.primary.messages(request, memory=memory)
            if isinstance(m, SystemMessage) and isinstance(m.content, str)
        ]
        if memory and memory.note:  # the model's own note about the person may come back
            system = [s.replace(memory.note, " ") for s in system]
        return [*system, self.primary.prompt.template, *self._instructions()]

    async def respond_stream(
        self, request: CoachRequest, context: GuardContext | None = None
    ) -> AsyncIterator[str | CoachReply]:
        """Partial reply text (sentence by sentence, each already leak- and safety-checked), then the
        final :class:`CoachReply`, which replaces the partials. The builtin coach yields just the final.
        """
        if self.primary is None:
            yield await self.fallback.respond(request)
            return
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + self.timeout
        key = context.party_id if context else None
        memory = self.primary.memory(key)
        released = ""  # partial text the party has seen
        pending = ""  # arrived, waiting for a sentence end
        answer: CoachAnswer | None = None
        kinds: list[str] = []
        try:
            stream = _until(self.primary.attempt_stream(request, memory=memory), deadline)
            async with contextlib.aclosing(stream):  # breaking out stops the model call at once
                async for item in stream:
                    if isinstance(item, CoachAnswer):
                        answer = item
                        continue
                    pending += item
                    cut = _last_sentence_end(pending)
                    if cut == 0:
                        continue
                    candidate = released + pending[:cut]
                    kinds = await self._partial_problems(candidate, request, context)
                    if kinds:
                        break  # stop showing this answer; the retry or the builtin replaces it
                    yield pending[:cut]
                    released, pending = candidate, pending[cut:]
            if answer is not None and not kinds:
                kinds = await self.problems(answer.reply, request, context)
                if not kinds:
                    self.primary.remember(key, answer)
                    self._record_success(started)
                    yield answer.reply
                    return
            if not kinds:
                raise ModelOutputError("the stream ended without an answer")
            self._record_retry(kinds)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                retry = await self.primary.attempt(request, feedback=self._reasons(kinds), memory=memory)
                kinds = await self.problems(retry.reply, request, context)
            if kinds:
                raise GuardRejected(kinds)
            self.primary.remember(key, retry)
            self._record_success(started)
            yield retry.reply
        except Exception as exc:  # noqa: BLE001 - any model trouble means the builtin answers
            reason, failed = _failure_reason(exc)
            self._record_fallback(reason, started, failed)
            yield await self.fallback.respond(request)

    async def _partial_problems(
        self, text: str, request: CoachRequest, context: GuardContext | None
    ) -> list[str]:
        kinds: set[str] = set()
        if len(text) > self.policy.coach.reply_max_chars:
            kinds.add("too_long")
        own = self._own_texts(request, context)
        if reader_tone_problems(text, own):
            kinds.add("tone")  # a partial is shown at once: contempt must stop before it
        if echo_problems(text, self._prompts(request, context), own):
            kinds.add("echo")
        kinds |= _fragment_kinds(text, own) & {"language"}  # completeness waits for the final reply
        if context and leak_problems(text, context.private_texts, context.approved_texts):
            kinds.add("leak")
        verdict = await self.partial_screener.screen(
            ScreenRequest(text=text, mode=request.mode, direction="outbound")
        )
        if verdict.flagged:
            kinds.add("safety")
        return _ordered(kinds)

    # --- memory: the orchestrator persists it per party in Party.coach_state ------------------------
    async def save_state(self, key: str | None = None) -> Mapping[str, Any]:
        """This party's coach memory (``key`` = party id) to store in ``Party.coach_state``."""
        if self.primary is None:
            return {}
        return await self.primary.save_state(key)

    async def load_state(self, state: Mapping[str, Any], key: str | None = None) -> None:
        """Restore memory saved by :meth:`save_state` (after a restart, or on another node)."""
        if self.primary is not None and state:
            await self.primary.load_state(state, key)


class GuardedMediator(RoleAgent[ComposeRequest, ComposeResult], Mediator, _Guarded):
    """The mediator Accord runs: an LLM mediator under the output guards, the builtin as fallback."""

    request_type = ComposeRequest
    response_type = ComposeResult
    role = "mediator"

    def __init__(
        self,
        primary: LLMMediator | None,
        fallback: Mediator,
        screener: SafetyScreener,
        *,
        timeout: float = 20.0,
        policy: LLMPolicy | None = None,
        backend: str = "builtin",
        name: str = "mediator",
    ) -> None:
        RoleAgent.__init__(self, name=name, description="Composes shared messages (guarded, with fallback).")
        _Guarded.__init__(self, screener, policy or load_llm_policy(), timeout)
        self.primary = primary
        self.fallback = fallback
        self.backend = backend

    async def handle(self, request: ComposeRequest) -> ComposeResult:
        return await self.compose(request)

    async def compose(self, request: ComposeRequest, context: GuardContext | None = None) -> ComposeResult:
        """A shared message that passed the guards, or the builtin one. Never raises for model trouble."""
        if self.primary is None or not request.items:
            return await self.fallback.compose(request)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._model_phase(request, context)
        except Exception as exc:  # noqa: BLE001 - any model trouble means the builtin answers
            reason, kinds = _failure_reason(exc)
            self._record_fallback(reason, started, kinds)
            return await self.fallback.compose(request)
        self._record_success(started)
        return result

    async def _model_phase(self, request: ComposeRequest, context: GuardContext | None) -> ComposeResult:
        assert self.primary is not None
        feedback: list[str] = []
        kinds: list[str] = []
        for attempt in range(2):
            result = await self.primary.attempt(request, feedback=feedback)
            kinds = await self.problems(result, request, context)
            if not kinds:
                return result
            if attempt == 0:
                self._record_retry(kinds)
                feedback = self._reasons(kinds)
        raise GuardRejected(kinds)

    def _prompts(self, request: ComposeRequest) -> list[str]:
        """The mediator's instructions as sent for this request (the approved items are not)."""
        if self.primary is None:
            return []
        system = [
            m.content
            for m in self.primary.messages(request)
            if isinstance(m, SystemMessage) and isinstance(m.content, str)
        ]
        situation = list(self.policy.mediator.situation.values())
        return [*system, self.primary.prompt.template, *situation, *self._instructions()]

    async def problems(
        self, result: ComposeResult, request: ComposeRequest, context: GuardContext | None
    ) -> list[str]:
        """The guard kinds this shared message fails (empty: it may be published)."""
        pol = self.policy.mediator
        text = result.text
        kinds: set[str] = set()
        flat = _flatten(text)
        own_words = flat
        for item in request.items:
            quote = _flatten(item.text).rstrip(".!?… ")
            if quote not in flat:
                kinds.add("fidelity")
            own_words = own_words.replace(quote, " ")
            if item.author_name.casefold() not in flat.casefold():
                kinds.add("attribution")
        own_words = " ".join(own_words.split())
        if len(own_words) > pol.framing_max_chars:
            # rejected whatever else it holds: spare the screener and the guards a huge text
            return _ordered(kinds | {"too_long"})
        if tone_problems(own_words):
            kinds.add("tone")
        quoted = [item.text for item in request.items] + list(request.previous_shared)
        if echo_problems(own_words, self._prompts(request), quoted):
            kinds.add("echo")
        quoted_words = [item.text for item in request.items]
        kinds |= _fragment_kinds(text, quoted_words) - {"language"}  # the quotes are theirs
        kinds |= _fragment_kinds(own_words, quoted_words) & {"language"}  # the framing is the model's
        if repetition_problems(text):
            kinds.add("repetition")
        kinds |= _length_kinds(own_words, pol.framing_min_chars, pol.framing_max_chars)
        approved = [item.text for item in request.items] + list(request.previous_shared)
        private = []
        if context:
            approved += context.approved_texts
            private = context.private_texts
        agreement_text = " ".join(a.text for a in result.agreements)
        for agreement in result.agreements:
            if len(agreement.text) > pol.agreement_max_chars:
                kinds.add("too_long")
        if agreement_text and tone_problems(agreement_text):
            kinds.add("tone")
        if leak_problems(" ".join((text, agreement_text)), private, approved):
            kinds.add("leak")
        if await self._flagged(" ".join((text, agreement_text)).strip(), request.mode, "outbound"):
            kinds.add("safety")
        return _ordered(kinds)


def _flatten(text: str) -> str:
    """Compare quotes without caring about curly quotes or line breaks."""
    table = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
    return " ".join(text.translate(table).split())


def _last_sentence_end(text: str) -> int:
    end = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
    return end


async def _until(source: AsyncIterator[Any], deadline: float) -> AsyncGenerator[Any, None]:
    """Items of ``source`` until ``deadline`` (loop time); then ``TimeoutError``.

    The source runs in its own task, so a model stream is never resumed from another task, and
    timing out cancels it cleanly, wherever it is.
    """
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(("item", item))
            await queue.put(("end", None))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put(("error", exc))

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(pump())
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            kind, value = await asyncio.wait_for(queue.get(), remaining)  # TimeoutError past the deadline
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        task.cancel()
        await asyncio.wait([task])  # let the stream close; never raises the task's own outcome
