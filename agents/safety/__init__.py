"""Accord's safety screener: normalisation, rules, a trained classifier, an optional LLM judge,
intake screening (LAP, MASIC, C-SSRS) and safety replies. Entry point:
``agents.safety.screener.build_builtin_screener``. Policy: ``policies/safety*.yaml``."""
