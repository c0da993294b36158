// What jobs are made of: clusters, engines, templates, job binaries and data
// sources. Each view lists and (but engines) creates.

import * as api from "./api.js";
import { badge, clear, clearErrors, field, h, select, setFieldError, table, time } from "./dom.js";

/// A form that posts `build()`'s body and reports errors at its fields.
function creator(form, { submit, fieldOf, done }) {
  const formError = h("p", { class: "form-error", role: "alert" });
  form.append(formError);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await submit();
      form.reset();
      await done();
    } catch (err) {
      const name = err.field || (fieldOf && fieldOf(err.message));
      if (!(name && setFieldError(form, name, err.message))) formError.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
}

function byWords(rules) {
  return (message) => {
    const hit = rules.find(([re]) => re.test(message));
    return hit ? hit[1] : null;
  };
}

function fieldError(name, message) {
  const e = new Error(message);
  e.field = name;
  return e;
}

// ---------------------------------------------------------------------------

export async function clusters(ctx) {
  const { main } = ctx;
  const [{ engines }] = await Promise.all([api.get("/v2/engines")]);
  if (!ctx.current()) return;
  const holder = h("div", { class: "table-wrap" });
  const load = async () => {
    const list = await api.all("clusters");
    clear(
      holder,
      table(
        "Clusters",
        ["Name", "Engine", "Status", "Reason", "Visibility", "Registered"],
        list.map((c) =>
          h(
            "tr",
            { dataset: { id: c.id } },
            h("td", {}, c.name, c.declared ? h("span", { class: "muted" }, " (declared)") : null),
            h("td", {}, c.plugin_name),
            h("td", {}, badge(c.status)),
            h("td", { class: "reason-cell" }, c.status_description || "—"),
            h("td", {}, c.is_public ? "public" : "project"),
            h("td", {}, time(c.created_at)),
          ),
        ),
      ),
    );
  };

  // Registration: the fields come from the chosen engine's config schema.
  const form = h("form", { class: "stack", "aria-labelledby": "h-register", novalidate: true });
  const engineSelect = select(
    "plugin_name",
    engines.map((e) => ({ value: e.id, label: `${e.title || e.id} (${e.id})` })),
  );
  const configs = h("fieldset", { class: "configs" });
  const drawConfigs = () => {
    const engine = engines.find((e) => e.id === engineSelect.value);
    const schema = (engine && engine.cluster_config_schema) || {};
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    clear(
      configs,
      h("legend", {}, "Cluster configs"),
      Object.keys(props).length ? null : h("p", { class: "muted" }, "This engine takes no settings."),
      Object.entries(props).map(([name, p]) => {
        const label = `${name}${required.has(name) ? " (required)" : ""}`;
        let control;
        if (p.type === "boolean")
          control = h("input", { type: "checkbox", name: `cfg.${name}`, checked: Boolean(p.default) });
        else if (p.type === "object") control = h("textarea", { name: `cfg.${name}`, rows: 2, placeholder: "{}" });
        else if (Array.isArray(p.enum))
          control = select(
            `cfg.${name}`,
            p.enum.map((v) => ({ value: String(v), label: String(v) })),
            { value: p.default !== undefined ? String(p.default) : "", empty: "default" },
          );
        else
          control = h("input", {
            name: `cfg.${name}`,
            type: p.writeOnly ? "password" : p.type === "integer" || p.type === "number" ? "number" : "text",
            placeholder: p.default !== undefined ? String(p.default) : "",
            autocomplete: "off",
          });
        control.dataset.type = p.type || "string";
        return field(label, control, p.description);
      }),
    );
  };
  engineSelect.addEventListener("change", drawConfigs);
  form.append(
    field("Name", h("input", { name: "name", required: true, autocomplete: "off" })),
    field("Engine", engineSelect),
    configs,
    field("Description", h("input", { name: "description", autocomplete: "off" })),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Register")),
  );
  drawConfigs();
  creator(form, {
    submit: async () => {
      const cluster_configs = {};
      for (const el of form.querySelectorAll("[name^='cfg.']")) {
        const key = el.name.slice(4);
        if (el.type === "checkbox") {
          if (el.checked) cluster_configs[key] = true;
          continue;
        }
        const v = el.value.trim();
        if (!v) continue;
        if (el.dataset.type === "object") {
          try {
            cluster_configs[key] = JSON.parse(v);
          } catch (_) {
            throw fieldError(el.name, `${key} must be a JSON object`);
          }
        } else if (el.dataset.type === "integer" || el.dataset.type === "number") cluster_configs[key] = Number(v);
        else cluster_configs[key] = v;
      }
      const body = { name: form.elements.name.value.trim(), plugin_name: engineSelect.value, cluster_configs };
      if (form.elements.description.value.trim()) body.description = form.elements.description.value.trim();
      if (!body.name) throw fieldError("name", "A cluster needs a name.");
      const { cluster } = await api.post("/v2/clusters", body);
      if (cluster.status !== "Active")
        throw new Error(`Registered, but the engine cannot use it: ${cluster.status_description || cluster.status}`);
    },
    fieldOf: byWords([
      [/\bname\b/i, "name"],
      [/engine|plugin/i, "plugin_name"],
    ]),
    done: () => {
      drawConfigs();
      return load();
    },
  });
  main.append(
    h("h1", { tabindex: "-1" }, "Clusters"),
    holder,
    h("h2", { id: "h-register" }, "Register a cluster"),
    form,
  );
  await load();
}

