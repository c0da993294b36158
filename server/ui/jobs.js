// Jobs: the live list, a job's page (status, timeline, log, dry run,
// result, actions) and the launch form.

import * as api from "./api.js";
import {
  STATUSES,
  TERMINAL,
  badge,
  clear,
  clearErrors,
  debounced,
  duration,
  errorBox,
  field,
  h,
  pre,
  select,
  setFieldError,
  shortId,
  table,
  time,
} from "./dom.js";

const PAGE = 25;
const FILTERS = ["status", "cluster_id", "job_template_id", "engine", "flow_id"];

function matches(job, filters) {
  if (filters.status && !filters.status.split(",").includes(job.status)) return false;
  for (const key of ["cluster_id", "job_template_id", "engine", "flow_id"]) {
    if (filters[key] && job[key] !== filters[key]) return false;
  }
  return true;
}

function jobRow(job, names) {
  return h(
    "tr",
    { dataset: { id: job.id, status: job.status } },
    h("td", {}, h("a", { href: `#/jobs/${job.id}`, class: "mono", "aria-label": `Job ${job.id}` }, shortId(job.id))),
    h("td", {}, names.templates.get(job.job_template_id) || shortId(job.job_template_id)),
    h("td", {}, names.clusters.get(job.cluster_id) || shortId(job.cluster_id)),
    h("td", { class: "status" }, badge(job.status)),
    h("td", { class: "num" }, job.return_code ?? "—"),
    h("td", {}, time(job.start_time)),
    h("td", {}, time(job.end_time)),
    h(
      "td",
      { class: "num duration", dataset: { start: job.start_time || "", end: job.end_time || "" } },
      job.start_time ? duration(job.start_time, job.end_time) : "—",
    ),
  );
}

/// Keeps the durations of running jobs ticking.
function ticker(root) {
  const timer = setInterval(() => {
    for (const cell of root.querySelectorAll(".duration[data-start]:not([data-end])")) {
      if (cell.dataset.start && !cell.dataset.end) cell.textContent = duration(cell.dataset.start, null);
    }
  }, 1000);
  return () => clearInterval(timer);
}

