"""Policy files: valid ones load; broken ones fail at start-up naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.errors import PolicyError
from policies.loader import POLICY_DIR, load_policy
from policies.protocol import Protocols, load_protocols


def test_shipped_protocols_load() -> None:
    protocols = load_protocols()
    assert protocols.modes["couple"].pacing.break_minutes == 20
    assert protocols.modes["workplace"].facilitator


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "protocols.yaml"
    shutil.copy(POLICY_DIR / "protocols.yaml", target)
    return target


def test_bad_value_names_file_and_field(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    target.write_text(target.read_text().replace("break_minutes: 20 ", "break_minutes: -5 "))
    with pytest.raises(PolicyError) as info:
        load_policy("protocols.yaml", Protocols, tmp_path)
    message = str(info.value)
    assert "protocols.yaml" in message
    assert "modes.couple.pacing.break_minutes" in message


def test_missing_field_names_it(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    target.write_text(target.read_text().replace("  max_pending_drafts: 5", ""))
    with pytest.raises(PolicyError, match=r"limits\.max_pending_drafts: Field required"):
        load_policy("protocols.yaml", Protocols, tmp_path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "protocols.yaml").write_text("limits:\n  max_text_chars: [1, 2\n")
    with pytest.raises(PolicyError, match=r"protocols\.yaml: not valid YAML \(line \d+"):
        load_policy("protocols.yaml", Protocols, tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy("protocols.yaml", Protocols, tmp_path)


def test_policy_dir_override_is_used_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _copy(tmp_path)
    target.write_text(target.read_text().replace("max_text_chars: 4000", "max_text_chars: zero"))
    monkeypatch.setenv("ACCORD_POLICY_DIR", str(tmp_path))
    with pytest.raises(PolicyError, match="limits.max_text_chars"):
        load_protocols()
