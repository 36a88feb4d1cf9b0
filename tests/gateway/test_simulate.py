"""``accord simulate``: the shipped examples end to end through an in-process uvicorn gateway and real
WebSocket clients; the transcript's exact shape; privacy between rooms; malformed scenarios."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agents.factory import build_roles
from agents.roles import Roles
from gateway import simulate as sim
from gateway.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from gateway.simulate import InProcessTarget, SimulationError, simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOP_KEYS = {"session_id", "mode", "final_stage", "parties", "agreements", "review_cases"}
PRIVATE_TYPES = {"said", "coach", "draft", "intake", "safety"}


@pytest.fixture(scope="module")
def roles() -> Roles:
    """The builtin agents, built once: loading the safety classifier is the slow part of a run."""
    return build_roles()


def quiet() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, highlight=False), buffer


async def run_file(path: Path, roles: Roles) -> tuple[Scenario, dict[str, Any], str]:
    scenario = load_scenario(path)
    console, buffer = quiet()
    transcript = await simulate(scenario, source=path.name, console=console, roles=roles)
    return scenario, transcript, buffer.getvalue()


def events(transcript: dict[str, Any], name: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in transcript["parties"][name]["events"] if kind is None or e["type"] == kind]


def check_shape(scenario: Scenario, transcript: dict[str, Any]) -> None:
    """The transcript format, exactly, and a gap-free room log for everyone who joined."""
    assert set(transcript) == TOP_KEYS
    assert transcript["mode"] == scenario.mode.value
    assert isinstance(transcript["session_id"], str) and transcript["session_id"]
    assert set(transcript["parties"]) <= set(scenario.parties + scenario.facilitators)
    assert scenario.initiator in transcript["parties"]
    for name, room in transcript["parties"].items():
        assert set(room) == {"events"}
        seqs = [e["seq"] for e in room["events"]]
        assert seqs == list(range(1, len(seqs) + 1)), f"{name}'s room has gaps or repeats"
        for event in room["events"]:
            assert list(event)[:2] == ["seq", "type"]
            nested = event.get("draft") or event.get("agreement")
            expected_text = nested["text"] if nested else event.get("text")
            assert event.get("text") == expected_text
            if event["type"] in (
                "said",
                "coach",
                "shared",
                "stage",
                "timeout",
                "safety",
                "intake",
                "draft",
                "agreement",
            ):
                assert isinstance(event["text"], str) and event["text"]
    for agreement in transcript["agreements"]:
        assert set(agreement) == {"id", "text", "accepted_by"}
        assert set(agreement["accepted_by"]) <= set(scenario.parties)
    for case in transcript["review_cases"]:
        assert set(case) == {"id", "severity", "category", "party", "status"}


def check_privacy(transcript: dict[str, Any]) -> None:
    """No room holds another room's private events: not their words, drafts or coach replies."""
    rooms = transcript["parties"]
    for name, room in rooms.items():
        mine = room["events"]
        said = {e["text"] for e in mine if e["type"] == "said"}
        private_ids = {e["message_id"] for e in mine if e["type"] in ("said", "coach")}
        draft_ids = {e["draft"]["id"] for e in mine if e["type"] == "draft"}
        for other, other_room in rooms.items():
            if other == name:
                continue
            blob = json.dumps(other_room, ensure_ascii=False)
            for text in said:
                assert text not in blob, f"{other} received {name}'s private words"
            for event in other_room["events"]:
                assert event.get("message_id") not in private_ids
                if event["type"] == "draft":
                    assert event["draft"]["id"] not in draft_ids


def shared_ids(transcript: dict[str, Any], name: str) -> list[str]:
    return [e["message_id"] for e in events(transcript, name, "shared")]


def index_of(transcript: dict[str, Any], name: str, predicate: Any) -> int:
    return next(i for i, e in enumerate(events(transcript, name)) if predicate(e))


