"""How well the builtin coach listens, measured over a hand-written corpus (a script, not a test).

    .venv/bin/python bench/coach_quality.py            # the figures, for each part and in all
    .venv/bin/python bench/coach_quality.py --samples 20 --seed 7   # plus sampled exchanges

The corpus (``bench/coach_corpus/*.yaml``) is sessions of first-person messages, each with what the
writer may know about the session at that turn (a break and when it ends, drafts waiting or shared,
the other not joined yet…) and labels: the Four Horseman a message shows, and process questions.
``heldout.yaml`` was written before the coach was tuned and left alone while tuning it.

Figures:

* drafts with invented content: a draft with a content word found neither in the author's turns so
  far nor in the neutral NVC vocabulary (:func:`agents.builtin.grounding.invented_words`). Target 0.
* replies repeating a stock sentence: a reply with a sentence (3+ words) the coach already said
  earlier in the same session. Target 0.
* identical replies: replies to different messages (across the corpus) that are the same reply,
  and (looser) that open with the same sentence, often a stock opener before their own words.
* horseman recognised, per horseman: the label is among the reply's markers. Target ≥ 0.9.
  "antidote coached" also checks the reply carries that horseman's antidote.
* process questions answered from state: the reply states the facts the session holds (the break's
  end time, that the draft has not been shared yet…). Target 1.0.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.builtin.coach import BuiltinCoach  # noqa: E402
from agents.builtin.grounding import invented_words  # noqa: E402
from agents.builtin.phrasing import sentence_key, sentences  # noqa: E402
from agents.interfaces import BreakFacts, CoachReply, CoachRequest, SessionFacts, Turn  # noqa: E402
from orchestrator.models import Mode  # noqa: E402
from policies.lexicon import get_lexicon  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "coach_corpus"
HORSEMEN = ("criticism", "contempt", "defensiveness", "stonewalling")
BREAK_MINUTES = {Mode.COUPLE: 20.0, Mode.WORKPLACE: 15.0}


@dataclass
class Exchange:
    part: str
    session: str
    mode: Mode
    text: str
    reply: CoachReply
    facts: dict[str, Any]
    other: str | None
    horseman: str | None = None
    process: str | None = None
    invented: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    answered: bool | None = None


def _request(
    mode: Mode,
    party: str,
    other: str | None,
    text: str,
    facts: dict[str, Any],
    history: list[Turn],
    turn: int,
) -> CoachRequest:
    brk = facts.get("break")
    drafts = facts.get("drafts") or {}
    session = SessionFacts(
        on_break=BreakFacts(by=brk["by"], due_back=brk["due_back"], minutes=BREAK_MINUTES[mode])
        if brk
        else None,
        other_shared=bool(facts.get("other_shared")),
        agreements_accepted=int(facts.get("agreements_accepted", 0)),
        drafts_pending=int(drafts.get("pending", 0)),
        drafts_waiting=int(drafts.get("waiting", 0)),
        drafts_shared=int(drafts.get("shared", 0)),
    )
    return CoachRequest(
        mode=mode,
        party_name=party,
        other_name=other,
        stage="paused" if brk else facts.get("stage", "joint"),
        text=text,
        history=history[-12:],
        earlier_turns=history[:-12],
        turn_index=turn,
        session=session,
        paused=bool(brk),
        parts_language=mode is Mode.COUPLE,
    )


def answered_from_state(kind: str, text: str, facts: dict[str, Any], other: str | None) -> bool:
    """Does the reply state what the session holds? (Checked on facts, not on exact wording.)"""
    low = text.lower()
    brk = facts.get("break")
    drafts = facts.get("drafts") or {}
    has = lambda *options: any(o in low for o in options)  # noqa: E731
    if kind == "leaving":
        if other is None:
            return has("hasn't joined", "isn't in the session", "not joined")
        if brk and brk["by"] == "other":
            return (
                brk["due_back"] in text
                and has("break")
                and has("not leaving", "not an exit", "isn't leaving")
            )
        if brk:
            return brk["due_back"] in text and has("coming back", "pause")
        return has("still here", "still in the session")
    if kind == "own_break":
        return has("aren't leaving", "not leaving", "not an exit", "coming back") and has("back")
    if kind == "when_back":
        if brk:
            return brk["due_back"] in text
        return has("no one is on a break", "no break", "nobody is on a break")
    if kind == "see_this":
        private = has("private", "only ever sees", "never sees", "stays between")
        if other is None:
            return private and has("hasn't joined", "isn't part of the session", "until you invite")
        if drafts.get("shared"):
            return private and has("can see", "it's there for") and has("shared")
        if drafts.get("waiting"):
            return private and has("hasn't seen", "hasn't been shared")
        if drafts.get("pending"):
            return private and has("draft") and has("until you", "unless you send", "nothing has gone out")
        return private
    if kind == "take_back":
        if drafts.get("waiting"):
            return has("can't be unsent", "can't be withdrawn", "can't be taken back") and has(
                "hasn't", "yet"
            )
        if drafts.get("shared"):
            return has("already", "been shared") and has("can't be")
        if drafts.get("pending"):
            return has("hasn't been sent", "nothing has gone out") and has("discard", "throw it away")
        return has("haven't sent", "nothing of yours has been sent", "haven't approved")
    if kind == "what_next":
        if brk:
            return brk["due_back"] in text and has("ready")
        if other is None:
            return has("invite")
        stage = facts.get("stage", "joint")
        words = {
            "ready_check": ("ready",),
            "joint": ("shared room", "shared part"),
            "agreement": ("agreement",),
            "intake": ("intake", "private"),
        }
        return has(*words.get(stage, ("shared",)))
    raise ValueError(f"unknown process kind {kind!r}")


def antidote_coached(horseman: str, reply: CoachReply) -> bool:
    """The reply carries the horseman's antidote (a reality-test line, or its own shape of draft)."""
    lex = get_lexicon()
    text = reply.text

    def in_text(variants: list[str]) -> bool:
        return any(v.split("{")[0][:40] in text for v in variants if len(v.split("{")[0]) >= 15)

    if horseman in ("criticism", "contempt"):
        return in_text(lex.coach.reality_tests.for_marker(horseman)) or in_text(
            lex.coach.reality_tests.you_accusation
        )
    if horseman == "defensiveness":
        return in_text(lex.coach.reality_tests.defensiveness) or in_text(
            lex.coach.ownership_hints.for_mode(Mode.COUPLE)
            + lex.coach.ownership_hints.for_mode(Mode.WORKPLACE)
        )
    return in_text(lex.coach.reality_tests.stonewalling) or bool(
        reply.draft and re.search(r"come back|get back|pick (it|this) up", reply.draft.text)
    )


