"""The builtin mediator: composes a shared message from approved drafts only (it sees nothing else).

* The approved text is quoted verbatim; the mediator only frames it ("Alex would like to share…").
* Reassurance before closure (seed 001): the first shared message opens by restoring connection.
* Balanced attention: the other person is acknowledged by name, without inventing what they think.
* Short: one opening line at most, one attribution per item, one acknowledgement.
* Each approved request becomes a proposed agreement phrased as something both shape ("We agree
  to …"); a restriction on the other person becomes a conversation to have together (seed 000).
"""

from __future__ import annotations

import re

from agents.base import RoleAgent
from agents.builtin.phrasing import VERBATIM, Picker, capitalise, join_words, tidy
from agents.guards import tone_problems
from agents.interfaces import ApprovedItem, ComposeRequest, ComposeResult, Mediator, ProposedAgreement
from orchestrator.models import Mode
from policies.lexicon import Lexicon, get_lexicon

_WILLING = re.compile(r"would you be willing to\s+(.+?)\s*\?", re.IGNORECASE | re.DOTALL)
_LEADING = re.compile(r"^\s*(?:would you be willing to|could you|can you|please)\s+", re.IGNORECASE)


class BuiltinMediator(RoleAgent[ComposeRequest, ComposeResult], Mediator):
    """Shared messages and proposed agreements from approved items, using ``policies/lexicon.yaml``."""

    request_type = ComposeRequest
    response_type = ComposeResult

    def __init__(self, name: str = "builtin_mediator", *, lexicon: Lexicon | None = None) -> None:
        super().__init__(name, "Neutral mediator: composes shared messages from approved drafts (offline).")
        self.lexicon = lexicon or get_lexicon()

    async def compose(self, request: ComposeRequest) -> ComposeResult:
        return await self.handle(request)

    async def handle(self, request: ComposeRequest) -> ComposeResult:
        return self.compose_now(request)

    # ------------------------------------------------------------------------------------------
    def compose_now(self, req: ComposeRequest) -> ComposeResult:
        """The composed message, synchronously (pure: same request, same result)."""
        phrases, mode = self.lexicon.mediator, req.mode
        parties = list(dict.fromkeys(p for p in req.parties if p))
        picker = Picker("mediator|" + "|".join(sorted(parties)), req.shared_count, req.previous_shared)
        names = join_words(parties) or "everyone"
        blocks: list[str] = []
        if req.shared_count == 0:
            blocks.append(picker.pick("opening", phrases.openings.for_mode(mode), names=names))

        authors: list[str] = []
        for item in req.items:
            blocks.append(self._attribution(item, parties, authors, picker, mode))
            if item.author_name not in authors:
                authors.append(item.author_name)

        agreements = self.agreements(req.items, mode, picker)
        listeners = [p for p in parties if p not in authors]
        if len(authors) >= 2:
            blocks.append(
                picker.pick("both_shared", phrases.both_shared.for_mode(mode), names=join_words(authors))
            )
        elif listeners and authors:
            variants = phrases.request_acks if agreements else phrases.acknowledgements
            blocks.append(
                picker.pick(
                    "acknowledgement", variants.for_mode(mode), other=join_words(listeners), author=authors[0]
                )
            )
        return ComposeResult(text="\n\n".join(blocks), agreements=agreements)

    def _attribution(
        self, item: ApprovedItem, parties: list[str], authors: list[str], picker: Picker, mode: Mode
    ) -> str:
        """One item: a tidied frame around the approved text, which is inserted untouched."""
        phrases = self.lexicon.mediator
        others = [p for p in parties if p != item.author_name]
        if item.author_name in authors:
            variants = phrases.attributions_again.for_mode(mode)
        else:
            variants = phrases.attributions.for_mode(mode)
            if not others:
                variants = [v for v in variants if "{other}" not in v] or phrases.attributions_again.for_mode(
                    mode
                )
        slot = f"attribution:{len(authors)}"
        frame = picker.pick(slot, variants, author=item.author_name, other=join_words(others), text=VERBATIM)
        return frame.replace(VERBATIM, f"“{item.text}”")

    # ------------------------------------------------------------------------------------------
    def agreements(self, items: list[ApprovedItem], mode: Mode, picker: Picker) -> list[ProposedAgreement]:
        """One proposed agreement per approved request, phrased as something both people shape."""
        result: list[ProposedAgreement] = []
        seen: dict[str, ProposedAgreement] = {}
        for item in items:
            request = _request_of(item)
            if request is None:
                continue
            text = self.mutual_agreement(request, picker)
            if text in seen:  # the same request twice becomes one agreement with both sources
                seen[text].source_draft_ids.append(item.draft_id)
                continue
            agreement = ProposedAgreement(text=text, source_draft_ids=[item.draft_id])
            seen[text] = agreement
            result.append(agreement)
        return result

    def mutual_agreement(self, request: str, picker: Picker | None = None) -> str:
        """One person's request as a shared agreement.

        ``"send me a note when you need time"`` → ``"We agree to send each other a note when we need time."``
        """
        phrases = self.lexicon.mediator
        picker = picker or Picker("agreement", 0)
        clause = _LEADING.sub("", request.strip()).rstrip(" ?.!")
        clause = clause[:1].lower() + clause[1:] if not clause.startswith(("I ", "I'")) else clause
        boundary = next(
            (m for p in phrases.mutual.boundaries if (m := re.match(p, clause, re.IGNORECASE))), None
        )
        if boundary is not None:
            rest = clause[boundary.end() :].strip()
            first = rest.split(" ", 1)[0] if rest else ""
            if first.lower().endswith("ing"):
                text = picker.pick("boundary", phrases.boundary_agreements, topic=_swap(rest, self.lexicon))
            else:
                text = picker.pick("generic_agreement", phrases.generic_agreements)
        elif clause:
            text = picker.pick("agreement", phrases.agreement_frames, action=_swap(clause, self.lexicon))
        else:
            text = picker.pick("generic_agreement", phrases.generic_agreements)
        text = capitalise(tidy(_no_doubled_words(text)))
        if tone_problems(text, self.lexicon):
            text = tidy(phrases.generic_agreements[0])
        return text


def _request_of(item: ApprovedItem) -> str | None:
    """The request in the approved text. ``item.request`` counts only while the approved words still
    contain it (an edit may have changed the request; the words the author approved win)."""
    if item.request and item.request.strip() and item.request.strip().lower() in item.text.lower():
        return item.request.strip()
    found = _WILLING.search(item.text)
    return found.group(1).strip() if found else None


_DOUBLED = re.compile(r"\b(\w+)(\s+\1\b)+", re.IGNORECASE)


def _no_doubled_words(text: str) -> str:
    """A frame ending in "together" around a request ending in "together" must not say it twice."""
    return _DOUBLED.sub(r"\1", text)


def _swap(clause: str, lexicon: Lexicon) -> str:
    """Turn one person's wording into both people's ("me"/"you" → "each other", "my" → "our")."""
    for pattern, replacement in lexicon.mediator.mutual.swaps:
        clause = re.sub(pattern, replacement, clause, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", clause).strip(" ,")
