"""The trained classifier: a verified artifact, the quality gate on the held-out split, and
fail-closed loading (missing, corrupt, tampered)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.safety import train
from agents.safety.classifier import ClassifierUnavailable, SafetyClassifier, sha256_bytes
from agents.safety.evaluate import Labelled, evaluate, read_labelled
from agents.safety.normalise import normalise
from agents.safety.screener import LayeredScreener, build_builtin_screener
from orchestrator.models import Severity
from policies.loader import POLICY_DIR
from policies.safety import load_safety_policy
from tests.agents.safety.conftest import CORPUS

POLICY = load_safety_policy().classifier


def _manifest() -> dict[str, object]:
    return json.loads((POLICY_DIR / POLICY.manifest).read_text(encoding="utf-8"))


def test_the_manifest_vouches_for_the_shipped_artifact_and_corpus() -> None:
    manifest = _manifest()
    assert manifest["version"] == POLICY.version
    assert manifest["sha256"] == sha256_bytes((POLICY_DIR / POLICY.artifact).read_bytes())
    corpus = manifest["corpus"]
    assert isinstance(corpus, dict)
    # regenerating the corpus without retraining would leave a stale model: retrain
    assert corpus["train_sha256"] == sha256_bytes((CORPUS / "train.jsonl").read_bytes())
    assert corpus["heldout_sha256"] == sha256_bytes((CORPUS / "heldout.jsonl").read_bytes())
    assert "rules_classifier" in manifest["heldout_metrics"]  # type: ignore[operator]


def test_fast_inference_matches_scikit_learn(screener: LayeredScreener) -> None:
    clf = screener.classifier
    assert clf is not None
    for text in [
        "he keeps my passport so I can't leave",
        "can we talk about the holidays?",
        "i want to die",
        "",
    ]:
        s = normalise(text)
        sev, cat = clf.probabilities(s)
        ref_sev, ref_cat = clf.predict_sklearn(s)
        assert np.allclose(list(sev.values()), ref_sev, atol=1e-9)
        assert np.allclose(list(cat.values()), ref_cat, atol=1e-9)


def test_long_texts_are_read_in_chunks_and_the_worst_chunk_counts(screener: LayeredScreener) -> None:
    clf = screener.classifier
    assert clf is not None
    filler = "we talked about the shopping list and the weekend plans and the garden. " * 30
    alone = clf.predict("he has been molesting our daughter")
    assert clf.predict(filler + "he has been molesting our daughter").severity.rank >= alone.severity.rank


def test_held_out_quality_gate(screener: LayeredScreener) -> None:
    """Targets from the issue, on the split training never reads (rules + classifier)."""
    examples, bad = read_labelled(CORPUS / "heldout.jsonl")
    assert not bad and len(examples) > 500
    report = evaluate(examples, [screener.screen_fast(e.text) for e in examples])
    assert report.errors == 0
    assert report.severity_recall[Severity.CRITICAL] >= 0.95
    assert report.severity_recall[Severity.HIGH] >= 0.90
    assert report.over_flag_rate <= 0.03


def test_the_corpus_is_big_varied_and_half_hard_negatives() -> None:
    train_rows, _ = read_labelled(CORPUS / "train.jsonl")
    held, _ = read_labelled(CORPUS / "heldout.jsonl")
    assert len(train_rows) + len(held) >= 2000
    for rows in (train_rows, held):
        negatives = sum(e.severity is Severity.NONE for e in rows)
        assert 0.4 <= negatives / len(rows) <= 0.65
        assert {e.category for e in rows} >= {
            "self_harm",
            "violence_threat",
            "ipv_coercive_control",
            "child_safety",
            "sexual_coercion",
            "workplace_harassment",
            "retaliation_fear",
            "ai_manipulation",
            "none",
        }
    seen = {normalise(e.text) for e in train_rows}
    assert not [e for e in held if normalise(e.text) in seen], "a held-out line also occurs in training"


# --- fail-closed loading ---------------------------------------------------------------------
def _assert_fails_closed(folder: Path, code: str) -> None:
    with pytest.raises(ClassifierUnavailable) as err:
        SafetyClassifier.load(POLICY, folder)
    assert err.value.code == code
    screener = build_builtin_screener()
    assert not screener.healthy
    for text in ["Can we talk about the holidays?", "I'd like us to budget together", "k1ll mys3lf"]:
        verdict = screener.screen_fast(text)
        assert verdict.severity.rank >= Severity.HIGH.rank, text
        assert verdict.layer == "error"
        assert verdict.reasons[0] == "screen_error"


def test_missing_artifact_fails_closed(policy_copy: Path) -> None:
    (policy_copy / POLICY.artifact).unlink()
    _assert_fails_closed(policy_copy, "missing")


def test_missing_manifest_fails_closed(policy_copy: Path) -> None:
    (policy_copy / POLICY.manifest).unlink()
    _assert_fails_closed(policy_copy, "missing")


def test_tampered_artifact_fails_closed(policy_copy: Path) -> None:
    path = policy_copy / POLICY.artifact
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    _assert_fails_closed(policy_copy, "hash_mismatch")


def test_corrupt_artifact_with_a_matching_hash_fails_closed(policy_copy: Path) -> None:
    path = policy_copy / POLICY.artifact
    path.write_bytes(b"this is not a model")
    manifest_path = policy_copy / POLICY.manifest
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["sha256"] = sha256_bytes(b"this is not a model")
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    _assert_fails_closed(policy_copy, "corrupt")


def test_unreadable_manifest_fails_closed(policy_copy: Path) -> None:
    (policy_copy / POLICY.manifest).write_text("{ not json", encoding="utf-8")
    _assert_fails_closed(policy_copy, "corrupt")


def test_a_manifest_for_another_version_fails_closed(policy_copy: Path) -> None:
    manifest_path = policy_copy / POLICY.manifest
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = "v0"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    _assert_fails_closed(policy_copy, "version_mismatch")


# --- training never reads the held-out split before the model is fitted ---------------------
def test_training_fits_on_the_training_split_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screener: LayeredScreener
) -> None:
    events: list[str] = []
    fitted_on: list[list[Labelled]] = []
    real_read = train.read_labelled

    def recording_read(path: Path) -> tuple[list[Labelled], list[object]]:
        events.append(f"read:{path.name}")
        return real_read(path)  # type: ignore[return-value]

    def recording_fit(examples: list[Labelled], seed: int = train.SEED) -> dict[str, object]:
        events.append("fit")
        fitted_on.append(examples)
        assert screener.classifier is not None
        return screener.classifier.artifact  # the shipped model stands in for a slow real fit

    monkeypatch.setattr(train, "read_labelled", recording_read)
    monkeypatch.setattr(train, "fit", recording_fit)
    assert train.main(["--out", str(tmp_path)]) == 0
    assert events == ["read:train.jsonl", "fit", "read:heldout.jsonl"]
    train_texts = {e.text for e in real_read(CORPUS / "train.jsonl")[0]}
    assert {e.text for e in fitted_on[0]} == train_texts
    manifest = json.loads((tmp_path / POLICY.manifest).read_text(encoding="utf-8"))
    assert manifest["sha256"] == sha256_bytes((tmp_path / POLICY.artifact).read_bytes())
