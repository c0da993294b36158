// Flows: the list, and a flow's page with its graph (SVG) and the
// timeline of its jobs.

import * as api from "./api.js";
import { badge, clear, debounced, duration, h, parseTime, s, shortId, table, time } from "./dom.js";

export async function list(ctx) {
  const { main } = ctx;
  main.append(h("h1", { tabindex: "-1" }, "Flows"));
  const holder = h("div", { class: "table-wrap" });
  main.append(holder);
  const load = async () => {
    const { flows } = await api.get("/v2/flows?limit=100&sort_by=-created_at");
    if (!ctx.current()) return;
    const rows = flows.map((f) =>
      h(
        "tr",
        { dataset: { id: f.id } },
        h("td", {}, h("a", { href: `#/flows/${f.id}` }, f.name)),
        h("td", {}, badge(f.status)),
        h("td", { class: "num" }, f.jobs.length),
        h(
          "td",
          {},
          f.jobs.map((j) => badge(j.state)),
        ),
        h("td", {}, time(f.created_at)),
        h("td", {}, time(f.end_time)),
      ),
    );
    clear(
      holder,
      table("Flows", ["Flow", "Status", "Jobs", "Job states", "Submitted", "Ended"], rows, { empty: "No flows yet." }),
    );
  };
  await load();
  // Any change of a flow or of a flow's job redraws the list (it is short).
  const reload = debounced(() => load().catch(() => {}), 200);
  const unfollow = ctx.events.follow((kind, obj) => {
    if (kind === "flow" || kind === "flow.deleted" || (kind === "job" && obj.flow_id)) reload();
  }, reload);
  return () => {
    unfollow();
    reload.cancel();
  };
}

const NODE_W = 170;
const NODE_H = 56;
const GAP_X = 70;
const GAP_Y = 24;

/// Columns by depth: a job sits one column right of its deepest producer.
function layout(jobs) {
  const byKey = new Map(jobs.map((j) => [j.key, j]));
  const depth = new Map();
  const visit = (key, trail = new Set()) => {
    if (depth.has(key)) return depth.get(key);
    if (trail.has(key)) return 0;
    trail.add(key);
    const producers = (byKey.get(key) || { depends_on: [] }).depends_on || [];
    const d = producers.length ? 1 + Math.max(...producers.map((p) => visit(p, trail))) : 0;
    depth.set(key, d);
    return d;
  };
  jobs.forEach((j) => visit(j.key));
  const columns = [];
  for (const j of jobs) {
    const d = depth.get(j.key);
    (columns[d] = columns[d] || []).push(j);
  }
  const pos = new Map();
  columns.forEach((col, x) =>
    col.forEach((j, y) => pos.set(j.key, { x: 20 + x * (NODE_W + GAP_X), y: 20 + y * (NODE_H + GAP_Y) })),
  );
  const width = 40 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X;
  const height = 40 + Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;
  return { pos, width, height };
}

function graph(flow, sourceNames) {
  const { pos, width, height } = layout(flow.jobs);
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-labelledby": "graph-title graph-desc",
    class: "graph",
    id: "flow-graph",
  });
  svg.append(
    s("title", { id: "graph-title" }, `Graph of flow ${flow.name}`),
    s(
      "desc",
      { id: "graph-desc" },
      flow.jobs.map((j) => `${j.key}: ${j.state}${j.reason ? ` (${j.reason})` : ""}`).join("; "),
    ),
    s(
      "defs",
      {},
      s(
        "marker",
        {
          id: "arrow",
          viewBox: "0 0 10 10",
          refX: "10",
          refY: "5",
          markerWidth: "8",
          markerHeight: "8",
          orient: "auto-start-reverse",
        },
        s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }),
      ),
    ),
  );
  for (const e of flow.edges || []) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    svg.append(
      s(
        "path",
        { d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`, class: "edge", "marker-end": "url(#arrow)" },
        s("title", {}, `${e.from} → ${e.to} via ${sourceNames.get(e.via) || e.via}`),
      ),
    );
  }
  for (const j of flow.jobs) {
    const p = pos.get(j.key);
    const state = String(j.state).toLowerCase();
    const node = s(
      "g",
      { class: `node s-${state}`, transform: `translate(${p.x} ${p.y})`, dataset: null },
      s("title", {}, `${j.key}: ${j.state}${j.reason ? `\n${j.reason}` : ""}`),
      s("rect", { width: NODE_W, height: NODE_H, rx: 8 }),
      s("text", { x: 10, y: 22, class: "key" }, j.key.length > 20 ? `${j.key.slice(0, 19)}…` : j.key),
      s("text", { x: 10, y: 42, class: "state" }, j.state),
    );
    node.setAttribute("data-key", j.key);
    node.setAttribute("data-state", j.state);
    svg.append(
      j.execution_id
        ? s("a", { href: `#/jobs/${j.execution_id}`, "aria-label": `${j.key}: ${j.state}, open its job` }, node)
        : node,
    );
  }
  return svg;
}

