/* Accord: what every page shares. Plain script, no framework, nothing loaded from elsewhere.
 *
 * - Credentials live in sessionStorage (one browser tab = one person), keyed by session id.
 * - Text from the server is only ever put in the page with textContent (never as HTML).
 * - Quick exit: the button or Esc twice clears sessionStorage and the page, then replaces this page
 *   with a neutral site (so Back does not return here).
 */
"use strict";

const Accord = (() => {
  const meta = (name) => {
    const node = document.querySelector(`meta[name="${name}"]`);
    return node ? node.content : "";
  };
  const exitUrl = meta("accord-exit-url") || "about:blank";

  // The server's clock may differ from this device's (and in tests it is a manual clock), so
  // countdowns use an estimate of server time: the page's render time, raised by each event's `at`.
  let skew = (Number(meta("accord-server-now")) || Date.now() / 1000) - Date.now() / 1000;
  const serverNow = () => Date.now() / 1000 + skew;
  const noteServerTime = (at) => {
    if (typeof at === "number" && at > 0) skew = Math.max(skew, at - Date.now() / 1000);
  };

  /** Build an element: el("p", {class: "x"}, "text", child). Strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // --- credentials (per tab) -----------------------------------------------------------------
  const CREDS = "accord:creds:";
  const saveCreds = (creds) => sessionStorage.setItem(CREDS + creds.session_id, JSON.stringify(creds));
  const creds = (sessionId) => {
    try { return JSON.parse(sessionStorage.getItem(CREDS + sessionId) || "null"); } catch { return null; }
  };

  // --- HTTP ------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(path, { method = "GET", body, token } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "offline", "We could not reach Accord. Check your connection and try again.");
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(response.status, err.code || "error", err.message || `The request failed (${response.status}).`);
    }
    return data;
  }

  /** A WebSocket to `path` carrying the token as a subprotocol (browsers cannot set headers, and a
   *  token in the query string would end up in proxy logs). */
  function socket(path, token) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return new WebSocket(`${scheme}//${location.host}${path}`, ["accord.v1", `bearer.${token}`]);
  }

  // --- gentle notices (error frames and the like) ------------------------------------------------
  function notify(text, { timeout = 9000 } = {}) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const toast = el("div", { class: "toast", role: "status" },
      el("p", { text }),
      el("button", { type: "button", "aria-label": "Dismiss", onclick: () => toast.remove() }, "×"));
    box.append(toast);
    while (box.children.length > 3) box.firstElementChild.remove();
    if (timeout) setTimeout(() => toast.remove(), timeout);
  }

  // --- time ------------------------------------------------------------------------------------
  const clock = (epochSeconds) =>
    new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const mmss = (seconds) => {
    const s = Math.max(0, Math.ceil(seconds));
    return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  };

  // --- quick exit ------------------------------------------------------------------------------
  const exitHooks = [];
  let leaving = false;

  /** Leave now: let the page say goodbye (a room starts a neutral pause), wipe storage and the
   *  page, then replace this history entry with the neutral site. */
  function quickExit() {
    if (leaving) return;
    leaving = true;
    for (const hook of exitHooks) { try { hook(); } catch { /* leaving matters more */ } }
    try { sessionStorage.clear(); } catch { /* storage may be disabled */ }
    document.title = "Weather";
    document.body.replaceChildren();
    // Give a frame queued by a hook a moment to leave the socket; never more than a blink.
    setTimeout(() => location.replace(exitUrl), 60);
  }

  function installQuickExit() {
    for (const button of document.querySelectorAll("[data-quick-exit]")) {
      button.addEventListener("click", quickExit);
    }
    let lastEscape = 0;
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      const now = Date.now();
      if (now - lastEscape < 1200) quickExit();
      lastEscape = now;
    });
  }

  // --- words for stages ------------------------------------------------------------------------
  const STAGE_LABELS = {
    intake: "Getting started",
    waiting: "Waiting for the other person",
    ready_check: "Ready check",
    joint: "Talking together",
    paused: "On a break",
    agreement: "Looking at agreements",
    closed: "Ended",
    held: "Paused for a check-in",
    separate: "Private support",
  };
  const stageLabel = (stage) => STAGE_LABELS[stage] || stage || "Connecting";

  document.addEventListener("DOMContentLoaded", installQuickExit);

  return {
    el, api, ApiError, socket, notify, creds, saveCreds, exitUrl, quickExit, exitHooks,
    serverNow, noteServerTime, clock, mmss, stageLabel,
  };
})();
