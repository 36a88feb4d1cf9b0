"""Load a YAML policy file into its pydantic model, failing with the file and the field named."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.errors import PolicyError

POLICY_DIR = Path(__file__).resolve().parent
M = TypeVar("M", bound=BaseModel)


def policy_dir() -> Path:
    """The folder policies are read from: ``ACCORD_POLICY_DIR`` or the shipped defaults."""
    override = os.environ.get("ACCORD_POLICY_DIR")
    return Path(override) if override else POLICY_DIR


def load_policy(filename: str, model: type[M], directory: Path | None = None) -> M:
    """Read ``filename`` from the policy folder and validate it as ``model``.

    Raises :class:`PolicyError` whose message names the file and each bad field, e.g.
    ``policies/pacing.yaml: couple.break_minutes: Input should be greater than 0``.
    """
    path = (directory or policy_dir()) / filename
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file ({exc.strerror})") from None
    try:
        # The C loader when available: the lexicon loads ten times faster.
        data = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        raise PolicyError(f"{path}: not valid YAML{where}") from None
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{path}: {problems}") from None


def clear_cache() -> None:
    """Forget cached policies (tests that write their own policy folder call this)."""
    cached_policy.cache_clear()


@lru_cache(maxsize=64)
def cached_policy(filename: str, model: type[BaseModel], directory: str | None = None) -> BaseModel:
    return load_policy(filename, model, Path(directory) if directory else None)
