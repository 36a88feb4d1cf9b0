"""What the LLM roles share: one model call, JSON mode detection, prompt rendering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Template
from typing import Any

from autogen_core.models import ChatCompletionClient, LLMMessage

from orchestrator.models import Mode


class ModelOutputError(Exception):
    """The model answered, but not with anything usable (even after the one format retry)."""

    reason = "unparsable"


def wants_json(client: ChatCompletionClient, override: bool | None = None) -> bool:
    """Ask for JSON mode only where the backend says it has it (others reject the request outright)."""
    if override is not None:
        return override
    try:
        return bool(client.model_info.get("json_output", False))
    except Exception:  # a client without model_info: plain text plus the tolerant parser
        return False


def render(template: Template, values: Mapping[str, str]) -> str:
    """Fill ``$name`` placeholders; unknown ``$`` sequences stay as written."""
    return template.safe_substitute(values).strip()


def relationship_word(mode: Mode, words: Mapping[str, str]) -> str:
    """``couple`` → "relationship", ``workplace`` → "workplace" (the words live in llm.yaml)."""
    return words.get(mode.value, mode.value)


async def create_text(
    client: ChatCompletionClient,
    messages: Sequence[LLMMessage],
    *,
    json_mode: bool,
    create_args: Mapping[str, Any],
) -> str:
    """One non-streaming call; the answer as text. Tool calls or empty answers are unusable."""
    result = await client.create(
        list(messages), json_output=True if json_mode else None, extra_create_args=dict(create_args)
    )
    if not isinstance(result.content, str) or not result.content.strip():
        raise ModelOutputError("the model returned no text")
    return result.content
