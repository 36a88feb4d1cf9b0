"""The mediator, written by a language model.

Same interface as the builtin mediator (:class:`agents.interfaces.Mediator`). It sees only approved
drafts (their exact words, ids and authors) and earlier shared messages, never anything private, and
is asked to quote every approved message verbatim with attribution, inside a short, warm, balanced
frame that reassures before it turns to the problem. Requests become proposed mutual agreements.

Used on its own, ``compose`` raises when the model fails; inside Accord it runs wrapped in
:class:`agents.guarded.GuardedMediator` (guards, timeout, builtin fallback).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Template
from typing import Any

from autogen_core.models import ChatCompletionClient, LLMMessage, SystemMessage, UserMessage

from agents.base import RoleAgent
from agents.interfaces import ComposeRequest, ComposeResult, Mediator, ProposedAgreement
from agents.llm.common import ModelOutputError, create_text, relationship_word, render, wants_json
from agents.llm.parsing import find_json_object
from policies.llm import LLMPolicy, load_llm_policy, load_prompt


class LLMMediator(RoleAgent[ComposeRequest, ComposeResult], Mediator):
    """The mediator role on a ``ChatCompletionClient``."""

    request_type = ComposeRequest
    response_type = ComposeResult

    def __init__(
        self,
        client: ChatCompletionClient,
        *,
        policy: LLMPolicy | None = None,
        create_args: Mapping[str, Any] | None = None,
        json_output: bool | None = None,
        name: str = "llm_mediator",
    ) -> None:
        super().__init__(name=name, description="Composes shared messages from approved drafts with a model.")
        self.client = client
        self.policy = policy or load_llm_policy()
        self.prompt = load_prompt(self.policy.mediator.prompt)
        self.create_args = dict(create_args or {})
        self.json_mode = wants_json(client, json_output)

    async def handle(self, request: ComposeRequest) -> ComposeResult:
        return await self.compose(request)

    async def compose(self, request: ComposeRequest) -> ComposeResult:
        """One shared message. Raises :class:`ModelOutputError` or the client's error on failure."""
        return await self.attempt(request)

    async def attempt(self, request: ComposeRequest, *, feedback: Sequence[str] = ()) -> ComposeResult:
        """Ask the model once; if the answer cannot be read, ask once more saying so."""
        raw = await create_text(
            self.client, self.messages(request, feedback=feedback),
            json_mode=self.json_mode, create_args=self.create_args,
        )
        try:
            return self.parse(raw, request)
        except ModelOutputError:
            raw = await create_text(
                self.client, self.messages(request, feedback=feedback, unparsable=True),
                json_mode=self.json_mode, create_args=self.create_args,
            )
            return self.parse(raw, request)

    def messages(
        self, request: ComposeRequest, *, feedback: Sequence[str] = (), unparsable: bool = False
    ) -> list[LLMMessage]:
        """The system prompt, then one user message listing the approved items (and recent context)."""
        pol = self.policy.mediator
        situation = pol.situation
        names = request.parties or sorted({item.author_name for item in request.items})
        values = {
            "relationship": relationship_word(request.mode, self.policy.mode_words),
            "parties": " and ".join(names) if names else "two people",
            "example_name": request.items[0].author_name if request.items else (names[0] if names else "Sam"),
        }
        lines = [situation["first_exchange" if request.shared_count == 0 else "later_exchange"]]
        lines.append(situation["requests" if any(item.request for item in request.items) else "no_requests"])
        values["situation"] = "\n".join(render(Template(line), values) for line in lines)
        system = render(self.prompt, values)
        if feedback:
            system += f"\n\n{self.policy.retry_intro} " + " ".join(feedback)
        if unparsable:
            system += "\n\n" + self.policy.unparsable.strip()

        body: list[str] = []
        previous = request.previous_shared[-pol.previous_shared:] if pol.previous_shared else []
        if previous:
            body.append(situation["previous_intro"])
            body.extend(f"- {text}" for text in previous)
            body.append("")
        body.append(situation["items_intro"])
        for item in request.items:
            line = f'[{item.draft_id}] {item.author_name}: "{item.text}"'
            if item.request:
                line += f' (request: "{item.request}")'
            body.append(line)
        return [SystemMessage(content=system), UserMessage(content="\n".join(body), source="orchestrator")]

    def parse(self, raw: str, request: ComposeRequest) -> ComposeResult:
        """Read ``{"text", "agreements"}``. Agreements must come from an item that carries a request."""
        data = find_json_object(raw)
        if data is None:
            raise ModelOutputError("no readable JSON object in the answer")
        text = data.get("text") or data.get("message")
        if not isinstance(text, str) or not text.strip():
            raise ModelOutputError("the answer has no shared text")
        with_request = [item.draft_id for item in request.items if item.request]
        agreements: list[ProposedAgreement] = []
        raw_agreements = data.get("agreements")
        for entry in raw_agreements if isinstance(raw_agreements, list) else []:
            if isinstance(entry, str):
                entry = {"text": entry}
            text_ok = isinstance(entry, dict) and isinstance(entry.get("text"), str) and entry["text"].strip()
            if not text_ok:
                continue
            ids = entry.get("source_draft_ids")
            named = isinstance(ids, list) and bool(ids)
            sources = [i for i in ids if i in with_request] if named and isinstance(ids, list) else []
            if not named and len(with_request) == 1:
                sources = list(with_request)  # no source named, one request on the table: that one
            if sources:
                agreements.append(ProposedAgreement(text=entry["text"].strip(), source_draft_ids=sources))
        return ComposeResult(text=text.strip(), agreements=agreements)
