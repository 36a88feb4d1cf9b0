"""The web pages in a real headless Chromium against a real gateway (gateway/pages.py, gateway/static).

Two browser contexts are two people (each has its own sessionStorage, where the pages keep their
tokens); a third is the reviewer, a fourth the HR facilitator. Each step leaves a screenshot in
test-artifacts/web/. The ``browsing`` fixture fails a test whose pages requested anything outside
localhost.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.helpers import STREAMED_REPLY, Browsing, WebGateway

pytestmark = pytest.mark.browser
BREAK_NOTICE = "Alex needs a moment, and isn't leaving"


# --- steps ------------------------------------------------------------------------------------
def start_session(page: Any, gw: WebGateway, name: str, mode: str = "couple") -> str:
    """Create a session from the start page; returns the invite link shown in the room."""
    page.goto(gw.url + "/")
    # The privacy statement is there before anyone types.
    expect(page.get_by_role("heading", name="What stays private, and what is shared")).to_be_visible()
    if mode == "workplace":
        page.get_by_label(re.compile("A workplace")).check()
    page.get_by_role("textbox", name=re.compile("^Your first name")).fill(name)
    page.get_by_role("button", name="Start my private room").click()
    expect(page).to_have_url(re.compile(r"/room/[\w-]+$"))
    expect(page.locator("#invite-link")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/join/"))
    return str(page.locator("#invite-link").input_value())


def join_session(page: Any, link: str, name: str, *, as_room: str = "room", shot: Any = None) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", name="What stays private, and what is shared")).to_be_visible()
    if shot is not None:
        shot(page)
    page.get_by_role("textbox", name=re.compile("^Your first name")).fill(name)
    page.get_by_role("button", name="Join").click()
    expect(page).to_have_url(re.compile(rf"/{as_room}/[\w-]+$"))


def skip_intake(page: Any) -> None:
    card = page.locator("#private-log form.questions")
    expect(card).to_be_visible()
    card.get_by_role("button", name="Skip these questions").click()
    expect(card.get_by_text("Thank you. Your answers are private.")).to_be_visible()


def answer_intake(page: Any) -> None:
    """Answer the intake: "No" to the first question, "I'd rather not say" to the rest."""
    card = page.locator("#private-log form.questions")
    questions = card.locator("fieldset.question:visible")
    expect(questions.first).to_be_visible()
    questions.first.get_by_label("No", exact=True).check()
    for index in range(1, questions.count()):
        questions.nth(index).get_by_label("I'd rather not say").check()
    card.get_by_role("button", name="Save my answers").click()
    expect(card.get_by_text("Thank you. Your answers are private.")).to_be_visible()


def stage(page: Any) -> Any:
    return page.locator("#stage-pill")


def say(page: Any, text: str) -> None:
    box = page.get_by_label("Write to your coach")
    box.fill(text)
    box.press("Enter")


def show_shared(page: Any) -> None:
    """On a phone the panes are tabs; on a wide screen the tab bar is hidden and both panes show."""
    tab = page.get_by_role("tab", name=re.compile("^Shared"))
    if tab.is_visible():
        tab.click()


def show_private(page: Any) -> None:
    tab = page.get_by_role("tab", name=re.compile("^Private"))
    if tab.is_visible():
        tab.click()


def open_joint_room(browsing: Browsing, gw: WebGateway, *, sam_phone: bool = False) -> tuple[Any, Any]:
    """Alex starts, Sam joins by the invite link, both skip the intake and say they are ready."""
    alex = browsing.person()
    sam = browsing.person(phone=sam_phone)
    link = start_session(alex, gw, "Alex")
    skip_intake(alex)
    join_session(sam, link, "Sam")
    skip_intake(sam)
    for page in (alex, sam):
        expect(stage(page)).to_have_text("Ready check")
        page.get_by_role("button", name="I'm ready").click()
    for page in (alex, sam):
        expect(stage(page)).to_have_text("Talking together")
    return alex, sam


def counts(page: Any) -> dict[str, int]:
    """How many of each kind of item a room shows (a duplicate would raise one of them)."""
    return {
        "said": page.locator("#private-log .msg--me").count(),
        "coach": page.locator("#private-log .msg--coach").count(),
        "drafts": page.locator("#private-log .draft").count(),
        "shared": page.locator("#shared-log .msg--shared").count(),
        "notes": page.locator("#shared-log .note").count(),
        "agreements": page.locator("#agreement-list .agreement").count(),
    }


# --- tests ------------------------------------------------------------------------------------
def test_two_partners_through_a_whole_session(web_gateway: WebGateway, browsing: Browsing) -> None:
    gw = web_gateway
    alex = browsing.person()
    sam = browsing.person(phone=True)

    # Alex starts alone: the start page, then the private room with its intake questions.
    alex.goto(gw.url + "/")
    expect(alex.locator(".privacy")).to_contain_text("never sees it")
    browsing.screenshot(alex, "01-start-page", full_page=True)
    link = start_session(alex, gw, "Alex")
    expect(stage(alex)).to_have_text("Getting started")
    browsing.screenshot(alex, "02-alex-room-intake")
    skip_intake(alex)
    expect(stage(alex)).to_have_text("Waiting for the other person")

    # A private message; the coach is "thinking" until it answers, then proposes a draft.
    gw.hold_coach()
    say(alex, "We keep arguing about the weekends and I feel unheard.")
    expect(alex.locator("#private-log .msg--me")).to_have_text(re.compile("I feel unheard"))
    expect(alex.locator("#thinking")).to_be_visible()
    browsing.screenshot(alex, "03-alex-coach-thinking")
    gw.release_coach()
    expect(alex.locator("#thinking")).to_be_hidden()
    expect(alex.locator("#private-log .msg--coach").first).to_contain_text("Thank you for telling me")
    draft = alex.locator("#private-log .draft").first
    expect(draft).to_contain_text("I would like us to find a calm moment to talk about this.")
    expect(draft.get_by_role("button", name="Send", exact=True)).to_be_visible()
    browsing.screenshot(alex, "04-alex-private-draft")

    # Sam opens the invite link on a phone and joins; both reach the ready check.
    def invite_shot(page: Any) -> None:
        browsing.screenshot(page, "05-sam-phone-invite", full_page=True)

    join_session(sam, link, "Sam", shot=invite_shot)
    expect(sam.locator("#private-log .msg--me")).to_have_count(0)  # nothing of Alex's private room
    skip_intake(sam)
    expect(stage(alex)).to_have_text("Ready check")
    expect(stage(sam)).to_have_text("Ready check")
    browsing.screenshot(sam, "05b-sam-phone-ready-check")
    alex.get_by_role("button", name="I'm ready").click()
    expect(alex.locator("#ready-note")).to_contain_text("when Sam is ready too")
    sam.get_by_role("button", name="I'm ready").click()
    expect(stage(alex)).to_have_text("Talking together")
    expect(stage(sam)).to_have_text("Talking together")

    # Alex edits the draft and sends it: the shared message appears in both rooms.
    draft.get_by_role("button", name="Edit").click()
    editor = draft.get_by_label("Edit the message before sending")
    expect(editor).to_be_focused()
    edited = "I would like us to find a calm moment this week to talk about the weekends."
    editor.fill(edited)
    browsing.screenshot(alex, "06-alex-editing-draft")
    draft.get_by_role("button", name="Send edited").click()
    expect(draft).to_contain_text("Sent, with your edits.")
    # The builtin mediator frames it, names its author and quotes the approved words exactly.
    shared_text = re.compile(r"Alex[\s\S]*" + re.escape(edited))
    expect(alex.locator("#shared-log .msg--shared")).to_have_text(shared_text)
    show_shared(sam)
    expect(sam.locator("#shared-log .msg--shared")).to_have_text(shared_text)
    browsing.screenshot(alex, "07-alex-shared-message")
    browsing.screenshot(sam, "08-sam-phone-shared-message")

    # Sam asks for something concrete; the mediator proposes it as an agreement; both accept.
    show_private(sam)
    say(sam, "I would like us to agree on some time together at the weekend.")
    sam_draft = sam.locator("#private-log .draft").first
    expect(sam_draft).to_contain_text("take a walk together on Sunday mornings")
    sam_draft.get_by_role("button", name="Send", exact=True).click()
    expect(sam_draft).to_contain_text("Sent.")
    expect(stage(alex)).to_have_text("Looking at agreements")
    agreement = alex.locator("#agreement-list .agreement")
    expect(agreement).to_contain_text("agree to take a walk together on Sunday mornings.")
    agreement.get_by_role("button", name="Accept").click()
    expect(agreement).to_contain_text("Accepted by Alex")
    show_shared(sam)
    sam_agreement = sam.locator("#agreement-list .agreement")
    expect(sam_agreement).to_contain_text("Accepted by Alex")
    sam_agreement.get_by_role("button", name="Accept").click()
    for page in (alex, sam):
        expect(page.locator("#agreement-list .agreement .badge")).to_have_text("accepted")
        expect(stage(page)).to_have_text("Talking together")
    browsing.screenshot(alex, "09-alex-agreement-accepted")
    browsing.screenshot(sam, "10-sam-phone-agreement-accepted")

    # Pause: both see the break, with a countdown from ends_at; when it is over, both say ready.
    alex.get_by_role("button", name="Pause for a break").click()
    for page in (alex, sam):
        expect(stage(page)).to_have_text("On a break")
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^(20:00|19:[0-5]\d)$"))
    expect(sam.locator("#shared-log .note--pause").last).to_contain_text(BREAK_NOTICE)
    browsing.screenshot(alex, "11-alex-break-countdown")
    browsing.screenshot(sam, "12-sam-phone-break-notice")
    gw.advance(20 * 60 + 1)
    for page in (alex, sam):
        expect(page.locator("#countdown-box")).to_be_hidden()
        expect(stage(page)).to_have_text("Ready check")
        expect(page.locator("#shared-log .note--pause").last).to_contain_text("The break time is up")
    alex.get_by_role("button", name="I'm ready").click()
    sam.get_by_role("button", name="I'm ready").click()
    for page in (alex, sam):
        expect(stage(page)).to_have_text("Talking together")

    # Reconnects resume without duplicates: sockets dropped by the server, then a page reload.
    before = counts(alex)
    gw.drop_sockets()
    expect(alex.locator("#conn")).to_have_text("Connected")
    say(alex, "Thank you for listening today.")
    expect(alex.locator("#private-log .msg--me")).to_have_count(before["said"] + 1)
    expect(alex.locator("#private-log .msg--coach")).to_have_count(before["coach"] + 1)
    before = counts(alex)
    alex.reload()
    expect(alex.locator("#conn")).to_have_text("Connected")
    expect(stage(alex)).to_have_text("Talking together")
    expect(alex.locator("#private-log .msg--me")).to_have_count(before["said"])
    assert counts(alex) == before
    browsing.screenshot(alex, "13-alex-after-reload")

    assert browsing.outside_requests() == []


def test_crisis_message_reviewer_and_quick_exit(web_gateway: WebGateway, browsing: Browsing) -> None:
    gw = web_gateway
    alex, sam = open_joint_room(browsing, gw)

    # Sam discloses fear: Sam gets support privately; Alex sees only a neutral break.
    disclosure = "Honestly, Alex checks my phone every night and won't let me see my friends."
    say(sam, disclosure)
    expect(sam.locator("#support")).to_be_visible()
    expect(stage(alex)).to_have_text("On a break")
    expect(alex.locator("#shared-log .note--pause").last).to_contain_text("Sam needs a moment")
    expect(alex.locator("#support")).to_be_hidden()
    assert "see my friends" not in alex.content()
    browsing.screenshot(alex, "20-alex-sees-a-neutral-break")

    # Then a crisis message from Alex: support and resources at once, and nothing reaches Sam.
    crisis = "I can't do this any more. I want to end my life."
    say(alex, crisis)
    support = alex.locator("#support")
    expect(support).to_be_visible()
    expect(support.locator(".resource").first).to_be_visible()
    expect(alex.locator("#private-log .msg--safety")).to_be_visible()
    browsing.screenshot(alex, "21-alex-crisis-support")
    expect(sam.locator("#private-log .msg--safety")).to_have_count(1)  # Sam's own, nothing of Alex's
    assert "end my life" not in sam.content()
    browsing.screenshot(sam, "22-sam-own-support-only")

    # The reviewer signs in with a token: the newer critical case comes before the older high one.
    rita = browsing.person()
    rita.goto(gw.url + "/review")
    rita.get_by_label("Reviewer token").fill(gw.reviewer_token("rita"))
    rita.get_by_role("button", name="Open the queue").click()
    cases = rita.locator("#queue button")
    expect(cases).to_have_count(2)
    expect(cases.nth(0)).to_contain_text("critical")
    expect(cases.nth(0)).to_contain_text("self_harm")
    expect(cases.nth(1)).to_contain_text("high")
    browsing.screenshot(rita, "23-reviewer-queue")
    cases.nth(0).click()
    expect(rita.locator("#case-flagged")).to_have_text(crisis)
    rita.get_by_role("button", name="Claim this case").click()
    expect(rita.locator("#case-facts")).to_contain_text("claimed by you")
    rita.get_by_label(re.compile("^Resume")).check()
    rationale = "Spoke with Alex by phone; safe, has support, wants to continue."
    rita.get_by_label(re.compile("^Rationale")).fill(rationale)
    browsing.screenshot(rita, "24-reviewer-deciding")
    rita.get_by_role("button", name="Record decision").click()
    expect(rita.locator("#decided")).to_contain_text("Resume")
    audit = rita.locator("#case-audit li")
    expect(audit).to_have_count(3)
    expect(audit.nth(0)).to_contain_text("opened")
    expect(audit.nth(1)).to_contain_text("claimed")
    expect(audit.nth(2)).to_contain_text(f"decided resume: {rationale}")
    expect(rita.locator("#queue-count")).to_have_text("(1 waiting)")
    browsing.screenshot(rita, "25-reviewer-decided-audit")
    # A resumed hold is, for both rooms, the break Sam was already shown: it runs to its end.
    for page in (alex, sam):
        expect(stage(page)).to_have_text("On a break")
    gw.advance(20 * 60 + 1)
    for page in (alex, sam):
        expect(stage(page)).to_have_text("Ready check")

    # Quick exit (Esc twice): the page is wiped and replaced by the neutral site; Sam sees a break.
    alex.keyboard.press("Escape")
    alex.keyboard.press("Escape")
    expect(alex).to_have_url(gw.exit_url)
    assert alex.evaluate("sessionStorage.length") == 0
    expect(stage(sam)).to_have_text("On a break")
    expect(sam.locator("#shared-log .note--pause").last).to_contain_text(BREAK_NOTICE)
    browsing.screenshot(sam, "26-sam-after-alex-quick-exit")
    # Back does not return to the room: the exit replaced it in the history.
    alex.go_back()
    assert "/room/" not in alex.url

    # The button works too.
    sam.get_by_role("button", name="Quick exit").click()
    expect(sam).to_have_url(gw.exit_url)
    assert sam.evaluate("sessionStorage.length") == 0


def test_safety_follow_up_questions_are_answered_in_the_room(
    web_gateway: WebGateway, browsing: Browsing
) -> None:
    gw = web_gateway
    alex, sam = open_joint_room(browsing, gw)

    # A passive wish to be gone: support and the C-SSRS follow-ups, privately; nothing is held yet.
    say(alex, "Sometimes I wish I could just disappear.")
    card = alex.locator("#private-log form.questions--followup")
    expect(card).to_be_visible()
    expect(alex.locator("#support")).to_be_visible()
    visible = card.locator("fieldset.question:visible")
    expect(visible).to_have_count(3)  # method, intent and plan are asked only after a yes to thoughts
    expect(sam.locator("#private-log form.questions--followup")).to_have_count(0)
    expect(stage(sam)).to_have_text("Talking together")

    # Sending with nothing chosen is refused on the page and sends nothing.
    card.get_by_role("button", name="Send my answers").click()
    expect(alex.locator("#toasts")).to_contain_text("Choose an answer")
    expect(card.get_by_role("button", name="Send my answers")).to_be_enabled()

    thoughts = card.locator('fieldset[data-question="cssrs_thoughts"]')
    thoughts.get_by_label("Yes", exact=True).check()
    expect(visible).to_have_count(6)
    card.locator('fieldset[data-question="cssrs_intent"]').get_by_label("Yes", exact=True).check()
    browsing.screenshot(alex, "26-alex-follow-up-questions")
    card.get_by_role("button", name="Send my answers").click()
    expect(card.get_by_text("Thank you. Your answers are private.")).to_be_visible()

    # Intent (C-SSRS item 4) brings a person in: a critical case, and Sam sees only an ordinary break.
    expect(stage(sam)).to_have_text("On a break")
    assert "disappear" not in sam.content()
    token = gw.reviewer_token("rita")
    response = httpx.get(f"{gw.url}/v1/review/cases", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    cases = response.json()
    assert [(c["severity"], c["categories"]) for c in cases] == [("critical", ["self_harm"])]

    # Answered once: a reload shows the answers as sent, not a fresh form.
    alex.reload()
    expect(alex.locator("#conn")).to_have_text("Connected")
    again = alex.locator("#private-log form.questions--followup")
    expect(again).to_have_count(1)
    expect(again.get_by_role("button", name="Send my answers")).to_be_hidden()


def test_workplace_facilitator_sees_stage_agreements_and_outcome_only(
    web_gateway: WebGateway, browsing: Browsing
) -> None:
    gw = web_gateway
    alex = browsing.person()
    sam = browsing.person()
    link = start_session(alex, gw, "Alex", mode="workplace")
    hr_link = alex.locator("#facilitator-link").input_value()
    assert re.match(r"^http://127\.0\.0\.1:\d+/join/", hr_link)
    browsing.screenshot(alex, "30-workplace-invites")

    hr = browsing.person()
    join_session(hr, hr_link, "Hana (HR)", as_room="facilitator")
    expect(hr.locator("#stage-label")).to_have_text("Getting started")

    # A private message, and a gentle error: a break cannot start before the shared room opens.
    say(alex, "I am so angry about the credit for the report.")
    suggestion = alex.locator("#private-log .note--pause")
    expect(suggestion).to_contain_text("break could help")
    suggestion.get_by_role("button", name="Take a break now").click()
    expect(alex.locator(".toast")).to_contain_text("has not started yet")
    browsing.screenshot(alex, "31-gentle-error")

    skip_intake(alex)
    join_session(sam, link, "Sam")
    answer_intake(sam)
    for page in (alex, sam):
        page.get_by_role("button", name="I'm ready").click()
    expect(hr.locator("#stage-label")).to_have_text("Talking together")
    say(alex, "I would like us to agree how we credit shared work.")
    draft = alex.locator("#private-log .draft").last
    expect(draft).to_contain_text("co-authors")
    draft.get_by_role("button", name="Send", exact=True).click()
    expect(hr.locator("#agreement-list .agreement")).to_contain_text("agree to name each other as co-authors")
    for page in (alex, sam):
        page.locator("#agreement-list .agreement").get_by_role("button", name="Accept").click()
    expect(hr.locator("#agreement-list .agreement .badge")).to_have_text("accepted")
    sam.get_by_role("button", name="End the session…").click()
    sam.get_by_role("button", name="Yes, end it").click()
    expect(hr.locator("#stage-label")).to_have_text("Ended")
    expect(hr.locator("#outcome")).to_contain_text("The parties agreed to:")
    agreed = re.compile(r"agree to name each other as co-authors on shared reports\.$")
    expect(hr.locator("#outcome-list li")).to_have_text([agreed])
    browsing.screenshot(hr, "32-facilitator-outcome")

    # Never a party's private room, nor the shared conversation.
    page_text = hr.content()
    for private in ("so angry", "credit shared work", "would like to share", "Thank you for telling me"):
        assert private not in page_text
    expect(stage(alex)).to_have_text("Ended")


# Records every state of the coach's bubbles in the private log (a MutationObserver reports after
# each WebSocket message is drawn), so the test sees the in-progress bubble without racing it.
RECORD_COACH_BUBBLES = """
window.__coachBubbles = [];
new MutationObserver(() => {
  const log = document.getElementById("private-log");
  if (!log) return;
  const bubbles = [...log.querySelectorAll(".msg--coach")].map((node) => ({
    partial: node.classList.contains("partial"),
    busy: node.getAttribute("aria-busy") === "true",
    text: node.querySelector("p").textContent,
  }));
  const snapshot = JSON.stringify(bubbles);
  const seen = window.__coachBubbles;
  if (seen[seen.length - 1] !== snapshot) seen.push(snapshot);
}).observe(document, { childList: true, subtree: true, characterData: true });
"""


def test_a_streamed_coach_reply_is_drawn_in_progress_then_replaced_by_one_bubble(
    web_gateway: WebGateway, browsing: Browsing
) -> None:
    alex = browsing.person()
    alex.add_init_script(RECORD_COACH_BUBBLES)
    start_session(alex, web_gateway, "Alex")
    skip_intake(alex)
    say(alex, "It was a long day and I did everything at home.")
    final = alex.locator("#private-log .msg--coach")
    expect(final).to_have_count(1)
    expect(final).to_have_text(re.compile(re.escape(STREAMED_REPLY)))
    expect(final).not_to_have_class(re.compile("partial"))
    expect(final).not_to_have_attribute("aria-busy", "true")

    states = [json.loads(s) for s in alex.evaluate("window.__coachBubbles")]
    assert all(len(bubbles) <= 1 for bubbles in states)  # never a partial and the reply side by side
    partials = [b[0] for b in states if b and b[0]["partial"]]
    assert all(p["busy"] for p in partials)
    texts = [p["text"] for p in partials]
    first = "That sounds like a long day. "
    assert texts == [first, first + "You carried a lot of it on your own. "]  # updated in place
    assert states[-1] == [{"partial": False, "busy": False, "text": STREAMED_REPLY}]
    browsing.screenshot(alex, "40-alex-streamed-reply")

    alex.reload()  # partials are never replayed: the log has the one reply
    expect(final).to_have_count(1)
    expect(final).to_have_text(re.compile(re.escape(STREAMED_REPLY)))
    expect(alex.locator("#private-log .msg--coach.partial")).to_have_count(0)


def test_a_room_without_its_key_shows_nothing(web_gateway: WebGateway, browsing: Browsing) -> None:
    alex = browsing.person()
    start_session(alex, web_gateway, "Alex")
    room_url = alex.url
    stranger = browsing.person()  # another context: no token in its sessionStorage
    stranger.goto(room_url)
    expect(stranger.get_by_role("heading", name="This room is open in another tab")).to_be_visible()
    expect(stranger.locator("#room-body")).to_be_hidden()


def test_the_request_guard_sees_and_blocks_an_outside_request(browsing: Browsing) -> None:
    """The guard every test relies on can fail: a page that asks for an outside URL is caught."""
    page = browsing.person()
    outside = "http://outside.invalid/pixel.png"
    with page.expect_event("requestfailed", lambda request: request.url == outside):  # blocked, never sent
        page.set_content(f'<img src="{outside}" alt="">')
    assert browsing.outside_requests() == [outside]
    browsing.requests.clear()  # seen and blocked as intended: the fixture must not fail this test
