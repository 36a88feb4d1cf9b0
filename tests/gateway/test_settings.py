"""Settings: every one documented, secret rules, reviewer tokens from the CLI, docker-compose shape."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from gateway.auth import TokenSigner
from gateway.cli import app as cli
from gateway.settings import EphemeralSecretWarning, Settings, env_name, settings_table
from orchestrator.models import Role

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(env_name(name), raising=False)


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"`{env_name(name)}`" in doc, f"{env_name(name)} missing from docs/configuration.md"
    assert settings_table() in doc, "docs/configuration.md is stale: paste gateway.settings.settings_table()"


def test_env_prefix_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_PORT", "9001")
    monkeypatch.setenv("ACCORD_REVIEWERS", "rita, sam ,")
    monkeypatch.setenv("ACCORD_REDIS_PREFIX", "t:1:")
    s = Settings()
    assert (s.port, s.reviewers, s.redis_prefix) == (9001, ["rita", "sam"], "t:1:")
    assert s.max_frame_bytes == 16 * 1024 and s.ws_max_size == 4 * s.max_frame_bytes


def test_dev_without_secret_makes_one_per_process_and_warns() -> None:
    s = Settings()
    with pytest.warns(EphemeralSecretWarning, match="will not survive a restart"):
        first = s.signing_secret()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s.signing_secret() == first  # stable for the process, warned once
    assert len(first) >= 32
    with pytest.warns(EphemeralSecretWarning):
        assert Settings().signing_secret() != first


def test_production_requires_a_long_secret() -> None:
    with pytest.raises(ValidationError, match="ACCORD_SECRET is required"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret="short")
    assert Settings(env="production", secret=GOOD_SECRET).signing_secret() == GOOD_SECRET


def test_reviewer_token_command_signs_with_the_configured_secret() -> None:
    result = CliRunner().invoke(cli, ["reviewer-token", "rita"], env={"ACCORD_SECRET": GOOD_SECRET})
    assert result.exit_code == 0, result.output
    principal = TokenSigner(GOOD_SECRET).verify(result.stdout.strip())
    assert principal.role is Role.REVIEWER and principal.subject == "rita"


def test_reviewer_token_command_refuses_without_a_secret() -> None:
    result = CliRunner().invoke(cli, ["reviewer-token", "rita"])
    assert result.exit_code == 2
    assert "ACCORD_SECRET" in result.output


def test_docker_compose_has_redis_gateway_and_a_model_profile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"redis", "gateway", "model"} <= services.keys()
    gateway = services["gateway"]
    assert gateway["build"] == "."
    assert gateway["environment"]["ACCORD_REDIS_URL"] == "redis://redis:6379/0"
    assert gateway["environment"]["ACCORD_SECRET"].startswith("${ACCORD_SECRET:?")  # required via env
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "profiles" not in gateway and "profiles" not in services["redis"]
    assert services["model"]["profiles"] == ["model"]
    assert (ROOT / "Dockerfile").is_file()
    for volume in compose.get("volumes", {}):
        assert any(volume + ":" in v for s in services.values() for v in s.get("volumes", []))


def _compose_command() -> list[str]:
    """``docker compose`` (v2) where the plugin exists, else Debian's ``docker-compose``
    (``scripts/test-services.sh`` installs it)."""
    plugin = shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True)
    if plugin and plugin.returncode == 0:
        return ["docker", "compose"]
    found = shutil.which("docker-compose")
    assert found, "no docker compose: run scripts/test-services.sh"
    return [found]


def _compose_config(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "ACCORD_SECRET": "s" * 40}
    command = [*_compose_command(), "-f", str(path), *extra, "config", "-q"]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=path.parent, timeout=60)


@pytest.mark.parametrize("profile", [[], ["--profile", "model"]])
def test_docker_compose_config_validates(profile: list[str]) -> None:
    result = _compose_config(ROOT / "docker-compose.yml", *profile)
    assert result.returncode == 0, result.stderr


def test_docker_compose_validation_catches_a_broken_file(tmp_path: Path) -> None:
    original = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    broken = original.replace("depends_on:", "depends_onn:", 1)
    assert "depends_onn:" in broken
    (tmp_path / "docker-compose.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    result = _compose_config(tmp_path / "docker-compose.yml")
    assert result.returncode != 0 and "depends_onn" in result.stderr + result.stdout
