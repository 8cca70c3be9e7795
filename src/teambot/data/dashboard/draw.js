// teambot dashboard: the stage DAG (SVG, layered by depth) and the timeline (a swimlane per agent).
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Columns by depth (longest chain of dependencies), rows in stage order within a column.
function drawDag(box, graph, selected, onSelect) {
  const W = 150, H = 34, GX = 46, GY = 16, PAD = 8;
  const columns = new Map();
  for (const node of graph.nodes) {
    if (!columns.has(node.depth)) columns.set(node.depth, []);
    columns.get(node.depth).push(node);
  }
  const pos = new Map();
  let rows = 1;
  for (const [depth, nodes] of columns) {
    rows = Math.max(rows, nodes.length);
    nodes.forEach((n, i) => pos.set(n.name, { x: PAD + depth * (W + GX), y: PAD + i * (H + GY) }));
  }
  const width = PAD * 2 + columns.size * (W + GX) - GX;
  const height = PAD * 2 + rows * (H + GY) - GY;
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "stage graph" });
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" });
  marker.appendChild(svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const [from, to] of graph.edges) {
    const a = pos.get(from), b = pos.get(to);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    svg.appendChild(svgEl("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const node of graph.nodes) {
    const p = pos.get(node.name);
    const g = svgEl("g", { class: `node status-${node.status}${node.name === selected ? " selected" : ""}`,
      "data-stage": node.name, "data-status": node.status, transform: `translate(${p.x},${p.y})`, tabindex: "0" });
    g.appendChild(svgEl("rect", { width: W, height: H, rx: 6 }));
    g.appendChild(svgEl("text", { x: 8, y: 14, class: "name" }, node.name.length > 19 ? node.name.slice(0, 18) + "…" : node.name));
    g.appendChild(svgEl("text", { x: 8, y: 28, class: "sub" }, `${node.agent || "-"} · ${node.status}`));
    g.appendChild(svgEl("title", {}, `${node.name} (${node.status})${node.group ? ", group " + node.group : ""}`));
    g.addEventListener("click", () => onSelect(node.name));
    svg.appendChild(g);
  }
  box.replaceChildren(svg);
}

function seconds(iso) { return iso ? Date.parse(iso) / 1000 : null; }

// One lane per agent; a bar per stage from its start to its end (or now, while it runs).
function drawTimeline(box, status, selected, onSelect) {
  const now = Date.now() / 1000;
  const spans = status.stages.filter((s) => s.started_at).map((s) => ({
    stage: s.name, status: s.status, agent: s.agent || "teambot", // no agent: a command stage teambot runs
    start: seconds(s.started_at),
    end: s.status === "running" ? now : (seconds(s.finished_at) || seconds(s.started_at)),
  }));
  if (!spans.length) {
    box.replaceChildren(el("p", { class: "muted" }, "Nothing has started yet."));
    return;
  }
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(now > t0 && status.status === "running" ? now : 0, ...spans.map((s) => s.end), t0 + 1);
  const lanes = [...new Set(spans.map((s) => s.agent))].sort();
  const wrap = el("div", { class: "lanes" });
  for (const agent of lanes) {
    const lane = el("div", { class: "lane", "data-agent": agent });
    lane.appendChild(el("div", { class: "lane-name" }, agent));
    const track = el("div", { class: "track" });
    for (const s of spans.filter((x) => x.agent === agent)) {
      const left = ((s.start - t0) / (t1 - t0)) * 100;
      const width = Math.max(((s.end - s.start) / (t1 - t0)) * 100, 0.6);
      const bar = el("div", { class: `bar status-${s.status}${s.stage === selected ? " selected" : ""}`, "data-stage": s.stage,
        "data-status": s.status,
        title: `${s.stage}: ${s.status}, ${(s.end - s.start).toFixed(1)} s` }, s.stage);
      bar.style.left = `${left.toFixed(3)}%`; // through the CSSOM: the page's CSP allows no style attributes
      bar.style.width = `${width.toFixed(3)}%`;
      bar.addEventListener("click", () => onSelect(s.stage));
      track.appendChild(bar);
    }
    lane.appendChild(track);
    wrap.appendChild(lane);
  }
  wrap.appendChild(el("div", { class: "scale muted" }, `0 s … ${(t1 - t0).toFixed(1)} s`));
  box.replaceChildren(wrap);
}
