"""Generate the safety classifier's labelled corpus: ``python -m agents.safety.make_corpus``.

Writes ``policies/safety_corpus/train.jsonl`` from ``templates_train.yaml`` and ``heldout.jsonl``
from ``templates_heldout.yaml``. Lines are ``{"text", "severity", "category"}`` (negatives have
severity and category ``none``) plus ``template``, the template a line came from. Each template is
filled with slot values (people, names, times, chores...) and varied the way people actually
type: lower case, no apostrophes, a lead-in ("ok so"), a trailing "idk", and now and then an
obfuscated keyword ("k1ll", "p i l l s").

The two splits come from different template files with different fillers and lead-ins, and any
held-out line whose normalised text also occurs in training is dropped, so held-out numbers
measure generalisation rather than memory. Fixed seed: the same files give the same corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from agents.safety.normalise import normalise
from policies.loader import POLICY_DIR

CORPUS_DIR = POLICY_DIR / "safety_corpus"
SEED = 20250401
_SLOT = re.compile(r"\{([A-Za-z]+)\}")

# Variants generated per template: (positives, negatives). Negatives get more so that about half
# the corpus is hard negatives even though there are fewer negative templates.
PER_TEMPLATE = {"train": (6, 10), "heldout": (4, 8)}

# How people open and close a message; different lists per split.
LEAD_INS = {
    "train": [
        "ok so ",
        "honestly ",
        "I need to say this. ",
        "idk how to say this but ",
        "so yeah, ",
        "can I be honest? ",
        "this is hard to write. ",
        "um ",
    ],
    "heldout": [
        "right, ",
        "to be fair ",
        "I'll just say it: ",
        "look, ",
        "tbh ",
        "well ",
        "not sure where to start. ",
    ],
}
TAILS = {
    "train": [" idk", "...", " and I don't know what to do", " tbh", "!!", " lol", " ok?"],
    "heldout": [" if I'm honest", ".", " and that's the truth", " fr", "?!", " anyway"],
}
GENDER_WORDS = {
    "m": {"he": "he", "him": "him", "his": "his", "himself": "himself"},
    "f": {"he": "she", "him": "her", "his": "her", "himself": "herself"},
}
# Words an obfuscating writer disguises (only positives are obfuscated).
_KEYWORDS = re.compile(
    r"\b(kill|killed|myself|suicide|suicidal|die|dead|pills|knife|gun|neck|throat|hurt|choked|strangled"
    r"|murder|stab|rape|raped|phone|passwords|sex|hit)\b",
    re.IGNORECASE,
)
_LEET = str.maketrans({"i": "1", "e": "3", "a": "4", "o": "0", "s": "5"})


@dataclass(frozen=True)
class Example:
    text: str
    severity: str
    category: str
    template: str = ""  # which template it came from: cross-validation keeps a template's lines together

    def to_json(self) -> str:
        row = {"text": self.text, "severity": self.severity, "category": self.category}
        if self.template:
            row["template"] = self.template
        return json.dumps(row)


def load_templates(path: Path) -> dict[str, object]:
    """Read one template file (``templates_train.yaml`` or ``templates_heldout.yaml``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "groups" not in data:
        raise ValueError(f"{path}: expected a mapping with 'groups'")
    return data


def fill(template: str, data: dict[str, object], rng: random.Random) -> str:
    """One filling of ``template``: a gender for the person talked about, then every slot."""
    gender = rng.choice(["m", "f"])
    people = data["people"][gender]  # type: ignore[index]
    names = data["names"][gender]  # type: ignore[index]
    slots: dict[str, list[str]] = data.get("slots", {})  # type: ignore[assignment]
    chosen: dict[str, str] = {}

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        lower = key.lower()
        if lower in GENDER_WORDS[gender]:
            word = GENDER_WORDS[gender][lower]
        elif key == "P":
            word = chosen.setdefault("P", rng.choice(people))
        elif key == "NAME":
            word = chosen.setdefault("NAME", rng.choice(names))
        elif key in slots:
            word = chosen.setdefault(key, rng.choice(slots[key]))
        else:
            raise KeyError(f"unknown slot {{{key}}} in template {template!r}")
        return word[:1].upper() + word[1:] if key[:1].isupper() and key[1:].islower() else word

    text = _SLOT.sub(value, template)
    if "{" not in template or rng.random() < 0.3:
        return text
    # sometimes name the person instead of a pronoun at the start ("He hit me" -> "Robin hit me")
    subject = rng.choice([chosen.get("NAME") or rng.choice(names), rng.choice(people)])
    return re.sub(r"^(He|She)\b", subject[:1].upper() + subject[1:], text)


def vary(text: str, split: str, positive: bool, rng: random.Random) -> str:
    """Type ``text`` the way a person might: case, apostrophes, lead-ins, tails, obfuscation."""
    if rng.random() < 0.25:
        text = rng.choice(LEAD_INS[split]) + text[:1].lower() + text[1:]
    if rng.random() < 0.25:
        text = text.rstrip(".?!") + rng.choice(TAILS[split])
    if rng.random() < 0.2:
        text = text.replace("'", "").replace("\u2019", "")
    if positive and rng.random() < 0.06:
        text = _obfuscate(text, rng)
    roll = rng.random()
    if roll < 0.3:
        text = text.lower()
    elif roll < 0.33:
        text = text.upper()
    else:
        text = text[:1].upper() + text[1:]
    return text


def _obfuscate(text: str, rng: random.Random) -> str:
    words = list(_KEYWORDS.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    word = m.group(0)
    style = rng.random()
    if style < 0.5:
        new = word.lower().translate(_LEET)
    elif style < 0.8:
        new = " ".join(word)
    else:
        new = "".join(c * 3 if c in "aeiou" else c for c in word)
    return text[: m.start()] + new + text[m.end() :]


def generate(split: str, data: dict[str, object], seed: int = SEED) -> list[Example]:
    """Every example of one split, in a stable order."""
    rng = random.Random(f"{seed}:{split}")
    pos_n, neg_n = PER_TEMPLATE[split]
    out: list[Example] = []
    seen: set[str] = set()
    for group, templates in data["groups"].items():  # type: ignore[attr-defined]
        category, severity = group.split("/")
        positive = severity != "none"
        per = pos_n if positive else neg_n
        for number, template in enumerate(templates):
            made = 0
            for _ in range(per * 12):  # templates without slots run out of new variants early
                if made >= per:
                    break
                text = vary(fill(template, data, rng), split, positive, rng)
                key = normalise(text)
                if key in seen:
                    continue
                seen.add(key)
                out.append(Example(text, severity, category, f"{split}:{group}:{number}"))
                made += 1
    return out


def write(path: Path, examples: list[Example]) -> None:
    path.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Regenerate both splits and print their sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=CORPUS_DIR, help="folder for train.jsonl and heldout.jsonl"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    train = generate("train", load_templates(CORPUS_DIR / "templates_train.yaml"), args.seed)
    heldout = generate("heldout", load_templates(CORPUS_DIR / "templates_heldout.yaml"), args.seed)
    train_keys = {normalise(e.text) for e in train}
    heldout = [e for e in heldout if normalise(e.text) not in train_keys]  # nothing seen in training
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "train.jsonl", train)
    write(args.out / "heldout.jsonl", heldout)
    for name, rows in (("train", train), ("heldout", heldout)):
        negatives = sum(1 for e in rows if e.severity == "none")
        print(f"{name}: {len(rows)} examples, {negatives} negatives ({negatives / len(rows):.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