# --- the examples ---------------------------------------------------------------------------------------
async def test_pursue_withdraw_runs_to_an_agreement_after_a_break(roles: Roles) -> None:
    scenario, transcript, progress = await run_file(EXAMPLES / "pursue_withdraw.yaml", roles)
    check_shape(scenario, transcript)
    check_privacy(transcript)
    alex, sam = scenario.parties
    step_lines = [line for line in progress.splitlines() if re.match(r"\s*\d+ ", line)]
    assert len(step_lines) == len(scenario.steps) + 1  # one line per step, plus the start
    # The shared room: the same messages, in the same order, in both rooms.
    assert len(shared_ids(transcript, alex)) >= 2
    assert shared_ids(transcript, alex) == shared_ids(transcript, sam)
    # The break: started by Sam, announced to Alex as a break (not an exit), and over after the clock moved.
    started = events(transcript, alex, "timeout")
    assert [t["state"] for t in started][:2] == ["started", "ended"]
    assert started[0]["by"] == sam and "isn't leaving" in started[0]["text"]
    assert [t["state"] for t in events(transcript, sam, "timeout") if t["state"] != "suggested"][:2] == [
        "started",
        "ended",
    ]
    # An agreement both accepted.
    assert any(sorted(a["accepted_by"]) == sorted([alex, sam]) for a in transcript["agreements"])
    assert transcript["final_stage"] == "joint"
    assert transcript["review_cases"] == []


async def test_workplace_credit_dispute_ends_in_an_agreement_hr_sees_only_the_outcome(roles: Roles) -> None:
    scenario, transcript, _ = await run_file(EXAMPLES / "workplace_credit.yaml", roles)
    check_shape(scenario, transcript)
    check_privacy(transcript)
    priya, tom = scenario.parties
    assert transcript["mode"] == "workplace"
    assert shared_ids(transcript, priya) == shared_ids(transcript, tom) and shared_ids(transcript, priya)
    accepted = [a for a in transcript["agreements"] if sorted(a["accepted_by"]) == sorted([priya, tom])]
    assert accepted
    assert transcript["final_stage"] == "closed"
    for facilitator in scenario.facilitators:
        kinds = {e["type"] for e in events(transcript, facilitator)}
        assert kinds <= {"stage", "agreement"}, "a facilitator sees outcomes only"
        assert {e["agreement"]["id"] for e in events(transcript, facilitator, "agreement")} >= {
            a["id"] for a in accepted
        }


async def test_solo_start_with_a_late_invite_shares_early_drafts_once_joint_opens(roles: Roles) -> None:
    scenario, transcript, _ = await run_file(EXAMPLES / "solo_late_invite.yaml", roles)
    check_shape(scenario, transcript)
    check_privacy(transcript)
    alone, late = scenario.parties
    # Drafts approved while alone are queued, not shared...
    first_sent = index_of(
        transcript, alone, lambda e: e["type"] == "draft" and e["draft"]["status"] == "sent"
    )
    first_join = index_of(transcript, alone, lambda e: e["type"] == "stage" and late in e["parties"])
    assert first_sent < first_join
    # ...and reach the other room only after the joint room opened, as the first shared messages.
    joint = index_of(transcript, late, lambda e: e["type"] == "stage" and e["stage"] == "joint")
    first_shared = index_of(transcript, late, lambda e: e["type"] == "shared")
    assert joint < first_shared
    assert alone in events(transcript, late, "shared")[0]["authors"]
    assert shared_ids(transcript, alone) == shared_ids(transcript, late)
    assert transcript["final_stage"] in ("joint", "agreement")
    assert len(events(transcript, alone, "said")) >= 3  # worked alone for a while


async def test_a_danger_signal_holds_the_session_and_lists_its_review_case(roles: Roles) -> None:
    scenario = parse_scenario(
        "mode: couple\nparties: [Kim, Lee]\nsteps:\n  - {invite: Lee}\n"
        '  - {party: Kim, say: "Last night he said he would kill me if I ever leave, '
        'and he keeps a gun in the car."}\n'
    )
    transcript = await simulate(scenario, console=quiet()[0], roles=roles)
    check_shape(scenario, transcript)
    check_privacy(transcript)
    assert transcript["final_stage"] == "held"
    [case] = transcript["review_cases"]
    assert case["party"] == "Kim" and case["severity"] in ("high", "critical") and case["status"] == "open"
    assert case["category"]
    assert events(transcript, "Kim", "safety"), "the writer gets a private safety reply"
    assert not events(transcript, "Lee", "safety")


# --- remote mode -----------------------------------------------------------------------------------------
async def test_runs_against_a_running_server_with_url(roles: Roles) -> None:
    scenario = parse_scenario(
        "mode: couple\nparties: [Ana, Ben]\nsteps:\n"
        '  - {party: Ana, say: "I\'d like us to plan the weekends together."}\n'
        "  - {invite: Ben}\n"
        '  - {party: Ben, say: "I want some quiet time on Saturdays."}\n'
    )
    target = InProcessTarget(roles)
    await target.start()
    try:
        console, _ = quiet()
        transcript = await simulate(scenario, url=target.base_url, console=console)
    finally:
        await target.close()
    check_shape(scenario, transcript)
    check_privacy(transcript)
    assert transcript["final_stage"] == "ready_check"
    assert [e["text"] for e in events(transcript, "Ben", "said")] == ["I want some quiet time on Saturdays."]


