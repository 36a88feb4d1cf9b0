"""How the LLM roles are prompted and bounded (``llm.yaml`` plus the prompts in ``prompts/*.md``).

The prompts carry the techniques (validate first, NVC, parts language, no side-taking, reassurance
before closure, support *and* reality-test); the YAML holds the numbers the guards enforce and the
short notes added to a prompt for one turn (the situation, or why a previous answer was rejected).
Keeping both here lets a clinician review what the model is told without reading Python.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from pydantic import BaseModel, Field, model_validator

from orchestrator.errors import PolicyError
from policies.loader import load_policy, policy_dir


class Sampling(BaseModel):
    """Sampling for one role. Sent only to backends that take it (see ``agents.factory``)."""

    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(gt=0)


class CoachLLMPolicy(BaseModel):
    prompt: str  # file under the policy folder, e.g. prompts/coach.md
    sampling: Sampling
    history_turns: int = Field(gt=0)  # private turns the model sees, newest last
    reply_min_chars: int = Field(ge=1)
    reply_max_chars: int = Field(gt=0)
    draft_min_chars: int = Field(ge=1)
    draft_max_chars: int = Field(gt=0)
    memory_max_chars: int = Field(gt=0)  # the running note kept per party (Party.coach_state)
    # one line each, added to the prompt when the request says so
    situation: dict[str, str]

    @model_validator(mode="after")
    def _bounds(self) -> CoachLLMPolicy:
        if self.reply_min_chars >= self.reply_max_chars or self.draft_min_chars >= self.draft_max_chars:
            raise ValueError("min_chars must be below max_chars")
        return self


class MediatorLLMPolicy(BaseModel):
    prompt: str
    sampling: Sampling
    previous_shared: int = Field(ge=0)  # earlier shared messages the model sees
    # the mediator quotes approved texts verbatim; these bound only its own framing words
    framing_min_chars: int = Field(ge=0)
    framing_max_chars: int = Field(gt=0)
    agreement_max_chars: int = Field(gt=0)
    situation: dict[str, str]


class LLMPolicy(BaseModel):
    """The whole ``llm.yaml``."""

    coach: CoachLLMPolicy
    mediator: MediatorLLMPolicy
    # why an answer was rejected, in words the model can act on. Never carries private text.
    retry_reasons: dict[str, str]
    retry_intro: str  # "Your previous answer was not used, because" + the reasons
    unparsable: str  # said when the answer was not the JSON asked for
    mode_words: dict[str, str]  # mode -> the word the prompts use for the conflict ("relationship")


REQUIRED_RETRY_REASONS = ("leak", "safety", "tone", "too_long", "too_short", "attribution", "fidelity")
REQUIRED_SITUATIONS = {
    "coach": ("other_present", "solo", "flooded", "pursuer", "withdrawer", "concern", "paused", "parts",
              "no_parts", "first_turn"),
    "mediator": ("items_intro", "previous_intro", "first_exchange", "later_exchange", "requests",
                 "no_requests"),
}


def load_llm_policy(directory: Path | None = None) -> LLMPolicy:
    """Load ``llm.yaml`` and check that its prompt files exist and every retry reason is worded."""
    folder = directory or policy_dir()
    policy = load_policy("llm.yaml", LLMPolicy, folder)
    missing = [k for k in REQUIRED_RETRY_REASONS if k not in policy.retry_reasons]
    if missing:
        raise PolicyError(f"{folder / 'llm.yaml'}: retry_reasons: missing {', '.join(missing)}")
    for role, keys in REQUIRED_SITUATIONS.items():
        absent = [k for k in keys if k not in getattr(policy, role).situation]
        if absent:
            raise PolicyError(f"{folder / 'llm.yaml'}: {role}.situation: missing {', '.join(absent)}")
        load_prompt(getattr(policy, role).prompt, folder)
    return policy


def load_prompt(relative: str, directory: Path | None = None) -> Template:
    """Read one prompt file as a ``string.Template`` (``$name`` placeholders; JSON braces stay literal)."""
    path = (directory or policy_dir()) / relative
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise PolicyError(f"{path}: prompt file not found") from None
    if not text.strip():
        raise PolicyError(f"{path}: prompt file is empty")
    return Template(text)
