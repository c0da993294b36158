// The REST API and the event stream, as the dashboard uses them. The token
// (when edpd wants one) travels in X-Auth-Token, never in a URL.

const TOKEN_KEY = "edp.token";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error_message) || `HTTP ${status}`);
    this.status = status;
    this.name_ = (body && body.error_name) || "";
    this.body = body;
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  const t = token();
  if (t) h["X-Auth-Token"] = t;
  return h;
}

// Called when edpd answers 401: the app asks for a token, then retries.
let onUnauthorized = async () => false;
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function request(method, path, body, options = {}) {
  const init = { method, headers: headers(options.headers), signal: options.signal };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 401 && (await onUnauthorized())) {
    return request(method, path, body, options);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

export const get = (path, options) => request("GET", path, undefined, options);
export const post = (path, body) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

// Lists every page of a collection (for the selects of a form).
export async function all(collection, key) {
  const items = [];
  let marker = "";
  for (let i = 0; i < 50; i++) {
    const page = await get(`/v2/${collection}?limit=1000${marker ? `&marker=${encodeURIComponent(marker)}` : ""}`);
    items.push(...(page[key || collection.replace(/-/g, "_")] || []));
    marker = page.markers && page.markers.next;
    if (!marker) break;
  }
  return items;
}

// Reads server-sent events from a fetch() response body (EventSource cannot
// send X-Auth-Token). Calls onEvent({event, id, data}) for each; resolves
// when the stream ends.
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", id: null, data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = val;
        else if (field === "id") event.id = val;
        else if (field === "data") event.data += (event.data ? "\n" : "") + val;
      }
      if (block.trim() && !block.split("\n").every((l) => l.startsWith(":"))) {
        try {
          event.data = event.data ? JSON.parse(event.data) : null;
        } catch (_) {
          /* not JSON: keep the text */
        }
        onEvent(event);
      }
    }
  }
}

// GET /v2/events, reconnecting with Last-Event-ID. Listeners get (event,
// object): "job" and "flow" with the object's new state, "job.deleted" and
// "flow.deleted" with its id; onState gets "live" or "reconnecting"; a view's
// reload runs when it starts following and on each `ready` and `reset` (the
// moments to (re)load what is shown).
const OBJECT_EVENTS = ["job", "flow", "job.deleted", "flow.deleted"];

export class Events {
  constructor() {
    this.listeners = new Set();
    this.readyListeners = new Set();
    this.lastId = null;
    this.state = "connecting";
    this.onState = () => {};
    this.stopped = false;
  }

  // Follows changes for a view that has loaded what it shows: `listener` gets
  // each change, and `reload` runs once now (a change sent between the view's
  // load and this call reached nobody) and after each `ready` or `reset` (what
  // changed while the stream was down). Returns what stops both.
  follow(listener, reload) {
    this.listeners.add(listener);
    this.readyListeners.add(reload);
    reload();
    return () => {
      this.listeners.delete(listener);
      this.readyListeners.delete(reload);
    };
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  async run() {
    let delay = 500;
    while (!this.stopped) {
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (this.lastId) h["Last-Event-ID"] = this.lastId;
        const response = await fetch("/v2/events", { headers: h });
        if (response.status === 401) {
          if (!(await onUnauthorized())) return;
          continue;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        await readEvents(response, (e) => {
          if (e.id) this.lastId = e.id;
          if (e.event === "ready" || e.event === "reset") {
            this.setState("live");
            delay = 500;
            for (const l of [...this.readyListeners]) l(e.event);
          } else if (OBJECT_EVENTS.includes(e.event)) {
            const kind = e.event.split(".")[0];
            for (const l of [...this.listeners]) l(e.event, e.data[kind]);
          }
        });
      } catch (_) {
        // Dropped (edpd restarting, network): try again below.
      }
      if (this.stopped) return;
      this.setState("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
}
