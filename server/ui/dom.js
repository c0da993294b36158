// Building pages from plain DOM calls: text is always set as text, never as
// HTML, so nothing a job prints can become markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

// `fn` once, `ms` after the last of a burst of calls; `.cancel()` drops a
// call still waiting.
export function debounced(fn, ms) {
  let pending = null;
  const call = () => {
    clearTimeout(pending);
    pending = setTimeout(fn, ms);
  };
  call.cancel = () => clearTimeout(pending);
  return call;
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

// Sahara's timestamps are UTC without a zone: "YYYY-MM-DDTHH:MM:SS".
export function parseTime(t) {
  if (!t) return null;
  const d = new Date(/Z|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`);
  return isNaN(d) ? null : d;
}

export function time(t) {
  const d = parseTime(t);
  if (!d) return h("span", { class: "muted" }, "—");
  const text = d.toISOString().replace("T", " ").slice(0, 19);
  return h("time", { datetime: d.toISOString(), title: `${text} UTC` }, text);
}

export function duration(start, end) {
  const a = parseTime(start);
  if (!a) return "—";
  const b = parseTime(end) || new Date();
  let secs = Math.max(0, Math.round((b - a) / 1000));
  const parts = [];
  if (secs >= 3600) {
    parts.push(`${Math.floor(secs / 3600)}h`);
    secs %= 3600;
  }
  if (secs >= 60 || parts.length) {
    parts.push(`${Math.floor(secs / 60)}m`);
    secs %= 60;
  }
  parts.push(`${secs}s`);
  return parts.join(" ") + (end ? "" : "…");
}

export const TERMINAL = ["SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"];
export const STATUSES = ["PENDING", "PREP", "RUNNING", "SUSPENDED", "TOBEKILLED", ...TERMINAL];

export function badge(status) {
  return h("span", { class: `badge s-${String(status || "").toLowerCase()}` }, status || "?");
}

export function errorBox(message) {
  return h("p", { class: "error", role: "alert" }, message);
}

// A labelled field: the label, the control, and a place for its error.
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = h("span", { class: "field-error", id: `${id}-error`, role: "alert" });
  control.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  return h(
    "div",
    { class: "field", dataset: { field: control.name || "" } },
    h("label", { for: id }, label),
    control,
    hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null,
    error,
  );
}

export function setFieldError(form, name, message) {
  const box = form.querySelector(`[data-field="${name}"] .field-error`);
  const control = form.querySelector(`[name="${name}"]`);
  if (box) box.textContent = message || "";
  if (control) {
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  }
  return Boolean(box);
}

export function clearErrors(form) {
  for (const box of form.querySelectorAll(".field-error, .form-error")) box.textContent = "";
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
}

export function select(name, options, { value, empty } = {}) {
  const el = h("select", { name });
  if (empty !== undefined) el.append(h("option", { value: "" }, empty));
  for (const o of options) {
    el.append(h("option", { value: o.value, selected: o.value === value }, o.label));
  }
  return el;
}

export function table(caption, headings, rows, { empty } = {}) {
  return h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headings.map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length ? rows : h("tr", { class: "empty" }, h("td", { colspan: headings.length }, empty || "Nothing yet.")),
    ),
  );
}

export function pre(value) {
  return h("pre", { class: "json" }, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}
