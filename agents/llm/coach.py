"""A party's private coach, written by a language model.

Same interface as the builtin coach (:class:`agents.interfaces.Coach`). The prompt (``policies/
prompts/coach.md``) carries the techniques; this module only assembles what the model sees, reads
what it wrote and keeps a short memory per party.

Used on its own, ``respond`` raises when the model fails; inside Accord it always runs wrapped in
:class:`agents.guarded.GuardedCoach`, which adds the output guards, the timeout and the builtin
fallback.

**Memory.** Beyond the recent ``history`` that each request carries, the model keeps a short note per
party (goals, needs, what helped) that outlives the history window and restarts. It is stored by
autogen's agent-state API, keyed by party::

    await coach.load_state(party.coach_state, key=party.id)    # from the store (any node)
    reply = await coach.respond(request, memory_key=party.id)
    party.coach_state = dict(await coach.save_state(key=party.id))   # back into the store

``save_state()`` without a key exports every party this process holds (autogen's usual meaning).
The note is this party's private data: it lives only in ``Party.coach_state`` and is never logged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from string import Template
from typing import Any

from autogen_agentchat.state import BaseState
from autogen_core.models import AssistantMessage, ChatCompletionClient, LLMMessage, SystemMessage, UserMessage
from pydantic import BaseModel, ValidationError

from agents.base import RoleAgent
from agents.interfaces import Coach, CoachReply, CoachRequest, DraftProposal
from agents.llm.common import ModelOutputError, create_text, relationship_word, render, wants_json
from agents.llm.parsing import ReplyTextStream, find_json_object, looks_like_json, strip_fences
from policies.llm import LLMPolicy, load_llm_policy, load_prompt

MARKERS = frozenset({"criticism", "contempt", "defensiveness", "stonewalling", "absolutes"})
SUGGESTIONS = frozenset({"break", "cycle", "none"})


class CoachMemory(BaseState):
    """What the coach remembers about one party (saved in ``Party.coach_state``)."""

    type: str = "AccordCoachMemory"
    note: str = ""
    turns: int = 0


class CoachMemories(BaseState):
    """Every party's memory this process holds (``save_state()`` without a key)."""

    type: str = "AccordCoachMemories"
    memories: dict[str, CoachMemory] = {}


class CoachAnswer(BaseModel):
    """One usable model answer: the reply plus the updated memory note (kept only if the guards pass)."""

    reply: CoachReply
    memory_note: str | None = None