def run(corpus: Path = CORPUS) -> list[Exchange]:
    coach = BuiltinCoach(break_minutes=BREAK_MINUTES)
    out: list[Exchange] = []
    for path in sorted(corpus.glob("*.yaml")):
        part = "heldout" if path.stem == "heldout" else "dev"
        for session in yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]:
            mode = Mode(session["mode"])
            base = dict(session.get("facts") or {})
            history: list[Turn] = []
            said: set[str] = set()
            own: list[str] = []
            for index, turn in enumerate(session["turns"]):
                facts = {**base, **(turn.get("facts") or {})}
                other = None if "other" in facts and facts["other"] is None else session["other"]
                request = _request(mode, session["party"], other, turn["text"], facts, history, index)
                reply = coach.reply(request)
                own.append(turn["text"])
                keys = [sentence_key(s) for s in sentences(reply.text) if len(sentence_key(s).split()) >= 3]
                ex = Exchange(
                    part,
                    session["id"],
                    mode,
                    turn["text"],
                    reply,
                    facts,
                    other,
                    turn.get("horseman"),
                    turn.get("process"),
                )
                ex.repeated = [k for k in keys if k in said]
                said |= set(keys)
                if reply.draft is not None:
                    ex.invented = invented_words(reply.draft.text, own)
                if ex.process:
                    ex.answered = answered_from_state(ex.process, reply.text, facts, other)
                out.append(ex)
                history += [Turn(speaker="party", text=turn["text"]), Turn(speaker="coach", text=reply.text)]
    return out


