// Operator console: compose an alert (message, level, area on a map), preview, send,
// watch it go out, read and answer the tips as they come in, close or cancel it.

import {
  $,
  $$,
  ALERT_STATUS,
  ApiError,
  LEVELS,
  announce,
  api,
  eventStream,
  fmtDateTime,
  fmtDuration,
  fmtNumber,
  fmtTime,
  h,
  show,
  signIn,
} from "./common.js";
import { AreaMap, METRES_PER_DEGREE, svg } from "./map.js";
import { analyse, closingText, describeChar, smsText } from "./sms.js";
import { closeBody, initOutcomePicker, resetOutcomePicker } from "./outcomes.js";

const MISSING = new Set(["missing_child", "amber_regional", "amber_national"]);
const ENDED = new Set(["closed", "cancelled", "expired"]);
const DEFAULT_RADIUS = 500;
const DEFAULT_WIDTH = 100; // a corridor's full width in metres
const TIP_STATUS = { new: "Nieuw", read: "Gelezen", useful: "Bruikbaar", not_useful: "Niet bruikbaar" };
const TIP_RANK = { new: 0, read: 1, useful: 2, not_useful: 2 };

const state = {
  me: null,
  features: [],
  names: new Map(),
  map: null,
  mode: "circle",
  circle: null, // {lon, lat, radius}
  polygon: [], // [[lon, lat], ...]
  polygonClosed: false,
  line: [], // a corridor's centre line, [[lon, lat], ...]
  width: DEFAULT_WIDTH,
  codes: new Set(),
  draft: null, // {id, key, alert}
  watching: null, // {id, alert, stream, tips: Map}
};

signIn({
  roles: ["operator"],
  onSignedIn: async (me) => {
    state.me = me;
    await loadAreas();
    setupCompose();
    await refreshAlerts();
    setInterval(refreshAlerts, 15000);
    const wanted = Number(sessionStorage.getItem("burgerwacht.watching"));
    if (wanted) watch(wanted);
    else startCompose();
  },
});

// ------------------------------------------------------------------ areas and list

async function loadAreas() {
  const codes = state.me.municipalities.filter((m) => /^GM\d{4}$/.test(m));
  const docs = await Promise.all(
    codes.map((gm) => api("GET", `/api/v1/areas?municipality=${gm}&level=buurt`).catch(() => null)),
  );
  state.features = docs.filter(Boolean).flatMap((d) => d.features);
  state.features.sort((a, b) => a.properties.name.localeCompare(b.properties.name, "nl"));
  for (const f of state.features) state.names.set(f.properties.code, f.properties.name);
}

async function refreshAlerts() {
  let list;
  try {
    list = await api("GET", "/api/v1/alerts?limit=30");
  } catch {
    return;
  }
  const ul = $("#alert-list");
  ul.replaceChildren(
    ...list.items
      .filter((a) => a.status !== "cancelled" || a.sent_at)
      .map((a) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "alert-item" + (state.watching && state.watching.id === a.id ? " current" : ""),
              "aria-current": state.watching && state.watching.id === a.id ? "true" : null,
              onclick: () => watch(a.id),
            },
            h("span", { class: "title" }, a.title),
            h(
              "span",
              { class: "small" },
              h("span", { class: `badge s-${a.status}` }, ALERT_STATUS[a.status]),
              ` ${a.reference} · ${fmtDateTime(a.sent_at || a.created_at)}`,
            ),
          ),
        ),
      ),
  );
  if (!list.items.length) ul.append(h("li", { class: "help" }, "Nog geen acties."));
}

$("#new-alert").addEventListener("click", () => startCompose());

function view(name) {
  for (const id of ["compose", "watch", "empty"]) show($(`#${id}`), id === name);
}

// ------------------------------------------------------------------ compose

function startCompose() {
  stopWatching();
  sessionStorage.removeItem("burgerwacht.watching");
  view("compose");
  show($("#preview"), false);
  $("#title").focus();
  refreshAlerts();
}

