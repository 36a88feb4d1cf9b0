"""The ``accord`` command line. Each command is a thin shell over a module that does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="accord",
    help="Accord: AI-assisted mediation with private rooms, consented sharing and fail-closed safety.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def demo(
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the transcript as JSON to this file instead of printing rooms."),
    ] = None,
) -> None:
    """Run a scripted couple session in-process and show both rooms side by side."""
    from gateway.demo import run_demo

    run_demo(json_out)


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (format: gateway/scenario.py, examples/).")],
    url: Annotated[
        str | None, typer.Option(help="A running gateway (e.g. http://127.0.0.1:8000); default: in-process.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the transcript JSON here (default: stdout).")
    ] = None,
    step_timeout: Annotated[float, typer.Option(help="Seconds each step may take to settle.")] = 10.0,
) -> None:
    """Play a scenario through real WebSocket clients and print the transcript (progress on stderr)."""
    from gateway.simulate import main

    raise typer.Exit(main(scenario, url, out, step_timeout))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (ACCORD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (ACCORD_PORT).")] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Redis URL (ACCORD_REDIS_URL); default: in memory.")
    ] = None,
) -> None:
    """Run the gateway: HTTP API, WebSocket rooms, health and metrics (settings: docs/configuration.md)."""
    from gateway.server import serve as run_server
    from gateway.settings import Settings

    given: dict[str, Any] = {"host": host, "port": port, "redis_url": redis_url}
    overrides = {k: v for k, v in given.items() if v is not None}
    run_server(Settings(**overrides))


@app.command()
def screen(
    text: Annotated[str | None, typer.Argument(help="The text to screen.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help='JSONL input, one {"text": ...} per line ("-" for stdin).')
    ] = None,
    mode: Annotated[str, typer.Option(help="couple or workplace.")] = "couple",
) -> None:
    """Screen text with rules + classifier; print one JSON verdict per message."""
    from gateway.safety_cli import screen_command

    raise typer.Exit(screen_command(text, file, mode))


@app.command("eval-safety")
def eval_safety(
    file: Annotated[Path, typer.Argument(help='Labelled JSONL: {"text", "severity", "category"} per line.')],
    json_out: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Per-category precision/recall, confusion table and over-flag rate of the safety screener."""
    from gateway.safety_cli import eval_command

    raise typer.Exit(eval_command(file, json_out))


@app.command("reviewer-token")
def reviewer_token(
    name: Annotated[str, typer.Argument(help="The reviewer's name (must be on ACCORD_REVIEWERS if set).")],
    ttl: Annotated[int | None, typer.Option(help="Seconds (ACCORD_REVIEWER_TOKEN_TTL_SECONDS).")] = None,
) -> None:
    """Print a reviewer token signed with ACCORD_SECRET (which the gateway must share)."""
    from gateway.auth import TokenSigner
    from gateway.settings import Settings
    from orchestrator.models import Role

    settings = Settings()
    if settings.secret is None:
        typer.echo("ACCORD_SECRET is not set: a token signed now would match no running gateway.", err=True)
        raise typer.Exit(2)
    signer = TokenSigner(settings.signing_secret(), reviewer_ttl_seconds=settings.reviewer_token_ttl_seconds)
    typer.echo(signer.issue(name, Role.REVIEWER, ttl_seconds=ttl))


@app.command()
def doctor() -> None:
    """Check the configured model backends once and print a verdict per role (exit 1: one is unusable)."""
    from gateway.doctor import doctor_command

    raise typer.Exit(doctor_command())


dev = typer.Typer(help="Tools for developing against Accord (test servers).", no_args_is_help=True)
app.add_typer(dev, name="dev")


@dev.command("fake-model")
def fake_model(
    mode: Annotated[str, typer.Option(help="How the server misbehaves (see docs/models.md).")] = "good",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8099,
    delay: Annotated[float, typer.Option(help="Seconds slow-first-token waits.")] = 30.0,
    retry_after: Annotated[float, typer.Option(help="The retry-after header http-429 sends.")] = 1.0,
) -> None:
    """Run a misbehaving OpenAI-compatible model server, to point ACCORD_MODEL at."""
    from agents.fake_model import MODES, FakeModelServer

    if mode not in MODES:
        typer.echo(f"unknown mode {mode!r}; modes: {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    server = FakeModelServer(mode, host=host, port=port, delay=delay, retry_after=retry_after)
    typer.echo(f"fake model ({mode}) on {server.base_url}\n  ACCORD_MODEL={server.model_value}", err=True)
    server.serve_forever()
