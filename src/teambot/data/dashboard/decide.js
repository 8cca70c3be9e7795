// teambot dashboard: a person's decision on the selected stage (awaiting_approval: Approve / Reject with a
// comment; awaiting_review: Approve / Request changes), what to read first, and the stage's past decisions.
"use strict";

// `$` finds in the run page, `state` is the run page's (selected stage, last status), `refresh` re-reads the run.
function decisionPanel($, base, state, refresh) {
  async function loadDecision() {
    const stage = state.selected;
    if (!stage) { $("#decision").hidden = true; return; }
    try {
      const d = await api.get(`${base}/stages/${encodeURIComponent(stage)}/decision`);
      if (stage === state.selected) renderDecision(d);
    } catch (_) {
      if (stage === state.selected) $("#decision").hidden = true;
    }
  }
  function renderDecision(d) {
    state.decision = d;
    const panel = $("#decision");
    const review = d.status === "awaiting_review";
    panel.hidden = !(d.accepts.length || d.pending || d.decisions.length);
    panel.dataset.status = d.status;
    let head = "Decisions";
    if (d.accepts.length) head = `Waits for ${review ? "your review" : "your approval"} since ${since(d.waiting_since)}`;
    else if (d.pending) {
      head = `${d.pending.action.replace("_", " ")} by ${d.pending.by} at ${clock(d.pending.at)}: not applied yet ` +
        (state.status && state.status.status === "running" ? "(the live run picks it up)" : "(Resume applies it)");
    }
    $("#decision-head").textContent = head;
    $("#decision-form").hidden = !d.accepts.length;
    $("#btn-reject").textContent = review ? "Request changes" : "Reject";
    $("#decision-label").textContent = review ? "Changes to request (or a note with Approve)" : "Comment (required to reject; a note with Approve)";
    $("#decision-files").replaceChildren(...d.files.map((f) => {
      const li = el("li");
      const open = el("button", { type: "button", class: "link", "data-path": f.path }, `${f.path} (${f.kind.replace("_", " ")})`);
      open.addEventListener("click", async () => {
        const view = $("#decision-view");
        try {
          const r = await api.get(`${base}/files/${f.path.split("/").map(encodeURIComponent).join("/")}?format=html`);
          view.innerHTML = r.html; // rendered by the server with raw HTML disabled
          view.dataset.path = f.path;
        } catch (err) {
          view.textContent = err.message;
        }
        view.hidden = false;
      });
      li.appendChild(open);
      return li;
    }));
    if (!d.files.length) $("#decision-view").hidden = true;
    $("#decision-history").replaceChildren(...d.decisions.map((x) => el("li", {},
      `${x.action.replace("_", " ")} by ${x.by} at ${clock(x.at)}${x.comment ? ": " + x.comment : ""}`)));
  }
  async function decide(yes) {
    const d = state.decision;
    const msg = $("#decision-msg");
    const text = $("#decision-comment").value.trim();
    const review = d.status === "awaiting_review";
    const stageUrl = `${base}/stages/${encodeURIComponent(d.stage)}`;
    if (!yes && !text) {
      msg.textContent = review ? "say which changes you request" : "a rejection needs a comment: the stage's agent is given it";
      $("#decision-comment").focus();
      return;
    }
    // resume: when no process drives the run, the server starts `teambot resume` to apply the decision
    let url = `${stageUrl}/${yes ? "approve" : "reject"}`, body = { resume: true };
    if (review) {
      url = `${stageUrl}/review`;
      body = yes ? { approve: true, resume: true } : { request_changes: text, resume: true };
    }
    if (text && !(review && !yes)) body.comment = text;
    const what = yes ? "approve" : review ? "request changes" : "reject";
    msg.textContent = `${what}…`;
    for (const b of [$("#btn-approve"), $("#btn-reject")]) b.disabled = true;
    try {
      const r = await api.post(url, body);
      msg.textContent = `${what}: recorded by ${r.by}; ${r.next}`;
      $("#decision-comment").value = "";
    } catch (err) {
      msg.textContent = `${what}: ${err.message}`;
    }
    for (const b of [$("#btn-approve"), $("#btn-reject")]) b.disabled = false;
    state.decisionKey = null;
    refresh();
  }
  $("#btn-approve").addEventListener("click", () => decide(true));
  $("#btn-reject").addEventListener("click", () => decide(false));
  $("#decision-form").addEventListener("submit", (e) => e.preventDefault());
  return { load: loadDecision };
}