// ---------------------------------------------------------------------------

export async function engines(ctx) {
  const { main } = ctx;
  const answer = await api.get("/v2/engines");
  if (!ctx.current()) return;
  const caps = (c) =>
    Object.entries(c || {})
      .filter(([, on]) => on)
      .map(([name]) => name)
      .join(", ") || "—";
  main.append(
    h("h1", { tabindex: "-1" }, "Engines"),
    h("h2", {}, "Loaded"),
    h(
      "div",
      { class: "table-wrap" },
      table(
        "Loaded engines",
        ["Engine", "Version", "Job types", "Capabilities", "File"],
        answer.engines.map((e) =>
          h(
            "tr",
            { dataset: { id: e.id } },
            h("td", {}, h("strong", {}, e.id), e.title ? h("div", { class: "muted" }, e.title) : null),
            h("td", {}, e.version),
            h("td", {}, e.job_types.join(", ")),
            h("td", {}, caps(e.capabilities)),
            h("td", { class: "mono small" }, e.file),
          ),
        ),
        { empty: "No engine is loaded." },
      ),
    ),
    h("h2", {}, "Refused plugin files"),
    h(
      "div",
      { class: "table-wrap", id: "refused" },
      table(
        "Refused plugin files",
        ["File", "Reason"],
        answer.refused.map((r) =>
          h(
            "tr",
            {},
            h("td", { class: "mono small" }, r.file),
            h("td", { class: "reason-cell" }, h("pre", { class: "reason-text" }, r.reason)),
          ),
        ),
        { empty: "None: every library in the plugin directory loaded." },
      ),
    ),
  );
}

// ---------------------------------------------------------------------------

export async function templates(ctx) {
  const { main } = ctx;
  const [types, binaries] = await Promise.all([api.get("/v2/job-types"), api.all("job-binaries", "binaries")]);
  if (!ctx.current()) return;
  const typeNames = [...new Set(types.job_types.map((t) => t.name))].sort();
  const binaryName = new Map(binaries.map((b) => [b.id, b.name]));
  const holder = h("div", { class: "table-wrap" });
  const load = async () => {
    const list = await api.all("job-templates");
    clear(
      holder,
      table(
        "Job templates",
        ["Name", "Type", "Mains", "Libs", "Created", ""],
        list.map((t) =>
          h(
            "tr",
            { dataset: { id: t.id } },
            h("td", {}, t.name),
            h("td", {}, t.type),
            h("td", {}, (t.mains || []).map((b) => b.name || binaryName.get(b.id)).join(", ") || "—"),
            h("td", {}, (t.libs || []).map((b) => b.name || binaryName.get(b.id)).join(", ") || "—"),
            h("td", {}, time(t.created_at)),
            h("td", {}, h("a", { href: `#/launch?template=${t.id}`, "aria-label": `Launch ${t.name}` }, "Launch")),
          ),
        ),
      ),
    );
  };
  const binaryOptions = binaries.map((b) => ({ value: b.id, label: `${b.name} (${b.url})` }));
  const mains = select("mains", binaryOptions, { empty: "none" });
  const libs = select("libs", binaryOptions);
  libs.multiple = true;
  libs.size = Math.min(5, Math.max(2, binaryOptions.length));
  const form = h("form", { class: "stack", "aria-labelledby": "h-new-template", novalidate: true });
  form.append(
    field("Name", h("input", { name: "name", autocomplete: "off" })),
    field(
      "Type",
      select(
        "type",
        typeNames.map((t) => ({ value: t, label: t })),
      ),
    ),
    field("Main binary", mains),
    field("Libraries", libs, "Hold Ctrl or Shift to choose several."),
    field("Description", h("input", { name: "description", autocomplete: "off" })),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Create template")),
  );
  creator(form, {
    submit: async () => {
      const body = {
        name: form.elements.name.value.trim(),
        type: form.elements.type.value,
        mains: mains.value ? [mains.value] : [],
        libs: [...libs.selectedOptions].map((o) => o.value),
      };
      if (form.elements.description.value.trim()) body.description = form.elements.description.value.trim();
      if (!body.name) throw fieldError("name", "A template needs a name.");
      await api.post("/v2/job-templates", body);
    },
    fieldOf: byWords([
      [/\bname\b/i, "name"],
      [/\bmains?\b/i, "mains"],
      [/\blibs?\b/i, "libs"],
      [/type/i, "type"],
    ]),
    done: load,
  });
  main.append(
    h("h1", { tabindex: "-1" }, "Job templates"),
    holder,
    h("h2", { id: "h-new-template" }, "New template"),
    form,
  );
  await load();
}

