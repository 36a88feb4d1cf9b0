"""``accord screen`` and ``accord eval-safety``: the safety screener from the command line.

Both use the builtin screener (rules + the shipped classifier; no LLM judge), the same one every
deployment runs first. Output is one JSON object per input line, in input order; a line that
cannot be read gets ``{"line": N, "error": ...}`` in its place, so nothing is silently dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from rich.console import Console

from agents.safety.evaluate import evaluate, parse_labelled, render
from agents.safety.screener import LayeredScreener, build_builtin_screener
from orchestrator.models import Mode, Verdict

EXIT_OK = 0
EXIT_BAD_LINES = 1
EXIT_USAGE = 2


def _verdict_json(verdict: Verdict, line: int | None = None) -> str:
    row: dict[str, object] = {} if line is None else {"line": line}
    row.update(verdict.model_dump(mode="json"))
    return json.dumps(row)


def _text_of(raw: str) -> str:
    """A line's text: ``{"text": ...}`` or a bare JSON string. Raises ``ValueError`` otherwise."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    raise ValueError('expected {"text": "..."} or a JSON string')


def _open(file: Path) -> IO[str]:
    return sys.stdin if str(file) == "-" else file.open(encoding="utf-8")


def screen_command(
    text: str | None,
    file: Path | None,
    mode: str = "couple",
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    screener: LayeredScreener | None = None,
) -> int:
    """Screen ``text``, or every line of ``file`` (JSONL; ``-`` is stdin). Returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if (text is None) == (file is None):
        print(
            'give either TEXT or --file IN.jsonl (accord screen "TEXT" | accord screen --file IN.jsonl)',
            file=err,
        )
        return EXIT_USAGE
    try:
        chosen_mode = Mode(mode)
    except ValueError:
        print(f"unknown mode {mode!r}: use {', '.join(m.value for m in Mode)}", file=err)
        return EXIT_USAGE
    screener = screener or build_builtin_screener()
    if text is not None:
        print(_verdict_json(screener.screen_fast(text, chosen_mode, "inbound")), file=out)
        return EXIT_OK
    assert file is not None
    try:
        handle = _open(file)
    except OSError as exc:
        print(f"cannot read {file}: {exc.strerror}", file=err)
        return EXIT_USAGE
    bad = 0
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line_text = _text_of(raw)
            except ValueError as exc:
                bad += 1
                print(json.dumps({"line": number, "error": str(exc)}), file=out)
                print(f"line {number}: {exc}", file=err)
                continue
            print(_verdict_json(screener.screen_fast(line_text, chosen_mode, "inbound"), number), file=out)
    if bad:
        print(f"{bad} line(s) could not be screened (reported above with their line numbers)", file=err)
        return EXIT_BAD_LINES
    return EXIT_OK


def eval_command(
    file: Path,
    json_out: bool = False,
    console: Console | None = None,
    screener: LayeredScreener | None = None,
) -> int:
    """Score the screener on a labelled JSONL file: per-category precision/recall, a severity
    confusion table and the over-flag rate. Bad lines are listed with their numbers."""
    console = console or Console()
    try:
        with _open(file) as handle:
            examples, bad = parse_labelled(handle)
    except OSError as exc:
        console.print(f"cannot read {file}: {exc.strerror}")
        return EXIT_USAGE
    if not json_out:  # with --json, bad lines are part of the JSON (stdout stays one document)
        for problem in bad:
            console.print(f"[yellow]line {problem.line}: {problem.error}[/yellow]")
    if not examples:
        console.print(
            "no labelled lines to evaluate" if not json_out else json.dumps({"error": "no labelled lines"})
        )
        return EXIT_BAD_LINES if bad else EXIT_USAGE
    screener = screener or build_builtin_screener()
    report = evaluate(examples, [screener.screen_fast(e.text) for e in examples])
    if json_out:
        bad_lines = [{"line": b.line, "error": b.error} for b in bad]
        console.print_json(json.dumps({**report.as_dict(), "bad_lines": bad_lines}))
    else:
        render(report, console, f"Safety screener on {file}")
        if bad:
            console.print(f"{len(bad)} line(s) skipped: {', '.join(str(b.line) for b in bad)}")
    return EXIT_BAD_LINES if bad else EXIT_OK