function setupCompose() {
  const map = new AreaMap($("#map"), state.features, {
    label: "Kaart van uw buurten om het gebied te kiezen",
  });
  state.map = map;
  map.addLabels((f) => f.properties.name);
  // circle defaults: the middle of the map
  const [cx, cy] = [map.box.x + map.box.w / 2, map.box.y + map.box.h / 2];
  const [lon, lat] = map.unproject([cx, cy]);
  state.circle = { lon, lat, radius: DEFAULT_RADIUS };

  $("#level").addEventListener("change", () => {
    show($("#consent-row"), MISSING.has($("#level").value));
  });
  $("#message").addEventListener("input", updateMeter);
  initOutcomePicker();
  $("#close-message").addEventListener("input", () => {
    const ref = state.watching ? state.watching.alert.reference : "ABC";
    meter($("#close-message").value, $("#close-meter"), ref, true);
  });
  for (const radio of $$('input[name="mode"]')) radio.addEventListener("change", () => setMode(radio.value));
  for (const [id, key] of [
    ["#c-lat", "lat"],
    ["#c-lon", "lon"],
    ["#c-radius", "radius"],
  ]) {
    $(id).addEventListener("input", () => {
      const v = Number($(id).value);
      if (Number.isFinite(v) && $(id).value !== "") {
        state.circle[key] = v;
        drawOverlay();
      }
    });
  }
  $("#poly-undo").addEventListener("click", () => {
    state.polygon.pop();
    state.polygonClosed = false;
    drawOverlay();
  });
  $("#poly-close").addEventListener("click", () => {
    if (state.polygon.length >= 3) state.polygonClosed = true;
    drawOverlay();
  });
  $("#poly-clear").addEventListener("click", () => {
    state.polygon = [];
    state.polygonClosed = false;
    drawOverlay();
  });
  $("#corridor-width").value = state.width;
  $("#corridor-width").addEventListener("input", () => {
    const v = Number($("#corridor-width").value);
    if (Number.isFinite(v) && v > 0) {
      state.width = v;
      drawOverlay();
    }
  });
  $("#line-undo").addEventListener("click", () => {
    state.line.pop();
    drawOverlay();
  });
  $("#line-clear").addEventListener("click", () => {
    state.line = [];
    drawOverlay();
  });

  // buurten as a keyboard-friendly checkbox list beside the map
  const list = $("#buurt-list");
  list.replaceChildren(
    h("p", { class: "label", id: "buurt-list-label" }, "Buurten"),
    ...state.features.map((f) =>
      h(
        "span",
        { class: "check" },
        h("input", {
          type: "checkbox",
          id: `bu-${f.properties.code}`,
          value: f.properties.code,
          onchange: (e) => toggleCode(f.properties.code, e.target.checked),
        }),
        h("label", { for: `bu-${f.properties.code}` }, f.properties.name),
      ),
    ),
  );

  // pointer interaction on the map
  let dragging = false;
  map.el.addEventListener("pointerdown", (event) => {
    if (state.mode !== "circle" || event.button !== 0) return;
    const [x, y] = map.toMap(event);
    const [lon, lat] = map.unproject([x, y]);
    state.circle = { lon, lat, radius: state.circle.radius };
    dragging = { x, y, moved: false };
    map.el.setPointerCapture(event.pointerId);
    drawOverlay();
    event.preventDefault();
  });
  map.el.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    const [x, y] = map.toMap(event);
    const r = Math.hypot(x - dragging.x, y - dragging.y) * METRES_PER_DEGREE;
    if (r > 20) {
      dragging.moved = true;
      state.circle.radius = Math.round(r / 10) * 10;
      drawOverlay();
    }
  });
  const endDrag = () => {
    dragging = false;
  };
  map.el.addEventListener("pointerup", endDrag);
  map.el.addEventListener("pointercancel", endDrag);
  map.el.addEventListener("click", (event) => {
    if (state.mode === "polygon") {
      if (state.polygonClosed) return;
      const pt = map.unproject(map.toMap(event));
      const last = state.polygon[state.polygon.length - 1];
      if (last && Math.hypot(last[0] - pt[0], last[1] - pt[1]) < 1e-5) return; // a double click
      state.polygon.push(pt);
      drawOverlay();
    } else if (state.mode === "corridor") {
      const pt = map.unproject(map.toMap(event));
      const last = state.line[state.line.length - 1];
      if (last && Math.hypot(last[0] - pt[0], last[1] - pt[1]) < 1e-5) return; // a double click
      state.line.push(pt);
      drawOverlay();
    } else if (state.mode === "areas") {
      const code = event.target.dataset && event.target.dataset.code;
      if (code) toggleCode(code, !state.codes.has(code));
    }
  });
  map.el.addEventListener("dblclick", (event) => {
    if (state.mode === "polygon" && state.polygon.length >= 3) {
      state.polygonClosed = true;
      drawOverlay();
      event.preventDefault();
    }
  });
  // buurten on the map are focusable in buurt mode: Enter/Space toggles
  for (const [code, path] of map.paths) {
    path.addEventListener("keydown", (event) => {
      if (state.mode === "areas" && (event.key === "Enter" || event.key === " ")) {
        toggleCode(code, !state.codes.has(code));
        event.preventDefault();
      }
    });
    const title = svg("title");
    title.textContent = state.names.get(code) || code;
    path.append(title);
  }

  $("#compose-form").addEventListener("input", invalidatePreview);
  $("#compose-form").addEventListener("submit", (event) => {
    event.preventDefault();
    toPreview();
  });
  $("#confirm").addEventListener("change", () => {
    $("#send").disabled = !$("#confirm").checked;
  });
  $("#edit-again").addEventListener("click", () => {
    show($("#preview"), false);
    $("#message").focus();
  });
  $("#send").addEventListener("click", sendDraft);
  setMode("circle");
  updateMeter();
}

