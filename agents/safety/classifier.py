"""The screener's second layer: a small TF-IDF + linear model trained by ``agents.safety.train``.

The artifact (``policies/models/safety_classifier-v1.npz``) is data only: numpy arrays (each
vectoriser's vocabulary in column order and idf weights; each linear head's coefficients,
intercepts and classes) plus a JSON ``config`` naming the vectorisers' settings. It is read with
``np.load(..., allow_pickle=False)``, so loading it cannot run code, and scikit-learn is not
imported at run time (importing it alone took seconds of start-up). Its manifest (``...-v1.json``)
names the version, the artifact's SHA-256, the same vectoriser settings, the hash of the corpus it
was trained on and its held-out metrics. Loading refuses anything that does not check out: a
missing or unreadable file, a version the policy does not expect, a hash mismatch, arrays that are
not the expected model. The screener turns that refusal into a fail-closed verdict for every
message (see ``agents.safety.screener``); it never screens without it.

Inference reproduces ``TfidfVectorizer`` (its analysers, sublinear tf, idf, per-block norm) and
``LogisticRegression.predict_proba`` with plain numpy on the handful of features a short message
has; a test checks it against scikit-learn on the whole held-out split.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from agents.safety.normalise import normalise
from orchestrator.models import Severity, Verdict
from policies.loader import policy_dir
from policies.safety import ClassifierPolicy, safety_policy

LAYER = "classifier"
ARTIFACT_FORMAT = 2  # 1 was a joblib pickle of scikit-learn objects
HEADS = ("severity", "category")
SEVERITY_ORDER = [Severity.NONE, Severity.CONCERN, Severity.HIGH, Severity.CRITICAL]
_ANALYZERS = ("word", "char", "char_wb")
_NORMS = ("l2", "l1", None)
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's, for the character analysers


class ClassifierUnavailable(Exception):
    """The classifier could not be loaded; ``code`` says why (never contains message text)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _corrupt(detail: str) -> ClassifierUnavailable:
    return ClassifierUnavailable("corrupt", detail)


# --- the artifact as data ---------------------------------------------------------------------
def write_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``arrays`` as a compressed ``.npz`` that ``np.load`` reads, byte-for-byte reproducible
    (``np.savez_compressed`` stamps the current time into the zip, so retraining the same model
    would change the hash)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``; never unpickles (object arrays are refused)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as exc:  # noqa: BLE001 - whatever the bytes are, they are not our model
        raise _corrupt(f"not a readable .npz ({type(exc).__name__})") from None


