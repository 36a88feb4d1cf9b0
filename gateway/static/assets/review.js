/* Reviewer console (/review): the live queue (most severe first), claim, the flagged message with
 * its minimal context, a decision with a rationale, and the case's audit trail.
 *
 * The reviewer token stays in this tab's sessionStorage. Live updates come from the review feed
 * socket; when it cannot be opened the page polls the queue instead. */
"use strict";

(() => {
  const { el, api, socket, notify, clock } = Accord;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "accord:reviewer";
  const RANK = { critical: 3, high: 2, concern: 1, none: 0 };
  const API = "/v1/review";
  const DECISIONS = [
    ["resume", "Resume", "Safe to continue; the joint session reopens."],
    ["keep_separate", "Keep separate", "Private support only; no joint room."],
    ["end_session", "End the session", "Close it for everyone."],
    ["resources_sent", "Resources sent", "Support information was given."],
    ["contact_made", "Contact made", "A person made contact."],
    ["false_alarm", "False alarm", "Nothing of concern; resume."],
    ["escalate", "Escalate", "Back to the queue for a senior reviewer."],
  ];
  const state = { token: null, me: "", cases: new Map(), selected: null, ws: null, poll: null, stopped: false };

  // --- sign in ----------------------------------------------------------------------------------
  function reviewerName(token) {
    try {
      const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return String(payload.sub || "");
    } catch {
      return "";
    }
  }

  async function signIn(token) {
    state.token = token;
    state.me = reviewerName(token);
    try {
      await loadQueue();
    } catch (err) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(err.status === 401 || err.status === 403 ? `That token was refused: ${err.message}` : err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("signed-in").hidden = false;
    $("signed-in").textContent = state.me ? `Signed in as ${state.me}` : "Signed in";
    $("sign-out").hidden = false;
    $("conn").hidden = false;
    follow();
  }

  function showSignIn(message) {
    $("console").hidden = true;
    $("sign-in").hidden = false;
    const error = $("sign-in-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  // --- queue --------------------------------------------------------------------------------------
  function asList(data) {
    return Array.isArray(data) ? data : (data && (data.cases || data.queue)) || [];
  }

  async function loadQueue() {
    const cases = asList(await api(`${API}/cases?limit=200`, { token: state.token }));
    const ids = new Set(cases.map((c) => c.id));
    for (const id of [...state.cases.keys()]) {
      // Gone from the queue: decided, or claimed by someone else. Keep only the case on screen.
      if (!ids.has(id) && id !== state.selected) state.cases.delete(id);
    }
    for (const c of cases) state.cases.set(c.id, c);
    drawQueue();
  }

  function upsert(c) {
    state.cases.set(c.id, c);
    drawQueue();
    if (c.id === state.selected) drawCase(c);
  }

  function waiting(c) {
    return c.status !== "closed";
  }

  function drawQueue() {
    const cases = [...state.cases.values()].filter((c) => waiting(c) || c.id === state.selected)
      .sort((a, b) => (RANK[b.severity] || 0) - (RANK[a.severity] || 0) || a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    const open = cases.filter(waiting).length;
    $("queue-count").textContent = `(${open} waiting)`;
    $("queue-empty").hidden = cases.length > 0;
    $("queue").replaceChildren(...cases.map((c) => el("li", {},
      el("button", {
        type: "button", "data-case-id": c.id, "aria-current": String(c.id === state.selected),
        onclick: () => select(c.id),
      },
      el("span", { class: `sev sev--${c.severity}`, text: c.severity }),
      (c.categories || []).join(", ") || "uncategorised",
      el("span", { class: "meta", text: `${statusText(c)} · opened ${clock(c.created_at)}` })))));
  }

  function statusText(c) {
    if (c.status === "claimed") return c.claimed_by === state.me ? "claimed by you" : `claimed by ${c.claimed_by}`;
    if (c.status === "escalated") return "escalated";
    return c.status;
  }

  // --- one case ---------------------------------------------------------------------------------
  async function select(id) {
    state.selected = id;
    drawQueue();
    try {
      const c = await api(`${API}/cases/${encodeURIComponent(id)}`, { token: state.token });
      state.cases.set(c.id, c);
      drawCase(c);
      $("case").focus();
    } catch (err) {
      notify(err.message);
    }
  }

  function drawCase(c) {
    $("case-hint").hidden = true;
    $("case-body").hidden = false;
    $("case-title").replaceChildren(el("span", { class: `sev sev--${c.severity}`, text: c.severity }), c.id);
    const facts = [
      ["Status", statusText(c)],
      ["Categories", (c.categories || []).join(", ") || "none"],
      ["Opened", clock(c.created_at)],
      ["Session", c.session_id],
    ];
    if (c.lease_until && c.status === "claimed") facts.push(["Claim until", clock(c.lease_until)]);
    $("case-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    $("case-flagged").textContent = c.flagged_text;
    const context = c.context || [];
    $("case-context-box").hidden = !context.length;
    $("case-context").replaceChildren(...context.map((line) => el("li", { text: line })));

    const mine = c.status === "claimed" && c.claimed_by === state.me;
    const closed = c.status === "closed";
    $("claim-row").hidden = closed;
    $("claim").hidden = c.status === "claimed" && !mine;
    $("claim").textContent = mine ? "Extend my claim" : "Claim this case";
    $("release").hidden = !mine;
    $("claim-note").textContent = c.status === "claimed" && !mine ? `${c.claimed_by} is working on this case.` : "";
    $("decide").hidden = !mine;
    $("decided").hidden = !closed;
    if (closed) $("decided").textContent = `Decided by ${c.claimed_by || "a reviewer"}: ${labelOf(c.decision)}. ${c.rationale || ""}`;
    $("case-audit").replaceChildren(...(c.audit || []).map((entry) => el("li", {},
      el("span", { class: "when", text: `${clock(entry.at)} · ${entry.actor}` }), el("br"),
      el("strong", { text: entry.action.replace(/_/g, " ") }), entry.detail ? ` ${entry.detail}` : "")));
  }

  function labelOf(decision) {
    const found = DECISIONS.find(([value]) => value === decision);
    return found ? found[1] : decision;
  }

  async function act(path, body) {
    const id = state.selected;
    try {
      const c = await api(`${API}/cases/${encodeURIComponent(id)}/${path}`, { method: "POST", body, token: state.token });
      upsert(c);
      return c;
    } catch (err) {
      notify(err.message);
      if (err.status === 409 || err.status === 403) select(id);
      throw err;
    }
  }

  async function decide(event) {
    event.preventDefault();
    const error = $("decide-error");
    error.hidden = true;
    const chosen = document.querySelector("input[name=decision]:checked");
    const rationale = $("rationale").value.trim();
    if (!chosen || !rationale) {
      error.textContent = !chosen ? "Choose a decision." : "Write a short rationale: it is kept in the audit trail.";
      error.hidden = false;
      return;
    }
    $("decide-button").disabled = true;
    try {
      await act("decide", { decision: chosen.value, rationale });
      $("rationale").value = "";
      chosen.checked = false;
      notify("Decision recorded.", { timeout: 4000 });
    } catch { /* shown by act */ } finally {
      $("decide-button").disabled = false;
    }
  }

  // --- live feed, with polling as the fallback ---------------------------------------------------
  function setConn(status, text) {
    $("conn").dataset.state = status;
    $("conn").textContent = text;
  }

  function follow() {
    if (state.stopped) return;
    let opened = false;
    const ws = socket(`${API}/ws`, state.token);
    state.ws = ws;
    ws.addEventListener("open", () => {
      opened = true;
      stopPolling();
      setConn("open", "Live");
      loadQueue().catch(() => {}); // subscribed first, then read: nothing is missed
    });
    ws.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      const c = frame.case || (frame.id && frame.severity ? frame : null);
      if (c) upsert(c);
      else if (frame.type === "error") notify(frame.message);
    });
    ws.addEventListener("close", () => {
      if (state.ws !== ws || state.stopped) return;
      state.ws = null;
      startPolling();
      setTimeout(follow, opened ? 1000 : 15000);
    });
  }

  function startPolling() {
    setConn("lost", "Refreshing every 5 s");
    if (state.poll) return;
    state.poll = setInterval(() => loadQueue().catch(() => {}), 5000);
  }

  function stopPolling() {
    if (state.poll) clearInterval(state.poll);
    state.poll = null;
  }

  // --- start ----------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("decisions").replaceChildren(...DECISIONS.map(([value, label, help]) =>
      el("label", { class: "choice" }, el("input", { type: "radio", name: "decision", value }),
        el("span", {}, el("strong", { text: label }), el("span", { class: "hint", text: help })))));
    $("sign-in").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token").value.trim();
      if (token) signIn(token);
    });
    $("claim").addEventListener("click", () => act("claim").catch(() => {}));
    $("release").addEventListener("click", () => act("release").catch(() => {}));
    $("decide").addEventListener("submit", decide);
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.stopped = true;
      if (state.ws) state.ws.close(1000, "bye");
      location.replace("/review");
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved);
    else showSignIn("");
  });
})();
