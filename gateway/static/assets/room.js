/* A party's room (/room/{session_id}): the private pane (you and your coach, drafts) and the shared
 * pane (what both parties see), over the room's WebSocket.
 *
 * Every event carries its room's gap-free `seq`. The page keeps the last one it drew; on load it
 * connects with after_seq=0 and draws the whole log, and on a reconnect it asks only for what came
 * after the last seq. Anything at or below the last seq is ignored, so nothing is drawn twice.
 *
 * `coach_partial` frames (seq 0, live only) are the coach's reply in progress: one bubble per
 * reply_to, marked busy and updated in place, replaced by the `coach` event with the same reply_to.
 */
"use strict";

(() => {
  const { el, api, socket, notify, serverNow, noteServerTime, clock, mmss, stageLabel } = Accord;
  const $ = (id) => document.getElementById(id);
  const sessionId = decodeURIComponent(location.pathname.split("/")[2] || "");
  const me = Accord.creds(sessionId);
  const PAUSABLE = ["ready_check", "joint", "agreement"];
  const READY_STAGES = ["ready_check", "paused"];
  const INTAKE_KEY = `accord:intake:${sessionId}`;
  const FOLLOWUP_KEY = `accord:followup:${sessionId}:`;
  const FRIENDLY = {
    rate_limited: "That was a lot at once. Take a breath, then try again in a moment.",
    frame_too_large: "That message is too long to send in one go. Could you split it up?",
    internal_error: "Something went wrong on our side. Please try again.",
  };

  const state = {
    ws: null,
    lastSeq: 0,
    stage: "",
    view: null,
    you: me ? me.name : "",
    other: null,
    parties: [],
    ready: false,
    endsAt: null,
    loaded: false, // the first backlog has been drawn (live from here on)
    stopped: false,
    retryDelay: 500,
    drafts: new Map(), // draft id -> {node, draft, editing}
    agreements: new Map(), // agreement id -> node
    pendingSays: new Map(), // client_msg_id -> text, until its `said` echo arrives
    partials: new Map(), // reply_to -> the coach's bubble in progress, until its `coach` event
    answered: new Set(), // reply_to of coach replies drawn (a late partial must not redraw one)
    activePane: "private",
    unread: { private: 0, shared: 0 },
  };

  // --- connection --------------------------------------------------------------------------
  function setConn(status, text) {
    const node = $("conn");
    node.dataset.state = status;
    node.textContent = text;
  }

  function connect() {
    if (state.stopped) return;
    setConn("connecting", state.lastSeq ? "Reconnecting…" : "Connecting…");
    const path = `/v1/sessions/${encodeURIComponent(sessionId)}/ws?after_seq=${state.lastSeq}`;
    const ws = socket(path, me.token);
    state.ws = ws;
    ws.addEventListener("open", () => {
      setConn("open", "Connected");
      state.retryDelay = 500;
      // The pong comes after the backlog: then the page is current, and unsent messages go out.
      ws.send(JSON.stringify({ type: "ping" }));
    });
    ws.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      onClosed(event);
    });
  }

  function onClosed(event) {
    if (state.stopped) return;
    const fatal = {
      4401: "Your key to this room has expired or is not valid. Please start again from your invite.",
      4403: "This tab's key does not open this room.",
      4404: "This session no longer exists, or your data in it was deleted.",
    }[event.code];
    if (fatal) {
      state.stopped = true;
      setConn("lost", "Disconnected");
      $("stage-text").textContent = fatal;
      $("composer").hidden = true;
      return;
    }
    setConn("lost", "Reconnecting…");
    const delay = event.code === 4408 ? 0 : state.retryDelay;
    state.retryDelay = Math.min(state.retryDelay * 2, 10000);
    setTimeout(connect, delay);
  }

  function send(frame, { quiet = false } = {}) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    if (!quiet) notify("We are reconnecting to your room. Please try again in a moment.");
    return false;
  }

  // --- frames ------------------------------------------------------------------------------
  function onFrame(frame) {
    // Transient: no seq of its own (0), so it must not pass through the seq bookkeeping below.
    if (frame.type === "coach_partial") return onCoachPartial(frame);
    if (typeof frame.seq === "number") {
      if (frame.seq <= state.lastSeq) return; // already drawn
      state.lastSeq = frame.seq;
      noteServerTime(frame.at);
    }
    switch (frame.type) {
      case "said": return onSaid(frame);
      case "coach": return onCoach(frame);
      case "draft": return onDraft(frame.draft);
      case "shared": return onShared(frame);
      case "stage": return onStage(frame);
      case "timeout": return onTimeout(frame);
      case "safety": return onSafety(frame);
      case "intake": return onIntake(frame);
      case "agreement": return onAgreement(frame.agreement);
      case "error": return onError(frame);
      case "pong": return onPong();
      default: return undefined; // a newer server's frame: ignore it rather than break
    }
  }

  function onPong() {
    if (!state.loaded) {
      state.loaded = true;
      for (const log of [$("private-log"), $("shared-log")]) log.removeAttribute("aria-busy");
      // The replayed log cannot say whether this party already pressed Ready or answered the
      // intake; the view (read just before connecting) and the stage can.
      if (state.view && state.view.stage === state.stage) state.ready = Boolean(state.view.ready);
      if (["waiting", "ready_check", "joint", "agreement", "closed"].includes(state.stage)) markIntakeDone();
      updateControls();
      // Unanswered intake questions are read from their start, not from the bottom of the log.
      const pending = document.querySelector("#private-log form.questions:not([data-done])");
      if (pending) $("private-log").scrollTop = pending.offsetTop - 12; // .log is the offsetParent
    }
    // Messages typed while offline, or whose echo never came: client_msg_id makes a repeat harmless.
    for (const [id, text] of state.pendingSays) send({ type: "say", text, client_msg_id: id }, { quiet: true });
  }

  function onSaid(frame) {
    if (frame.client_msg_id) state.pendingSays.delete(frame.client_msg_id);
    addTo("private", bubble("me", "You", frame.text, frame.at));
  }

  function onCoach(frame) {
    setThinking(false);
    const node = bubble("coach", "Your coach", frame.text, frame.at);
    const partial = frame.reply_to ? state.partials.get(frame.reply_to) : null;
    if (frame.reply_to) {
      state.partials.delete(frame.reply_to);
      state.answered.add(frame.reply_to);
    }
    if (partial && partial.isConnected) partial.replaceWith(node); // the final reply takes its place
    else addTo("private", node);
  }

  function onCoachPartial(frame) {
    if (!frame.reply_to || typeof frame.text !== "string" || state.answered.has(frame.reply_to)) return;
    setThinking(false); // the bubble itself shows the reply is still coming
    const known = state.partials.get(frame.reply_to);
    if (known) {
      known.querySelector("p").textContent = frame.text; // cumulative text: a dropped frame costs nothing
      return;
    }
    const node = bubble("coach", "Your coach", frame.text, null);
    node.classList.add("partial");
    node.setAttribute("aria-busy", "true"); // screen readers wait for the final reply
    node.dataset.replyTo = frame.reply_to;
    state.partials.set(frame.reply_to, node);
    addTo("private", node);
  }

  function dropPartials() {
    for (const node of state.partials.values()) node.remove();
    state.partials.clear();
  }

  function onShared(frame) {
    const from = frame.authors && frame.authors.length ? `From ${frame.authors.join(" and ")}, via the mediator` : "The mediator";
    addTo("shared", bubble("shared", from, frame.text, frame.at));
  }

  function onStage(frame) {
    const previous = state.stage;
    state.stage = frame.stage;
    if (Array.isArray(frame.parties)) {
      state.parties = frame.parties;
      const other = frame.parties.find((name) => name !== state.you);
      if (other && other !== state.other) {
        state.other = other;
        for (const entry of state.drafts.values()) if (!entry.editing) drawDraft(entry);
      }
    }
    if (frame.stage !== "paused") state.endsAt = null;
    if (!READY_STAGES.includes(frame.stage) || (frame.stage === "paused" && previous !== "paused")) state.ready = false;
    $("stage-pill").textContent = stageLabel(frame.stage);
    $("stage-pill").dataset.stage = frame.stage;
    $("status").dataset.stage = frame.stage;
    $("stage-text").textContent = frame.text;
    // Notices about the conversation go in the shared pane; a break has its own timeout note.
    const changed = frame.stage !== previous;
    const noteworthy = changed
      ? ["ready_check", "joint", "agreement", "closed"].includes(frame.stage) && !(frame.stage === "joint" && previous === "agreement")
      : !["held", "separate", "paused"].includes(frame.stage);
    if (noteworthy && frame.text) addTo("shared", note(frame.text));
    updateInvite();
    updateControls();
  }

  function onTimeout(frame) {
    if (frame.state === "suggested") {
      const node = el("div", { class: "note note--pause note--suggestion" },
        el("p", { text: frame.text }),
        el("button", { type: "button", class: "pause", onclick: pause }, "Take a break now"));
      addTo("private", node);
      return;
    }
    if (frame.state === "started") state.endsAt = frame.ends_at || null;
    if (frame.state === "ended") state.endsAt = null;
    addTo("shared", note(frame.text, "pause"));
    updateControls();
  }

  function onSafety(frame) {
    setThinking(false);
    $("support").hidden = false;
    $("support-text").textContent = frame.text;
    const list = $("resources");
    list.replaceChildren(...(frame.resources || []).map(resourceItem));
    const node = bubble("safety", "Support", frame.text, frame.at);
    addTo("private", node);
    // The follow-up questions (C-SSRS) are answered here, privately: a "yes" to intent, a plan or
    // recent behaviour brings a person in right away, so they must be answerable, not just shown.
    const questions = frame.questions || [];
    if (questions.length) {
      const key = `${FOLLOWUP_KEY}${frame.seq}`;
      const card = questionsCard("", questions, sessionStorage.getItem(key) === "done", {
        kind: "followup",
        save: "Send my answers",
        skip: "Not now",
        submit: (form, skip) => sendFollowup(form, skip, key),
      });
      addTo("private", card);
    }
    if (state.loaded) $("support").scrollIntoView({ block: "start" });
  }

  function resourceItem(resource) {
    const contact = String(resource.contact || "");
    const digits = contact.replace(/[^\d+]/g, "");
    const callable = /^\+?\d{3,15}$/.test(digits) && !/[a-z]/i.test(contact);
    const site = /^(https:\/\/)?[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(\/\S*)?$/i.test(contact);
    let link = el("span", { class: "contact", text: contact });
    if (callable) link = el("a", { class: "contact", href: `tel:${digits}` }, contact);
    else if (site) {
      const href = contact.startsWith("https://") ? contact : `https://${contact}`;
      link = el("a", { class: "contact", href, target: "_blank", rel: "noopener noreferrer" }, contact);
    }
    return el("li", { class: "resource" },
      el("strong", { text: resource.name }),
      link,
      resource.note ? el("span", { class: "resource-note", text: resource.note }) : null);
  }

  function onIntake(frame) {
    addTo("private", questionsCard(frame.text, frame.questions || [], sessionStorage.getItem(INTAKE_KEY) === "done"));
  }

  function onError(frame) {
    if (frame.frame_type === "say" || frame.client_msg_id) {
      setThinking(false);
      dropPartials(); // a reply that failed never gets its final frame
      const text = state.pendingSays.get(frame.client_msg_id);
      state.pendingSays.delete(frame.client_msg_id);
      if (text && !$("say-text").value) $("say-text").value = text; // give the words back
    }
    if (frame.frame_type === "ready") state.ready = false;
    if (frame.frame_type === "share") for (const entry of state.drafts.values()) drawDraft(entry);
    if (frame.code === "intake_done") markIntakeDone();
    if (frame.frame_type === "followup") reopenFollowup();
    updateControls();
    notify(FRIENDLY[frame.code] || sentence(frame.message) || "That did not go through. Please try again.");
  }

  function sentence(text) {
    if (!text) return "";
    const capital = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(capital) ? capital : `${capital}.`;
  }

  // --- drawing -----------------------------------------------------------------------------
  function bubble(kind, who, text, at) {
    return el("article", { class: `msg msg--${kind}` },
      el("span", { class: "msg-who", text: who }),
      el("p", { text }),
      at ? el("time", { datetime: new Date(at * 1000).toISOString(), text: clock(at) }) : null);
  }

  function note(text, kind) {
    return el("p", { class: kind ? `note note--${kind}` : "note", text });
  }

  function addTo(pane, node) {
    if (pane === "shared") $("shared-empty").hidden = true;
    $(`${pane}-log`).append(node); // followLog keeps the newest in view
    if (state.loaded && pane !== state.activePane) addUnread(pane);
  }

  /** Keep a log scrolled to its newest item while the reader is at the bottom (not while they
   *  read further up), through new items, redrawn drafts and a resized pane. */
  function followLog(pane) {
    const log = $(`${pane}-log`);
    let pinned = true;
    const stick = () => {
      const editing = log.contains(document.activeElement) && document.activeElement.tagName === "TEXTAREA";
      if (pinned && !editing) log.scrollTop = log.scrollHeight;
    };
    log.addEventListener("scroll", () => {
      if (log.clientHeight) pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    });
    new MutationObserver(stick).observe(log, { childList: true, subtree: true });
    new ResizeObserver(stick).observe(log);
  }

  function setThinking(on) {
    $("thinking").hidden = !on;
  }

  // --- drafts: send / edit / discard ------------------------------------------------------------
  function onDraft(draft) {
    const known = state.drafts.get(draft.id);
    const entry = known || { node: el("article", { class: "draft", "data-draft-id": draft.id }), editing: false };
    entry.draft = draft;
    if (draft.status !== "pending") entry.editing = false;
    drawDraft(entry);
    if (!known) {
      state.drafts.set(draft.id, entry);
      addTo("private", entry.node); // drawn first, so the log scrolls to its full height
    }
  }

  function drawDraft(entry) {
    const { draft, node } = entry;
    entry.busy = false;
    node.dataset.status = draft.status;
    const other = state.other || "the other person";
    const label = draft.kind === "request" ? `Suggested request for ${other}` : `Suggested message for ${other}`;
    const children = [el("span", { class: "draft-label", id: `draft-label-${draft.id}`, text: label })];
    node.setAttribute("aria-labelledby", `draft-label-${draft.id}`);
    if (draft.status === "pending" && entry.editing) {
      const area = el("textarea", { "aria-label": "Edit the message before sending", rows: 3, maxlength: 4000 });
      area.value = draft.text;
      area.addEventListener("keydown", (event) => {
        if (event.key === "Escape") { entry.editing = false; drawDraft(entry); focusIn(node, "button"); }
      });
      children.push(area, el("div", { class: "actions" },
        el("button", { type: "button", class: "private", onclick: () => decide(entry, "edit", area.value) }, "Send edited"),
        el("button", { type: "button", class: "secondary", onclick: () => { entry.editing = false; drawDraft(entry); focusIn(node, "button"); } }, "Cancel")));
      node.replaceChildren(...children);
      area.focus();
      node.scrollIntoView({ block: "nearest" });
      return;
    }
    children.push(el("p", { class: "draft-text", text: draft.text }));
    if (draft.status === "pending") {
      children.push(el("p", { class: "hint", text: "Nothing is shared until you press Send." }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "private", onclick: () => decide(entry, "send") }, "Send"),
          el("button", { type: "button", class: "secondary", onclick: () => { entry.editing = true; drawDraft(entry); } }, "Edit"),
          el("button", { type: "button", class: "link", onclick: () => decide(entry, "discard") }, "Discard")));
    } else if (draft.status === "sent") {
      children.push(el("p", { class: "draft-status", text: draft.edited ? "Sent, with your edits." : "Sent." }));
    } else {
      children.push(el("p", { class: "draft-status", text: "Discarded. It was not shared." }));
    }
    node.replaceChildren(...children);
  }

  function decide(entry, action, text) {
    if (entry.busy) return;
    const frame = { type: "share", draft_id: entry.draft.id, action };
    if (action === "edit") {
      const edited = (text || "").trim();
      if (!edited) { notify("The message is empty. Write something, or discard it."); return; }
      frame.text = edited;
    }
    if (!send(frame)) return;
    entry.busy = true;
    for (const button of entry.node.querySelectorAll("button")) button.disabled = true;
  }

  function focusIn(node, selector) {
    const target = node.querySelector(selector);
    if (target) target.focus();
  }

  // --- agreements ------------------------------------------------------------------------------
  function onAgreement(agreement) {
    let node = state.agreements.get(agreement.id);
    if (!node) {
      node = el("article", { class: "agreement", "data-agreement-id": agreement.id });
      state.agreements.set(agreement.id, node);
      $("agreement-list").append(node);
      $("agreements").hidden = false;
      if (state.loaded && state.activePane !== "shared") addUnread("shared");
    }
    node.dataset.status = agreement.status;
    const accepted = agreement.accepted_by || [];
    const declined = agreement.declined_by || [];
    const answered = accepted.includes(state.you) || declined.includes(state.you);
    const who = [];
    if (accepted.length) who.push(`Accepted by ${accepted.join(" and ")}`);
    if (declined.length) who.push(`Declined by ${declined.join(" and ")}`);
    if (!who.length) who.push("Waiting for each of you to answer.");
    const children = [
      el("p", {}, el("span", { class: `badge badge--${agreement.status}`, text: agreement.status }), " ", agreement.text),
      el("p", { class: "who", text: who.join(". ") }),
    ];
    if (agreement.status === "proposed" && !answered) {
      children.push(el("div", { class: "actions" },
        el("button", { type: "button", class: "ok", onclick: () => agree(agreement.id, true, node) }, "Accept"),
        el("button", { type: "button", class: "secondary", onclick: () => agree(agreement.id, false, node) }, "Decline")));
    }
    node.replaceChildren(...children);
  }

  function addUnread(pane) {
    state.unread[pane] += 1;
    const badge = $(`tab-${pane}`).querySelector(".unread");
    badge.textContent = String(state.unread[pane]);
    badge.hidden = false;
  }

  function agree(id, accept, node) {
    if (!send({ type: "agree", agreement_id: id, accept })) return;
    for (const button of node.querySelectorAll("button")) button.disabled = true;
  }

  // --- intake (and follow-up) questions ----------------------------------------------------------
  function questionsCard(text, questions, done, options = {}) {
    const { kind = "intake", save = "Save my answers", skip = "Skip these questions", submit = sendIntake } = options;
    const form = el("form", { class: `form-card questions questions--${kind}`, novalidate: true });
    if (text) form.append(el("p", { text }));
    const prefix = `q${Math.random().toString(36).slice(2, 7)}`;
    questions.forEach((q, index) => {
      const id = String(q.id ?? index);
      const name = `${prefix}-${id}`;
      const choices = [["yes", "Yes"], ["no", "No"]];
      if (q.skippable !== false) choices.push(["skip", "I'd rather not say"]);
      const options = choices.map(([value, label]) =>
        el("label", {}, el("input", { type: "radio", name, value, "data-question": id }), label));
      form.append(el("fieldset", {
        class: "question", "aria-labelledby": `${name}-legend`, "data-question": id,
        "data-ask-if": q.ask_if || null, hidden: Boolean(q.ask_if),
      },
      el("legend", { id: `${name}-legend`, text: q.text || q.question || q.prompt || id }),
      q.help ? el("p", { class: "hint", text: q.help }) : null,
      el("div", { class: "choice-row" }, options)));
    });
    // A follow-up question appears only after a "yes" to the question it depends on.
    form.addEventListener("change", () => {
      for (const follow of form.querySelectorAll("fieldset[data-ask-if]")) {
        const parent = form.querySelector(`fieldset[data-question="${CSS.escape(follow.dataset.askIf)}"]`);
        const yes = Boolean(parent && !parent.hidden && parent.querySelector("input[value=yes]:checked"));
        follow.hidden = !yes;
        if (!yes) for (const input of follow.querySelectorAll("input")) input.checked = false;
      }
    });
    const status = el("p", { class: "draft-status", hidden: !done, text: "Thank you. Your answers are private." });
    const actions = el("div", { class: "actions", hidden: done },
      questions.length ? el("button", { type: "submit", class: "private" }, save) : null,
      el("button", { type: "button", class: "secondary", onclick: () => submit(form, true) }, skip));
    form.append(actions, status);
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(form, false); });
    if (done) {
      form.dataset.done = "true";
      for (const input of form.querySelectorAll("input")) input.disabled = true;
    }
    return form;
  }

  function answersOf(form) {
    const answers = {};
    for (const input of form.querySelectorAll("input[type=radio]:checked")) {
      answers[input.dataset.question] = input.value === "yes" ? true : input.value === "no" ? false : null;
    }
    return answers;
  }

  function sendIntake(form, skip) {
    const frame = { type: "intake", skip };
    if (!skip) frame.answers = answersOf(form);
    if (!send(frame)) return;
    markIntakeDone();
  }

  function sendFollowup(form, skip, key) {
    if (!skip) {
      const answers = answersOf(form);
      if (!Object.keys(answers).length) {
        notify("Choose an answer to at least one question, or press Not now.");
        return;
      }
      if (!send({ type: "followup", answers })) return;
    }
    sessionStorage.setItem(key, "done");
    form.dataset.key = key;
    markFormDone(form, skip ? "That's all right. The support above stays here for you." : null);
  }

  function reopenFollowup() {
    // The server refused the answers (the error frame says why): let the person answer again.
    const forms = document.querySelectorAll("form.questions--followup[data-done=true]");
    const form = forms[forms.length - 1];
    if (!form) return;
    if (form.dataset.key) sessionStorage.removeItem(form.dataset.key);
    delete form.dataset.done;
    for (const input of form.querySelectorAll("input, button")) input.disabled = false;
    form.querySelector(".actions").hidden = false;
    form.querySelector(".draft-status").hidden = true;
  }

  function markFormDone(form, message) {
    form.dataset.done = "true";
    for (const input of form.querySelectorAll("input, button")) input.disabled = true;
    const [actions, status] = [form.querySelector(".actions"), form.querySelector(".draft-status")];
    if (actions) actions.hidden = true;
    if (status) {
      if (message) status.textContent = message;
      status.hidden = false;
    }
  }

  function markIntakeDone() {
    sessionStorage.setItem(INTAKE_KEY, "done");
    for (const form of document.querySelectorAll("form.questions--intake")) markFormDone(form, null);
  }

  // --- controls: say, pause, ready, end -------------------------------------------------------------
  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);
  }

  function say(event) {
    event.preventDefault();
    const box = $("say-text");
    const text = box.value.trim();
    if (!text) return;
    const log = $("private-log");
    log.scrollTop = log.scrollHeight; // follow the conversation again (see followLog)
    const id = newId();
    state.pendingSays.set(id, text);
    box.value = "";
    setThinking(true);
    if (!send({ type: "say", text, client_msg_id: id }, { quiet: true })) {
      notify("You are offline for a moment. Your message will go as soon as we reconnect.");
    }
  }

  function pause() {
    send({ type: "pause" });
  }

  function ready() {
    if (!send({ type: "ready" })) return;
    state.ready = true;
    updateControls();
  }

  function updateControls() {
    const stage = state.stage;
    const canPause = PAUSABLE.includes(stage);
    $("pause-btn").hidden = !canPause;
    $("ready-btn").hidden = !READY_STAGES.includes(stage) || state.ready;
    $("ready-btn").textContent = stage === "paused" ? "I'm ready to come back" : "I'm ready";
    const waiting = READY_STAGES.includes(stage) && state.ready;
    $("ready-note").hidden = !waiting;
    if (waiting) $("ready-note").textContent = `You're ready. The shared room opens when ${state.other || "the other person"} is ready too.`;
    const closed = stage === "closed";
    $("say-text").disabled = closed || state.stopped;
    $("say-btn").disabled = closed || state.stopped;
    $("end-btn").closest(".end-row").hidden = closed || stage === "";
    updateCountdown();
  }

  function updateCountdown() {
    const box = $("countdown-box");
    if (state.stage !== "paused" || !state.endsAt) {
      box.hidden = true;
      return;
    }
    const left = state.endsAt - serverNow();
    box.hidden = false;
    $("countdown").textContent = mmss(left);
    $("countdown").setAttribute("aria-label", `${Math.max(0, Math.ceil(left / 60))} minutes left in the break`);
    $("countdown-note").textContent = left > 0
      ? `left in the break (until about ${clock(state.endsAt)})`
      : "The break time is up. Press Ready when you feel settled.";
  }

  // --- invite ------------------------------------------------------------------------------
  function updateInvite() {
    const view = state.view || {};
    const partyLink = view.invite_code && state.parties.length < 2
      ? (me.invite_code === view.invite_code && me.invite_url) || `${location.origin}/join/${view.invite_code}`
      : "";
    $("invite-party").hidden = !partyLink;
    $("invite-link").value = partyLink;
    const hrLink = view.mode === "workplace" && view.facilitator_code ? `${location.origin}/join/${view.facilitator_code}` : "";
    $("facilitator-invite").hidden = !hrLink;
    $("facilitator-link").value = hrLink;
    $("invite").hidden = !partyLink && !hrLink;
  }

  async function copy(button) {
    const input = $(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand("copy");
    }
    notify("Link copied. Send it privately.", { timeout: 4000 });
  }

  // --- tabs (phone width) --------------------------------------------------------------------
  function showPane(pane, focus) {
    state.activePane = pane;
    for (const name of ["private", "shared"]) {
      const active = name === pane;
      const tab = $(`tab-${name}`);
      tab.setAttribute("aria-selected", String(active));
      tab.tabIndex = active ? 0 : -1;
      $(`pane-${name}`).dataset.inactive = String(!active);
      if (active) {
        state.unread[name] = 0;
        tab.querySelector(".unread").hidden = true;
        if (focus) tab.focus();
      }
    }
  }

  // --- start --------------------------------------------------------------------------------
  function applyView(view) {
    state.view = view;
    state.you = view.you || state.you;
    state.other = view.other || null;
    state.ready = Boolean(view.ready);
    state.endsAt = view.timeout_ends_at || null;
    updateInvite();
  }

  async function init() {
    if (!me || !me.token) {
      $("no-creds").hidden = false;
      $("stage-pill").hidden = true;
      return;
    }
    $("room-body").hidden = false;
    for (const log of [$("private-log"), $("shared-log")]) log.setAttribute("aria-busy", "true");
    try {
      applyView(await api(`/v1/sessions/${encodeURIComponent(sessionId)}`, { token: me.token }));
    } catch (err) {
      if ([401, 403, 404].includes(err.status)) {
        $("room-body").hidden = true;
        $("no-creds").hidden = false;
        $("no-creds").querySelector("h1").textContent = "This room cannot be opened";
        $("no-creds").querySelector("p").textContent = err.message;
        return;
      }
      notify(err.message);
    }

    $("composer").addEventListener("submit", say);
    $("say-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) say(event);
    });
    $("pause-btn").addEventListener("click", pause);
    $("ready-btn").addEventListener("click", ready);
    for (const button of document.querySelectorAll("[data-copy]")) button.addEventListener("click", () => copy(button));
    $("end-btn").addEventListener("click", () => { $("end-confirm").hidden = false; $("end-btn").hidden = true; $("end-no").focus(); });
    $("end-no").addEventListener("click", () => { $("end-confirm").hidden = true; $("end-btn").hidden = false; $("end-btn").focus(); });
    $("end-yes").addEventListener("click", () => {
      if (send({ type: "close" })) { $("end-confirm").hidden = true; $("end-btn").hidden = false; }
    });
    for (const tab of document.querySelectorAll("[role=tab]")) {
      tab.addEventListener("click", () => showPane(tab.dataset.pane));
      tab.addEventListener("keydown", (event) => {
        if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
          showPane(tab.dataset.pane === "private" ? "shared" : "private", true);
        }
      });
    }
    followLog("private");
    followLog("shared");
    showPane("private");
    // Quick exit: the shared conversation takes the same neutral break as any pause, so the other
    // person learns nothing more than that; then the socket is closed before the page goes.
    const ticker = setInterval(updateCountdown, 1000);
    Accord.exitHooks.push(() => {
      state.stopped = true;
      clearInterval(ticker);
      if (state.ws && state.ws.readyState === WebSocket.OPEN) {
        if (PAUSABLE.includes(state.stage)) state.ws.send(JSON.stringify({ type: "pause" }));
        state.ws.close(1000, "bye");
      }
    });
    updateControls();
    connect();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
