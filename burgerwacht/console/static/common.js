// Shared by the operator and analyst pages: sign-in, API calls, the event-stream
// reader, small DOM helpers and Dutch formatting. No dependencies, no build step.
//
// The staff token lives in sessionStorage (gone when the tab closes) and is sent only
// in the Authorization header: never in a URL, so it is not in history, logs or
// Referer headers. Event streams are read with fetch() because EventSource cannot send
// an Authorization header.

const TOKEN_KEY = "burgerwacht.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/** Call the JSON API. `body` is sent as JSON; the answer is parsed JSON (or null). */
export async function api(method, path, { body, file, query, accept, signal, raw } = {}) {
  const headers = { Accept: accept || "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, signal, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (file !== undefined) {
    // a file as the raw body, with its own type (a photo upload)
    headers["Content-Type"] = file.type || "application/octet-stream";
    init.body = file;
  }
  if (query) {
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== ""));
    if ([...params].length) path += (path.includes("?") ? "&" : "?") + params;
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    let problem = null;
    try {
      problem = await resp.json();
    } catch {
      problem = null;
    }
    if (resp.status === 401) document.dispatchEvent(new CustomEvent("bw:unauthorised"));
    throw new ApiError(resp.status, problem);
  }
  if (raw) return resp;
  if (resp.status === 204) return null;
  const type = resp.headers.get("Content-Type") || "";
  return type.includes("json") ? resp.json() : resp.text();
}

/**
 * Read a server-sent-event stream with fetch (so the token stays in a header).
 * Calls onEvent(name, data) for each event; reconnects with back-off until stopped.
 * onOpen() runs on every (re)connect: the place to re-read state that may have been
 * missed while disconnected. Returns { stop() }.
 */
export function eventStream(path, { onEvent, onOpen, onState }) {
  let controller = null;
  let stopped = false;
  let delay = 500;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const resp = await api("GET", path, {
          accept: "text/event-stream",
          signal: controller.signal,
          raw: true,
        });
        delay = 500;
        onState && onState("open");
        onOpen && onOpen();
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            dispatch(block);
          }
        }
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) {
          onState && onState("error", err);
          return;
        }
      }
      if (stopped) return;
      onState && onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  }

  function dispatch(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // comment / keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      return;
    }
    onEvent(name, parsed);
  }

  run();
  return {
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Build an element: h("button", {class: "x", onclick: f}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export function show(node, visible = true) {
  node.hidden = !visible;
}

const numberFormat = new Intl.NumberFormat("nl-NL");
export const fmtNumber = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));

export function fmtTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleTimeString("nl-NL", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtDateTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString("nl-NL", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** "ca. 45 s", "ca. 3 min 20 s", "ca. 2 u 5 min". */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `ca. ${s} s`;
  if (s < 3600) return `ca. ${Math.floor(s / 60)} min ${s % 60} s`;
  return `ca. ${Math.floor(s / 3600)} u ${Math.round((s % 3600) / 60)} min`;
}

export const LEVELS = {
  regular: "Regulier",
  missing_child: "Vermist kind",
  amber_regional: "AMBER Alert regionaal",
  amber_national: "AMBER Alert landelijk",
};

export const ALERT_STATUS = {
  draft: "Concept",
  awaiting_approval: "Wacht op goedkeuring",
  sending: "Wordt verstuurd",
  active: "Actief",
  closed: "Afgesloten",
  cancelled: "Geannuleerd",
  expired: "Verlopen",
};

export const ROLES = {
  operator: "centralist",
  analyst: "analist",
  fieldworker: "veldwerker",
  admin: "beheerder",
  wijkagent: "wijkagent",
};

/** A polite live region: screen readers announce what is written here. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

/**
 * Sign-in flow shared by both pages. `roles` are the roles this page is for.
 * Resolves with the /api/v1/me document once a suitable token is in the session.
 */
export function signIn({ roles, onSignedIn }) {
  const form = $("#signin-form");
  const input = $("#signin-token");
  const error = $("#signin-error");
  const signinView = $("#signin");
  const appView = $("#app");

  async function check() {
    if (!getToken()) {
      showSignin();
      return;
    }
    try {
      const me = await api("GET", "/api/v1/me");
      if (!roles.includes(me.role)) {
        clearToken();
        const other =
          me.role === "operator"
            ? "Gebruik de meldkamerconsole (/console/)."
            : me.role === "analyst" || me.role === "admin" || me.role === "wijkagent"
              ? "Gebruik de analysepagina (/console/analyse)."
              : me.role === "fieldworker"
                ? "Gebruik de veldpagina (/console/veld)."
                : "";
        showSignin(`Deze pagina is niet voor de rol ${ROLES[me.role] || me.role}. ${other}`);
        return;
      }
      show(signinView, false);
      show(appView, true);
      const where = [...me.municipalities, ...(me.wijken || [])].join(", ");
      $("#user-name").textContent = `${me.name} (${ROLES[me.role] || me.role}, ${where})`;
      onSignedIn(me);
    } catch (err) {
      clearToken();
      showSignin(
        err instanceof ApiError && err.status === 401
          ? "Deze token is onbekend, ingetrokken of verlopen."
          : `Aanmelden lukt niet: ${err.message}`,
      );
    }
  }

  function showSignin(message) {
    show(appView, false);
    show(signinView, true);
    error.textContent = message || "";
    show(error, Boolean(message));
    input.value = "";
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    setToken(token);
    input.value = "";
    check();
  });
  $("#signout").addEventListener("click", () => {
    clearToken();
    location.reload();
  });
  document.addEventListener("bw:unauthorised", () => {
    clearToken();
    showSignin("Uw sessie is verlopen; meld opnieuw aan.");
  });
  check();
}

/** Save text as a file (downloads need the token, so a plain link would not do). */
export function saveFile(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
