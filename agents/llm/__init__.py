"""LLM-backed roles: the same interfaces as the builtin ones, on an autogen ``ChatCompletionClient``.

Inside Accord they always run wrapped by :mod:`agents.guarded` (output guards, timeouts, builtin
fallback); :mod:`agents.factory` builds them from ``ACCORD_MODEL``.
"""

from agents.llm.coach import CoachMemory, LLMCoach
from agents.llm.common import ModelOutputError
from agents.llm.mediator import LLMMediator

__all__ = ["CoachMemory", "LLMCoach", "LLMMediator", "ModelOutputError"]
