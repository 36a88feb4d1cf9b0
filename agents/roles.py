"""The set of role agents one Accord process uses."""

from __future__ import annotations

from dataclasses import dataclass

from agents.interfaces import Coach, Mediator, SafetyScreener


@dataclass
class Roles:
    """The three roles the orchestrator calls. Built by ``agents.factory.build_roles``."""

    screener: SafetyScreener
    coach: Coach
    mediator: Mediator