class LLMCoach(RoleAgent[CoachRequest, CoachReply], Coach):
    """The coach role on a ``ChatCompletionClient``.

    ``create_args`` are the backend's sampling arguments (see ``agents.factory.sampling_args``);
    ``json_output`` forces JSON mode on or off (default: what the client's ``model_info`` says).
    """

    request_type = CoachRequest
    response_type = CoachReply

    def __init__(
        self,
        client: ChatCompletionClient,
        *,
        policy: LLMPolicy | None = None,
        create_args: Mapping[str, Any] | None = None,
        json_output: bool | None = None,
        name: str = "llm_coach",
        max_memories: int = 4096,
    ) -> None:
        super().__init__(name=name, description="A party's private coach, backed by a language model.")
        self.client = client
        self.policy = policy or load_llm_policy()
        self.prompt = load_prompt(self.policy.coach.prompt)
        self.create_args = dict(create_args or {})
        self.json_mode = wants_json(client, json_output)
        self._memories: OrderedDict[str, CoachMemory] = OrderedDict()
        self._max_memories = max_memories

    # --- the Coach interface -------------------------------------------------------------------
    async def handle(self, request: CoachRequest) -> CoachReply:
        return await self.respond(request)

    async def respond(self, request: CoachRequest, *, memory_key: str | None = None) -> CoachReply:
        """One reply. Raises :class:`ModelOutputError` or the client's error when the model fails."""
        answer = await self.attempt(request, memory=self.memory(memory_key))
        self.remember(memory_key, answer)
        return answer.reply

    async def respond_stream(
        self, request: CoachRequest, *, memory_key: str | None = None
    ) -> AsyncIterator[str | CoachReply]:
        """Partial reply text as it arrives, then the final :class:`CoachReply` (which replaces them)."""
        async for item in self.attempt_stream(request, memory=self.memory(memory_key)):
            if isinstance(item, CoachAnswer):
                self.remember(memory_key, item)
                yield item.reply
            else:
                yield item

    # --- one attempt (the guarded wrapper calls these directly) ---------------------------------
    async def attempt(
        self, request: CoachRequest, *, feedback: Sequence[str] = (), memory: CoachMemory | None = None
    ) -> CoachAnswer:
        """Ask the model once; if the answer cannot be read, ask once more saying so."""
        raw = await create_text(
            self.client, self.messages(request, feedback=feedback, memory=memory),
            json_mode=self.json_mode, create_args=self.create_args,
        )
        try:
            return self.parse(raw, request)
        except ModelOutputError:
            return await self._format_retry(request, feedback, memory)

    async def attempt_stream(
        self, request: CoachRequest, *, feedback: Sequence[str] = (), memory: CoachMemory | None = None
    ) -> AsyncIterator[str | CoachAnswer]:
        """Like :meth:`attempt`, yielding the reply text as it streams; ends with a :class:`CoachAnswer`.

        Backends that cannot stream (llama.cpp raises ``NotImplementedError``) answer in one piece.
        """
        reader = ReplyTextStream()
        final: str | None = None
        stream: AsyncGenerator[Any, None] | None = None
        try:
            stream = self.client.create_stream(
                self.messages(request, feedback=feedback, memory=memory),
                json_output=True if self.json_mode else None,
                extra_create_args=dict(self.create_args),
            )
            async for item in stream:
                if isinstance(item, str):
                    delta = reader.feed(item)
                    if delta:
                        yield delta
                elif isinstance(item.content, str):
                    final = item.content
        except NotImplementedError:
            yield await self.attempt(request, feedback=feedback, memory=memory)
            return
        finally:
            if stream is not None:
                await stream.aclose()
        try:
            yield self.parse(final if final is not None else reader.raw, request)
        except ModelOutputError:
            yield await self._format_retry(request, feedback, memory)

    async def _format_retry(
        self, request: CoachRequest, feedback: Sequence[str], memory: CoachMemory | None
    ) -> CoachAnswer:
        raw = await create_text(
            self.client, self.messages(request, feedback=feedback, memory=memory, unparsable=True),
            json_mode=self.json_mode, create_args=self.create_args,
        )
        return self.parse(raw, request)  # a second unreadable answer raises: the wrapper falls back

    # --- prompt ----------------------------------------------------------------------------------
    def messages(
        self,
        request: CoachRequest,
        *,
        feedback: Sequence[str] = (),
        memory: CoachMemory | None = None,
        unparsable: bool = False,
    ) -> list[LLMMessage]:
        """Everything the model is sent: one system message, the recent private history, the new text.

        Only this party's own room is in here; the other party's words never are.
        """
        pol = self.policy.coach
        other_ref = request.other_name or "the other person"
        values = {
            "party_name": request.party_name,
            "other_name": request.other_name or "",
            "other_ref": other_ref,
            "relationship": relationship_word(request.mode, self.policy.mode_words),
            "signals": ", ".join(request.flood_signals) or "intensity",
        }
        situation = pol.situation
        lines: list[str] = []
        if request.turn_index == 0 and not request.history:
            lines.append(situation["first_turn"])
        if request.flooded:
            lines.append(situation["flooded"])
        if request.concern:
            lines.append(situation["concern"])
        if request.cycle_role is not None:
            lines.append(situation["pursuer" if request.cycle_role == "pursuer" else "withdrawer"])
        if request.paused:
            lines.append(situation["paused"])
        lines.append(situation["parts" if request.parts_language else "no_parts"])
        values["other_line"] = render(
            Template(situation["other_present"] if request.other_name else situation["solo"]), values
        )
        values["situation"] = "\n".join(render(Template(line), values) for line in lines)
        values["memory"] = (memory.note if memory and memory.note else "(nothing yet)")
        system = render(self.prompt, values)
        if feedback:
            system += f"\n\n{self.policy.retry_intro} " + " ".join(feedback)
        if unparsable:
            system += "\n\n" + self.policy.unparsable.strip()

        history = list(request.history)
        if history and history[-1].speaker == "party" and history[-1].text.strip() == request.text.strip():
            history.pop()  # the orchestrator may already have appended the new message
        history = history[-pol.history_turns:]
        out: list[LLMMessage] = [SystemMessage(content=system)]
        for turn in history:
            if turn.speaker == "party":
                out.append(UserMessage(content=turn.text, source="party"))
            else:
                out.append(AssistantMessage(content=turn.text, source="coach"))
        out.append(UserMessage(content=request.text, source="party"))
        return out

    # --- reading the answer ------------------------------------------------------------------------
    def parse(self, raw: str, request: CoachRequest) -> CoachAnswer:
        """Tolerant: JSON in or out of code fences, prose around it, or plain text as the reply."""
        data = find_json_object(raw)
        if data is None:
            plain = strip_fences(raw).strip()
            if not plain or looks_like_json(raw):
                raise ModelOutputError("no readable JSON object in the answer")
            return CoachAnswer(reply=self._finish(CoachReply(text=plain), request))
        text = data.get("text") or data.get("reply") or data.get("message")
        if not isinstance(text, str) or not text.strip():
            raise ModelOutputError("the answer has no reply text")
        reply = CoachReply(
            text=text.strip(),
            draft=_draft(data.get("draft")),
            suggestion=data.get("suggestion") if data.get("suggestion") in SUGGESTIONS else "none",
            markers=[m for m in _strings(data.get("markers")) if m in MARKERS],
        )
        note = data.get("memory")
        memory_note = note.strip()[: self.policy.coach.memory_max_chars] if isinstance(note, str) else None
        return CoachAnswer(reply=self._finish(reply, request), memory_note=memory_note)

    @staticmethod
    def _finish(reply: CoachReply, request: CoachRequest) -> CoachReply:
        """Rules the model may forget: no draft while flooded or at risk; a flooded party hears "break"."""
        if request.flooded or request.concern:
            reply.draft = None
        if request.flooded and reply.suggestion == "none":
            reply.suggestion = "break"
        elif request.cycle_role is not None and reply.suggestion == "none":
            reply.suggestion = "cycle"
        return reply

    # --- memory (autogen agent state, one entry per party) -------------------------------------------
    def memory(self, key: str | None) -> CoachMemory | None:
        """This party's memory, if the process holds it (load it from the store with ``load_state``)."""
        if key is None:
            return None
        found = self._memories.get(key)
        if found is not None:
            self._memories.move_to_end(key)
        return found

    def remember(self, key: str | None, answer: CoachAnswer) -> None:
        """Keep the note from an answer that was used."""
        if key is None:
            return
        previous = self._memories.get(key) or CoachMemory()
        note = answer.memory_note if answer.memory_note is not None else previous.note
        self._store(key, CoachMemory(note=note, turns=previous.turns + 1))

    def forget(self, key: str) -> None:
        """Drop one party's memory from this process (the party deleted their data)."""
        self._memories.pop(key, None)

    async def save_state(self, key: str | None = None) -> Mapping[str, Any]:
        """One party's memory (with ``key``), or every party's (without): plain JSON-able data."""
        if key is not None:
            return (self._memories.get(key) or CoachMemory()).model_dump()
        return CoachMemories(memories=dict(self._memories)).model_dump()

    async def load_state(self, state: Mapping[str, Any], key: str | None = None) -> None:
        """Restore memory saved by :meth:`save_state`. Unreadable state starts that memory afresh."""
        try:
            if key is not None:
                if state:
                    self._store(key, CoachMemory.model_validate(dict(state)))
                return
            for k, memory in CoachMemories.model_validate(dict(state)).memories.items():
                self._store(k, memory)
        except ValidationError:
            if key is not None:
                self._memories.pop(key, None)

    def _store(self, key: str, memory: CoachMemory) -> None:
        self._memories[key] = memory
        self._memories.move_to_end(key)
        while len(self._memories) > self._max_memories:  # the store keeps the truth; this is a cache
            self._memories.popitem(last=False)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value.strip().lower()]
    if isinstance(value, list):
        return [v.strip().lower() for v in value if isinstance(v, str)]
    return []


def _draft(value: object) -> DraftProposal | None:
    """A draft as the model wrote it: an object, a bare string, or nothing."""
    if isinstance(value, str) and value.strip():
        return DraftProposal(text=value.strip())
    if not isinstance(value, dict):
        return None
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    request = value.get("request")
    request = request.strip() if isinstance(request, str) and request.strip() else None
    return DraftProposal(text=text.strip(), kind="request" if request else "message", request=request)