/// One bar per job that ran, on a shared time axis.
function timeline(flow) {
  const ran = flow.jobs.filter((j) => j.started_at);
  if (!ran.length) return h("p", { class: "muted" }, "No job has started yet.");
  const start = Math.min(...ran.map((j) => parseTime(j.started_at)));
  const end = Math.max(...ran.map((j) => (j.ended_at ? parseTime(j.ended_at) : new Date())));
  const span = Math.max(end - start, 1);
  const W = 640;
  const rowH = 26;
  const left = 150;
  const svg = s("svg", {
    viewBox: `0 0 ${left + W + 20} ${ran.length * rowH + 30}`,
    class: "gantt",
    role: "img",
    "aria-label": "Timeline of the flow's jobs",
  });
  ran.forEach((j, i) => {
    const a = parseTime(j.started_at) - start;
    const b = (j.ended_at ? parseTime(j.ended_at) : new Date()) - start;
    const x = left + (a / span) * W;
    const w = Math.max(2, ((b - a) / span) * W);
    svg.append(
      s("text", { x: 0, y: i * rowH + 18, class: "label" }, j.key),
      s(
        "rect",
        { x, y: i * rowH + 6, width: w, height: 16, rx: 3, class: `bar s-${String(j.state).toLowerCase()}` },
        s("title", {}, `${j.key}: ${j.state}, ${duration(j.started_at, j.ended_at)}`),
      ),
    );
  });
  svg.append(
    s("text", { x: left, y: ran.length * rowH + 22, class: "axis" }, "0s"),
    s(
      "text",
      { x: left + W, y: ran.length * rowH + 22, class: "axis", "text-anchor": "end" },
      `${Math.round(span / 1000)}s`,
    ),
  );
  return svg;
}

export async function page(ctx) {
  const { main } = ctx;
  const id = ctx.args[0];
  const [{ flow }, sources] = await Promise.all([api.get(`/v2/flows/${id}`), api.all("data-sources")]);
  if (!ctx.current()) return;
  const sourceNames = new Map(sources.map((d) => [d.id, d.name]));
  const heading = h("h1", { tabindex: "-1" });
  const actions = h("div", { class: "actions" });
  const message = h("p", { class: "form-error", role: "alert" });
  const graphBox = h("div", { class: "graph-wrap" });
  const jobsBox = h("div", { class: "table-wrap" });
  const timelineBox = h("div");
  let current = flow;

  const draw = (f) => {
    current = f;
    clear(heading, `Flow ${f.name} `, badge(f.status));
    clear(
      actions,
      h(
        "button",
        {
          type: "button",
          class: "danger",
          disabled: f.status !== "RUNNING",
          onclick: async () => {
            if (
              !(await ctx.confirm(
                `Cancel flow ${f.name}? Running jobs are killed, waiting ones skipped.`,
                "Cancel flow",
              ))
            )
              return;
            try {
              draw((await api.patch(`/v2/flows/${f.id}`, { info: { status: "cancel" } })).flow);
            } catch (e) {
              message.textContent = e.message;
            }
          },
        },
        "Cancel flow",
      ),
    );
    clear(graphBox, graph(f, sourceNames));
    clear(
      jobsBox,
      table(
        "Jobs of the flow",
        ["Job", "State", "Why", "Execution", "Started", "Ended"],
        f.jobs.map((j) =>
          h(
            "tr",
            { dataset: { key: j.key } },
            h("td", {}, j.key),
            h("td", {}, badge(j.state)),
            h("td", { class: "reason-cell" }, j.reason || "—"),
            h(
              "td",
              {},
              j.execution_id
                ? h(
                    "a",
                    { href: `#/jobs/${j.execution_id}`, class: "mono", "aria-label": `Job ${j.execution_id}` },
                    shortId(j.execution_id),
                  )
                : "—",
            ),
            h("td", {}, j.started_at ? j.started_at.replace("T", " ").slice(0, 23) : "—"),
            h("td", {}, j.ended_at ? j.ended_at.replace("T", " ").slice(0, 23) : "—"),
          ),
        ),
      ),
    );
    clear(timelineBox, timeline(f));
  };
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/flows" }, "Flows"), " / ", flow.name),
    heading,
    actions,
    message,
    h("section", { "aria-labelledby": "h-graph" }, h("h2", { id: "h-graph" }, "Graph"), graphBox),
    h("section", { "aria-labelledby": "h-jobs" }, h("h2", { id: "h-jobs" }, "Jobs"), jobsBox),
    h("section", { "aria-labelledby": "h-tl" }, h("h2", { id: "h-tl" }, "Timeline"), timelineBox),
  );
  draw(flow);

  const reload = debounced(async () => {
    try {
      const { flow: f } = await api.get(`/v2/flows/${id}`);
      if (ctx.current()) draw(f);
    } catch (_) {
      /* deleted meanwhile */
    }
  }, 150);
  const onChange = (kind, obj) => {
    if ((kind === "flow" && obj.id === id) || (kind === "job" && obj.flow_id === id)) reload();
    if (kind === "flow.deleted" && obj.id === id) {
      reload.cancel();
      clear(actions);
      message.textContent = "This flow was deleted. What is shown is its last state.";
    }
  };
  const unfollow = ctx.events.follow(onChange, reload);
  const timer = setInterval(() => {
    if (current.status === "RUNNING") clear(timelineBox, timeline(current));
  }, 1000);
  return () => {
    unfollow();
    reload.cancel();
    clearInterval(timer);
  };
}
