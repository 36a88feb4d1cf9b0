"""``accord doctor`` against the misbehaving model server (real HTTP on loopback): a good model is
"ok" for every role, a bad one is "unusable" with the step that failed, and the exit code says so."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agents.testing import fake_model_server
from gateway.cli import app
from gateway.doctor import RoleCheck, render, run_doctor


def env_for(value: str, seconds: str = "5") -> dict[str, str]:
    return {
        "ACCORD_MODEL": value, "ACCORD_MODEL_TIMEOUT_COACH": seconds, "ACCORD_MODEL_TIMEOUT_MEDIATOR": seconds
    }


def by_role(checks: list[RoleCheck]) -> dict[str, RoleCheck]:
    return {c.role: c for c in checks}


async def test_a_good_model_is_ok_for_every_role() -> None:
    with fake_model_server("good") as server:
        checks = by_role(await run_doctor(env_for(server.model_value)))
        assert len(server.requests) == 2  # one probe each for coach and mediator
    for role in ("coach", "mediator"):
        c = checks[role]
        assert (c.reachable, c.in_time, c.json_shape, c.guards) == (True, True, True, True), c
        assert c.usable
    assert checks["screener"].builtin and checks["screener"].usable  # no judge unless chosen


@pytest.mark.parametrize(
    ("mode", "seconds", "failed", "note"),
    [
        ("contempt", "5", "guards", "tone"),
        ("echo-prompt", "5", "guards", "echo"),
        ("other-language", "5", "guards", "language"),
        ("garbage", "5", "json_shape", "fragment"),
        ("http-500", "5", "reachable", "InternalServerError"),
        ("slow-first-token", "0.5", "in_time", "no answer within 0.5 s"),
        ("empty", "5", "json_shape", "empty answer"),
    ],
)
async def test_a_bad_model_is_unusable_and_says_why(mode: str, seconds: str, failed: str, note: str) -> None:
    with fake_model_server(mode, delay=5.0) as server:
        checks = by_role(await run_doctor(env_for(server.model_value, seconds)))
    coach = checks["coach"]
    assert not coach.usable and getattr(coach, failed) is False, coach
    assert any(note in n for n in coach.notes), coach.notes
    assert not checks["mediator"].usable


def test_the_command_prints_a_table_and_exits_1_for_an_unusable_role(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_model_server("contempt") as server:
        monkeypatch.setenv("ACCORD_MODEL", server.model_value)
        result = CliRunner().invoke(app, ["doctor"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "unusable: coach, mediator" in result.output and "tone" in result.output


def test_the_command_exits_0_for_a_good_model(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_model_server("good") as server:
        monkeypatch.setenv("ACCORD_MODEL", server.model_value)
        result = CliRunner().invoke(app, ["doctor"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok") >= 3


def test_builtin_needs_no_probe() -> None:
    buffer = io.StringIO()
    render([RoleCheck("coach", "builtin")], Console(file=buffer, width=200))
    assert "ok (builtin)" in buffer.getvalue()
