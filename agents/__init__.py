"""Accord's AI roles: safety screener, coach and mediator, each an autogen-agentchat agent with a
builtin (offline, deterministic) variant and an LLM variant behind the same interface."""
