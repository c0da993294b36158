// The dashboard: a hash router over views that draw themselves from the
// REST API and keep up through the event stream.

import * as api from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import * as jobs from "./jobs.js";
import * as flows from "./flows.js";
import * as catalog from "./catalog.js";

const ROUTES = [
  [/^jobs$/, jobs.list, "jobs"],
  [/^jobs\/([\w-]+)$/, jobs.page, "jobs"],
  [/^launch$/, jobs.launch, "launch"],
  [/^flows$/, flows.list, "flows"],
  [/^flows\/([\w-]+)$/, flows.page, "flows"],
  [/^clusters$/, catalog.clusters, "clusters"],
  [/^engines$/, catalog.engines, "engines"],
  [/^templates$/, catalog.templates, "templates"],
  [/^binaries$/, catalog.binaries, "binaries"],
  [/^data-sources$/, catalog.dataSources, "data-sources"],
];

const main = document.getElementById("main");
const events = new api.Events();
let cleanup = null;
let generation = 0;

// Names of templates and clusters, for rows that carry only ids.
const names = {
  templates: new Map(),
  clusters: new Map(),
  async load(force) {
    if (!force && this.templates.size && this.clusters.size) return;
    const [templates, clusters] = await Promise.all([api.all("job-templates"), api.all("clusters")]);
    for (const t of templates) this.templates.set(t.id, t.name);
    for (const c of clusters) this.clusters.set(c.id, c.name);
  },
  async ensure(templateId, clusterId) {
    if ((templateId && !this.templates.has(templateId)) || (clusterId && !this.clusters.has(clusterId))) {
      await this.load(true);
    }
  },
};

function confirmAction(text, ok) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = ok || "Yes";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// Asks for a token once; true when one was given.
let asking = null;
function askToken() {
  if (asking) return asking;
  const dialog = document.getElementById("token");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const error = document.getElementById("token-error");
  error.textContent = api.token() ? "That token was not accepted." : "";
  input.value = "";
  asking = new Promise((resolve) => {
    const submit = async (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      api.setToken(value);
      const check = await fetch("/v2/jobs?limit=1", { headers: { "X-Auth-Token": value, Accept: "application/json" } });
      if (check.status === 401) {
        error.textContent = "That token was not accepted.";
        return;
      }
      form.removeEventListener("submit", submit);
      dialog.close("ok");
      document.getElementById("signout").hidden = false;
      asking = null;
      resolve(true);
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    dialog.showModal();
    input.focus();
  });
  return asking;
}
api.whenUnauthorized(askToken);

async function route(focusHeading) {
  const hash = location.hash.replace(/^#\/?/, "") || "jobs";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  if (cleanup) {
    try {
      cleanup();
    } catch (_) {
      /* a view's own clean-up failing must not stop the next view */
    }
    cleanup = null;
  }
  const mine = ++generation;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const current = ROUTES.some(([re, , nav]) => re.test(path) && nav === link.dataset.nav);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const found = ROUTES.map(([re, view]) => [path.match(re), view]).find(([m]) => m);
  clear(main);
  delete main.dataset.ready;
  if (!found) {
    main.append(
      h("h1", { tabindex: "-1" }, "Not found"),
      h("p", {}, "No such page. ", h("a", { href: "#/jobs" }, "Jobs")),
    );
    return;
  }
  const [match, view] = found;
  const ctx = {
    main,
    params,
    args: match.slice(1),
    events,
    names,
    confirm: confirmAction,
    // Whether this view is still the one shown (async work checks before drawing).
    current: () => mine === generation,
    navigate: (to) => {
      location.hash = to;
    },
  };
  try {
    const done = await view(ctx);
    if (mine === generation) cleanup = done || null;
    else if (done) done();
  } catch (e) {
    if (mine !== generation) return;
    main.append(errorBox(e.message || String(e)));
  }
  if (mine !== generation) return;
  // Keyboard and screen-reader users land on the new page's heading.
  if (focusHeading) {
    const heading = main.querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
  }
  // Drawn (for tests and anyone scripting the page).
  main.dataset.ready = path;
}

function start() {
  const live = document.getElementById("live");
  events.onState = (state) => {
    live.textContent = state === "live" ? "live" : state === "reconnecting" ? "reconnecting…" : "connecting…";
    live.className = `live ${state}`;
  };
  const signout = document.getElementById("signout");
  signout.hidden = !api.token();
  signout.addEventListener("click", () => {
    api.setToken("");
    location.reload();
  });
  window.addEventListener("hashchange", () => route(true));
  route();
  events.run();
}

start();
