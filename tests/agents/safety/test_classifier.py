"""The trained classifier: a verified data-only artifact, numpy inference equal to scikit-learn's,
the quality gate on the held-out split, and fail-closed loading (missing, corrupt, tampered)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.safety import train
from agents.safety.classifier import ClassifierUnavailable, SafetyClassifier, read_npz, sha256_bytes
from agents.safety.evaluate import Labelled, evaluate, read_labelled
from agents.safety.normalise import normalise
from agents.safety.screener import LayeredScreener, build_builtin_screener
from orchestrator.models import Severity
from policies.loader import POLICY_DIR
from policies.safety import load_safety_policy
from tests.agents.safety.conftest import CORPUS

POLICY = load_safety_policy().classifier


@pytest.fixture(scope="module")
def refit() -> dict[str, Any]:
    """The model refitted with scikit-learn by train.py's own ``fit`` (fixed seed, deterministic)."""
    examples, bad = read_labelled(CORPUS / "train.jsonl")
    assert not bad
    return train.fit(examples)


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


def _numpy_rows(clf: SafetyClassifier, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = [clf.probabilities(t) for t in texts]
    return np.array([list(sev.values()) for sev, _ in rows]), np.array(
        [list(cat.values()) for _, cat in rows]
    )


def test_numpy_inference_equals_scikit_learn_on_the_held_out_split(
    screener: LayeredScreener, refit: dict[str, Any]
) -> None:
    """The shipped artifact, read by numpy alone, gives scikit-learn's probabilities (of the same
    fit) on every held-out line, and on the edge cases an analyser could get wrong."""
    clf = screener.classifier
    assert clf is not None
    examples, _ = read_labelled(CORPUS / "heldout.jsonl")
    texts = [normalise(e.text) for e in examples] + ["", " ", "a", "i  want\tto   die", "kill kill kill"]
    ref_sev, ref_cat = train.reference_probabilities(refit, texts)
    sev, cat = _numpy_rows(clf, texts)
    assert [s_.value for s_ in clf.probabilities("")[0]] == list(refit["severity"].classes_)
    assert list(clf.probabilities("")[1]) == list(refit["category"].classes_)
    assert np.allclose(sev, ref_sev, rtol=0, atol=1e-9)
    assert np.allclose(cat, ref_cat, rtol=0, atol=1e-9)


# Settings the shipped model does not use, so the analysers' other branches are checked too.
_VARIANTS = {
    "word13_accents_binary_l1+char_ascii_noidf": {
        "word": {
            "analyzer": "word",
            "ngram_range": (1, 3),
            "strip_accents": "unicode",
            "binary": True,
            "norm": "l1",
            "min_df": 1,
        },
        "char": {
            "analyzer": "char",
            "ngram_range": (1, 4),
            "strip_accents": "ascii",
            "lowercase": False,
            "use_idf": False,
            "min_df": 1,
        },
    },
    "word2+char_wb_cased_accents": {
        "word": {"analyzer": "word", "ngram_range": (2, 2), "sublinear_tf": True, "min_df": 1},
        "char": {
            "analyzer": "char_wb",
            "ngram_range": (1, 3),
            "lowercase": False,
            "strip_accents": "unicode",
            "smooth_idf": False,
            "min_df": 1,
        },
    },
}


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_numpy_analysers_equal_scikit_learn_for_other_settings(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples, _ = read_labelled(CORPUS / "train.jsonl")
    monkeypatch.setattr(train, "PARAMS", {**train.PARAMS, **_VARIANTS[variant]})
    fitted = train.fit(examples[::15])
    clf = SafetyClassifier.from_bytes(train.export(fitted), POLICY, {"version": "test"})
    held, _ = read_labelled(CORPUS / "heldout.jsonl")
    texts = [e.text for e in held[::10]] + [
        "Café  NAÏVE\tcoöperate   résumé",
        "ﬁancé Ångström — I WILL hurt you",
        "",
        "x",
        "  two  spaces\n\nand lines ",
    ]
    ref_sev, ref_cat = train.reference_probabilities(fitted, texts)
    sev, cat = _numpy_rows(clf, texts)
    assert np.allclose(sev, ref_sev, rtol=0, atol=1e-9)
    assert np.allclose(cat, ref_cat, rtol=0, atol=1e-9)


def test_the_artifact_is_data_and_loading_imports_no_scikit_learn() -> None:
    arrays = read_npz((POLICY_DIR / POLICY.artifact).read_bytes())
    assert all(a.dtype != object for a in arrays.values())
    code = (
        "import sys\n"
        "from agents.safety.classifier import SafetyClassifier\n"
        "SafetyClassifier.load()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'joblib', 'scipy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.stdout.strip() == "[]"


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
    _replace_artifact(policy_copy, b"this is not a model")
    _assert_fails_closed(policy_copy, "corrupt")


def _replace_artifact(folder: Path, data: bytes) -> None:
    """Swap the artifact AND re-vouch for it in the manifest (an attacker with write access)."""
    (folder / POLICY.artifact).write_bytes(data)
    manifest_path = folder / POLICY.manifest
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["sha256"] = sha256_bytes(data)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_pickle_inside_the_npz_is_never_loaded(policy_copy: Path) -> None:
    arrays = read_npz((policy_copy / POLICY.artifact).read_bytes())
    arrays["severity_classes"] = np.array([{"a": 1}], dtype=object)  # only loadable by unpickling
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, allow_pickle=True)
    _replace_artifact(policy_copy, buffer.getvalue())
    _assert_fails_closed(policy_copy, "corrupt")


def test_an_artifact_with_missing_arrays_fails_closed(policy_copy: Path) -> None:
    arrays = read_npz((policy_copy / POLICY.artifact).read_bytes())
    del arrays["category_coef"]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    _replace_artifact(policy_copy, buffer.getvalue())
    _assert_fails_closed(policy_copy, "corrupt")


def test_a_manifest_naming_other_vectorisers_fails_closed(policy_copy: Path) -> None:
    manifest_path = policy_copy / POLICY.manifest
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["vectorizers"][0]["sublinear_tf"] = not manifest["vectorizers"][0]["sublinear_tf"]
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refit: dict[str, Any]
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
        return refit  # the module's refit stands in for a second slow real fit

    monkeypatch.setattr(train, "read_labelled", recording_read)
    monkeypatch.setattr(train, "fit", recording_fit)
    assert train.main(["--out", str(tmp_path)]) == 0
    assert events == ["read:train.jsonl", "fit", "read:heldout.jsonl"]
    train_texts = {e.text for e in real_read(CORPUS / "train.jsonl")[0]}
    assert {e.text for e in fitted_on[0]} == train_texts
    manifest = json.loads((tmp_path / POLICY.manifest).read_text(encoding="utf-8"))
    written = (tmp_path / POLICY.artifact).read_bytes()
    assert manifest["sha256"] == sha256_bytes(written)
    # the same model exports to the same bytes, and what main() writes loads through the real loader
    assert written == train.export(refit)
    assert SafetyClassifier.load(POLICY, tmp_path).version == POLICY.version
