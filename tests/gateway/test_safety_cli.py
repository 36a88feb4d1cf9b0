"""``accord screen`` and ``accord eval-safety``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agents.safety.screener import LayeredScreener, build_builtin_screener
from gateway.cli import app
from gateway.safety_cli import EXIT_BAD_LINES, EXIT_OK, EXIT_USAGE, eval_command, screen_command


@pytest.fixture(scope="module")
def screener() -> LayeredScreener:
    return build_builtin_screener()


def _run(
    screener: LayeredScreener, text: str | None = None, file: Path | None = None, mode: str = "couple"
) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = screen_command(text, file, mode, out=out, err=err, screener=screener)
    return code, out.getvalue().splitlines(), err.getvalue()


def test_screen_one_text(screener: LayeredScreener) -> None:
    code, lines, _ = _run(screener, "he put his hands around my neck")
    assert code == EXIT_OK and len(lines) == 1
    verdict = json.loads(lines[0])
    assert verdict["severity"] == "critical" and verdict["categories"] == ["violence_threat"]
    assert set(verdict) == {"severity", "categories", "layer", "reasons"}


def test_screen_a_file_one_verdict_per_line_and_bad_lines_by_number(
    screener: LayeredScreener, tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"text": "k1ll mys3lf"}\n'
        "not json\n"
        '"how do I kill a Python process"\n'
        "\n"
        '{"nope": 1}\n'
        '{"text": "I could kill for a coffee", "severity": "none"}\n',
        encoding="utf-8",
    )
    code, lines, err = _run(screener, file=path)
    rows = [json.loads(line) for line in lines]
    assert code == EXIT_BAD_LINES
    assert [r["line"] for r in rows] == [1, 2, 3, 5, 6]  # the blank line 4 is skipped, nothing else
    assert rows[0]["severity"] == "critical"
    assert "error" in rows[1] and "error" in rows[3]
    assert rows[2]["severity"] == "none" and rows[4]["severity"] == "none"
    assert "line 2" in err and "line 5" in err


def test_screen_from_stdin(screener: LayeredScreener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "I\'ve been saving my pills"}\n'))
    code, lines, _ = _run(screener, file=Path("-"))
    assert code == EXIT_OK and json.loads(lines[0])["severity"] == "critical"


@pytest.mark.parametrize(
    ("text", "file", "mode"),
    [(None, None, "couple"), ("x", Path("y"), "couple"), ("x", None, "group therapy")],
)
def test_screen_usage_errors(
    screener: LayeredScreener, text: str | None, file: Path | None, mode: str
) -> None:
    code, lines, err = _run(screener, text, file, mode)
    assert code == EXIT_USAGE and not lines and err


def test_screen_a_missing_file(screener: LayeredScreener, tmp_path: Path) -> None:
    code, _, err = _run(screener, file=tmp_path / "nope.jsonl")
    assert code == EXIT_USAGE and "cannot read" in err


def _labelled(tmp_path: Path) -> Path:
    rows = [
        {"text": "he put his hands around my neck", "severity": "critical", "category": "violence_threat"},
        {"text": "I've been saving my pills", "severity": "critical", "category": "self_harm"},
        {
            "text": "he checks my phone and won't let me see my sister",
            "severity": "high",
            "category": "ipv_coercive_control",
        },
        {"text": "I could kill for a coffee", "severity": "none", "category": "none"},
        {"text": "can you text me when you land?", "severity": "none"},
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in rows) + '\n{"text": "x", "severity": "dire"}\nbroken\n',
        encoding="utf-8",
    )
    return path


def test_eval_safety_tables_and_bad_lines(screener: LayeredScreener, tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    code = eval_command(_labelled(tmp_path), console=console, screener=screener)
    text = console.export_text()
    assert code == EXIT_BAD_LINES
    assert "line 6: unknown severity 'dire'" in text and "line 7: not valid JSON" in text
    for heading in ("per category", "Confusion", "over-flag rate"):
        assert heading in text
    assert "0.00% (0 of 2)" in text


def test_eval_safety_json(screener: LayeredScreener, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    eval_command(_labelled(tmp_path), json_out=True, console=console, screener=screener)
    report = json.loads(console.export_text())
    assert [b["line"] for b in report["bad_lines"]] == [6, 7]
    assert report["severity_recall"]["critical"] == 1.0
    assert report["categories"]["self_harm"]["recall"] == 1.0
    assert report["over_flag_rate"] == 0.0


def test_eval_safety_with_nothing_to_score(screener: LayeredScreener, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert eval_command(empty, console=Console(file=io.StringIO()), screener=screener) == EXIT_USAGE


def test_the_commands_are_registered() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["screen", "I'm dying to see that film"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["severity"] == "none"
    assert runner.invoke(app, ["eval-safety", "--help"]).exit_code == 0
