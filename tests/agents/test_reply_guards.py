"""Guards on the words a model writes to a person: tone aimed at the reader, the prompt read back,
fragments and another language. Pure functions on fixed texts; the prompts are the shipped ones."""

from __future__ import annotations

from llm_helpers import coach_request

from agents.fake_model import CONTEMPT, GARBAGE
from agents.llm.coach import LLMCoach
from agents.reply_guards import (
    echo_problems,
    fragment_problems,
    instruction_text,
    language_of,
    reader_tone_problems,
    script_of,
)
from agents.testing import ScriptedModelClient
from policies.llm import load_llm_policy

KIND = "It makes sense that the quiet evening left you feeling invisible. What did you need then?"
THEIRS = ["He never listens to me when I talk about money."]


def coach_system_prompt() -> str:
    coach = LLMCoach(ScriptedModelClient([]), policy=load_llm_policy())
    system = coach.messages(coach_request(party_name="Tom", other_name="Priya"))[0].content
    assert isinstance(system, str)
    return system


# --- tone aimed at the reader ---------------------------------------------------------------------------
def test_contempt_at_the_reader_is_caught() -> None:
    found = reader_tone_problems(CONTEMPT)
    assert "contempt:name_calling" in found and "absolute:you_always_never" in found


def test_criticism_the_shared_lexicon_misses_is_caught() -> None:
    for text in (
        "You are being unreasonable and you should know better.",
        "Honestly, it's all your fault that this happened.",
        "You're the problem here, not her.",
        "You only care about yourself.",
    ):
        assert reader_tone_problems(text), text


def test_a_brief_quote_of_the_persons_own_words_is_theirs() -> None:
    reply = 'You said "he never listens", and that sounds lonely. What do you need most?'
    assert reader_tone_problems(reply, THEIRS) == []
    # words not marked as theirs, or not theirs at all, are the coach's own
    assert reader_tone_problems('You said "you never listen". That is how it is.', THEIRS)
    assert reader_tone_problems('You said "you are pathetic".', ["I like our evenings."])


def test_a_long_quote_is_not_brief() -> None:
    long_own = "you never listen " * 10
    assert reader_tone_problems(f'You wrote "{long_own.strip()}".', [long_own])


def test_kind_replies_pass() -> None:
    for text in (
        KIND,
        "It sounds like you are exhausted. You have been carrying a lot.",
        "You feel unheard when plans change at the last minute. What might Priya be needing?",
    ):
        assert reader_tone_problems(text, THEIRS) == [], text


# --- the prompt read back --------------------------------------------------------------------------------
def test_the_prompt_read_back_is_echo() -> None:
    system = coach_system_prompt()
    assert echo_problems(system, [system]) == ["echo:instructions"]
    assert echo_problems("a message Tom could send to Priya", [system]) == ["echo:instructions"]
    assert echo_problems("your reply to Tom", [system]) == ["echo:instructions"]  # short, all prompt
    assert echo_problems("Open by mirroring what Tom feels and what they need, in your own words.", [system])


def test_a_kind_reply_and_the_prompts_own_examples_are_not_echo() -> None:
    system = coach_system_prompt()
    assert echo_problems(KIND, [system]) == []
    # the prompt offers these for reuse, in quotation marks
    offered = "I want us to be okay. Would you be willing to talk with me tonight?"
    assert echo_problems(offered, [system]) == []
    assert "a message Tom could send to Priya" in instruction_text(system)  # the answer format stays


def test_the_persons_own_words_are_not_echo() -> None:
    prompt = "Reply to the person kindly and ask them what they need from the other person today."
    own = ["ask them what they need from the other person today"]
    reply = "You wrote: ask them what they need from the other person today. What feels true?"
    assert echo_problems(reply, [prompt]) == ["echo:instructions"]
    assert echo_problems(reply, [prompt], own) == []


# --- complete, readable, in the person's language ----------------------------------------------------------
def test_fragments_and_garbage() -> None:
    assert "fragment:unfinished" in fragment_problems("a message tom could send to priya", THEIRS)
    assert "fragment:unreadable" in fragment_problems(GARBAGE, THEIRS)
    assert "fragment:unreadable" in fragment_problems("zxqv blorpt qwpt ntrz kkvq vvlm pfft.", THEIRS)
    assert fragment_problems("", THEIRS) == ["fragment:unfinished"]
    assert "fragment:unreadable" in fragment_problems("12345 ### 678 !!!", THEIRS)


def test_complete_replies_pass_whatever_their_ending() -> None:
    for text in (KIND, "That sounds hard. I'm here with you 💛", 'You said it well: "I miss us."'):
        assert fragment_problems(text, THEIRS) == [], text


def test_another_language_than_the_persons_is_caught() -> None:
    german = "Ich höre, wie sehr dich das belastet. Was wünschst du dir jetzt am meisten?"
    assert language_of(german) == "de" and language_of(THEIRS[0]) == "en"
    assert fragment_problems(german, THEIRS) == ["language:other"]
    assert fragment_problems(german, ["Er hört mir nie zu, wenn ich über Geld rede."]) == []
    assert fragment_problems("Это звучит очень тяжело.", THEIRS) == ["language:script"]
    assert script_of("Это звучит") == "CYRILLIC"


def test_an_unclear_language_of_the_person_does_not_block() -> None:
    assert fragment_problems(KIND, ["ok"]) == []
    assert fragment_problems(KIND, []) == []
