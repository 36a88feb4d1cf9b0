"""The simulator's room client (gateway/room_client.py): transient ``coach_partial`` frames are
counted, never recorded as room events, never a gap, and never mistaken for the ``coach`` reply."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from agents.builtin.coach import BuiltinCoach
from agents.factory import build_roles
from agents.guarded import GuardedCoach
from agents.llm.coach import LLMCoach
from agents.roles import Roles
from agents.testing import ScriptedModelClient, scripted_json
from gateway.room_client import Member
from gateway.scenario import parse_scenario
from gateway.simulate import InProcessTarget, simulate

REPLY = "That sounds like a long week. You want the weekends to feel shared. What would help first?"


def frame(seq: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "at": 1.0, "type": kind, **fields}


def test_partials_are_counted_but_never_room_events() -> None:
    member = Member("Ana", "p-1", "party", "token")
    member._receive(frame(1, "said", text="Hi.", message_id="m1"))
    member._receive(frame(0, "coach_partial", text="That sounds ", reply_to="m1"))
    member._receive(frame(0, "coach_partial", text="That sounds hard. ", reply_to="m1"))
    # What a step waits for (a seq, a coach reply) is not reached by a partial, and it is no gap.
    assert member.last_seq == 1 and [e["type"] for e in member.events] == ["said"]
    assert member.problems == [] and member.partials == 2
    member._receive(frame(2, "coach", text="That sounds hard.", message_id="m2", reply_to="m1"))
    assert [e["seq"] for e in member.events] == [1, 2] and member.typed[-1] is not None
    assert member.problems == []


async def test_a_simulated_run_with_a_streaming_coach_keeps_partials_out_of_the_transcript() -> None:
    base = build_roles({})
    model = ScriptedModelClient([scripted_json(REPLY)] * 2)
    coach = GuardedCoach(LLMCoach(model), BuiltinCoach(), base.screener, timeout=30.0, backend="scripted")
    scenario = parse_scenario(
        "mode: couple\nparties: [Ana, Ben]\nsteps:\n"
        '  - {party: Ana, say: "I would like us to plan the weekends together."}\n'
        "  - {invite: Ben}\n"
        '  - {party: Ben, say: "I want some quiet time on Saturdays."}\n'
    )
    target = InProcessTarget(Roles(screener=base.screener, coach=coach, mediator=base.mediator))
    await target.start()
    try:
        console = Console(file=io.StringIO(), width=200)
        transcript = await simulate(scenario, url=target.base_url, console=console)
        sent = target.app.state.metrics.registry.get_sample_value(
            "accord_ws_events_sent_total", {"type": "coach_partial"}
        )
    finally:
        await target.close()
    assert sent and sent >= 2  # the sockets did carry partials (each reply has two whole sentences)
    for room in transcript["parties"].values():
        seqs = [e["seq"] for e in room["events"]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert "coach_partial" not in {e["type"] for e in room["events"]}
    assert [e["text"] for e in transcript["parties"]["Ana"]["events"] if e["type"] == "coach"] == [REPLY]