@dataclass(frozen=True)
class VectorizerSpec:
    """The ``TfidfVectorizer`` settings inference needs (the others only shaped the vocabulary)."""

    analyzer: str
    ngram_range: tuple[int, int]
    lowercase: bool
    strip_accents: str | None
    token_pattern: str
    binary: bool
    sublinear_tf: bool
    use_idf: bool
    smooth_idf: bool  # already folded into the stored idf; kept for the record
    norm: str | None

    @classmethod
    def from_dict(cls, raw: Any) -> VectorizerSpec:
        """Validated settings; anything this module cannot reproduce is a corrupt artifact."""
        try:
            low, high = (int(n) for n in raw["ngram_range"])
            spec = cls(
                analyzer=str(raw["analyzer"]),
                ngram_range=(low, high),
                lowercase=bool(raw["lowercase"]),
                strip_accents=raw["strip_accents"],
                token_pattern=str(raw["token_pattern"]),
                binary=bool(raw["binary"]),
                sublinear_tf=bool(raw["sublinear_tf"]),
                use_idf=bool(raw["use_idf"]),
                smooth_idf=bool(raw["smooth_idf"]),
                norm=raw["norm"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _corrupt(f"vectoriser settings incomplete ({type(exc).__name__})") from None
        if spec.analyzer not in _ANALYZERS or spec.norm not in _NORMS or not 1 <= low <= high:
            raise _corrupt("vectoriser settings this loader cannot reproduce")
        if spec.strip_accents not in (None, "ascii", "unicode"):
            raise _corrupt("unknown strip_accents")
        if spec.analyzer == "word" and re.compile(spec.token_pattern).groups > 1:
            raise _corrupt("token_pattern with more than one group")
        return spec

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the manifest and the artifact's ``config`` carry the same)."""
        return {
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "token_pattern": self.token_pattern,
            "binary": self.binary,
            "sublinear_tf": self.sublinear_tf,
            "use_idf": self.use_idf,
            "smooth_idf": self.smooth_idf,
            "norm": self.norm,
        }

    def analyzer_fn(self) -> Callable[[str], list[str]]:
        """The n-grams ``TfidfVectorizer.build_analyzer()`` would produce for a text."""
        low, high = self.ngram_range
        if self.analyzer == "char_wb" and self.lowercase and self.strip_accents is None:
            return partial(_char_wb_ngrams, low=low, high=high)  # the shipped model's hot path
        preprocess = partial(_preprocess, lower=self.lowercase, accents=self.strip_accents)
        if self.analyzer == "word":
            tokenize = re.compile(self.token_pattern).findall
            return lambda text: _word_ngrams(tokenize(preprocess(text)), low, high)
        grams = _char_wb_grams if self.analyzer == "char_wb" else _char_grams
        return lambda text: grams(preprocess(text), low, high)


# --- scikit-learn's analysers, reproduced (sklearn/feature_extraction/text.py) -----------------
def _strip_accents(text: str, how: str | None) -> str:
    if how == "ascii":
        return unicodedata.normalize("NFKD", text).encode("ASCII", errors="ignore").decode("ASCII")
    if how == "unicode":
        if text.isascii():
            return text
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text


def _preprocess(text: str, lower: bool, accents: str | None) -> str:
    return _strip_accents(text.lower() if lower else text, accents)  # lowercase first, as sklearn


def _word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    """Token n-grams joined with single spaces."""
    if high == 1:
        return tokens
    grams = list(tokens) if low == 1 else []
    count = len(tokens)
    for n in range(max(low, 2), min(high, count) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(count - n + 1))
    return grams


def _char_grams(text: str, low: int, high: int) -> list[str]:
    """``analyzer="char"``: n-grams of the whole text, runs of whitespace made one space."""
    text = _WHITE_SPACES.sub(" ", text)
    length = len(text)
    grams = list(text) if low == 1 else []
    for n in range(max(low, 2), min(high, length) + 1):
        grams.extend(text[i : i + n] for i in range(length - n + 1))
    return grams


def _char_wb_grams(text: str, low: int, high: int) -> list[str]:
    """``analyzer="char_wb"``: each word padded with one space each side; a word no longer than
    n gives one n-gram (itself) and stops."""
    grams: list[str] = []
    extend = grams.extend
    for word in text.split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:
                grams.append(padded)
                break
            extend([padded[i : i + n] for i in range(length - n + 1)])
    return grams


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    return _char_wb_grams(text.lower(), low, high)


# --- features and heads -----------------------------------------------------------------------
_WORD_CACHE = 65_536  # distinct words whose character n-gram columns are remembered, per block


class _Block:
    """One fitted vectoriser: its analyser, vocabulary (term -> global column) and idf weights."""

    def __init__(
        self,
        analyze: Callable[[str], list[str]],
        vocab: dict[str, int],
        idf: np.ndarray,
        spec: VectorizerSpec,
        offset: int,
    ) -> None:
        self.analyze, self.vocab, self.idf, self.spec, self.offset = analyze, vocab, idf, spec, offset
        self._word_columns: Callable[[str], tuple[tuple[int, int], ...]] | None = None
        low, high = spec.ngram_range
        if spec.analyzer == "char_wb" and spec.lowercase and spec.strip_accents is None:
            # ``char_wb`` n-grams never cross a word, so a text's counts are the sum of its words'
            # counts, and people reuse words: each word is analysed once (bounded LRU) instead of
            # on every message. This was the screener's largest cost per message.
            @lru_cache(maxsize=_WORD_CACHE)
            def word_columns(word: str) -> tuple[tuple[int, int], ...]:
                grams = Counter(_char_wb_grams(word, low, high))
                return tuple((vocab[g], c) for g, c in grams.items() if g in vocab)

            self._word_columns = word_columns

    def counts(self, text: str) -> dict[int, int]:
        """Column -> term count of ``text`` in this block (only terms in the vocabulary)."""
        word_columns = self._word_columns
        found: dict[int, int] = {}
        if word_columns is not None:
            get = found.get
            for word in text.lower().split():
                for column, count in word_columns(word):
                    found[column] = get(column, 0) + count
            return found
        vocab = self.vocab
        for term, count in Counter(self.analyze(text)).items():
            if (index := vocab.get(term)) is not None:
                found[index] = count
        return found


class _Features:
    """The fitted TF-IDF vectorisers, side by side as ``FeatureUnion``/``hstack`` puts them."""

    def __init__(self, specs: list[VectorizerSpec], arrays: Mapping[str, np.ndarray]) -> None:
        self.blocks: list[_Block] = []
        offset = 0
        for i, spec in enumerate(specs):
            terms, idf = arrays.get(f"vec{i}_terms"), arrays.get(f"vec{i}_idf")
            if terms is None or idf is None or terms.dtype.kind != "U" or terms.ndim != 1:
                raise _corrupt(f"vectoriser {i} lacks its vocabulary")
            if idf.dtype != np.float64 or idf.shape != terms.shape:
                raise _corrupt(f"vectoriser {i}: idf does not fit the vocabulary")
            vocab = dict(zip(terms.tolist(), range(offset, offset + len(terms)), strict=True))
            if len(vocab) != len(terms):
                raise _corrupt(f"vectoriser {i}: repeated vocabulary terms")
            self.blocks.append(_Block(spec.analyzer_fn(), vocab, idf, spec, offset))
            offset += len(terms)
        self.size = offset

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Indices and values of the non-zero features (each vectoriser's block normalised on its
        own, as ``TfidfVectorizer`` does)."""
        all_idx: list[np.ndarray] = []
        all_val: list[np.ndarray] = []
        for block in self.blocks:
            spec = block.spec
            found = block.counts(text)
            if not found:
                continue
            idx = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
            tf = np.fromiter(found.values(), dtype=np.float64, count=len(found))
            if spec.binary:
                tf = np.ones_like(tf)
            weighted = (1.0 + np.log(tf) if spec.sublinear_tf else tf) * block.idf[idx - block.offset]
            if spec.norm == "l2":
                weighted = weighted / (float(np.sqrt(weighted @ weighted)) or 1.0)
            elif spec.norm == "l1":
                weighted = weighted / (float(np.abs(weighted).sum()) or 1.0)
            all_idx.append(idx)
            all_val.append(weighted)
        if not all_idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if len(all_idx) == 1:
            return all_idx[0], all_val[0]
        return np.concatenate(all_idx), np.concatenate(all_val)


@dataclass(frozen=True)
class _Head:
    """A fitted ``LogisticRegression``: softmax over classes (sigmoid when binary)."""

    classes: list[str]
    coef: np.ndarray  # (n_classes, n_features); binary models are expanded to two rows
    intercept: np.ndarray

    @classmethod
    def of(cls, name: str, arrays: Mapping[str, np.ndarray], n_features: int) -> _Head:
        coef, intercept = arrays.get(f"{name}_coef"), arrays.get(f"{name}_intercept")
        classes = arrays.get(f"{name}_classes")
        if coef is None or intercept is None or classes is None or classes.dtype.kind != "U":
            raise _corrupt(f"the {name} head is missing")
        rows = 1 if len(classes) == 2 else len(classes)
        if coef.dtype != np.float64 or coef.shape != (rows, n_features) or intercept.shape != (rows,):
            raise _corrupt(f"the {name} head does not fit the features")
        names = [str(c) for c in classes.tolist()]
        if rows == 1:  # binary: sigmoid(d) == softmax([-d/2, d/2])
            coef = np.vstack([-coef, coef]) / 2
            intercept = np.concatenate([-intercept, intercept]) / 2
        return cls(names, coef, intercept.astype(np.float64))


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    result: np.ndarray = exp / exp.sum()
    return result


class SafetyClassifier:
    """Severity and category heads over shared TF-IDF features. ``predict`` never logs text."""

    def __init__(
        self, arrays: Mapping[str, np.ndarray], policy: ClassifierPolicy, manifest: dict[str, Any]
    ) -> None:
        """Build from the artifact's arrays (``read_npz``); raise :class:`ClassifierUnavailable`."""
        self.policy = policy
        self.manifest = manifest
        self.version = str(manifest.get("version"))
        self.config = _config(arrays)
        specs = [VectorizerSpec.from_dict(v) for v in self.config["vectorizers"]]
        self._features = _Features(specs, arrays)
        self._severity = _Head.of("severity", arrays, self._features.size)
        self._category = _Head.of("category", arrays, self._features.size)
        # both heads in one matrix: one gather and one product per message
        self._coef = np.vstack([self._severity.coef, self._category.coef])
        self._split = len(self._severity.classes)
        missing = [s.value for s in SEVERITY_ORDER if s.value not in self._severity.classes]
        if missing:
            raise _corrupt(f"severity head lacks classes {missing}")
        self._rank = np.array([Severity(c).rank for c in self._severity.classes])

    @classmethod
    def from_bytes(cls, data: bytes, policy: ClassifierPolicy, manifest: dict[str, Any]) -> SafetyClassifier:
        """Build from ``.npz`` bytes (no hash check: :meth:`load` does that first)."""
        return cls(read_npz(data), policy, manifest)

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
            raise _corrupt(f"unreadable manifest {manifest_path} ({type(exc).__name__})") from None
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
            raise _corrupt(f"unreadable artifact ({exc.strerror})") from None
        # Only the artifact the manifest vouches for is read (and reading it never runs code).
        if sha256_bytes(data) != manifest.get("sha256"):
            raise ClassifierUnavailable("hash_mismatch", f"{artifact_path.name} does not match its manifest")
        try:
            classifier = cls.from_bytes(data, policy, manifest)
            if manifest.get("vectorizers") != classifier.config["vectorizers"]:
                raise _corrupt(f"{artifact_path.name} and its manifest name different vectorisers")
            classifier.predict("a quick self-check at start-up")
        except ClassifierUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - a model that cannot predict must not be used
            raise _corrupt(f"artifact failed its self-check ({type(exc).__name__})") from None
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


def _config(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The artifact's JSON ``config``: format and vectoriser settings."""
    raw = arrays.get("config")
    if raw is None or raw.dtype.kind != "U" or raw.ndim != 0:
        raise _corrupt("artifact has no config")
    try:
        config = json.loads(str(raw[()]))
    except ValueError:
        raise _corrupt("artifact config is not JSON") from None
    if not isinstance(config, dict) or config.get("format") != ARTIFACT_FORMAT:
        raise _corrupt("artifact is not a safety classifier of a known format")
    if not isinstance(config.get("vectorizers"), list) or not config["vectorizers"]:
        raise _corrupt("artifact config names no vectorisers")
    return config


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