async def test_advance_against_a_running_server_is_refused_before_anything_runs() -> None:
    scenario = parse_scenario(
        "mode: couple\nparties: [a]\nsteps:\n  - {party: a, say: hi}\n  - {advance: 60}\n"
    )
    with pytest.raises(SimulationError) as err:
        await simulate(scenario, url="http://127.0.0.1:9", console=quiet()[0])  # nothing listens on port 9
    assert err.value.line == 5 and "manual clock" in str(err.value)


async def test_a_step_the_server_refuses_stops_the_run_naming_its_line(roles: Roles) -> None:
    scenario = parse_scenario(
        "mode: couple\nparties: [a, b]\nsteps:\n  - {party: a, say: hello}\n  - {party: a, ready: true}\n",
        source="early.yaml",
    )
    with pytest.raises(SimulationError) as err:
        await simulate(scenario, source="early.yaml", console=quiet()[0], roles=roles)
    assert str(err.value).startswith("early.yaml:5: step 2 (ready)")
    assert "not_ready_yet" in str(err.value)


# --- malformed scenarios ----------------------------------------------------------------------------------
MALFORMED = [
    ("bad yaml", "mode: couple\nparties: [alex\nsteps: []\n", 3, "not valid YAML"),
    (
        "unknown step key",
        "mode: couple\nparties: [alex]\nsteps:\n  - {party: alex, say: hi}\n  - {party: alex, shout: hi}\n",
        5,
        "unknown step 'shout'",
    ),
    (
        "unknown extra key",
        "mode: couple\nparties: [alex]\nsteps:\n  - {party: alex, say: hi, tone: x}\n",
        4,
        "unknown key 'tone'",
    ),
    ("missing party", "mode: couple\nparties: [alex]\nsteps:\n  - {say: hi}\n", 4, "'party' is required"),
    (
        "party not in the list",
        "mode: couple\nparties: [alex]\nsteps:\n  - party: alex\n    say: hi\n  - party: bob\n    say: hi\n",
        6,
        "unknown party 'bob'",
    ),
    (
        "share before any draft",
        "mode: couple\nparties: [alex, sam]\nsteps:\n  - {invite: sam}\n  - {party: alex, share: latest}\n",
        5,
        "alex has no draft yet",
    ),
    (
        "acts before joining",
        "mode: couple\nparties: [alex, sam]\nsteps:\n  - {party: sam, say: hi}\n",
        4,
        "sam has not joined yet",
    ),
    (
        "two actions",
        "mode: couple\nparties: [alex]\nsteps:\n  - {party: alex, say: hi, pause: true}\n",
        4,
        "say and pause",
    ),
    (
        "agree before sharing",
        "mode: couple\nparties: [alex]\nsteps:\n  - {party: alex, say: hi}\n"
        "  - {party: alex, agree: latest}\n",
        5,
        "no agreement can exist yet",
    ),
    (
        "not latest",
        "mode: couple\nparties: [alex]\nsteps:\n  - {party: alex, say: hi}\n"
        "  - {party: alex, discard: newest}\n",
        5,
        "use 'latest'",
    ),
    ("bad mode", "mode: family\nparties: [alex]\nsteps:\n  - {party: alex, say: hi}\n", 1, "couple"),
    (
        "duplicate key",
        "mode: couple\nparties: [alex]\nsteps:\n  - {party: alex, say: a, say: b}\n",
        4,
        "appears twice",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_scenarios_name_their_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, source="broken.yaml")
    assert err.value.line == line
    assert fragment in str(err.value)
    assert str(err.value).startswith(f"broken.yaml:{line}: ")


def test_the_command_reports_a_malformed_file_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "mode: couple\nparties: [alex, sam]\nsteps:\n  - {invite: sam}\n  - {party: sam, share: latest}\n"
    )

    def no_server(*_: object, **__: object) -> None:
        raise AssertionError("a malformed scenario must not start anything")

    monkeypatch.setattr(sim, "open_target", no_server)
    assert sim.main(path, out=tmp_path / "t.json") == 2
    err = capsys.readouterr().err
    assert f"{path}:5:" in err and "sam has no draft yet" in err
    assert not (tmp_path / "t.json").exists()


def test_every_example_is_a_valid_scenario() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert {"pursue_withdraw.yaml", "workplace_credit.yaml", "solo_late_invite.yaml"} <= set(names)
    for name in names:
        load_scenario(EXAMPLES / name)