function toggleCode(code, on) {
  if (on) state.codes.add(code);
  else state.codes.delete(code);
  const box = document.getElementById(`bu-${code}`);
  if (box) box.checked = on;
  drawOverlay();
}

function setMode(mode) {
  state.mode = mode;
  $(`#mode-${mode}`).checked = true;
  const help = {
    circle: "Klik op de kaart voor het midden en sleep voor de straal, of vul de velden in.",
    polygon: "Klik de hoekpunten aan; dubbelklik of ‘Veelhoek sluiten’ om af te ronden.",
    areas: "Klik buurten op de kaart aan, of vink ze aan in de lijst.",
    corridor: "Klik de route punt voor punt aan (bijv. de weg waarlangs iemand vlucht) en kies de breedte.",
  };
  $("#mode-help").textContent = help[mode];
  show($("#circle-fields"), mode === "circle");
  show($("#polygon-tools"), mode === "polygon");
  show($("#corridor-tools"), mode === "corridor");
  show($("#buurt-list"), mode === "areas");
  state.map.el.dataset.mode = mode;
  for (const path of state.map.paths.values()) {
    if (mode === "areas") {
      path.setAttribute("tabindex", "0");
      path.setAttribute("role", "checkbox");
    } else {
      path.removeAttribute("tabindex");
      path.removeAttribute("role");
    }
  }
  drawOverlay();
}

function invalidatePreview() {
  // a preview of something else must not be confirmed: any change hides it
  show($("#preview"), false);
  $("#confirm").checked = false;
  $("#send").disabled = true;
  if (state.map) state.map.showArea(null);
}

function drawOverlay() {
  invalidatePreview();
  const map = state.map;
  map.overlay.replaceChildren();
  for (const [code, path] of map.paths) {
    const on = state.mode === "areas" && state.codes.has(code);
    path.classList.toggle("selected", on);
    if (state.mode === "areas") path.setAttribute("aria-checked", String(on));
  }
  let summary = "";
  if (state.mode === "circle" && state.circle) {
    const [x, y] = map.project([state.circle.lon, state.circle.lat]);
    map.overlay.append(
      svg("circle", { cx: x, cy: y, r: map.metres(state.circle.radius), class: "target", "stroke-width": map.unit * 2 }),
      svg("circle", { cx: x, cy: y, r: map.unit * 4, class: "centre" }),
    );
    $("#c-lat").value = state.circle.lat.toFixed(5);
    $("#c-lon").value = state.circle.lon.toFixed(5);
    if (document.activeElement !== $("#c-radius")) $("#c-radius").value = state.circle.radius;
    summary = `Cirkel met een straal van ${fmtNumber(state.circle.radius)} m rond ${state.circle.lat.toFixed(4)}, ${state.circle.lon.toFixed(4)}.`;
  } else if (state.mode === "polygon") {
    const pts = state.polygon.map((p) => map.project(p).join(",")).join(" ");
    if (state.polygon.length) {
      map.overlay.append(
        svg(state.polygonClosed ? "polygon" : "polyline", {
          points: pts,
          class: "target",
          "stroke-width": map.unit * 2,
        }),
      );
      for (const p of state.polygon) {
        const [x, y] = map.project(p);
        map.overlay.append(svg("circle", { cx: x, cy: y, r: map.unit * 3.5, class: "vertex" }));
      }
    }
    summary = state.polygonClosed
      ? `Veelhoek met ${state.polygon.length} hoekpunten.`
      : state.polygon.length
        ? `${state.polygon.length} hoekpunt(en) gekozen; sluit de veelhoek af.`
        : "Nog geen hoekpunten gekozen.";
  } else if (state.mode === "corridor") {
    if (state.line.length) {
      const pts = state.line.map((p) => map.project(p).join(",")).join(" ");
      // a round-capped stroke as wide as the corridor is exactly the band the server buffers
      map.overlay.append(
        svg("polyline", { points: pts, class: "corridor", "stroke-width": map.metres(state.width) }),
        svg("polyline", { points: pts, class: "target", "stroke-width": map.unit * 2 }),
      );
      for (const p of state.line) {
        const [x, y] = map.project(p);
        map.overlay.append(svg("circle", { cx: x, cy: y, r: map.unit * 3.5, class: "vertex" }));
      }
    }
    summary =
      state.line.length >= 2
        ? `Route met ${state.line.length} punten, ${fmtNumber(state.width)} m breed.`
        : state.line.length
          ? "1 punt gekozen; klik nog minstens één punt van de route aan."
          : "Nog geen route gekozen.";
  } else if (state.mode === "areas") {
    const names = [...state.codes].map((c) => state.names.get(c) || c).sort((a, b) => a.localeCompare(b, "nl"));
    summary = names.length ? `${names.length} buurt(en): ${names.join(", ")}.` : "Nog geen buurten gekozen.";
  }
  $("#area-summary").textContent = summary;
}

