"""gateway/demo.py: the scripted demo, read as each person would read it."""

from __future__ import annotations

import re

from agents.builtin.grounding import invented_words
from gateway.demo import run_script
from orchestrator.clock import ManualClock
from orchestrator.harness import InProcessDriver
from orchestrator.memory_store import MemoryStore
from orchestrator.session import SessionService
from tests.orchestrator.session_helpers import builtin_roles


async def _demo() -> InProcessDriver:
    clock = ManualClock()
    driver = InProcessDriver(SessionService(MemoryStore(), builtin_roles(), clock), clock)
    await run_script(driver)
    return driver


async def test_no_draft_in_the_demo_says_anything_its_author_did_not() -> None:
    driver = await _demo()
    for name, room in driver.rooms.items():
        said = [e.text for e in room.events if e.type == "said"]
        drafts = [e.draft for e in room.events if e.type == "draft"]
        assert drafts, name
        for draft in drafts:
            own = said + ([draft.text] if draft.edited else [])  # an edit is the author's own words
            assert invented_words(draft.text, own) == [], (name, draft.text)
    shared = [e.text for e in driver.rooms["Sam"].events if e.type == "shared"]
    for old in ("family", "weekend", "Sunday", "lonely"):
        assert not any(old in text for text in shared), old


async def test_alex_hears_the_breaks_facts_and_sam_is_met_as_defensive() -> None:
    driver = await _demo()
    alex = driver.rooms["Alex"].events
    asked = next(i for i, e in enumerate(alex) if e.type == "said" and "leaving" in (e.text or ""))
    reply = next(e.text for e in alex[asked:] if e.type == "coach")
    assert "08:30" in reply and re.search(r"not leaving|not an exit|isn't leaving", reply)
    assert "Good question" not in reply
    sam = driver.rooms["Sam"].events
    defended = next(i for i, e in enumerate(sam) if e.type == "said" and "ignoring" in (e.text or ""))
    reply = next(e.text for e in sam[defended:] if e.type == "coach")
    assert "your phone was in your bag" in reply
    draft = next(e.draft.text for e in sam[defended:] if e.type == "draft")
    assert "I was ignoring you" in draft
