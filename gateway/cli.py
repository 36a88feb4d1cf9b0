"""The ``accord`` command line. Each command is a thin shell over a module that does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
        Path | None, typer.Option("--json", help="Write the transcript as JSON to this file instead of printing rooms.")
    ] = None,
) -> None:
    """Run a scripted couple session in-process and show both rooms side by side."""
    from gateway.demo import run_demo

    run_demo(json_out)