function meter(text, node, reference = "ABC", closing = false) {
  const full = closing ? closingText(reference, text) : smsText(reference, text);
  const a = analyse(full);
  const parts = [
    h("span", { class: "count" }, `${a.characters} tekens`),
    " · ",
    h("span", { class: a.encoding === "GSM-7" ? "enc ok" : "enc warn" }, a.encoding),
    " · ",
    h("span", { class: a.segments > 1 ? "warn" : "" }, `${a.segments} SMS-${a.segments === 1 ? "deel" : "delen"}`),
    a.ucs2_characters.length
      ? h(
          "span",
          { class: "warn block" },
          "Deze tekens maken er UCS-2 van (70 in plaats van 160 tekens per deel): ",
          a.ucs2_characters.map((c) => h("mark", {}, describeChar(c))).flatMap((m, i) => (i ? [", ", m] : [m])),
        )
      : null,
  ];
  node.replaceChildren(...parts.filter(Boolean));
  return a;
}

function markedSms(text) {
  // the SMS text with the characters that force UCS-2 highlighted
  const out = [];
  let run = "";
  const a = analyse(text);
  const bad = new Set(a.ucs2_characters);
  for (const ch of Array.from(text)) {
    if (bad.has(ch)) {
      if (run) out.push(run);
      run = "";
      out.push(h("mark", { title: describeChar(ch) }, ch === " " || ch.trim() === "" ? "␣" : ch));
    } else run += ch;
  }
  if (run) out.push(run);
  return out;
}

function updateMeter() {
  const message = $("#message").value;
  meter(message, $("#sms-meter"));
  const text = smsText(state.draft ? state.draft.alert.reference : "ABC", message);
  $("#sms-hint").replaceChildren(...markedSms(text));
}

function currentTarget() {
  if (state.mode === "circle") {
    const c = state.circle;
    if (!(c && c.radius > 0)) return null;
    return { type: "circle", center: { lat: c.lat, lon: c.lon }, radius_m: c.radius };
  }
  if (state.mode === "polygon") {
    if (!state.polygonClosed || state.polygon.length < 3) return null;
    return { type: "polygon", coordinates: [[...state.polygon, state.polygon[0]]] };
  }
  if (state.mode === "corridor") {
    if (state.line.length < 2 || !(state.width > 0)) return null;
    return { type: "corridor", line: state.line.map((p) => [...p]), width_m: state.width };
  }
  if (!state.codes.size) return null;
  return { type: "areas", codes: [...state.codes].sort() };
}

function composeError(message) {
  const node = $("#compose-error");
  node.textContent = message || "";
  show(node, Boolean(message));
}

