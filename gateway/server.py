"""``accord serve``: the gateway under uvicorn."""

from __future__ import annotations

import uvicorn

from gateway.logging import configure_logging
from gateway.settings import Settings


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration for ``settings`` (also used by tests that run a server in-process)."""
    from gateway.app import create_app

    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # Hard cap; frames between max_frame_bytes and this get an error frame and the socket lives.
        ws_max_size=settings.ws_max_size,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        # Frames are small JSON; compressing each costs more CPU than it saves on the wire.
        ws_per_message_deflate=False,
        access_log=False,  # raw URLs may hold ?token=...; gateway.app logs route templates instead
        log_config=None,  # keep the structlog handlers configure_logging installed
        proxy_headers=True,
        server_header=False,
        lifespan="on",
    )


def serve(settings: Settings) -> None:
    """Run the gateway until interrupted."""
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.Server(uvicorn_config(settings)).run()
