/* Start page (/) and invite page (/join/{code}): create or join a session, keep the token in this
 * tab only, and go to the room. Navigation uses location.replace so Back never returns to a form. */
"use strict";

(() => {
  const { api, saveCreds } = Accord;
  const $ = (id) => document.getElementById(id);
  const joinMatch = location.pathname.match(/^\/join\/([^/]+)\/?$/);

  function showError(node, err) {
    node.textContent = err.message || "Something went wrong. Please try again.";
    node.hidden = false;
  }

  function enter(creds) {
    saveCreds(creds);
    const where = creds.role === "facilitator" ? "facilitator" : "room";
    location.replace(`/${where}/${encodeURIComponent(creds.session_id)}`);
  }

  async function start(event) {
    event.preventDefault();
    const error = $("start-error");
    error.hidden = true;
    const name = $("start-name").value.trim();
    if (!name) {
      showError(error, { message: "Please write the name the other person will know you by." });
      $("start-name").focus();
      return;
    }
    const mode = new FormData($("start-form")).get("mode") || "couple";
    $("start-button").disabled = true;
    try {
      const created = await api("/v1/sessions", { method: "POST", body: { mode, name } });
      enter({ ...created, name, mode });
    } catch (err) {
      showError(error, err);
      $("start-button").disabled = false;
    }
  }

  async function join(event, code) {
    event.preventDefault();
    const error = $("join-error");
    error.hidden = true;
    const name = $("join-name").value.trim();
    if (!name) {
      showError(error, { message: "Please write the name the other person will know you by." });
      $("join-name").focus();
      return;
    }
    $("join-button").disabled = true;
    try {
      const joined = await api(`/v1/invites/${encodeURIComponent(code)}/accept`, { method: "POST", body: { name } });
      enter({ ...joined, name });
    } catch (err) {
      const message = err.code === "invite_used"
        ? "This invite link has already been used. Ask the person who sent it for a new session."
        : err.code === "unknown_invite" ? "This invite link is not valid. Check that it was copied whole." : err.message;
      showError(error, { message });
      $("join-button").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (joinMatch) {
      const code = decodeURIComponent(joinMatch[1]);
      $("start-form").hidden = true;
      $("join-form").hidden = false;
      $("title").textContent = "You have been invited to Accord";
      $("join-form").addEventListener("submit", (event) => join(event, code));
    } else {
      $("start-form").addEventListener("submit", start);
    }
  });
})();