async function toPreview() {
  composeError("");
  const channels = [$("#ch-sms"), $("#ch-voice")]
    .filter((c) => c.checked)
    .map((c) => c.value);
  const level = $("#level").value;
  const target = currentTarget();
  const problems = [];
  if (!$("#title").value.trim()) problems.push("een titel");
  if (!$("#message").value.trim()) problems.push("een bericht");
  if (!channels.length) problems.push("minstens één kanaal");
  if (!target) problems.push("een gebied");
  if (MISSING.has(level) && !$("#consent").checked) problems.push("de toestemming van de familie");
  if (problems.length) {
    composeError(`Nog nodig: ${problems.join(", ")}.`);
    return;
  }
  const body = {
    level,
    title: $("#title").value.trim(),
    message: $("#message").value.trim(),
    target,
    channels,
    expires_in_minutes: Number($("#expires").value) || 60,
    family_consent: MISSING.has(level) && $("#consent").checked,
  };
  const voice = $("#voice-message").value.trim();
  if (voice) body.voice_message = voice;
  const key = JSON.stringify(body);
  $("#to-preview").disabled = true;
  try {
    if (!state.draft || state.draft.key !== key) {
      if (state.draft) {
        // a draft cannot be edited: withdraw the old one so no stale draft lingers
        await api("POST", `/api/v1/alerts/${state.draft.id}/cancel`).catch(() => null);
      }
      const alert = await api("POST", "/api/v1/alerts", { body });
      state.draft = { id: alert.id, key, alert };
    }
    const preview = await api("POST", `/api/v1/alerts/${state.draft.id}/preview`);
    renderPreview(preview);
    updateMeter();
  } catch (err) {
    composeError(problemText(err));
  } finally {
    $("#to-preview").disabled = false;
  }
}

function problemText(err) {
  if (err instanceof ApiError) {
    const p = err.problem;
    if (p.errors && p.errors.length) return `${p.detail || p.title} (${p.errors.map((e) => e.loc).join(", ")})`;
    return p.detail || p.title || err.message;
  }
  return `Er ging iets mis: ${err.message}`;
}

function renderPreview(p) {
  const fact = (label, value, id) => [h("dt", {}, label), h("dd", id ? { id } : {}, value)];
  $("#preview-facts").replaceChildren(
    ...fact("Ontvangers", fmtNumber(p.recipients.total), "pv-total"),
    ...fact("Per kanaal", `SMS ${fmtNumber(p.recipients.sms)} · spraak ${fmtNumber(p.recipients.voice)}`, "pv-channels"),
    ...fact(
      "Stille uren",
      `${fmtNumber(p.quiet_hours.deferred)} uitgesteld · ${fmtNumber(p.quiet_hours.skipped)} overgeslagen`,
      "pv-quiet",
    ),
    ...fact("Boven dagbudget", fmtNumber(p.over_budget)),
    ...fact("Buiten uw gemeenten", fmtNumber(p.outside_scope)),
    ...fact(
      "SMS",
      `${p.sms.encoding} · ${p.sms.characters} tekens · ${p.sms.segments} ${p.sms.segments === 1 ? "deel" : "delen"}`,
      "pv-sms",
    ),
    ...fact("Iedereen bereikt", fmtDuration(p.estimated_seconds), "pv-eta"),
  );
  $("#preview-sms").replaceChildren(...markedSms(p.sms.text));
  const warnings = [];
  if (p.recipients.total === 0) warnings.push("Er is niemand in dit gebied aangemeld.");
  if (p.sms.ucs2_characters.length)
    warnings.push(`Tekens die UCS-2 afdwingen: ${p.sms.ucs2_characters.map(describeChar).join(", ")}.`);
  if (p.sms.gsm7_suggestion) warnings.push(`GSM-7-versie: “${p.sms.gsm7_suggestion}”`);
  $("#preview-warn").textContent = warnings.join(" ");
  show($("#preview-warn"), warnings.length > 0);
  $("#confirm").checked = false;
  $("#send").disabled = true;
  show($("#preview"), true);
  // the area as the server resolved it (a corridor's band, a circle, the buurten)
  state.map.showArea(p.area || null, "reach");
  $("#preview").focus();
  announce(`Voorbeeld: ${p.recipients.total} ontvangers.`);
}

async function sendDraft() {
  if (!state.draft) return;
  $("#send").disabled = true;
  try {
    await api("POST", `/api/v1/alerts/${state.draft.id}/send`);
    const id = state.draft.id;
    state.draft = null;
    $("#compose-form").reset();
    state.codes.clear();
    for (const box of $$("#buurt-list input")) box.checked = false;
    state.polygon = [];
    state.polygonClosed = false;
    state.line = [];
    setMode("circle");
    updateMeter();
    announce("De actie wordt verstuurd.");
    await watch(id);
  } catch (err) {
    $("#preview-warn").textContent = problemText(err);
    show($("#preview-warn"), true);
    $("#send").disabled = false;
  }
}

// ------------------------------------------------------------------ watch

function stopWatching() {
  if (state.watching && state.watching.stream) state.watching.stream.stop();
  state.watching = null;
}

