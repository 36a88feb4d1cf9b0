"""The LLM mediator on a scripted model: what it asks, how it reads answers."""

from __future__ import annotations

import json

import pytest
from llm_helpers import compose_request, faithful_mediation

from agents.interfaces import ApprovedItem
from agents.llm.common import ModelOutputError
from agents.llm.mediator import LLMMediator
from agents.testing import ScriptedModelClient


async def test_prompt_asks_for_reassurance_faithful_quotes_and_balance() -> None:
    request = compose_request()
    client = ScriptedModelClient([faithful_mediation(request)])
    await LLMMediator(client).compose(request)
    call = client.calls[0]
    for instruction in (
        "Reassurance before closure",
        "Quote faithfully",
        "word for word",
        "Balanced attention",
        "mutual agreements",
        "no absolutes",
        "belong to neither side",
    ):
        assert instruction in call.system, instruction
    assert "first message shared between them" in call.system  # shared_count == 0
    assert "propose each request as a mutual agreement" in call.system.lower()
    assert '[d1] Alex: "When my texts go unanswered' in call.user
    assert '(request: "send a quick note when you are busy")' in call.user
    assert call.json_output is True


async def test_later_exchange_and_no_requests_and_recent_shared_context() -> None:
    request = compose_request(
        items=[
            ApprovedItem(
                draft_id="d7", author_name="Sam", text="I want us to be okay. I'm not going anywhere."
            )
        ],
        shared_count=4,
        previous_shared=["one", "two", "three", "four"],
    )
    client = ScriptedModelClient([faithful_mediation(request)])
    result = await LLMMediator(client).compose(request)
    call = client.calls[0]
    assert "exchanged messages before" in call.system and "propose no agreements" in call.system
    assert "- two" in call.user and "- four" in call.user and "- one" not in call.user  # last 3 only
    assert result.agreements == []


async def test_agreements_must_come_from_a_request() -> None:
    items = [
        ApprovedItem(draft_id="d1", author_name="Alex", text="Text A for Sam.", request="text when late"),
        ApprovedItem(draft_id="d2", author_name="Sam", text="Text B for Alex."),
    ]
    answer = json.dumps(
        {
            "text": "framing",
            "agreements": [
                {"text": "We agree to text when running late.", "source_draft_ids": ["d1", "d9"]},
                {"text": "We agree Sam cooks.", "source_draft_ids": ["d2"]},  # d2 carries no request
                "We agree to check in nightly.",  # no source: the only request on the table
                {"text": "  "},
            ],
        }
    )
    result = await LLMMediator(ScriptedModelClient([answer])).compose(compose_request(items=items))
    assert [(a.text, a.source_draft_ids) for a in result.agreements] == [
        ("We agree to text when running late.", ["d1"]),
        ("We agree to check in nightly.", ["d1"]),
    ]


async def test_unreadable_answer_retried_once_then_raises() -> None:
    request = compose_request()
    client = ScriptedModelClient(["Here you go: Alex wrote something.", faithful_mediation(request)])
    result = await LLMMediator(client).compose(request)
    assert result.text.startswith("You are both here")
    assert "could not be read" in client.calls[1].system

    bad = ScriptedModelClient(["nope", '{"agreements": []}'])
    with pytest.raises(ModelOutputError):
        await LLMMediator(bad).compose(request)
    assert len(bad.calls) == 2
