"""The screener's second layer: a small TF-IDF + linear model trained by ``agents.safety.train``.

The artifact (``policies/models/safety_classifier-v1.joblib``) is loaded once at start-up, never
downloaded. Its manifest (``...-v1.json``) names the version, the artifact's SHA-256, the hash of
the corpus it was trained on and its held-out metrics. Loading refuses anything that does not
check out: a missing or unreadable file, a version the policy does not expect, a hash mismatch,
an object that is not the expected model. The screener turns that refusal into a fail-closed
verdict for every message (see ``agents.safety.screener``); it never screens without it.

Inference skips scikit-learn's per-call validation: the vectorisers' analysers produce the
n-grams, and the TF-IDF weighting and both linear heads are applied with plain numpy on the
handful of features a short message has. ``predict_sklearn`` keeps the reference path, and a
test checks the two agree.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from agents.safety.normalise import normalise
from orchestrator.models import Severity, Verdict
from policies.loader import policy_dir
from policies.safety import ClassifierPolicy, safety_policy

LAYER = "classifier"
ARTIFACT_FORMAT = 1
SEVERITY_ORDER = [Severity.NONE, Severity.CONCERN, Severity.HIGH, Severity.CRITICAL]


class ClassifierUnavailable(Exception):
    """The classifier could not be loaded; ``code`` says why (never contains message text)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Head:
    classes: list[str]
    coef: np.ndarray  # (n_classes, n_features); binary models are expanded to two rows
    intercept: np.ndarray

    @classmethod
    def of(cls, model: Any) -> _Head:
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        classes = [str(c) for c in model.classes_]
        if coef.shape[0] == 1 and len(classes) == 2:  # binary: one row for the positive class
            coef = np.vstack([-coef, coef]) / 2
            intercept = np.concatenate([-intercept, intercept]) / 2
        return cls(classes, coef, intercept)


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """``TfidfVectorizer(analyzer="char_wb")``'s n-grams, without its per-call overhead: each word
    padded with one space each side; a word no longer than n gives one n-gram and stops."""
    grams: list[str] = []
    extend = grams.extend
    for word in text.lower().split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:
                grams.append(padded)
                break
            extend([padded[i : i + n] for i in range(length - n + 1)])
    return grams


