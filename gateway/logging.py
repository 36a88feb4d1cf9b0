"""Structured logs (structlog): one JSON object per line, with session id, party id, event types and
latencies. Private text never goes into a log: call sites pass ids, types, counts and timings only,
and :func:`_drop_private` strips keys that could carry text if one ever slips in.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values may contain what a party wrote. Dropped from every log record, whoever logs them.
PRIVATE_KEYS = frozenset({"text", "answers", "message_text", "draft_text", "rationale", "token", "body"})


def _drop_private(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in PRIVATE_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Set up structlog and route the standard library's loggers (uvicorn's too) through it."""
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_private,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # tests capture logs with structlog.testing after start-up
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints raw URLs, and ``?token=`` would land in the log: it stays off and
    # gateway.app logs requests by route template instead.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str = "accord.gateway") -> structlog.stdlib.BoundLogger:
    """A structlog logger. Pass ids and numbers as keywords; never text a person wrote."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
