"""Builtin roles: offline, deterministic, no model. Built from the lexicons in ``policies/``."""
