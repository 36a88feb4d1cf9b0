/* Workplace facilitator view (/facilitator/{session_id}): stage, agreements and the outcome only.
 * The facilitator's room never receives a party's private events or the shared conversation; this
 * page draws only stage and agreement events (and ignores anything else, by design). */
"use strict";

(() => {
  const { el, api, socket, notify, noteServerTime, stageLabel } = Accord;
  const $ = (id) => document.getElementById(id);
  const sessionId = decodeURIComponent(location.pathname.split("/")[2] || "");
  const me = Accord.creds(sessionId);
  const state = { ws: null, lastSeq: 0, stage: "", parties: [], agreements: new Map(), retryDelay: 500, stopped: false };

  function connect() {
    if (state.stopped) return;
    const ws = socket(`/v1/sessions/${encodeURIComponent(sessionId)}/ws?after_seq=${state.lastSeq}`, me.token);
    state.ws = ws;
    ws.addEventListener("open", () => { $("conn").dataset.state = "open"; $("conn").textContent = "Connected"; state.retryDelay = 500; });
    ws.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (typeof frame.seq === "number") {
        if (frame.seq <= state.lastSeq) return;
        state.lastSeq = frame.seq;
        noteServerTime(frame.at);
      }
      if (frame.type === "stage") onStage(frame);
      else if (frame.type === "agreement") onAgreement(frame.agreement);
      else if (frame.type === "error") notify(frame.message);
    });
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws || state.stopped) return;
      $("conn").dataset.state = "lost";
      if ([4401, 4403, 4404].includes(event.code)) {
        state.stopped = true;
        $("conn").textContent = "Disconnected";
        $("stage-text").textContent = "This view can no longer be opened with this tab's key.";
        return;
      }
      $("conn").textContent = "Reconnecting…";
      setTimeout(connect, state.retryDelay);
      state.retryDelay = Math.min(state.retryDelay * 2, 10000);
    });
  }

  function onStage(frame) {
    state.stage = frame.stage;
    if (Array.isArray(frame.parties)) state.parties = frame.parties;
    $("stage-pill").textContent = stageLabel(frame.stage);
    $("stage-pill").dataset.stage = frame.stage;
    $("stage-label").textContent = stageLabel(frame.stage);
    $("stage-text").textContent = frame.text;
    if (state.parties.length) $("who").textContent = `Parties: ${state.parties.join(" and ")}.`;
    drawOutcome();
  }

  function onAgreement(agreement) {
    let node = state.agreements.get(agreement.id);
    if (!node) {
      node = el("article", { class: "agreement", "data-agreement-id": agreement.id });
      state.agreements.set(agreement.id, node);
      $("agreement-list").append(node);
      $("no-agreements").hidden = true;
    }
    node.agreement = agreement;
    node.dataset.status = agreement.status;
    const accepted = agreement.accepted_by || [];
    const declined = agreement.declined_by || [];
    const who = [];
    if (accepted.length) who.push(`Accepted by ${accepted.join(" and ")}`);
    if (declined.length) who.push(`Declined by ${declined.join(" and ")}`);
    node.replaceChildren(
      el("p", {}, el("span", { class: `badge badge--${agreement.status}`, text: agreement.status }), " ", agreement.text),
      el("p", { class: "who", text: who.join(". ") || "Waiting for both parties to answer." }));
    drawOutcome();
  }

  function drawOutcome() {
    const accepted = [...state.agreements.values()].map((n) => n.agreement).filter((a) => a.status === "accepted");
    const closed = state.stage === "closed";
    $("outcome").hidden = !closed && !accepted.length;
    $("outcome-text").textContent = closed
      ? (accepted.length ? "The session has ended. The parties agreed to:" : "The session has ended without a written agreement.")
      : "Agreed so far:";
    $("outcome-list").replaceChildren(...accepted.map((a) => el("li", { text: a.text })));
  }

  async function init() {
    if (!me || !me.token) { $("no-creds").hidden = false; return; }
    $("view").hidden = false;
    try {
      const view = await api(`/v1/sessions/${encodeURIComponent(sessionId)}`, { token: me.token });
      $("who").textContent = `You joined as ${view.you}.`;
      onStage({ stage: view.stage, text: view.stage_text });
      for (const agreement of view.agreements || []) onAgreement(agreement);
    } catch (err) {
      notify(err.message);
    }
    Accord.exitHooks.push(() => { state.stopped = true; if (state.ws) state.ws.close(1000, "bye"); });
    connect();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
