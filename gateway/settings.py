"""Gateway settings, read from ``ACCORD_*`` environment variables (pydantic-settings).

Every field carries a description; ``docs/configuration.md`` is generated from them by
:func:`settings_table` (a test keeps the two in step).
"""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestrator.errors import ConfigError

ENV_PREFIX = "ACCORD_"


class EphemeralSecretWarning(UserWarning):
    """The dev server made up a signing secret: tokens die with the process."""


class Settings(BaseSettings):
    """Everything an operator can set for ``accord serve``. Defaults run a single dev process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)
    _ephemeral_secret: str | None = PrivateAttr(None)

    # --- network ------------------------------------------------------------------------------
    env: Literal["dev", "production"] = Field(
        "dev", description="`production` refuses to start without `ACCORD_SECRET`."
    )
    host: str = Field("127.0.0.1", description="Interface `accord serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port `accord serve` listens on.")
    public_url: str | None = Field(
        None,
        description="Base URL people reach this server at (used in invite links). "
        "Default: taken from each request.",
    )
    exit_url: str = Field(
        "https://www.bbc.co.uk/weather",
        description="Where the web pages' quick exit (button, or Esc twice) sends a person: a neutral "
        "site. The page is replaced, so Back does not return to Accord.",
    )

    # --- storage ------------------------------------------------------------------------------
    redis_url: str | None = Field(
        None,
        description="Redis URL (e.g. `redis://redis:6379/0`). Unset: embedded in-memory store "
        "(one process, nothing survives a restart).",
    )
    redis_prefix: str = Field(
        "accord:",
        description="Prefix of every Redis key and channel (several deployments can share one Redis).",
    )

    # --- auth ---------------------------------------------------------------------------------
    secret: SecretStr | None = Field(
        None,
        description="HS256 signing secret for tokens (at least 32 characters). Required in production "
        "and identical on every gateway node. Unset in dev: a random one per process (tokens do not "
        "survive a restart).",
    )
    token_ttl_seconds: int = Field(
        7 * 24 * 3600, gt=0, description="Lifetime of party and facilitator tokens (seconds)."
    )
    reviewer_token_ttl_seconds: int = Field(
        12 * 3600, gt=0, description="Lifetime of reviewer tokens printed by `accord reviewer-token`."
    )
    reviewers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated reviewer names allowed to use the review API. Empty: any valid "
        "reviewer token.",
    )
    reviewer_token_file: Path | None = Field(
        None,
        description="Bootstrap: at start-up, write a reviewer token for `ACCORD_BOOTSTRAP_REVIEWER` to "
        "this file (mode 0600), so a fresh deployment has a first reviewer.",
    )
    bootstrap_reviewer: str = Field(
        "admin", description="Reviewer name used for `ACCORD_REVIEWER_TOKEN_FILE`."
    )

    # --- limits -------------------------------------------------------------------------------
    max_frame_bytes: int = Field(
        16 * 1024,
        ge=256,
        description="Largest client frame handled. Bigger frames get an `error` (`frame_too_large`); "
        "frames over 4x this are refused by the WebSocket layer (close 1009).",
    )
    messages_per_second: float = Field(
        5.0, gt=0, description="Sustained client frames per second per party (token bucket refill rate)."
    )
    messages_burst: int = Field(
        20, ge=1, description="Token bucket size: frames a party may send at once before `rate_limited`."
    )
    max_pending_drafts: int | None = Field(
        None,
        ge=1,
        description="Undecided drafts per party. Unset: `limits.max_pending_drafts` of "
        "`policies/protocols.yaml` (5).",
    )
    ws_send_queue: int = Field(
        256,
        ge=8,
        description="Events buffered per socket for a slow reader; when full the socket is closed "
        "(4408) and the client resumes.",
    )
    resume_wait_seconds: float = Field(
        1.0,
        ge=0,
        description="Without `?after_seq=`, how long a new socket waits for a first `resume` frame "
        "before sending the whole history.",
    )
    tick_seconds: float = Field(
        1.0, gt=0, description="How often due timeouts are applied (real clock only)."
    )
    gc_young_threshold: int = Field(
        20_000,
        ge=0,
        description="Allocations between the garbage collector's young-generation passes (Python's "
        "default is 700; 0 keeps it). A gateway allocates fast, and at 700 it collected about 25 "
        "times a second and promoted short-lived objects into full collections that paused every "
        "socket for 100-200 ms; at 20,000 the p99 latency under load fell by half or more "
        "(docs/performance.md).",
    )

    # --- logs ---------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "console"] = Field(
        "json", description="`json`: one JSON object per line; `console`: coloured, for people."
    )

    # --- models (passed to agents.factory.build_roles) ----------------------------------------
    model: str = Field(
        "builtin",
        description="Backend for every role: `builtin`, `openai:MODEL`, `openai:MODEL@BASE_URL`, "
        "`ollama:MODEL`, `local`.",
    )
    model_screener: str | None = Field(None, description="Backend for the safety screener's LLM judge only.")
    model_coach: str | None = Field(None, description="Backend for the coach only.")
    model_mediator: str | None = Field(None, description="Backend for the mediator only.")
    model_timeout_seconds: float = Field(
        20.0, gt=0, description="Per model call; on timeout the builtin answers."
    )

    @field_validator("reviewers", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.secret is not None and len(self.secret.get_secret_value()) < 32:
            raise ValueError("ACCORD_SECRET must be at least 32 characters")
        if self.secret is None and self.env == "production":
            raise ValueError("ACCORD_SECRET is required when ACCORD_ENV=production")
        return self

    @property
    def ws_max_size(self) -> int:
        """Hard cap handed to the WebSocket layer: frames above it close the connection (1009)."""
        return 4 * self.max_frame_bytes

    def signing_secret(self) -> str:
        """The configured secret, or (dev only) a random one made once for this ``Settings``.

        Warns with :class:`EphemeralSecretWarning`, because tokens signed with it stop working on a
        restart and other gateway nodes cannot verify them.
        """
        if self.secret is not None:
            return self.secret.get_secret_value()
        if self.env == "production":  # unreachable through validation; defensive for model_construct
            raise ConfigError("ACCORD_SECRET is required in production")
        if self._ephemeral_secret is None:
            self._ephemeral_secret = secrets.token_urlsafe(48)
            warnings.warn(
                "ACCORD_SECRET is not set: using a random secret for this process. Tokens will not "
                "survive a restart, and several gateway nodes need one shared ACCORD_SECRET.",
                EphemeralSecretWarning,
                stacklevel=2,
            )
        return self._ephemeral_secret


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def settings_table() -> str:
    """A Markdown table of every setting: variable, default, meaning (for docs/configuration.md)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "(empty)"
        elif field.default is None:
            default = "(unset)"
        else:
            default = f"`{field.default}`"
        rows.append(f"| `{env_name(name)}` | {default} | {field.description or ''} |")
    return "\n".join(rows)
