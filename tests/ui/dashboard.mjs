// Drives Debian's chromium through edp's dashboard, as a person would, and
// fails on what a person would see go wrong. Run by tests/tests/ui/main.rs,
// which starts edpd and prepares the objects named in EDP_UI_FIXTURE.
//
// Every request the page makes must stay on this host: anything else is
// blocked and fails the run, as does any console error or uncaught
// exception. Screenshots of each view go to EDP_UI_SCREENSHOTS.

import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.EDP_BASE;
const fixture = JSON.parse(process.env.EDP_UI_FIXTURE || "{}");
const shots = process.env.EDP_UI_SCREENSHOTS;
const scenario = process.env.EDP_UI_SCENARIO || "main";
const executablePath = process.env.EDP_TEST_CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 30_000;

const failures = [];
const expecting = { apiError: false };
const step = (what) => console.log(`ui: ${what}`);

function loopback(url) {
  const u = new URL(url);
  if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
  return ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname) || u.hostname.startsWith("127.");
}

async function api(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers["X-Auth-Token"] = token;
  const response = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const json = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function main() {
  mkdirSync(shots, { recursive: true });
  rmSync(join(shots, `failure-${scenario}.png`), { force: true });
  const profile = mkdtempSync(join(tmpdir(), "edp-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // A browser logs every 4xx answer to fetch() as a console error; only the
  // steps that provoke one on purpose allow it.
  const allowedConsole = (text) =>
    (scenario === "tokens" && /status of 401/.test(text)) || (expecting.apiError && /status of 400/.test(text));
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (loopback(url)) return route.continue();
    failures.push(`a request left the host: ${url}`);
    return route.abort("blockedbyclient");
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (msg) => {
    if (msg.type() === "error" && !allowedConsole(msg.text()))
      failures.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => failures.push(`uncaught exception on ${page.url()}: ${err.message}`));
  page.on("requestfailed", (req) => {
    const why = req.failure() && req.failure().errorText;
    // Streams cut when a view is left are expected.
    if (why !== "net::ERR_ABORTED" && loopback(req.url())) failures.push(`request failed: ${req.url()} (${why})`);
  });
  try {
    if (scenario === "tokens") await tokens(page);
    else await walk(page);
  } catch (e) {
    // What the page looked like when it went wrong.
    await shot(page, `failure-${scenario}`).catch(() => {});
    throw e;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

async function expectText(locator, pattern, what) {
  await locator
    .filter({ hasText: pattern })
    .first()
    .waitFor({ timeout: TIMEOUT })
    .catch(() => {
      throw new Error(`${what}: never showed ${pattern}`);
    });
}

async function walk(page) {
  // --- the jobs view shows existing jobs ------------------------------------
  step("jobs view");
  await page.goto(`${base}/`);
  await page.locator(`#jobs-table tr[data-id="${fixture.existing_job}"]`).waitFor();
  await expectText(
    page.locator(`#jobs-table tr[data-id="${fixture.existing_job}"] td.status`),
    "SUCCEEDED",
    "the existing job",
  );
  await page.locator("#live.live").waitFor();
  await shot(page, "jobs");

  // --- a job launched through the API appears and succeeds without a reload --
  step("a job launched through the API appears live");
  await page.evaluate(() => {
    window.__noReload = true;
  });
  const launched = await api("POST", "/v2/jobs", {
    job_template_id: fixture.quick_template,
    cluster_id: fixture.cluster,
    job_configs: { args: ["from the API"] },
  });
  const id = launched.job.id;
  const row = page.locator(`#jobs-table tr[data-id="${id}"]`);
  await row.waitFor();
  await expectText(row.locator("td.status"), "SUCCEEDED", "the job launched through the API");
  if (!(await page.evaluate(() => window.__noReload === true))) throw new Error("the page was reloaded");

  // --- its page shows its log -------------------------------------------------
  step("a job's page shows its log");
  await row.getByRole("link").click();
  await page.waitForURL(`**/#/jobs/${id}`);
  await expectText(page.locator("#log"), "hello, from the API", "the job's log");
  await page.getByRole("heading", { level: 1 }).filter({ hasText: "SUCCEEDED" }).waitFor();
  await shot(page, "job");

  // --- a finished job's result, as a table -------------------------------------
  step("a job's result");
  await page.goto(`${base}/#/jobs/${fixture.existing_job}`);
  await page.locator("#result table.tsv").waitFor();
  await expectText(page.locator("#result table.tsv td"), "apple", "the result table");
  await page.locator("#dry-run summary").click();
  await expectText(page.locator("#dry-run"), "argv", "the dry run");
  await shot(page, "job-result");

  // --- a job launched from the form runs -----------------------------------------
  step("the launch form");
  await page.goto(`${base}/#/launch`);
  const form = page.locator("#launch-form");
  await form.getByRole("button", { name: "Launch" }).click();
  await expectText(
    form.locator('[data-field="job_template_id"] .field-error'),
    "Choose a template",
    "a missing template",
  );
  await form.getByLabel("Template").selectOption({ label: "greeter (Shell)" });
  await form.getByLabel("Cluster").selectOption(fixture.cluster);
  await form.getByLabel("Configs").fill("not a pair");
  await form.getByRole("button", { name: "Launch" }).click();
  await expectText(form.locator('[data-field="configs"] .field-error'), "is not key=value", "a malformed config");
  // An error from the API, next to the field it concerns.
  await form.getByLabel("Configs").fill("");
  await form.getByLabel("Input").selectOption(fixture.elsewhere_source);
  expecting.apiError = true;
  await form.getByRole("button", { name: "Launch" }).click();
  await expectText(
    form.locator('[data-field="input_id"] .field-error'),
    /elsewhere/,
    "the API's error about the input",
  );
  expecting.apiError = false;
  await shot(page, "launch-errors");
  await form.getByLabel("Input").selectOption("");
  await form.getByLabel("Arguments").fill("from the form");
  await shot(page, "launch");
  await form.getByRole("button", { name: "Launch" }).click();
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  await page.getByRole("heading", { level: 1 }).filter({ hasText: "SUCCEEDED" }).waitFor();
  await expectText(page.locator("#log"), "hello, from the form", "the log of the job launched from the form");

  // --- Cancel on a running job's page ends it KILLED --------------------------------
  step("cancel a running job");
  const long = await api("POST", "/v2/jobs", { job_template_id: fixture.long_template, cluster_id: fixture.cluster });
  await page.goto(`${base}/#/jobs/${long.job.id}`);
  await page.getByRole("heading", { level: 1 }).filter({ hasText: "RUNNING" }).waitFor();
  await expectText(page.locator("#log"), "sleeping", "the long job's log");
  await page.getByRole("button", { name: "Cancel" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await shot(page, "cancel-confirm");
  await dialog.getByRole("button", { name: "Cancel job" }).click();
  await page
    .getByRole("heading", { level: 1 })
    .filter({ hasText: /\sKILLED$/ })
    .waitFor();
  const after = await api("GET", `/v2/jobs/${long.job.id}`);
  if (after.job.status !== "KILLED") throw new Error(`the cancelled job is ${after.job.status}`);
  await shot(page, "job-killed");

  // --- a deletion reaches the job's page and the list without a reload -------------
  step("a deleted job leaves its page and the list live");
  await api("DELETE", `/v2/jobs/${long.job.id}`);
  await page.getByRole("alert").filter({ hasText: "This job was deleted" }).waitFor({ timeout: TIMEOUT });
  if (await page.getByRole("group", { name: "Job actions" }).getByRole("button").count())
    throw new Error("a deleted job's page still offers actions");
  await shot(page, "job-deleted");
  await page.goto(`${base}/`);
  const existing = page.locator(`#jobs-table tr[data-id="${fixture.existing_job}"]`);
  await existing.waitFor();
  await page.locator("#live.live").waitFor();
  await page.evaluate(() => {
    window.__noReload = true;
  });
  await api("DELETE", `/v2/jobs/${fixture.existing_job}`);
  await existing.waitFor({ state: "detached", timeout: TIMEOUT });
  if (!(await page.evaluate(() => window.__noReload === true))) throw new Error("the page was reloaded");

  // --- engines: the garbage plugin is refused with its reason ------------------------
  step("engines view");
  await page.goto(`${base}/#/engines`);
  await expectText(page.locator("#refused tr"), fixture.junk_file, "the refused plugin file");
  const refused = page.locator("#refused tr").filter({ hasText: fixture.junk_file });
  const reason = (await refused.locator("td").nth(1).innerText()).trim();
  if (reason.length < 5) throw new Error(`the refused plugin shows no reason: "${reason}"`);
  await expectText(page.locator("table").first().locator("tr"), "local", "the loaded local engine");
  await shot(page, "engines");

  // --- a flow's page draws its graph ---------------------------------------------------
  step("flows");
  await page.goto(`${base}/#/flows`);
  await page.locator(`tr[data-id="${fixture.flow}"]`).waitFor();
  await shot(page, "flows");
  await page.locator(`tr[data-id="${fixture.flow}"] a`).click();
  const graph = page.locator("#flow-graph");
  await graph.waitFor();
  for (const [key, state] of Object.entries(fixture.flow_states)) {
    const node = graph.locator(`g.node[data-key="${key}"]`);
    await node.waitFor();
    const shown = await node.getAttribute("data-state");
    if (shown !== state) throw new Error(`flow job ${key} is drawn ${shown}, expected ${state}`);
    // Found and read in one step in the page: the graph is drawn again as
    // events come in, and a rect found by one call may be detached, with
    // no style, by the next.
    const fill = await page.evaluate(
      (k) => {
        const rect = document.querySelector(`#flow-graph g.node[data-key="${k}"] rect`);
        return rect ? getComputedStyle(rect).fill : null;
      },
      key,
    );
    if (!fill || fill === "none") throw new Error(`flow job ${key} has no colour`);
  }
  const edges = await graph.locator("path.edge").count();
  if (edges !== fixture.flow_edges) throw new Error(`the graph has ${edges} edges, expected ${fixture.flow_edges}`);
  await page.locator("svg.gantt").waitFor();
  await shot(page, "flow");

  // --- the other views ------------------------------------------------------------------
  for (const [view, heading] of [
    ["clusters", "Clusters"],
    ["templates", "Job templates"],
    ["binaries", "Job binaries"],
    ["data-sources", "Data sources"],
  ]) {
    step(`${view} view`);
    await page.goto(`${base}/#/${view}`);
    await page.getByRole("heading", { level: 1, name: heading }).waitFor();
    await page.locator("tbody tr:not(.empty)").first().waitFor();
    await shot(page, view);
  }

  // Register a cluster from the engine's schema.
  step("register a cluster");
  await page.goto(`${base}/#/clusters`);
  await page.getByLabel("Name", { exact: true }).fill("second-local");
  await page.getByLabel("Engine").selectOption("local");
  await page.getByLabel("shell").fill("/bin/sh");
  await page.getByRole("button", { name: "Register" }).click();
  await expectText(page.locator("tbody tr"), "second-local", "the registered cluster");

  // Create a data source, upload a binary, make a template of it: each appears.
  step("create a data source, upload a binary, make a template");
  await page.goto(`${base}/#/data-sources`);
  await drawn(page, "data-sources");
  await page.getByLabel("Name", { exact: true }).fill("words");
  await page.getByLabel("URL").fill("file:///tmp/words");
  await page.getByRole("button", { name: "Create data source" }).click();
  await expectText(page.locator("tbody tr"), "file:///tmp/words", "the new data source");
  await page.goto(`${base}/#/binaries`);
  await drawn(page, "binaries");
  await page.getByLabel("File").setInputFiles({ name: "up.sh", mimeType: "text/x-sh", buffer: Buffer.from("echo uploaded\n") });
  await page.getByRole("button", { name: "Upload" }).click();
  await expectText(page.locator("tbody tr"), "up.sh", "the uploaded binary");
  await page.goto(`${base}/#/templates`);
  await drawn(page, "templates");
  await page.getByLabel("Name", { exact: true }).fill("uploaded");
  await page.getByLabel("Type").selectOption("Shell");
  const upOption = await page.getByLabel("Main binary").locator("option", { hasText: "up.sh" }).getAttribute("value");
  await page.getByLabel("Main binary").selectOption(upOption);
  await page.getByRole("button", { name: "Create template" }).click();
  await expectText(page.locator("tbody tr"), "uploaded", "the new template");

  // --- keyboard: every control is reachable and named --------------------------------------
  step("accessibility");
  for (const view of [
    "jobs",
    "launch",
    "clusters",
    "templates",
    "binaries",
    "data-sources",
    `jobs/${id}`,
    `flows/${fixture.flow}`,
  ]) {
    await page.goto(`${base}/#/${view}`);
    await drawn(page, view);
    const unnamed = await page.evaluate(() => {
      const bad = [];
      for (const el of document.querySelectorAll("main input, main select, main textarea, main button, main a[href]")) {
        const labelled =
          (el.labels && el.labels.length) ||
          el.getAttribute("aria-label") ||
          el.getAttribute("aria-labelledby") ||
          (el.textContent || "").trim();
        if (!labelled) bad.push(el.outerHTML.slice(0, 80));
      }
      return bad;
    });
    if (unnamed.length) failures.push(`unnamed controls on #/${view}: ${unnamed.join(" | ")}`);
  }
  await page.goto(`${base}/#/jobs`);
  await page.reload();
  await drawn(page, "jobs");
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  if (!/Skip to content/.test(first || "")) failures.push(`the first Tab lands on "${first}", not the skip link`);
  // Keyboard only: to the first job's link, and Enter opens it.
  await page.locator("#jobs-table tbody a").first().focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  await drawn(page, new URL(page.url()).hash.replace(/^#\//, ""));
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
  if (focused !== "H1") failures.push(`after navigating, focus is on ${focused}, not the page's heading`);
}

// Waits until the router has drawn `path` (its `data-ready` mark). Not any
// `data-ready`: a hash navigation changes the URL before the router runs,
// and until then the previous view is still marked ready.
async function drawn(page, path) {
  await page.locator(`main[data-ready="${path}"]`).waitFor();
}

// With tokens: the page asks once, then shows that project's objects only.
async function tokens(page) {
  step("token prompt");
  await page.goto(`${base}/`);
  const dialog = page.getByRole("dialog", { name: "Sign in" });
  await dialog.waitFor();
  await dialog.getByLabel("Token").fill("wrong");
  await dialog.getByRole("button", { name: "Sign in" }).click();
  await expectText(dialog.locator("#token-error"), "not accepted", "a wrong token");
  await shot(page, "sign-in");
  await dialog.getByLabel("Token").fill(fixture.token);
  await dialog.getByRole("button", { name: "Sign in" }).click();
  await page.locator(`#jobs-table tr[data-id="${fixture.own_job}"]`).waitFor();
  if (await page.locator(`#jobs-table tr[data-id="${fixture.other_job}"]`).count()) {
    throw new Error("another project's job is listed");
  }
  // Asked once: a reload and another view need no token again.
  await page.reload();
  await page.locator(`#jobs-table tr[data-id="${fixture.own_job}"]`).waitFor();
  await page.goto(`${base}/#/engines`);
  await page.getByRole("heading", { level: 1, name: "Engines" }).waitFor();
  if (await page.getByRole("dialog", { name: "Sign in" }).isVisible()) throw new Error("asked for the token again");
  // Live updates carry this project's jobs only.
  await page.goto(`${base}/#/jobs`);
  await page.locator("#live.live").waitFor();
  const mine = await api(
    "POST",
    "/v2/jobs",
    { job_template_id: fixture.own_template, cluster_id: fixture.cluster },
    fixture.token,
  );
  await expectText(
    page.locator(`#jobs-table tr[data-id="${mine.job.id}"] td.status`),
    "SUCCEEDED",
    "this project's new job",
  );
  const theirs = await api(
    "POST",
    "/v2/jobs",
    { job_template_id: fixture.other_template, cluster_id: fixture.cluster },
    fixture.other_token,
  );
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const job = await api("GET", `/v2/jobs/${theirs.job.id}`, null, fixture.other_token);
    if (["SUCCEEDED", "FAILED", "KILLED"].includes(job.job.status)) break;
    if (Date.now() > deadline) throw new Error("the other project's job did not finish");
    await new Promise((r) => setTimeout(r, 100));
  }
  // Events come in order: once a later job of ours has arrived, anything of
  // theirs that was going to be sent has been.
  const later = await api(
    "POST",
    "/v2/jobs",
    { job_template_id: fixture.own_template, cluster_id: fixture.cluster },
    fixture.token,
  );
  await expectText(
    page.locator(`#jobs-table tr[data-id="${later.job.id}"] td.status`),
    "SUCCEEDED",
    "a later job of ours",
  );
  if (await page.locator(`#jobs-table tr[data-id="${theirs.job.id}"]`).count())
    throw new Error("another project's job appeared live");
  await shot(page, "jobs-with-token");
}

main()
  .catch((e) => failures.push(`${e.message}\n${e.stack || ""}`))
  .finally(() => {
    if (failures.length) {
      console.error(`ui: ${failures.length} failure(s):\n- ${failures.join("\n- ")}`);
      process.exit(1);
    }
    console.log("ui: every check passed");
    process.exit(0);
  });
