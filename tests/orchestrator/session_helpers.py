"""Shared set-up for session tests: a service on a store with the builtin roles and a manual clock."""

from __future__ import annotations

from agents.builtin.coach import BuiltinCoach
from agents.builtin.mediator import BuiltinMediator
from agents.roles import Roles
from agents.safety.screener import build_builtin_screener
from orchestrator.clock import ManualClock
from orchestrator.harness import InProcessDriver
from orchestrator.session import SessionService
from orchestrator.store import SessionStore

_SCREENER = None


def builtin_roles() -> Roles:
    global _SCREENER
    if _SCREENER is None:  # the classifier loads once per test run
        _SCREENER = build_builtin_screener()
    return Roles(screener=_SCREENER, coach=BuiltinCoach(), mediator=BuiltinMediator())


def make_driver(store: SessionStore, review: object | None = None) -> InProcessDriver:
    clock = ManualClock()
    service = SessionService(store, builtin_roles(), clock, review=review)
    return InProcessDriver(service, clock)


async def joint_session(driver: InProcessDriver, mode: str = "couple") -> tuple[str, str, str]:
    """Alex and Sam, both through intake and the readiness check: the joint room is open."""
    await driver.start(mode, "Alex")
    a = driver.pid("Alex")
    await driver.service.intake(driver.session_id, a, skip=True)
    await driver.invite("Sam")
    b = driver.pid("Sam")
    await driver.service.intake(driver.session_id, b, skip=True)
    await driver.service.ready(driver.session_id, a)
    await driver.service.ready(driver.session_id, b)
    return driver.session_id, a, b


async def stage(driver: InProcessDriver) -> str:
    return (await driver.service.store.load(driver.session_id)).stage.value


async def draft_via_coach(driver: InProcessDriver, name: str, text: str) -> str:
    """Say something the coach answers with a draft; return the draft id."""
    await driver.service.say(driver.session_id, driver.pid(name), text)
    return await driver.latest_draft(name)