def figures(exchanges: list[Exchange]) -> list[str]:
    drafts = [e for e in exchanges if e.reply.draft is not None]
    lines = [
        f"messages: {len(exchanges)}  drafts: {len(drafts)}",
        f"drafts with invented content: {sum(bool(e.invented) for e in drafts)}",
        f"replies repeating a stock sentence within a session: {sum(bool(e.repeated) for e in exchanges)}",
    ]
    firsts: dict[str, set[str]] = defaultdict(set)
    for e in exchanges:
        firsts[sentence_key(sentences(e.reply.text)[0])].add(e.text)
    shared_first = sum(len(texts) for texts in firsts.values() if len(texts) > 1)
    whole: dict[str, set[str]] = defaultdict(set)
    for e in exchanges:
        whole[" ".join(sentence_key(s) for s in sentences(e.reply.text))].add(e.text)
    same = sum(len(texts) for texts in whole.values() if len(texts) > 1)
    lines.append(f"replies identical to a reply to a different message: {same}")
    lines.append(f"replies to different messages opening with the same sentence: {shared_first}")
    for horseman in HORSEMEN:
        labelled = [e for e in exchanges if e.horseman == horseman]
        if not labelled:
            continue
        seen = sum(horseman in e.reply.markers for e in labelled)
        coached = sum(antidote_coached(horseman, e.reply) for e in labelled)
        lines.append(
            f"horseman {horseman:<13} recognised {seen}/{len(labelled)} = {seen / len(labelled):.2f}"
            f"   antidote coached {coached}/{len(labelled)} = {coached / len(labelled):.2f}"
        )
    asked = [e for e in exchanges if e.process]
    if asked:
        right = sum(bool(e.answered) for e in asked)
        lines.append(
            f"process questions answered from state: {right}/{len(asked)} = {right / len(asked):.2f}"
        )
    by_kind = Counter(e.process for e in asked if not e.answered)
    if by_kind:
        lines.append(f"  not answered from state, by kind: {dict(by_kind)}")
    return lines


def show(e: Exchange) -> str:
    facts = {k: v for k, v in e.facts.items() if k != "stage"} or {}
    head = f"**{e.session}** ({e.mode.value}"
    if e.horseman:
        head += f", {e.horseman}"
    if e.process:
        head += f", process: {e.process}"
    if facts:
        head += f", session: {facts}"
    head += ")"
    body = [head, "", f"> **person:** {e.text}", ">", f"> **coach:** {e.reply.text}"]
    if e.reply.draft is not None:
        body += [">", f"> **draft:** {e.reply.draft.text}"]
    return "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=0, help="print this many sampled exchanges")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="list every failing exchange")
    args = parser.parse_args(argv)
    exchanges = run()
    for part in ("heldout", "dev"):
        print(f"== {part} ==")
        print("\n".join(figures([e for e in exchanges if e.part == part])))
    print("== all ==")
    print("\n".join(figures(exchanges)))
    if args.verbose:
        for e in exchanges:
            problems = []
            if e.invented:
                problems.append(f"invented {e.invented}")
            if e.repeated:
                problems.append(f"repeated {e.repeated}")
            if e.horseman and e.horseman not in e.reply.markers:
                problems.append(f"missed {e.horseman} (markers {e.reply.markers})")
            if e.process and not e.answered:
                problems.append(f"process {e.process} not answered")
            if problems:
                print(f"\n[{e.session}] {e.text}\n  coach: {e.reply.text}\n  " + "; ".join(problems))
    if args.samples:
        rng = random.Random(args.seed)
        print()
        for e in rng.sample(exchanges, min(args.samples, len(exchanges))):
            print(show(e) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