async function watch(id) {
  stopWatching();
  let alert;
  try {
    alert = await api("GET", `/api/v1/alerts/${id}`);
  } catch {
    sessionStorage.removeItem("burgerwacht.watching");
    view("empty");
    return;
  }
  sessionStorage.setItem("burgerwacht.watching", String(id));
  const w = { id, alert, tips: new Map(), stream: null };
  state.watching = w;
  view("watch");
  $("#tips").replaceChildren();
  show($("#no-tips"), true);
  $("#tip-count").textContent = "";
  $("#close-message").value = "";
  resetOutcomePicker();
  meter("", $("#close-meter"), alert.reference, true);
  $("#end-result").textContent = "";
  show($("#end-result"), false);
  show($("#end-error"), false);
  show($("#cancel-confirm"), false);
  renderAlert(alert);
  renderWatchMap(alert);
  refreshAlerts();
  $("#watch-title").focus?.();
  await loadTips(w);
  w.stream = eventStream(`/api/v1/alerts/${id}/events`, {
    onOpen: () => loadTips(w),
    onState: (s) => {
      $("#stream-state").textContent =
        s === "open" ? "● live" : s === "reconnecting" ? "verbinding herstellen…" : "geen live-verbinding";
      $("#stream-state").className = `stream ${s}`;
    },
    onEvent: (name, data) => {
      if (state.watching !== w) return;
      if (name === "progress") {
        const wasStatus = w.alert.status;
        Object.assign(w.alert, data);
        renderAlert(w.alert);
        if (wasStatus !== data.status) refreshAlerts();
      } else if (name === "tip") {
        addTip(w, data, true);
      }
    },
  });
}

function renderAlert(a) {
  $("#watch-title").textContent = `${a.title} (${a.reference})`;
  const badge = $("#watch-status");
  badge.textContent = ALERT_STATUS[a.status] || a.status;
  badge.className = `badge s-${a.status}`;
  $("#watch-meta").textContent = [
    LEVELS[a.level],
    a.channels.map((c) => (c === "sms" ? "SMS" : "spraak")).join(" + "),
    a.sent_at ? `verstuurd ${fmtDateTime(a.sent_at)}` : "nog niet verstuurd",
    a.expires_at ? `verloopt ${fmtDateTime(a.expires_at)}` : null,
    a.closed_at ? `beëindigd ${fmtDateTime(a.closed_at)}` : null,
  ]
    .filter(Boolean)
    .join(" · ");
  renderProgress(a);
  const ended = ENDED.has(a.status);
  show($("#close-form"), !ended && a.status !== "draft");
  if (a.status === "draft") {
    $("#end-result").textContent = "Dit is een concept dat niet is verstuurd.";
    show($("#end-result"), true);
  }
  if (ended && a.closing_message) {
    $("#end-result").textContent = `Afgesloten met: “${a.closing_message}”`;
    show($("#end-result"), true);
  } else if (ended && !$("#end-result").textContent) {
    $("#end-result").textContent = `Deze actie is ${ALERT_STATUS[a.status].toLowerCase()}.`;
    show($("#end-result"), true);
  }
}

const SEGMENTS = [
  ["delivered", ["delivered"], "afgeleverd"],
  ["sent", ["sent"], "verzonden, wacht op bevestiging"],
  ["failed", ["undelivered", "failed", "expired"], "niet afgeleverd"],
  ["other", ["cancelled", "skipped"], "geannuleerd of overgeslagen"],
];
const COUNT_LABELS = {
  queued: "In de wachtrij",
  sending: "Bezig",
  sent: "Verzonden",
  delivered: "Afgeleverd",
  undelivered: "Niet afgeleverd",
  failed: "Mislukt",
  expired: "Verlopen",
  cancelled: "Geannuleerd",
  skipped: "Overgeslagen",
};

function bar(label, counts, id) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const pending = (counts.queued || 0) + (counts.sending || 0);
  const done = total - pending;
  const pct = total ? Math.floor((100 * done) / total) : 0;
  const delivered = counts.delivered || 0;
  const failed = (counts.undelivered || 0) + (counts.failed || 0) + (counts.expired || 0);
  const track = h("div", {
    class: "track",
    role: "progressbar",
    "aria-label": `${label}: verwerkt`,
    "aria-valuemin": "0",
    "aria-valuemax": "100",
    "aria-valuenow": String(pct),
    "aria-valuetext": `${pct} %: ${delivered} afgeleverd, ${failed} niet afgeleverd, ${pending} nog te gaan`,
  });
  for (const [cls, states, title] of SEGMENTS) {
    const n = states.reduce((a, s) => a + (counts[s] || 0), 0);
    if (!n || !total) continue;
    const seg = h("span", { class: `seg ${cls}`, title: `${n} ${title}` });
    seg.style.width = `${(100 * n) / total}%`; // CSSOM, allowed by the CSP
    track.append(seg);
  }
  return h(
    "div",
    { class: "bar", id },
    h(
      "div",
      { class: "bar-head" },
      h("span", { class: "bar-label" }, label),
      h("span", { class: "pct", dataset: { pct: String(pct) } }, total ? `${pct} %` : "–"),
    ),
    track,
    h(
      "div",
      { class: "bar-foot small" },
      total
        ? `${fmtNumber(delivered)} van ${fmtNumber(total)} afgeleverd · ${fmtNumber(failed)} niet afgeleverd · ${fmtNumber(pending)} nog te gaan`
        : "Geen ontvangers",
    ),
  );
}