// ---------------------------------------------------------------------------

export async function binaries(ctx) {
  const { main } = ctx;
  const holder = h("div", { class: "table-wrap" });
  const load = async () => {
    const list = await api.all("job-binaries", "binaries");
    clear(
      holder,
      table(
        "Job binaries",
        ["Name", "URL", "Created"],
        list.map((b) =>
          h(
            "tr",
            { dataset: { id: b.id } },
            h("td", {}, b.name),
            h("td", { class: "mono small" }, b.url),
            h("td", {}, time(b.created_at)),
          ),
        ),
      ),
    );
  };
  const form = h("form", { class: "stack", "aria-labelledby": "h-upload", novalidate: true });
  const file = h("input", { type: "file", name: "file" });
  const name = h("input", { name: "name", autocomplete: "off" });
  file.addEventListener("change", () => {
    if (file.files[0] && !name.value) name.value = file.files[0].name;
  });
  form.append(
    field("File", file),
    field("Name", name, "The file's name unless you give another."),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Upload")),
  );
  creator(form, {
    submit: async () => {
      const chosen = file.files[0];
      if (!chosen) throw fieldError("file", "Choose a file to upload.");
      const binaryName = name.value.trim() || chosen.name;
      const { job_binary_internal } = await api.put(
        `/v2/job-binary-internals/${encodeURIComponent(binaryName)}`,
        chosen,
      );
      await api.post("/v2/job-binaries", { name: binaryName, url: `internal-db://${job_binary_internal.id}` });
    },
    fieldOf: byWords([
      [/\bname\b/i, "name"],
      [/size|big|bytes/i, "file"],
    ]),
    done: load,
  });
  main.append(
    h("h1", { tabindex: "-1" }, "Job binaries"),
    holder,
    h("h2", { id: "h-upload" }, "Upload a binary"),
    form,
  );
  await load();
}

// ---------------------------------------------------------------------------

export async function dataSources(ctx) {
  const { main } = ctx;
  const holder = h("div", { class: "table-wrap" });
  const load = async () => {
    const list = await api.all("data-sources");
    clear(
      holder,
      table(
        "Data sources",
        ["Name", "Type", "URL", "Created"],
        list.map((d) =>
          h(
            "tr",
            { dataset: { id: d.id } },
            h("td", {}, d.name),
            h("td", {}, d.type),
            h("td", { class: "mono small" }, d.url),
            h("td", {}, time(d.created_at)),
          ),
        ),
      ),
    );
  };
  const form = h("form", { class: "stack", "aria-labelledby": "h-new-ds", novalidate: true });
  form.append(
    field("Name", h("input", { name: "name", autocomplete: "off" })),
    field(
      "Type",
      select("type", [
        { value: "file", label: "file" },
        { value: "hdfs", label: "hdfs" },
      ]),
    ),
    field(
      "URL",
      h("input", { name: "url", autocomplete: "off", placeholder: "file:///data/words or hdfs://namenode/path" }),
    ),
    field("Description", h("input", { name: "description", autocomplete: "off" })),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Create data source")),
  );
  creator(form, {
    submit: async () => {
      const body = {
        name: form.elements.name.value.trim(),
        type: form.elements.type.value,
        url: form.elements.url.value.trim(),
      };
      if (form.elements.description.value.trim()) body.description = form.elements.description.value.trim();
      if (!body.name) throw fieldError("name", "A data source needs a name.");
      if (!body.url) throw fieldError("url", "A data source needs a URL.");
      await api.post("/v2/data-sources", body);
    },
    fieldOf: byWords([
      [/\bname\b/i, "name"],
      [/url|path|location/i, "url"],
      [/type/i, "type"],
    ]),
    done: load,
  });
  main.append(
    h("h1", { tabindex: "-1" }, "Data sources"),
    holder,
    h("h2", { id: "h-new-ds" }, "New data source"),
    form,
  );
  await load();
}
