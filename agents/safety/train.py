"""Train the safety classifier: ``python -m agents.safety.train``.

Reads ``policies/safety_corpus/train.jsonl`` only (regenerate it with ``python -m
agents.safety.make_corpus``), fits word (1-2) and character (2-5, within word boundaries) TF-IDF
features with two logistic-regression heads (severity; category of risky lines), all with fixed
seeds, and writes the artifact named in ``policies/safety.yaml`` plus its manifest: version,
SHA-256, vectoriser settings, corpus hashes, parameters, library versions and held-out metrics.

The artifact is data only (``export``): a compressed ``.npz`` of the vocabularies, idf weights and
the heads' coefficients, which ``agents.safety.classifier`` reads with numpy alone. scikit-learn
is needed here, for fitting, and by the tests that check the numpy path against it.

Only after fitting does it read ``heldout.jsonl``, to measure: the classifier alone, and rules +
classifier together (the screener as it runs). ``--cv`` adds a cross-validated threshold sweep
on the training split, which is where the policy's thresholds come from.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from rich.console import Console
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from agents.safety.classifier import (
    ARTIFACT_FORMAT,
    HEADS,
    SafetyClassifier,
    VectorizerSpec,
    sha256_bytes,
    write_npz,
)
from agents.safety.evaluate import EvalReport, Labelled, evaluate, read_labelled, render
from agents.safety.normalise import normalise
from agents.safety.rules import RulesLayer
from agents.safety.screener import LayeredScreener
from orchestrator.models import Severity
from policies.loader import POLICY_DIR
from policies.safety import ClassifierPolicy, load_safety_patterns, load_safety_policy

SEED = 1337
CV_OVER_FLAG_BUDGET = 0.02  # thresholds are chosen to keep cross-validated over-flagging under this
CV_CONCERN_BUDGET = 0.03  # ... and benign lines marked "concern" (the coach attends) under this
CORPUS_DIR = POLICY_DIR / "safety_corpus"
PARAMS: dict[str, Any] = {
    "word": {
        "analyzer": "word",
        "ngram_range": (1, 2),
        "min_df": 2,
        "sublinear_tf": True,
        "token_pattern": r"(?u)\b\w+\b",
        "max_features": 20000,
    },
    "char": {
        "analyzer": "char_wb",
        "ngram_range": (2, 5),
        "min_df": 2,
        "sublinear_tf": True,
        "max_features": 30000,
    },
    "severity_C": 1.0,
    "category_C": 4.0,
}


def fit(examples: list[Labelled], seed: int = SEED) -> dict[str, Any]:
    """Fit features and both heads on ``examples`` (normalised the way the screener normalises)."""
    texts = [normalise(e.text) for e in examples]
    vectorizers = [TfidfVectorizer(**PARAMS["word"]), TfidfVectorizer(**PARAMS["char"])]
    x = hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
    severity = LogisticRegression(
        C=PARAMS["severity_C"], class_weight="balanced", max_iter=5000, random_state=seed
    )
    severity.fit(x, [e.severity.value for e in examples])
    risky = [i for i, e in enumerate(examples) if e.severity is not Severity.NONE]
    category = LogisticRegression(
        C=PARAMS["category_C"], class_weight="balanced", max_iter=5000, random_state=seed
    )
    category.fit(x[risky], [examples[i].category for i in risky])
    return {"vectorizers": vectorizers, "severity": severity, "category": category, "seed": seed}


def vectorizer_settings(vec: TfidfVectorizer) -> dict[str, Any]:
    """The settings inference needs, refusing any the numpy path cannot reproduce."""
    if vec.preprocessor is not None or vec.tokenizer is not None or callable(vec.analyzer):
        raise TypeError("custom preprocessor/tokenizer/analyzer cannot be exported as data")
    if vec.stop_words is not None or np.dtype(vec.dtype) != np.float64:
        raise TypeError("stop_words and non-float64 dtypes are not supported by the numpy path")
    spec = VectorizerSpec(
        analyzer=vec.analyzer,
        ngram_range=tuple(vec.ngram_range),
        lowercase=vec.lowercase,
        strip_accents=vec.strip_accents,
        token_pattern=vec.token_pattern,
        binary=vec.binary,
        sublinear_tf=vec.sublinear_tf,
        use_idf=vec.use_idf,
        smooth_idf=vec.smooth_idf,
        norm=vec.norm,
    )
    return VectorizerSpec.from_dict(spec.as_dict()).as_dict()  # the loader's own validation


def export_arrays(artifact: dict[str, Any]) -> dict[str, np.ndarray]:
    """The fitted model as plain arrays (what the ``.npz`` holds; see ``agents.safety.classifier``)."""
    config = {
        "format": ARTIFACT_FORMAT,
        "vectorizers": [vectorizer_settings(v) for v in artifact["vectorizers"]],
    }
    arrays: dict[str, np.ndarray] = {"config": np.array(json.dumps(config, sort_keys=True))}
    for i, vec in enumerate(artifact["vectorizers"]):
        terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)  # column order
        if [vec.vocabulary_[t] for t in terms] != list(range(len(terms))):
            raise ValueError(f"vectoriser {i}: vocabulary columns are not 0..n-1")
        stored = np.array(terms, dtype=str)
        if stored.tolist() != terms:  # numpy drops trailing NULs; such a term would not round-trip
            raise ValueError(f"vectoriser {i}: a vocabulary term does not survive a numpy array")
        arrays[f"vec{i}_terms"] = stored
        idf = vec.idf_ if vec.use_idf else np.ones(len(terms))
        arrays[f"vec{i}_idf"] = np.asarray(idf, dtype=np.float64)
    for name in HEADS:
        model = artifact[name]
        if type(model) is not LogisticRegression:  # predict_proba is reproduced for this class only
            raise TypeError(f"the {name} head must be a LogisticRegression, not {type(model).__name__}")
        arrays[f"{name}_coef"] = np.asarray(model.coef_, dtype=np.float64)
        arrays[f"{name}_intercept"] = np.asarray(model.intercept_, dtype=np.float64)
        arrays[f"{name}_classes"] = np.array([str(c) for c in model.classes_], dtype=str)
    return arrays


def export(artifact: dict[str, Any]) -> bytes:
    """The fitted model as ``.npz`` bytes (reproducible: same model, same bytes)."""
    return write_npz(export_arrays(artifact))


def reference_probabilities(artifact: dict[str, Any], normalised: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """P(severity) and P(category) rows through scikit-learn itself (tests compare the numpy path)."""
    x = hstack([v.transform(normalised) for v in artifact["vectorizers"]]).tocsr()
    return artifact["severity"].predict_proba(x), artifact["category"].predict_proba(x)


def screen_all(screener: LayeredScreener, examples: list[Labelled]) -> EvalReport:
    return evaluate(examples, [screener.screen_fast(e.text) for e in examples])


def classifier_only(classifier: SafetyClassifier, examples: list[Labelled]) -> EvalReport:
    return evaluate(examples, [classifier.predict(e.text) for e in examples])


def cross_validate(
    examples: list[Labelled], policy: ClassifierPolicy, console: Console, seed: int = SEED
) -> None:
    """Threshold sweep on the TRAINING split, rules + classifier, 5 folds grouped by template (a
    template's variants never sit on both sides, or the numbers would flatter the model)."""
    rules = RulesLayer(load_safety_patterns())
    groups = [e.template or f"line{e.line}" for e in examples]
    predictions: list[tuple[int, dict[Severity, float], Any]] = []
    for train_idx, test_idx in GroupKFold(n_splits=5).split(np.zeros(len(examples)), groups=groups):
        artifact = fit([examples[i] for i in train_idx], seed)
        clf = SafetyClassifier(export_arrays(artifact), policy, {"version": "cv"})
        for i in test_idx:
            sev, _ = clf.probabilities(normalise(examples[i].text))
            predictions.append((i, sev, rules.check(examples[i].text)))
    console.print("threshold sweep (5-fold CV on train, grouped by template; rules + classifier):")
    best: tuple[float, float, float] | None = None
    for t_high in (0.8, 0.85, 0.875, 0.9, 0.925, 0.95):
        for t_crit in (0.6, 0.7, 0.8, 0.9):
            counts = {"benign": 0, "over": 0, "high": 0, "high_hit": 0, "crit": 0, "crit_hit": 0}
            for i, sev, rule_verdict in predictions:
                truth = examples[i].severity
                p_high = sev[Severity.HIGH] + sev[Severity.CRITICAL]
                rank = max(
                    rule_verdict.severity.rank,
                    3 if sev[Severity.CRITICAL] >= t_crit else 2 if p_high >= t_high else 0,
                )
                counts["benign"] += truth is Severity.NONE
                counts["over"] += truth is Severity.NONE and rank >= 2
                counts["high"] += truth is Severity.HIGH
                counts["high_hit"] += truth is Severity.HIGH and rank >= 2
                counts["crit"] += truth is Severity.CRITICAL
                counts["crit_hit"] += truth is Severity.CRITICAL and rank >= 3
            over = counts["over"] / counts["benign"]
            recall = counts["high_hit"] / counts["high"] + counts["crit_hit"] / counts["crit"]
            console.print(
                f"  high>={t_high:.3f} critical>={t_crit:.1f}: "
                f"recall high {counts['high_hit'] / counts['high']:.3f}, "
                f"critical {counts['crit_hit'] / counts['crit']:.3f}, over-flag {over:.2%}"
            )
            # the rule: the most recall whose cross-validated over-flag rate stays within budget
            if over <= CV_OVER_FLAG_BUDGET and (best is None or recall > best[0]):
                best = (recall, t_high, t_crit)
    if best is not None:
        console.print(
            f"suggested thresholds (CV over-flag <= {CV_OVER_FLAG_BUDGET:.0%}): "
            f"high {best[1]}, critical {best[2]}"
        )
    # concern: the coach attends (and self-harm thoughts get resources), so it must be rare on benign text
    benign = [
        (1 - sev[Severity.NONE], rv.severity.rank)
        for i, sev, rv in predictions
        if examples[i].severity is Severity.NONE
    ]
    for t in (0.5, 0.7, 0.8, 0.9, 0.95):
        rate = sum(max(rank, 1 if p >= t else 0) >= 1 for p, rank in benign) / len(benign)
        console.print(f"  concern>={t:.2f}: benign lines flagged concern or worse {rate:.2%}")
        if rate <= CV_CONCERN_BUDGET:
            console.print(
                f"suggested concern threshold (CV benign concern rate <= {CV_CONCERN_BUDGET:.0%}): {t}"
            )
            break


def main(argv: list[str] | None = None) -> int:
    """Train, write artifact + manifest, report held-out metrics."""
    parser = argparse.ArgumentParser(description="Train Accord's safety classifier.")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    parser.add_argument("--out", type=Path, default=POLICY_DIR, help="policy folder to write models/ into")
    parser.add_argument("--cv", action="store_true", help="also run the cross-validated threshold sweep")
    args = parser.parse_args(argv)
    console = Console()
    policy = load_safety_policy()
    train_path, heldout_path = args.corpus / "train.jsonl", args.corpus / "heldout.jsonl"
    train, bad = read_labelled(train_path)
    if bad:
        console.print(f"[red]{train_path}: {len(bad)} bad lines, first at line {bad[0].line}: {bad[0].error}")
        return 1
    console.print(f"training on {len(train)} lines from {train_path}")
    artifact = fit(train)
    data = export(artifact)

    # --- only now is the held-out split read, to measure -------------------------------------
    heldout, bad = read_labelled(heldout_path)
    if bad:
        console.print(
            f"[red]{heldout_path}: {len(bad)} bad lines, first at line {bad[0].line}: {bad[0].error}"
        )
        return 1
    manifest: dict[str, Any] = {
        "version": policy.classifier.version,
        "artifact": Path(policy.classifier.artifact).name,
        "sha256": sha256_bytes(data),
        "format": ARTIFACT_FORMAT,
        "vectorizers": [vectorizer_settings(v) for v in artifact["vectorizers"]],
        "seed": SEED,
        "params": json.loads(json.dumps(PARAMS)),
        "created_with": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "corpus": {
            "train_sha256": sha256_bytes(train_path.read_bytes()),
            "train_examples": len(train),
            "heldout_sha256": sha256_bytes(heldout_path.read_bytes()),
            "heldout_examples": len(heldout),
        },
    }
    classifier = SafetyClassifier.from_bytes(data, policy.classifier, manifest)
    screener = LayeredScreener(RulesLayer(load_safety_patterns()), classifier)
    alone, combined = classifier_only(classifier, heldout), screen_all(screener, heldout)
    manifest["heldout_metrics"] = {"rules_classifier": combined.as_dict(), "classifier_only": alone.as_dict()}
    artifact_path, manifest_path = (
        args.out / policy.classifier.artifact,
        args.out / policy.classifier.manifest,
    )
    artifact_path.parent.mkdir(parents=True, exist_ok=True)
    artifact_path.write_bytes(data)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {artifact_path} ({len(data) / 1024:.0f} KiB) and {manifest_path.name}")
    render(alone, console, "Held-out, classifier only")
    render(combined, console, "Held-out, rules + classifier")
    if args.cv:
        cross_validate(train, policy.classifier, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