function renderProgress(a) {
  const box = $("#progress");
  const bars = [];
  const channelName = { sms: "SMS", voice: "Spraakoproep" };
  if (a.counts_by_channel && Object.keys(a.counts_by_channel).length) {
    for (const [channel, counts] of Object.entries(a.counts_by_channel))
      bars.push(bar(channelName[channel] || channel, counts, `bar-${channel}`));
  } else {
    bars.push(bar(a.channels.map((c) => channelName[c]).join(" + "), a.counts, "bar-alert"));
  }
  if (a.closing_counts) bars.push(bar("Afloopbericht", a.closing_counts, "bar-closing"));
  box.replaceChildren(...bars);
  const table = $("#counts");
  const caption = table.querySelector("caption");
  const head = h("tr", {}, h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Actie"));
  if (a.closing_counts) head.append(h("th", { scope: "col" }, "Afloop"));
  const rows = Object.entries(COUNT_LABELS).map(([key, label]) => {
    const tr = h("tr", {}, h("th", { scope: "row" }, label), h("td", { dataset: { state: key } }, fmtNumber(a.counts[key] || 0)));
    if (a.closing_counts) tr.append(h("td", {}, fmtNumber(a.closing_counts[key] || 0)));
    return tr;
  });
  table.replaceChildren(caption, h("thead", {}, head), h("tbody", {}, ...rows));
}

function renderWatchMap(a) {
  const box = $("#watch-map");
  const map = new AreaMap(box, state.features, { label: "Het gebied van deze actie" });
  map.addLabels((f) => f.properties.name);
  // the area the server gives with the alert, whatever the target type
  map.showArea(a.area || null);
}

// ------------------------------------------------------------------ tips

async function loadTips(w) {
  try {
    const list = await api("GET", `/api/v1/alerts/${w.id}/tips?limit=100`);
    for (const tip of list.items.slice().reverse()) addTip(w, tip, false);
  } catch {
    /* the stream still brings new ones */
  }
}

function addTip(w, tip, live) {
  if (state.watching !== w) return;
  const known = w.tips.get(tip.id);
  w.tips.set(tip.id, { ...(known || {}), ...tip });
  const node = tipNode(w.tips.get(tip.id));
  const old = document.getElementById(`tip-${tip.id}`);
  if (old) old.replaceWith(node);
  else {
    // newest first: insert before the first tip received earlier
    const list = $("#tips");
    const later = $$("li.tip", list).find((li) => Number(li.dataset.id) < tip.id);
    list.insertBefore(node, later || null);
    if (live) {
      node.classList.add("fresh");
      setTimeout(() => node.classList.remove("fresh"), 6000);
      announce(`Nieuwe tip: ${tip.text || "spraakbericht"}`);
    }
  }
  show($("#no-tips"), w.tips.size === 0);
  const unread = [...w.tips.values()].filter((t) => t.status === "new").length;
  $("#tip-count").textContent = `${w.tips.size}${unread ? ` · ${unread} nieuw` : ""}`;
}

function tipNode(tip) {
  const rank = TIP_RANK[tip.status];
  const button = (label, status, cls) =>
    h(
      "button",
      {
        type: "button",
        class: cls,
        disabled: tip.erased || tip.status === status || (status === "read" && rank >= 1) ? true : null,
        onclick: () => patchTip(tip.id, status),
      },
      label,
    );
  const reply = h(
    "form",
    {
      class: "reply",
      hidden: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const area = event.target.querySelector("textarea");
        const out = event.target.querySelector(".reply-result");
        try {
          const r = await api("POST", `/api/v1/tips/${tip.id}/reply`, { body: { message: area.value } });
          out.textContent = `Antwoord verstuurd (${r.segments} SMS-${r.segments === 1 ? "deel" : "delen"}).`;
          out.className = "reply-result ok";
          area.value = "";
        } catch (err) {
          out.textContent = problemText(err);
          out.className = "reply-result error";
        }
      },
    },
    h("label", { for: `reply-${tip.id}` }, "Antwoord (SMS naar de tipgever)"),
    h("textarea", { id: `reply-${tip.id}`, rows: "2", maxlength: "480", required: true }),
    h("button", { type: "submit", class: "primary" }, "Verstuur antwoord"),
    h("span", { class: "reply-result", role: "status" }),
  );
  const who = tip.anonymous ? "anoniem" : tip.phone ? h("a", { href: `tel:${tip.phone}` }, tip.phone) : "–";
  return h(
    "li",
    { class: `tip t-${tip.status}`, id: `tip-${tip.id}`, dataset: { id: String(tip.id) } },
    h(
      "div",
      { class: "tip-head" },
      h("time", { datetime: tip.received_at }, fmtTime(tip.received_at)),
      h("span", { class: "chan" }, tip.channel === "voice" ? "spraak" : "SMS"),
      h("span", { class: "who" }, who),
      h("span", { class: `badge ts-${tip.status}` }, TIP_STATUS[tip.status]),
    ),
    tip.erased
      ? h("p", { class: "tip-text help" }, "(gewist)")
      : tip.text
        ? h("p", { class: "tip-text" }, tip.text)
        : tip.recording_url
          ? h(
              "p",
              { class: "tip-text" },
              h("a", { href: tip.recording_url, target: "_blank", rel: "noopener noreferrer" }, `Spraakbericht (${tip.recording_seconds || "?"} s) beluisteren`),
            )
          : null,
    tip.candidate_alerts ? h("p", { class: "help" }, "Meerdere acties mogelijk; de tipgever is gevraagd welke.") : null,
    h(
      "div",
      { class: "tip-actions" },
      button("Gelezen", "read"),
      button("Bruikbaar", "useful", "good"),
      button("Niet bruikbaar", "not_useful"),
      h(
        "button",
        {
          type: "button",
          disabled: tip.erased ? true : null,
          "aria-expanded": "false",
          onclick: (event) => {
            reply.hidden = !reply.hidden;
            event.target.setAttribute("aria-expanded", String(!reply.hidden));
            if (!reply.hidden) reply.querySelector("textarea").focus();
          },
        },
        "Antwoorden",
      ),
    ),
    reply,
  );
}