class _Features:
    """The fitted word and character TF-IDF vectorisers, applied without scikit-learn overhead."""

    def __init__(self, vectorizers: list[Any]) -> None:
        self.parts = []
        offset = 0
        for vec in vectorizers:
            vocab = {term: offset + i for term, i in vec.vocabulary_.items()}
            analyze = vec.build_analyzer()
            plain = vec.preprocessor is None and vec.tokenizer is None and not vec.strip_accents
            if vec.analyzer == "char_wb" and plain and vec.lowercase:
                low, high = vec.ngram_range
                analyze = partial(_char_wb_ngrams, low=low, high=high)  # same n-grams, faster
            self.parts.append((analyze, vocab, np.asarray(vec.idf_), vec.sublinear_tf, offset))
            offset += len(vec.vocabulary_)
        self.size = offset

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Indices and values of the non-zero features (each vectoriser's block l2-normalised,
        as ``TfidfVectorizer`` does; ``FeatureUnion`` concatenates the blocks)."""
        all_idx: list[np.ndarray] = []
        all_val: list[np.ndarray] = []
        for analyze, vocab, idf, sublinear, offset in self.parts:
            found = [(vocab[t], c) for t, c in Counter(analyze(text)).items() if t in vocab]
            if not found:
                continue
            idx = np.fromiter((i for i, _ in found), dtype=np.int64, count=len(found))
            tf = np.fromiter((c for _, c in found), dtype=np.float64, count=len(found))
            weighted = (1.0 + np.log(tf) if sublinear else tf) * idf[idx - offset]
            norm = float(np.sqrt(weighted @ weighted)) or 1.0
            all_idx.append(idx)
            all_val.append(weighted / norm)
        if not all_idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if len(all_idx) == 1:
            return all_idx[0], all_val[0]
        return np.concatenate(all_idx), np.concatenate(all_val)


class SafetyClassifier:
    """Severity and category heads over shared TF-IDF features. ``predict`` never logs text."""

    def __init__(self, artifact: dict[str, Any], policy: ClassifierPolicy, manifest: dict[str, Any]) -> None:
        self.artifact = artifact
        self.policy = policy
        self.manifest = manifest
        self.version = str(manifest.get("version"))
        self._features = _Features(artifact["vectorizers"])
        self._severity = _Head.of(artifact["severity"])
        self._category = _Head.of(artifact["category"])
        # both heads in one matrix: one gather and one product per message
        self._coef = np.vstack([self._severity.coef, self._category.coef])
        self._split = len(self._severity.classes)
        missing = [s.value for s in SEVERITY_ORDER if s.value not in self._severity.classes]
        if missing:
            raise ClassifierUnavailable("corrupt", f"severity head lacks classes {missing}")
        self._rank = np.array([Severity(c).rank for c in self._severity.classes])

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, policy: ClassifierPolicy | None = None, directory: Path | None = None) -> SafetyClassifier:
        """Load and verify the artifact named by the policy; raise :class:`ClassifierUnavailable`."""
        policy = policy or safety_policy().classifier
        folder = directory or policy_dir()
        manifest_path, artifact_path = folder / policy.manifest, folder / policy.artifact
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClassifierUnavailable("missing", f"no manifest at {manifest_path}") from None
        except (OSError, ValueError) as exc:
            raise ClassifierUnavailable(
                "corrupt", f"unreadable manifest {manifest_path} ({type(exc).__name__})"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("version") != policy.version:
            found = manifest.get("version") if isinstance(manifest, dict) else None
            raise ClassifierUnavailable(
                "version_mismatch", f"manifest version {found!r}, policy wants {policy.version!r}"
            )
        try:
            data = artifact_path.read_bytes()
        except FileNotFoundError:
            raise ClassifierUnavailable("missing", f"no artifact at {artifact_path}") from None
        except OSError as exc:
            raise ClassifierUnavailable("corrupt", f"unreadable artifact ({exc.strerror})") from None
        # The hash is checked before unpickling: only the artifact the manifest vouches for is loaded.
        if sha256_bytes(data) != manifest.get("sha256"):
            raise ClassifierUnavailable("hash_mismatch", f"{artifact_path.name} does not match its manifest")
        try:
            import joblib

            artifact = joblib.load(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt artifact
            raise ClassifierUnavailable(
                "corrupt", f"cannot load {artifact_path.name} ({type(exc).__name__})"
            ) from None
        if not isinstance(artifact, dict) or artifact.get("format") != ARTIFACT_FORMAT:
            raise ClassifierUnavailable("corrupt", "artifact is not a safety classifier of a known format")
        try:
            classifier = cls(artifact, policy, manifest)
            classifier.predict("a quick self-check at start-up")
        except ClassifierUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - a model that cannot predict must not be used
            raise ClassifierUnavailable(
                "corrupt", f"artifact failed its self-check ({type(exc).__name__})"
            ) from None
        return classifier

    # ------------------------------------------------------------------ inference
    def probabilities(self, normalised: str) -> tuple[dict[Severity, float], dict[str, float]]:
        """P(severity) and P(category | risky) for already-normalised text."""
        idx, values = self._features.transform(normalised)
        scores = self._coef[:, idx] @ values
        sev = _softmax(scores[: self._split] + self._severity.intercept)
        cat = _softmax(scores[self._split :] + self._category.intercept)
        return (
            {Severity(c): float(p) for c, p in zip(self._severity.classes, sev, strict=True)},
            {c: float(p) for c, p in zip(self._category.classes, cat, strict=True)},
        )

    def predict(self, text: str, normalised: str | None = None) -> Verdict:
        """The classifier's verdict (layer ``classifier``); long texts are read in chunks and the
        worst chunk counts."""
        s = normalised if normalised is not None else normalise(text)
        worst = Verdict(layer=LAYER)
        for chunk in _chunks(s, self.policy.max_chars):
            verdict = self._predict_chunk(chunk)
            if verdict.severity.rank > worst.severity.rank:
                worst = verdict
        return worst

    def _predict_chunk(self, s: str) -> Verdict:
        sev, cat = self.probabilities(s)
        severity = Severity.NONE
        risky = 1.0 - sev[Severity.NONE]
        for level in reversed(SEVERITY_ORDER[1:]):  # critical, high, concern
            if sum(p for s_, p in sev.items() if s_.rank >= level.rank) >= self.policy.thresholds[level]:
                severity = level
                break
        ranked = sorted(cat.items(), key=lambda kv: -kv[1])
        top, p_top = ranked[0]
        floor = self.policy.category_floor.get(top)
        sure = self.policy.floor_min_probability
        if floor is not None and floor.rank > severity.rank and p_top >= sure and risky >= sure:
            severity = floor  # a category the taxonomy only knows as high, and the model is sure
        if severity is Severity.NONE:
            return Verdict(layer=LAYER)
        categories = [c for c, p in ranked if p >= self.policy.category_min_probability] or [top]
        return Verdict(
            severity=severity,
            categories=categories,
            layer=LAYER,
            reasons=[f"classifier:{self.version}:p={risky:.2f}"],
        )

    def predict_sklearn(self, normalised: str) -> tuple[np.ndarray, np.ndarray]:
        """Reference probabilities through scikit-learn itself (tests compare the fast path)."""
        from scipy.sparse import hstack

        x = hstack([v.transform([normalised]) for v in self.artifact["vectorizers"]]).tocsr()
        return self.artifact["severity"].predict_proba(x)[0], self.artifact["category"].predict_proba(x)[0]


_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+")


def _chunks(s: str, size: int) -> list[str]:
    """Pieces of at most ``size`` characters, cut between sentences where possible: the model was
    trained on short messages, so one risky sentence in a long letter must not be diluted."""
    if len(s) <= size:
        return [s]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(s):
        words = sentence.split()
        while words:  # a sentence longer than ``size`` is cut into overlapping word windows
            taken: list[str] = []
            length = 0
            while words and (not taken or length + len(words[0]) + 1 <= size):
                length += len(words[0]) + 1
                taken.append(words.pop(0))
            pieces.append(" ".join(taken))
            if words:
                keep = min(6, len(taken) - 1)  # overlap so a phrase cut at the edge is seen whole
                words = (taken[-keep:] if keep else []) + words
    chunks: list[str] = []
    for piece in pieces:  # pack short sentences together up to ``size``
        if chunks and len(chunks[-1]) + 1 + len(piece) <= size:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks
