// teambot dashboard: the runs list and a run's page, kept live from the API's event stream.
"use strict";

const view = document.getElementById("view");
const conn = document.getElementById("conn");
let page = null; // the current page: { stop() }

function setConn(state) {
  conn.dataset.state = state;
  conn.textContent = state === "live" ? "live" : state === "reconnecting" ? "reconnecting…" : state;
}

// The server restarted with another token: only the URL it printed lets this browser in again.
function unauthorized() {
  setConn("unauthorized");
  conn.textContent = "token refused: open the URL `teambot serve` printed";
}

function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function tokens(usage) {
  return usage ? `${usage.prompt_tokens + usage.completion_tokens}` : "";
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

function since(iso) { // "12:41:03 (3 min ago)"
  return iso ? `${clock(iso)} (${duration(Math.max((Date.now() - Date.parse(iso)) / 1000, 0))} ago)` : "";
}

const WAITS_FOR = { awaiting_approval: "an approval", awaiting_review: "a review" };

function badge(status) {
  return el("span", { class: `badge status-${status}`, "data-status": status }, status);
}

function cell(row, content) {
  const td = el("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content ?? "";
  row.appendChild(td);
  return td;
}

// ---- the runs list -------------------------------------------------------------------------
function runsPage() {
  view.replaceChildren(document.getElementById("runs-template").content.cloneNode(true));
  const body = view.querySelector("#runs tbody");
  let stopped = false;
  async function refresh() {
    try {
      const runs = await api.get("/api/runs");
      if (stopped) return; // the page changed while we waited
      setConn("live");
      body.replaceChildren(...runs.map((r) => {
        const tr = el("tr", { "data-feature": r.feature });
        const link = el("a", { href: `#/run/${encodeURIComponent(r.feature)}` }, r.feature);
        cell(tr, link); cell(tr, badge(r.status));
        cell(tr, r.status === "unreadable" ? r.error : `${r.succeeded}/${r.total}`);
        cell(tr, r.created_at ? new Date(r.created_at).toLocaleString() : "");
        cell(tr, duration(r.elapsed_seconds)); cell(tr, tokens(r.usage));
        cell(tr, r.cost_usd === null ? "" : `$${r.cost_usd.toFixed(2)}`); cell(tr, r.owner_pid ? `pid ${r.owner_pid}` : "");
        return tr;
      }));
      view.querySelector("#runs-empty").hidden = runs.length > 0;
    } catch (err) {
      if (!stopped) setConn("reconnecting");
      if (err.status === 401) unauthorized();
    }
  }
  const form = view.querySelector("#start-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { objective: data.get("objective") };
    for (const key of ["feature", "runtime", "on_failure"]) if (data.get(key)) body[key] = data.get(key);
    if (data.get("max_concurrency")) body.max_concurrency = Number(data.get("max_concurrency"));
    const skip = String(data.get("skip") || "").split(",").map((s) => s.trim()).filter(Boolean);
    if (skip.length) body.skip = skip;
    const error = view.querySelector("#start-error");
    error.textContent = "starting…";
    try {
      const started = await api.post("/api/runs", body);
      location.hash = `#/run/${encodeURIComponent(started.feature)}`;
    } catch (err) {
      error.textContent = err.message;
    }
  });
  refresh();
  const timer = setInterval(refresh, 2000);
  return { stop() { stopped = true; clearInterval(timer); } };
}

// ---- a run's page --------------------------------------------------------------------------
function runPage(feature) {
  view.replaceChildren(document.getElementById("run-template").content.cloneNode(true));
  const base = `/api/runs/${encodeURIComponent(feature)}`;
  const $ = (sel) => view.querySelector(sel);
  const state = { status: null, graph: null, selected: null, tab: "log", logStream: null, pending: null,
    decision: null, decisionKey: null };
  $("#run-name").textContent = feature;

  async function refresh() {
    try {
      const [status, graph] = await Promise.all([api.get(base), api.get(`${base}/graph`)]);
      state.status = status; state.graph = graph;
      render();
    } catch (err) {
      if (err.status === 404) $("#run-notes").replaceChildren(el("li", { class: "error" }, err.message));
      if (err.status === 401) unauthorized();
    }
  }
  function soon() { // many events arrive together: one refresh for them
    if (state.pending) return;
    state.pending = setTimeout(() => { state.pending = null; refresh(); }, 150);
  }
  function select(stage) {
    if (stage !== state.selected) $("#decision-comment").value = "";
    state.selected = stage;
    render();
    showTab(state.tab);
  }
  function render() {
    const s = state.status;
    const head = $("#run-status");
    head.replaceWith(Object.assign(badge(s.status), { id: "run-status" }));
    const done = s.stages.filter((x) => x.status === "succeeded").length;
    // elapsed_seconds is committed when a process ends: add the current process's time while it runs
    const live = s.status === "running" && s.owner ? Math.max((Date.now() - Date.parse(s.owner.since)) / 1000, 0) : 0;
    $("#run-facts").textContent = `${done}/${s.stages.length} stages · ${duration(s.elapsed_seconds + live)} · runtime ${s.runtime}` +
      ` · tokens ${tokens(s.usage)}${s.owner && s.status === "running" ? ` · pid ${s.owner.pid}` : ""}`;
    const waiting = s.stages.filter((x) => WAITS_FOR[x.status]).map((x) => el("li", { class: "waiting", "data-stage": x.name },
      `${x.name} waits for ${WAITS_FOR[x.status]} since ${since(x.waiting_since)}: select it to decide`));
    $("#run-notes").replaceChildren(...waiting, ...[s.error, ...s.notes].filter(Boolean).map((n) => el("li", {}, n)));
    const running = s.status === "running";
    $("#btn-cancel").disabled = !running;
    $("#btn-resume").disabled = running || (s.status === "completed" && s.stale.length === 0);
    drawDag($("#dag"), state.graph, state.selected, select);
    drawTimeline($("#timeline"), s, state.selected, select);
    renderTable(s, running);
    renderAcceptance(s);
    const sel = s.stages.find((x) => x.name === state.selected);
    const key = sel ? `${sel.name}:${sel.status}:${sel.attempts}:${sel.iterations.length}:${sel.decisions.length}` : null;
    if (key !== state.decisionKey) { state.decisionKey = key; loadDecision(); }
  }
  function renderTable(s, running) {
    $("#stages tbody").replaceChildren(...s.stages.map((st) => {
      const tr = el("tr", { "data-stage": st.name, class: st.name === state.selected ? "selected" : "" });
      const name = el("button", { type: "button", class: "link" }, st.name);
      name.addEventListener("click", () => select(st.name));
      cell(tr, name);
      const status = cell(tr, badge(st.status));
      if (WAITS_FOR[st.status]) status.appendChild(el("span", { class: "since muted" }, `since ${clock(st.waiting_since)}`));
      cell(tr, st.agent || "-"); cell(tr, String(st.attempts));
      const took = st.started_at ? ((st.finished_at ? Date.parse(st.finished_at) : Date.now()) - Date.parse(st.started_at)) / 1000 : null;
      cell(tr, st.status === "pending" ? "" : duration(took)); cell(tr, tokens(st.usage));
      const actions = cell(tr, "");
      const rerun = el("button", { type: "button", class: "small", "data-action": "rerun" }, "Rerun");
      rerun.disabled = running || st.status === "pending" || st.status === "running";
      rerun.addEventListener("click", () => act(`${base}/stages/${encodeURIComponent(st.name)}/rerun`, `rerun ${st.name}`));
      const unblock = el("button", { type: "button", class: "small", "data-action": "unblock" }, "Unblock");
      unblock.disabled = running || st.status !== "blocked" || st.blocked_by === "acceptance_gate";
      unblock.addEventListener("click", () => act(`${base}/stages/${encodeURIComponent(st.name)}/unblock`, `unblock ${st.name}`));
      actions.append(rerun, unblock);
      if (WAITS_FOR[st.status]) {
        const decide = el("button", { type: "button", class: "small approve", "data-action": "decide" }, "Decide");
        decide.addEventListener("click", () => { select(st.name); $("#decision").scrollIntoView({ block: "center" }); });
        actions.append(decide);
      }
      return [tr, ...st.children.map(childRow)];
    }).flat());
  }
  function childRow(ch) { // a task of a task stage: its own status, agent and attempts
    const tr = el("tr", { "data-child": ch.id, class: "child" });
    cell(tr, `↳ ${ch.name}`); cell(tr, badge(ch.status)); cell(tr, ch.agent || "-"); cell(tr, String(ch.attempts));
    const took = ch.started_at ? ((ch.finished_at ? Date.parse(ch.finished_at) : Date.now()) - Date.parse(ch.started_at)) / 1000 : null;
    cell(tr, ch.status === "pending" ? "" : duration(took)); cell(tr, tokens(ch.usage));
    cell(tr, ch.merge_commit ? `merged ${ch.merge_commit.slice(0, 10)}` : (ch.error || ""));
    return tr;
  }
  function renderAcceptance(s) {
    const items = [];
    for (const st of s.stages) {
      for (const it of st.iterations) {
        if (it.test) items.push(el("li", { class: it.test.passed ? "pass" : "fail" },
          `${st.name} iteration ${it.number}: ${it.test.passed ? "passed" : "failed"} — ${it.test.summary}`));
      }
    }
    $("#acceptance-section").hidden = items.length === 0;
    $("#acceptance").replaceChildren(...items);
  }
  async function act(url, what) {
    const msg = $("#action-msg");
    msg.textContent = `${what}…`;
    try {
      const result = await api.post(url);
      msg.textContent = `${what}: done${result.targets ? " (" + result.targets.join(", ") + ")" : ""}`;
    } catch (err) {
      msg.textContent = `${what}: ${err.message}`;
    }
    refresh();
  }
  const decision = decisionPanel($, base, state, refresh);
  function loadDecision() { decision.load(); }

  $("#btn-resume").addEventListener("click", () => act(`${base}/resume`, "resume"));
  $("#btn-cancel").addEventListener("click", () => act(`${base}/cancel`, "cancel"));

  // ---- the selected stage's tabs
  for (const button of view.querySelectorAll("#tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  function showTab(tab) {
    state.tab = tab;
    if (state.logStream) { state.logStream.close(); state.logStream = null; }
    const detail = $("#detail");
    detail.hidden = !state.selected;
    if (!state.selected) return;
    $("#detail-name").textContent = state.selected;
    for (const b of view.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
    const body = $("#tab-body");
    const stageUrl = `${base}/stages/${encodeURIComponent(state.selected)}`;
    if (tab === "log") {
      const pre = el("pre", { id: "log", class: "log" });
      body.replaceChildren(pre);
      state.logStream = new Stream(`${stageUrl}/log`, (msg) => {
        if (msg.reset) pre.textContent = "";
        pre.textContent += msg.text;
        pre.scrollTop = pre.scrollHeight;
      });
      pre.dataset.empty = "waiting for the log…";
    } else if (tab === "output") {
      api.get(`${stageUrl}/output?format=html`).then((r) => {
        const art = el("article", { class: "markdown", id: "output" });
        art.innerHTML = r.html; // rendered by the server with raw HTML disabled
        body.replaceChildren(art);
      }, (err) => body.replaceChildren(el("p", { class: "muted" }, err.message)));
    } else if (tab === "prompt") {
      api.text(`${stageUrl}/prompt`).then((t) => body.replaceChildren(el("pre", { class: "log" }, t)),
        (err) => body.replaceChildren(el("p", { class: "muted" }, err.message)));
    } else {
      api.get(`${stageUrl}/iterations`).then((r) => body.replaceChildren(iterationsView(r)),
        (err) => body.replaceChildren(el("p", { class: "muted" }, err.message)));
    }
  }

  // ---- artifacts
  async function loadArtifacts() {
    try {
      const files = await api.get(`${base}/artifacts`);
      $("#artifact-list").replaceChildren(...files.map((f) => {
        const li = el("li");
        const a = el("button", { type: "button", class: "link", "data-path": f.path }, f.path);
        a.addEventListener("click", async () => {
          const r = await api.get(`${base}/artifacts/${f.path.split("/").map(encodeURIComponent).join("/")}?format=html`);
          const view = $("#artifact-view");
          view.innerHTML = r.html; // rendered by the server with raw HTML disabled
          view.dataset.path = f.path;
        });
        li.appendChild(a);
        return li;
      }));
    } catch (_) { /* shown on the next event */ }
  }

  // ---- live: every event refreshes the page once (debounced) and is listed
  const eventsList = $("#events");
  const stream = new Stream(`${base}/events`, (ev) => {
    setConn("live"); // a message arrived: whatever failed before, the stream works now
    if (ev.type) {
      const text = `${new Date(ev.ts * 1000).toLocaleTimeString()} ${ev.type}${ev.stage ? " " + ev.stage : ""}`;
      eventsList.prepend(el("li", { "data-id": ev.id }, text));
      while (eventsList.children.length > 200) eventsList.lastChild.remove();
      if (ev.type.endsWith("succeeded") || ev.type.startsWith("run_")) loadArtifacts();
    }
    soon();
  }, (s) => { setConn(s); if (s === "live") soon(); });
  const timer = setInterval(refresh, 3000); // a process that died says nothing: look now and then
  refresh();
  loadArtifacts();
  return { stop() { stream.close(); clearInterval(timer); if (state.logStream) state.logStream.close(); } };
}

function iterationsView(r) {
  if (!r.iterations.length) return el("p", { class: "muted" }, "No review or acceptance iterations.");
  const list = el("ol", { class: "iterations" });
  r.iterations.forEach((it, i) => {
    const li = el("li", { "data-number": it.number });
    const verdict = it.test ? (it.test.passed ? "tests passed" : `tests failed: ${it.test.summary}`) : (it.verdict || "in progress");
    li.appendChild(el("strong", {}, `Iteration ${it.number}${i === r.budget_start && i ? " (new budget)" : ""}: ${verdict}`));
    if (it.verdict_note) li.appendChild(el("p", { class: "muted" }, it.verdict_note));
    for (const [label, step] of [["work", it.work], ["review", it.review], ["test output", it.test && it.test.output]]) {
      if (!step) continue;
      const d = el("details");
      d.appendChild(el("summary", {}, label));
      d.appendChild(el("pre", { class: "log" }, r.texts[step.file] || "(not available)"));
      li.appendChild(d);
    }
    if (it.feedback) {
      const d = el("details");
      d.appendChild(el("summary", {}, "feedback"));
      d.appendChild(el("pre", { class: "log" }, it.feedback));
      li.appendChild(d);
    }
    list.appendChild(li);
  });
  return list;
}

function route() {
  if (page) page.stop();
  const match = location.hash.match(/^#\/run\/(.+)$/);
  page = match ? runPage(decodeURIComponent(match[1])) : runsPage();
}

window.addEventListener("hashchange", route);
api.get("/api/info").then((info) => { document.getElementById("project").textContent = info.project_dir; }, () => {});
route();