export async function list(ctx) {
  const { main, params, names } = ctx;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) || ""]));
  const marker = params.get("marker") || "";
  const [engines] = await Promise.all([api.get("/v2/engines"), names.load()]);
  if (!ctx.current()) return;

  const form = h("form", { class: "filters", "aria-label": "Filter jobs" });
  const statusSelect = select(
    "status",
    STATUSES.map((s) => ({ value: s, label: s })),
    { value: filters.status, empty: "any" },
  );
  const clusterSelect = select(
    "cluster_id",
    [...names.clusters].map(([id, name]) => ({ value: id, label: name })),
    { value: filters.cluster_id, empty: "any" },
  );
  const templateSelect = select(
    "job_template_id",
    [...names.templates].map(([id, name]) => ({ value: id, label: name })),
    { value: filters.job_template_id, empty: "any" },
  );
  const engineSelect = select(
    "engine",
    engines.engines.map((e) => ({ value: e.id, label: e.id })),
    { value: filters.engine, empty: "any" },
  );
  const flowInput = h("input", { name: "flow_id", value: filters.flow_id, placeholder: "flow id", size: 12 });
  form.append(
    field("Status", statusSelect),
    field("Cluster", clusterSelect),
    field("Template", templateSelect),
    field("Engine", engineSelect),
    field("Flow", flowInput),
    h("div", { class: "field" }, h("button", { type: "submit", class: "secondary" }, "Filter")),
  );
  const apply = (e) => {
    if (e) e.preventDefault();
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    ctx.navigate(`/jobs${q.toString() ? `?${q}` : ""}`);
  };
  form.addEventListener("submit", apply);
  for (const s of [statusSelect, clusterSelect, templateSelect, engineSelect]) s.addEventListener("change", apply);

  const tbodyHolder = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of jobs" });
  main.append(
    h(
      "div",
      { class: "title" },
      h("h1", { tabindex: "-1" }, "Jobs"),
      h("a", { class: "button", href: "#/launch" }, "Launch a job"),
    ),
    form,
    tbodyHolder,
    pager,
  );

  let tbody = null;
  const load = async () => {
    const q = new URLSearchParams({ limit: String(PAGE), sort_by: "-created_at" });
    for (const k of FILTERS) if (filters[k]) q.set(k, filters[k]);
    if (marker) q.set("marker", marker);
    const page = await api.get(`/v2/jobs?${q}`);
    if (!ctx.current()) return;
    for (const job of page.jobs) await names.ensure(job.job_template_id, job.cluster_id);
    const t = table(
      "Jobs",
      ["Job", "Template", "Cluster", "Status", "Return code", "Started", "Ended", "Duration"],
      page.jobs.map((j) => jobRow(j, names)),
      { empty: "No jobs match." },
    );
    t.id = "jobs-table";
    clear(tbodyHolder, t);
    tbody = t.tBodies[0];
    const base = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) base.set(k, filters[k]);
    const link = (m, label, rel) => {
      const q = new URLSearchParams(base);
      if (m) q.set("marker", m);
      return h("a", { href: `#/jobs${q.toString() ? `?${q}` : ""}`, rel }, label);
    };
    const markers = page.markers || {};
    clear(
      pager,
      marker ? link(markers.prev, "← Newer", "prev") : null,
      markers.next ? link(markers.next, "Older →", "next") : null,
    );
  };
  await load();
  // One load for a burst of changes (a retention purge deletes a hundred
  // jobs at once), 200 ms after the last.
  const reload = debounced(() => load().catch(() => {}), 200);

  const onJob = async (kind, job) => {
    if (!tbody) return;
    if (kind === "job.deleted") {
      const gone = tbody.querySelector(`tr[data-id="${job.id}"]`);
      if (!gone) return;
      gone.remove();
      // The page refills from the next one (or says none match).
      reload();
      return;
    }
    if (kind !== "job") return;
    const existing = tbody.querySelector(`tr[data-id="${job.id}"]`);
    if (!existing && (marker || !matches(job, filters))) return;
    await names.ensure(job.job_template_id, job.cluster_id);
    const row = jobRow(job, names);
    if (existing) {
      existing.replaceWith(row);
      return;
    }
    const empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    tbody.prepend(row);
    while (tbody.rows.length > PAGE) tbody.rows[tbody.rows.length - 1].remove();
  };
  const unfollow = ctx.events.follow(onJob, reload);
  const stopTicker = ticker(main);
  return () => {
    unfollow();
    stopTicker();
    reload.cancel();
  };
}

// ---------------------------------------------------------------------------
// A job's page.

function actionsFor(job, engine) {
  const canSuspend = Boolean(engine && engine.capabilities && engine.capabilities.suspend);
  const active = !TERMINAL.includes(job.status) && job.status !== "TOBEKILLED";
  return {
    cancel: active,
    suspend: canSuspend && job.status === "RUNNING",
    resume: canSuspend && job.status === "SUSPENDED",
  };
}

function progress(info) {
  const stages = info && info.progress && info.progress.stages;
  if (!Array.isArray(stages) || !stages.length) return null;
  return h(
    "div",
    { class: "progress" },
    stages.map((stage, i) => {
      const id = `stage-${i}`;
      return h(
        "div",
        { class: "stage" },
        h("label", { for: id }, `${stage.name}: ${stage.done}/${stage.total}`),
        h("progress", { id, max: String(Math.max(stage.total, 1)), value: String(stage.done) }),
      );
    }),
  );
}

function timeline(job, seen) {
  const steps = [["Created", job.created_at, null]];
  if (job.start_time) steps.push(["Started", job.start_time, null]);
  // The final status is the end's; what was seen live before it, in order.
  for (const [status, at] of seen) if (!TERMINAL.includes(status)) steps.push([`Became ${status}`, null, at]);
  if (job.end_time) steps.push([`Ended ${job.status}`, job.end_time, null]);
  return h(
    "ol",
    { class: "timeline", "aria-label": "Timeline" },
    steps.map(([what, t, local]) =>
      h(
        "li",
        {},
        h("span", { class: "what" }, what),
        " ",
        t
          ? time(t)
          : h("span", { class: "muted" }, `${local.toISOString().replace("T", " ").slice(0, 19)} (seen live)`),
      ),
    ),
  );
}