async function patchTip(id, status) {
  const w = state.watching;
  try {
    const tip = await api("PATCH", `/api/v1/tips/${id}`, { body: { status } });
    if (w) addTip(w, tip, false);
    announce(`Tip gemarkeerd als ${TIP_STATUS[status].toLowerCase()}.`);
  } catch (err) {
    announce(problemText(err));
  }
}

// ------------------------------------------------------------------ close, cancel

$("#close-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const w = state.watching;
  if (!w) return;
  const message = $("#close-message").value.trim();
  show($("#end-error"), false);
  if (!message) {
    $("#end-error").textContent = "Schrijf eerst het afloopbericht.";
    show($("#end-error"), true);
    return;
  }
  try {
    const r = await api("POST", `/api/v1/alerts/${w.id}/close`, { body: closeBody(message) });
    w.alert.status = "closed";
    w.alert.closing_message = message;
    $("#end-result").textContent = `Afgesloten. Het afloopbericht gaat naar ${fmtNumber(r.closing_deliveries)} ontvanger(s).`;
    show($("#end-result"), true);
    renderAlert(w.alert);
    announce("De actie is afgesloten.");
    refreshAlerts();
  } catch (err) {
    $("#end-error").textContent = problemText(err);
    show($("#end-error"), true);
  }
});

$("#cancel-alert").addEventListener("click", () => {
  show($("#cancel-confirm"), true);
  $("#cancel-confirm").focus();
});

$("#cancel-confirm").addEventListener("click", async () => {
  const w = state.watching;
  if (!w) return;
  show($("#cancel-confirm"), false);
  try {
    const r = await api("POST", `/api/v1/alerts/${w.id}/cancel`);
    w.alert.status = "cancelled";
    $("#end-result").textContent = `Geannuleerd. ${fmtNumber(r.cancelled)} bericht(en) gaan niet meer uit.`;
    show($("#end-result"), true);
    renderAlert(w.alert);
    announce("De actie is geannuleerd.");
    refreshAlerts();
  } catch (err) {
    $("#end-error").textContent = problemText(err);
    show($("#end-error"), true);
  }
});