/// `a\tb` lines as a table, when every line has the same number of tabs.
function tsvTable(text) {
  const lines = text.split("\n").filter((l) => l.length);
  if (!lines.length || !lines[0].includes("\t")) return null;
  const width = lines[0].split("\t").length;
  if (!lines.every((l) => l.split("\t").length === width)) return null;
  return h(
    "table",
    { class: "tsv" },
    h("caption", { class: "visually-hidden" }, "Result as a table"),
    h(
      "tbody",
      {},
      lines.slice(0, 500).map((l) =>
        h(
          "tr",
          {},
          l.split("\t").map((c) => h("td", {}, c)),
        ),
      ),
    ),
  );
}

export async function page(ctx) {
  const { main, names } = ctx;
  const id = ctx.args[0];
  let { job } = await api.get(`/v2/jobs/${id}`);
  const [{ engines }] = await Promise.all([api.get("/v2/engines"), names.ensure(job.job_template_id, job.cluster_id)]);
  if (!ctx.current()) return;
  const engine = engines.find((e) => e.id === job.engine);
  const seen = [];
  const stops = [];

  const heading = h("h1", { tabindex: "-1" }, `Job ${shortId(job.id)} `, badge(job.status));
  const reasonBox = h("div", { id: "reason" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Job actions" });
  const details = h("dl", { class: "details" });
  const progressBox = h("div");
  const timelineBox = h("div");
  const infoBox = h("div");
  const message = h("p", { class: "form-error", role: "alert" });

  const act = async (verb, label, question) => {
    if (!(await ctx.confirm(question, label))) return;
    message.textContent = "";
    try {
      const answer = await api.patch(`/v2/jobs/${job.id}`, { info: { status: verb } });
      update(answer.job);
    } catch (e) {
      message.textContent = e.message;
    }
  };

  const update = (next) => {
    // A load and the event stream can cross (a load answered after a newer
    // event): the newer state stays. A finished job never runs again (a
    // failed attempt that is retried goes straight back to PENDING).
    const older =
      Date.parse(next.updated_at) < Date.parse(job.updated_at) ||
      (TERMINAL.includes(job.status) && !TERMINAL.includes(next.status));
    if (older) return;
    if (next.status !== job.status) seen.push([next.status, new Date()]);
    job = next;
    clear(heading, `Job ${shortId(job.id)} `, badge(job.status));
    const reason = job.info && job.info.reason;
    clear(
      reasonBox,
      reason
        ? h(
            "div",
            { class: `reason ${job.status === "SUCCEEDED" ? "" : "bad"}`, role: "note" },
            h("strong", {}, "Reason: "),
            String(reason),
          )
        : null,
    );
    const can = actionsFor(job, engine);
    clear(
      actions,
      h(
        "button",
        {
          type: "button",
          class: "danger",
          disabled: !can.cancel,
          onclick: () => act("cancel", "Cancel job", `Cancel job ${shortId(job.id)}? The engine is asked to kill it.`),
        },
        "Cancel",
      ),
      engine && engine.capabilities.suspend
        ? [
            h(
              "button",
              {
                type: "button",
                class: "secondary",
                disabled: !can.suspend,
                onclick: () => act("suspend", "Suspend job", `Suspend job ${shortId(job.id)}?`),
              },
              "Suspend",
            ),
            h(
              "button",
              {
                type: "button",
                class: "secondary",
                disabled: !can.resume,
                onclick: () => act("resume", "Resume job", `Resume job ${shortId(job.id)}?`),
              },
              "Resume",
            ),
          ]
        : null,
    );
    const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
    clear(
      details,
      row("Id", h("span", { class: "mono" }, job.id)),
      row("Template", names.templates.get(job.job_template_id) || job.job_template_id),
      row("Cluster", names.clusters.get(job.cluster_id) || job.cluster_id),
      row("Engine", job.engine),
      row("Engine job id", job.engine_job_id ? h("span", { class: "mono" }, job.engine_job_id) : "—"),
      row("Return code", job.return_code ?? "—"),
      row("Started", time(job.start_time)),
      row("Ended", time(job.end_time)),
      row("Duration", job.start_time ? duration(job.start_time, job.end_time) : "—"),
      job.flow_id ? row("Flow", h("a", { href: `#/flows/${job.flow_id}` }, shortId(job.flow_id))) : null,
    );
    clear(progressBox, progress(job.info));
    clear(timelineBox, timeline(job, seen));
    clear(infoBox, pre(job.info));
    if (TERMINAL.includes(job.status)) showResult();
  };

  // --- the log, followed while the job runs -------------------------------
  const logBox = h("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "Log" });
  const streamSelect = select(
    "stream",
    [
      { value: "stdout", label: "stdout" },
      { value: "stderr", label: "stderr" },
    ],
    { value: "stdout" },
  );
  const logState = h("span", { class: "muted", role: "status" });
  let follow = null;
  const startLog = async () => {
    if (follow) follow.abort();
    const controller = new AbortController();
    follow = controller;
    logBox.textContent = "";
    logState.textContent = "following…";
    const stream = streamSelect.value;
    try {
      const headers = { Accept: "text/event-stream" };
      if (api.token()) headers["X-Auth-Token"] = api.token();
      const response = await fetch(`/v2/jobs/${job.id}/logs?follow=true&stream=${encodeURIComponent(stream)}`, {
        headers,
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      await api.readEvents(response, (e) => {
        if (e.event === "log") {
          logBox.append(document.createTextNode(e.data.data));
          if (logBox.textContent.length > 2_000_000) logBox.textContent = logBox.textContent.slice(-1_000_000);
          logBox.scrollTop = logBox.scrollHeight;
        } else if (e.event === "end") {
          logState.textContent = `complete (${e.data.status})`;
        } else if (e.event === "error") {
          logState.textContent = e.data.error_message;
        }
      });
    } catch (e) {
      if (!controller.signal.aborted) logState.textContent = `the log could not be read: ${e.message}`;
    }
  };
  streamSelect.addEventListener("change", startLog);
  stops.push(() => follow && follow.abort());

  // --- what the engine runs -------------------------------------------------
  const dryBox = h("div");
  const dry = h("details", { id: "dry-run" }, h("summary", {}, "What the engine runs (dry run)"), dryBox);
  dry.addEventListener("toggle", async () => {
    if (!dry.open || dryBox.dataset.loaded) return;
    dryBox.dataset.loaded = "1";
    clear(dryBox, h("p", { class: "muted" }, "asking the engine…"));
    const body = {
      job_template_id: job.job_template_id,
      cluster_id: job.cluster_id,
      job_configs: {
        configs: job.job_configs.configs || {},
        params: job.job_configs.params || {},
        args: job.job_configs.args || [],
      },
    };
    if (job.input_id) body.input_id = job.input_id;
    if (job.output_id) body.output_id = job.output_id;
    if (job.interface && Object.keys(job.interface).length) body.interface = job.interface;
    try {
      const { dry_run } = await api.post("/v2/jobs/dry-run", body);
      clear(
        dryBox,
        h("p", {}, "Kind: ", h("strong", {}, dry_run.kind)),
        pre(dry_run.request),
        dry_run.files && Object.keys(dry_run.files).length ? [h("h3", {}, "Files"), pre(dry_run.files)] : null,
      );
    } catch (e) {
      clear(dryBox, errorBox(e.message));
    }
  });

  // --- the result -------------------------------------------------------------
  const resultBox = h("div", { id: "result" });
  let resultShown = false;
  async function showResult() {
    if (resultShown || !job.output_id) return;
    resultShown = true;
    let offset = 0;
    let text = "";
    const more = async () => {
      try {
        const { output } = await api.get(`/v2/jobs/${job.id}/output?offset=${offset}&limit=65536`);
        text += output.data;
        offset = output.next_offset;
        const asTable = tsvTable(text);
        clear(
          resultBox,
          h("p", { class: "muted" }, `From ${output.url}${output.complete ? "" : ` (first ${offset} bytes)`}`),
          asTable,
          h("details", { open: !asTable }, h("summary", {}, "As text"), h("pre", { class: "log" }, text)),
          output.complete ? null : h("button", { type: "button", class: "secondary", onclick: more }, "Show more"),
        );
      } catch (e) {
        clear(resultBox, errorBox(e.message));
      }
    };
    await more();
  }

  main.append(
    ...[
      h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / ", shortId(job.id)),
      heading,
      reasonBox,
      actions,
      message,
      h(
        "div",
        { class: "columns" },
        h("section", { "aria-label": "Details" }, details, progressBox),
        h("section", { "aria-labelledby": "h-timeline" }, h("h2", { id: "h-timeline" }, "Timeline"), timelineBox),
      ),
      h(
        "section",
        { "aria-labelledby": "h-log" },
        h("div", { class: "title" }, h("h2", { id: "h-log" }, "Log"), field("Stream", streamSelect), logState),
        logBox,
      ),
      job.output_id
        ? h("section", { "aria-labelledby": "h-result" }, h("h2", { id: "h-result" }, "Result"), resultBox)
        : null,
      h("section", { "aria-labelledby": "h-info" }, h("h2", { id: "h-info" }, "Info"), infoBox),
      dry,
    ].filter(Boolean),
  );
  if (!job.output_id) resultShown = true;
  update(job);
  if (!TERMINAL.includes(job.status)) clear(resultBox, h("p", { class: "muted" }, "Shown when the job has finished."));
  startLog();

  const onChange = (kind, changed) => {
    if (changed.id !== job.id) return;
    if (kind === "job") update(changed);
    if (kind === "job.deleted") {
      for (const stop of stops) stop();
      clear(actions);
      message.textContent = "This job was deleted. What is shown is its last state.";
    }
  };
  const refresh = async () => {
    try {
      update((await api.get(`/v2/jobs/${job.id}`)).job);
    } catch (_) {
      /* deleted meanwhile: the page stays as it was */
    }
  };
  const unfollow = ctx.events.follow(onChange, refresh);
  const timer = setInterval(() => {
    if (!job.end_time && job.start_time) {
      const dd = details.querySelectorAll("dd")[8];
      if (dd) dd.textContent = duration(job.start_time, null);
    }
  }, 1000);
  return () => {
    unfollow();
    clearInterval(timer);
    for (const stop of stops) stop();
  };
}

// ---------------------------------------------------------------------------
// The launch form.

/// `key=value` lines into an object; throws with the line that is wrong.
function pairs(text, what) {
  const out = {};
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`line ${i + 1}: "${line.trim()}" is not key=value (${what})`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1);
  });
  return out;
}

/// Which field an API error is about, from its message.
function fieldOf(message) {
  const rules = [
    [/job template|template/i, "job_template_id"],
    [/cluster/i, "cluster_id"],
    [/\binput\b/i, "input_id"],
    [/\boutput\b/i, "output_id"],
    [/\bargs\b|argument/i, "args"],
    [/\bconfigs\b/i, "configs"],
    [/\bparams\b/i, "params"],
  ];
  const found = rules.find(([re]) => re.test(message));
  return found ? found[1] : null;
}

export async function launch(ctx) {
  const { main, params } = ctx;
  const [templates, clusters, sources] = await Promise.all([
    api.all("job-templates"),
    api.all("clusters"),
    api.all("data-sources"),
  ]);
  if (!ctx.current()) return;
  const form = h("form", { class: "stack", id: "launch-form", "aria-labelledby": "h-launch", novalidate: true });
  const sourceOptions = sources.map((d) => ({ value: d.id, label: `${d.name} (${d.type}: ${d.url})` }));
  const formError = h("p", { class: "form-error", role: "alert" });
  const dryBox = h("div", { id: "launch-dry-run" });
  form.append(
    field(
      "Template",
      select(
        "job_template_id",
        templates.map((t) => ({ value: t.id, label: `${t.name} (${t.type})` })),
        { value: params.get("template") || "", empty: "choose a template" },
      ),
    ),
    field(
      "Cluster",
      select(
        "cluster_id",
        clusters.map((c) => ({ value: c.id, label: `${c.name} (${c.plugin_name}, ${c.status})` })),
        { value: params.get("cluster") || (clusters.find((c) => c.name === "local") || {}).id },
      ),
    ),
    field("Input", select("input_id", sourceOptions, { empty: "none" })),
    field("Output", select("output_id", sourceOptions, { empty: "none" })),
    field("Arguments", h("textarea", { name: "args", rows: 3 }), "One argument per line."),
    field(
      "Configs",
      h("textarea", { name: "configs", rows: 3 }),
      "key=value, one per line (e.g. edp.java.main_class=org.Example).",
    ),
    field("Params", h("textarea", { name: "params", rows: 2 }), "key=value, one per line."),
    formError,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "submit", value: "launch" }, "Launch"),
      h("button", { type: "button", class: "secondary", id: "dry-run-button" }, "Dry run"),
    ),
    dryBox,
  );
  main.append(h("h1", { tabindex: "-1", id: "h-launch" }, "Launch a job"), form);

  const body = () => {
    const v = (name) => form.elements[name].value;
    const out = { job_template_id: v("job_template_id"), cluster_id: v("cluster_id"), job_configs: {} };
    if (v("input_id")) out.input_id = v("input_id");
    if (v("output_id")) out.output_id = v("output_id");
    const problems = [];
    if (!out.job_template_id) problems.push(["job_template_id", "Choose a template."]);
    if (!out.cluster_id) problems.push(["cluster_id", "Choose a cluster."]);
    out.job_configs.args = v("args")
      .split("\n")
      .filter((l) => l.length);
    for (const key of ["configs", "params"]) {
      try {
        out.job_configs[key] = pairs(v(key), key);
      } catch (e) {
        problems.push([key, e.message]);
      }
    }
    return [out, problems];
  };
  const report = (problems) => {
    for (const [name, message] of problems) setFieldError(form, name, message);
    const first = problems[0] && form.elements[problems[0][0]];
    if (first) first.focus();
  };
  // The field an error is about: the one whose chosen object it names
  // (an engine refusing a data source names it), else by its words.
  const named = (message) => {
    const chosen = (name, list) => list.find((o) => o.id === form.elements[name].value);
    const candidates = [
      ["input_id", chosen("input_id", sources)],
      ["output_id", chosen("output_id", sources)],
      ["job_template_id", chosen("job_template_id", templates)],
      ["cluster_id", chosen("cluster_id", clusters)],
    ];
    const hit = candidates.find(
      ([, o]) => o && (message.includes(o.id) || message.includes(`\`${o.name}\``) || message.includes(`'${o.name}'`)),
    );
    return hit ? hit[0] : fieldOf(message);
  };
  const showApiError = (e) => {
    const name = named(e.message);
    if (name && setFieldError(form, name, e.message)) form.elements[name].focus();
    else formError.textContent = e.message;
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const [launchBody, problems] = body();
    if (problems.length) return report(problems);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { job } = await api.post("/v2/jobs", launchBody);
      ctx.navigate(`/jobs/${job.id}`);
    } catch (err) {
      showApiError(err);
    } finally {
      button.disabled = false;
    }
  });
  form.querySelector("#dry-run-button").addEventListener("click", async () => {
    clearErrors(form);
    clear(dryBox);
    const [dryBody, problems] = body();
    if (problems.length) return report(problems);
    try {
      const { dry_run } = await api.post("/v2/jobs/dry-run", dryBody);
      clear(dryBox, h("h2", {}, `Dry run: ${dry_run.kind}`), pre(dry_run.request));
    } catch (err) {
      showApiError(err);
    }
  });
}
