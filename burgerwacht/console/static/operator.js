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
import { initTemplatePicker, resetTemplatePicker, templateProblems, withTemplate } from "./templates.js";
import {
  exerciseBand,
  exerciseLabel,
  initApproval,
  leaveQueue,
  refreshQueue,
  renderWatchDecision,
} from "./approval.js";

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
  draft: null, // {id, key, alert, photoKey}
  photoUrl: null, // object URL of the draft's stored photo (preview)
  watching: null, // {id, alert, stream, tips: Map}
};

signIn({
  roles: ["operator"],
  onSignedIn: async (me) => {
    state.me = me;
    await loadAreas();
    setupCompose();
    await initTemplatePicker();
    await refreshAlerts();
    setInterval(refreshAlerts, 15000);
    initApproval(me, { view, watch, refreshAlerts, problemText });
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
            h("span", { class: "title" }, exerciseLabel(a), a.mode === "exercise" ? " " : "", a.title),
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
  for (const id of ["compose", "watch", "queue", "empty"]) show($(`#${id}`), id === name);
  if (name !== "queue") leaveQueue();
  // the exercise band follows what the screen shows (compose: the mode chosen)
  exerciseBand(name === "compose" && alertMode() === "exercise");
}

function alertMode() {
  const chosen = document.querySelector('input[name="alert-mode"]:checked');
  return chosen ? chosen.value : "live";
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
    base: true,
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
  for (const radio of $$('input[name="alert-mode"]')) radio.addEventListener("change", () => exerciseBand(alertMode() === "exercise"));
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
  // closing: true for the closing message, or a function (reference, text) → the SMS
  const full =
    typeof closing === "function" ? closing(reference, text) : closing ? closingText(reference, text) : smsText(reference, text);
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
  problems.push(...templateProblems());
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
    mode: alertMode(),
  };
  const voice = $("#voice-message").value.trim();
  if (voice) body.voice_message = voice;
  const sent = withTemplate(body);
  const key = JSON.stringify(sent);
  $("#to-preview").disabled = true;
  try {
    if (!state.draft || state.draft.key !== key) {
      if (state.draft) {
        // a draft cannot be edited: withdraw the old one so no stale draft lingers
        await api("POST", `/api/v1/alerts/${state.draft.id}/cancel`).catch(() => null);
      }
      const alert = await api("POST", "/api/v1/alerts", { body: sent });
      state.draft = { id: alert.id, key, alert };
    }
    await syncPhoto();
    const preview = await api("POST", `/api/v1/alerts/${state.draft.id}/preview`);
    renderPreview(preview);
    updateMeter();
  } catch (err) {
    composeError(problemText(err));
  } finally {
    $("#to-preview").disabled = false;
  }
}

function photoKey() {
  const file = $("#photo").files[0];
  return file ? `${file.name}|${file.size}|${file.lastModified}|${$("#photo-alt").value.trim()}` : "";
}

async function syncPhoto() {
  // the chosen photo on the draft: uploaded again when the draft, the file or its alt
  // text changed; removed when the file was taken away
  const key = photoKey();
  if (state.draft.photoKey === key) return;
  const file = $("#photo").files[0];
  try {
    if (file) {
      state.draft.alert = await api("PUT", `/api/v1/alerts/${state.draft.id}/photo`, {
        file,
        query: { alt: $("#photo-alt").value.trim() },
      });
    } else if (state.draft.alert.photo) {
      state.draft.alert = await api("DELETE", `/api/v1/alerts/${state.draft.id}/photo`);
    }
  } catch (err) {
    if (err instanceof ApiError && err.problem) err.problem.detail = `Foto niet gebruikt: ${err.problem.detail || err.problem.title}`;
    throw err;
  }
  state.draft.photoKey = key;
  await showDraftPhoto();
}

async function showDraftPhoto() {
  // the photo as the server stored it (re-encoded, without EXIF/GPS), as residents see it
  const info = state.draft && state.draft.alert.photo;
  const img = $("#preview-photo-img");
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = null;
  if (!info) {
    img.removeAttribute("src");
    show($("#preview-photo"), false);
    return;
  }
  const resp = await api("GET", `/api/v1/alerts/${state.draft.id}/photo`, { accept: "image/jpeg", raw: true });
  state.photoUrl = URL.createObjectURL(await resp.blob());
  img.src = state.photoUrl;
  img.width = info.width;
  img.height = info.height;
  img.alt = info.alt || state.draft.alert.title;
  $("#preview-photo-info").textContent =
    `Foto zoals bewoners hem zien: ${info.width} × ${info.height} pixels, ${Math.ceil(info.bytes / 1000)} kB, ` +
    `zonder plaats- en cameragegevens. Beschrijving: ${info.alt || "(de titel)"}`;
  show($("#preview-photo"), true);
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
    const sent = await api("POST", `/api/v1/alerts/${state.draft.id}/send`);
    const id = state.draft.id;
    state.draft = null;
    $("#compose-form").reset();
    await showDraftPhoto();
    exerciseBand(false);
    resetTemplatePicker();
    state.codes.clear();
    for (const box of $$("#buurt-list input")) box.checked = false;
    state.polygon = [];
    state.polygonClosed = false;
    state.line = [];
    setMode("circle");
    updateMeter();
    announce(
      sent && sent.status === "awaiting_approval"
        ? "De actie wacht op goedkeuring door een tweede persoon."
        : "De actie wordt verstuurd.",
    );
    refreshQueue();
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
  resetLifecycle(w);
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
      } else if (name === "approval") {
        // approved, rejected (back to draft) or waiting: the whole alert again
        reloadAlert(w);
        refreshQueue();
      } else if (name === "update" || name === "wave") {
        // a follow-up or a wave (maybe an automatic one): the whole alert again
        reloadAlert(w);
        if (name === "wave") announce(`Golf ${data.number}: ${fmtNumber(data.added)} bewoner(s) erbij.`);
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
  exerciseBand(a.mode === "exercise");
  renderWatchPhoto(a);
  renderApproval(a);
  renderProgress(a);
  renderLifecycle(a);
  const ended = ENDED.has(a.status);
  show($("#close-form"), !ended && a.status !== "draft");
  show($("#close-alert"), a.status !== "awaiting_approval"); // nothing went out yet: only cancel
  if (a.status === "draft") {
    $("#end-result").textContent = a.rejection
      ? `Afgewezen, weer een concept. Reden: “${a.rejection.reason}”`
      : "Dit is een concept dat niet is verstuurd.";
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

// The alert's photo as residents see it on the page (the stored, re-encoded JPEG), with
// a way to take it off again: a wrong photo of a sent alert is withdrawn at once (the
// page and its photo URL stop showing it; shared caches keep it at most 60 s).
async function renderWatchPhoto(a) {
  const box = $("#watch-photo");
  const info = a.photo;
  if (!info) {
    show(box, false);
    show($("#watch-photo-confirm"), false);
    box.dataset.key = "";
    return;
  }
  const key = `${a.id}|${info.created_at}`;
  $("#watch-photo-info").textContent =
    `Foto bij de actie: ${info.width} × ${info.height} pixels, ${fmtNumber(Math.round(info.bytes / 1000))} kB` +
    (info.alt ? ` · alt-tekst: “${info.alt}”` : "");
  show(box, true);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const img = $("#watch-photo-img");
  img.alt = info.alt || a.title;
  try {
    const url = await photoUrl(`/api/v1/alerts/${a.id}/photo`, key);
    if (box.dataset.key === key) img.src = url;
  } catch {
    box.dataset.key = "";
  }
}

$("#watch-photo-remove").addEventListener("click", () => {
  show($("#watch-photo-confirm"), true);
  $("#watch-photo-confirm").focus();
});

$("#watch-photo-confirm").addEventListener("click", async () => {
  const w = state.watching;
  if (!w) return;
  show($("#watch-photo-confirm"), false);
  show($("#watch-photo-error"), false);
  try {
    w.alert = await api("DELETE", `/api/v1/alerts/${w.id}/photo`);
    renderAlert(w.alert);
    announce("De foto is van de actie gehaald.");
  } catch (err) {
    $("#watch-photo-error").textContent = problemText(err);
    show($("#watch-photo-error"), true);
  }
});

function renderApproval(a) {
  // waiting for the second person: no progress to show yet, say so instead
  const waiting = a.status === "awaiting_approval";
  const box = $("#watch-approval");
  box.textContent = waiting
    ? "Wacht op goedkeuring door een tweede persoon. Er is nog niets verstuurd" +
      (a.approval && a.approval.preview
        ? `; na goedkeuring gaat de actie naar ${fmtNumber(a.approval.preview.recipients.total)} ontvanger(s).`
        : ".")
    : "";
  show(box, waiting);
  show($("#progress"), !waiting);
  show($("#counts"), !waiting);
  // a colleague decides here too, not only in the queue
  renderWatchDecision(a, async () => {
    const w = state.watching;
    if (w && w.id === a.id) {
      await reloadAlert(w);
      refreshAlerts();
    }
  });
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
  // a large alert's deliveries are still being written: the totals are not final yet
  if (a.materialising)
    bars.unshift(h("p", { class: "small", role: "status" }, "Ontvangers worden nog aangemaakt: de aantallen groeien nog."));
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
  const map = new AreaMap(box, state.features, { label: "Het gebied van deze actie en zijn golven", base: true });
  map.addLabels((f) => f.properties.name);
  // the area the server gives with the alert, whatever the target type
  map.showArea(a.area || null);
  // each wave's area, lighter, under the next ring being drawn
  for (const wave of a.waves || []) {
    map.addShape(wave.area, { class: "wave", fill: "#1f6feb", "fill-opacity": "0.08", stroke: "#1f6feb", "stroke-dasharray": `${map.unit * 4}` });
  }
  if (state.watching) {
    state.watching.map = map;
    map.el.addEventListener("click", (event) => drawRing(event, "click"));
    map.el.addEventListener("pointermove", (event) => drawRing(event, "move"));
    drawProposal();
  }
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
      announce(`Nieuwe tip: ${tip.text || (tip.media && tip.media.length ? "foto" : "spraakbericht")}`);
    }
  }
  show($("#no-tips"), w.tips.size === 0);
  const unread = [...w.tips.values()].filter((t) => t.status === "new").length;
  $("#tip-count").textContent = `${w.tips.size}${unread ? ` · ${unread} nieuw` : ""}`;
}

// Tip photos (picture messages, the public page's form): fetched with the token (an
// <img src> cannot send it) and shown from a blob URL, kept per photo while the page lives.
const PHOTO_URLS = new Map();
const TIP_CHANNEL = { voice: "spraak", web: "formulier", sms: "SMS" };

async function photoUrl(path, key = path) {
  if (!PHOTO_URLS.has(key)) {
    PHOTO_URLS.set(
      key,
      api("GET", path, { accept: "image/jpeg", raw: true })
        .then((resp) => resp.blob())
        .then((blob) => URL.createObjectURL(blob))
        .catch((err) => {
          PHOTO_URLS.delete(key);
          throw err;
        }),
    );
  }
  return PHOTO_URLS.get(key);
}

function tipPhotos(tip) {
  const media = tip.erased ? [] : tip.media || [];
  if (!media.length) return null;
  return h(
    "ul",
    { class: "tip-photos", "aria-label": "Foto's bij deze tip" },
    ...media.map((m) => {
      const label = `Foto ${m.n + 1}`;
      if (m.status === "stored" && m.url) {
        const img = h("img", { alt: `${label} bij de tip (${m.width}×${m.height})`, width: "120", loading: "lazy" });
        const link = h(
          "a",
          {
            href: "#",
            title: `${label} groot bekijken`,
            class: "tip-photo",
            onclick: (event) => {
              if (link.getAttribute("href") === "#") event.preventDefault(); // not loaded yet
            },
          },
          img,
        );
        photoUrl(m.url).then(
          (url) => {
            img.src = url;
            link.href = url;
            link.target = "_blank";
            link.rel = "noopener";
          },
          () => link.replaceWith(h("span", { class: "help" }, `${label}: kon niet worden geladen`)),
        );
        return h("li", {}, link);
      }
      const text =
        m.status === "pending"
          ? `${label} wordt opgehaald…`
          : m.status === "erased"
            ? `${label} gewist`
            : `${label} niet bewaard${m.reason ? ` (${m.reason.replace(/^not kept: /, "")})` : ""}`;
      return h("li", { class: "help" }, text);
    }),
  );
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
      h("span", { class: "chan" }, TIP_CHANNEL[tip.channel] || tip.channel),
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
    tipPhotos(tip),
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

// ------------------------------------------------------------------ follow-ups, waves, timeline
//
// Built here rather than in index.html: three cards before "Afronden" — a follow-up
// (vervolgbericht) with its SMS meter and reach, widening by drawing the next ring on
// the map with the residents it would add (POST …/widen/preview), and the alert's
// timeline (start, follow-ups, waves, end), kept current by the event stream.

const LIVE = new Set(["sending", "active"]);

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function updateSms(reference, text) {
  return `Burgerwacht ${reference} UPDATE: ${text}`;
}

function lifecycleCards() {
  const update = h(
    "section",
    { class: "card", id: "update-card", "aria-labelledby": "update-title", hidden: true },
    h("h3", { id: "update-title" }, "Vervolgbericht"),
    h(
      "form",
      { id: "update-form" },
      h(
        "label",
        { for: "update-message" },
        "Nieuw bericht (naar iedereen die de actie al kreeg; wie hem nog moet krijgen, krijgt één bericht met de laatste stand)",
      ),
      h("textarea", { id: "update-message", rows: "3", maxlength: "640", required: true, "aria-describedby": "update-meter update-reach" }),
      h("div", { id: "update-meter", class: "meter" }),
      h(
        "div",
        { id: "update-voice-box", hidden: true },
        h("label", { for: "update-voice" }, "Gesproken tekst voor wie gebeld wordt (leeg: de SMS-tekst)"),
        h("textarea", { id: "update-voice", rows: "2", maxlength: "1500" }),
      ),
      h("p", { id: "update-reach", class: "help", "aria-live": "polite" }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "send-update" }, "Vervolgbericht versturen")),
    ),
    h("p", { id: "update-result", class: "ok", role: "status", hidden: true }),
    h("p", { id: "update-error", class: "error", role: "alert", hidden: true }),
  );
  const widen = h(
    "section",
    { class: "card", id: "widen-card", "aria-labelledby": "widen-title", hidden: true },
    h("h3", { id: "widen-title" }, "Gebied uitbreiden"),
    h(
      "p",
      { class: "help", id: "widen-help" },
      "Teken de volgende ring op de kaart: klik voor het midden, klik nog eens voor de straal. Of vul de straal in.",
    ),
    h(
      "form",
      { id: "widen-form" },
      h("label", { for: "widen-radius" }, "Straal van de nieuwe ring (m)"),
      h("input", { id: "widen-radius", type: "number", min: "10", max: "100000", step: "10", inputmode: "numeric" }),
      h("p", { id: "widen-reach", class: "help", "aria-live": "polite" }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", id: "widen-send", disabled: true }, "Uitbreiden"),
        h("button", { type: "button", id: "widen-stop", hidden: true }, "Automatisch uitbreiden stoppen"),
      ),
    ),
    h("p", { id: "widen-result", class: "ok", role: "status", hidden: true }),
    h("p", { id: "widen-error", class: "error", role: "alert", hidden: true }),
  );
  const timeline = h(
    "section",
    { class: "card", id: "timeline-card", "aria-labelledby": "timeline-title" },
    h("h3", { id: "timeline-title" }, "Verloop"),
    h("ol", { id: "wave-timeline", class: "timeline" }),
  );
  $("#end-card").before(update, widen, timeline);

  const previewUpdate = debounce(async () => {
    const w = state.watching;
    const message = $("#update-message").value.trim();
    if (!w || !message) return void ($("#update-reach").textContent = "");
    try {
      const p = await api("POST", `/api/v1/alerts/${w.id}/updates/preview`, { body: { message } });
      $("#update-reach").textContent =
        `Gaat naar ${fmtNumber(p.recipients.total)} bewoner(s): ${fmtNumber(p.recipients.sms)} per SMS, ` +
        `${fmtNumber(p.recipients.voice)} per spraakoproep. ` +
        (p.pending ? `${fmtNumber(p.pending)} die de actie nog moeten krijgen, krijgen één bericht: “${p.current.text}”.` : "");
    } catch (err) {
      $("#update-reach").textContent = problemText(err);
    }
  }, 400);
  $("#update-message").addEventListener("input", () => {
    const w = state.watching;
    meter($("#update-message").value, $("#update-meter"), w ? w.alert.reference : "ABC", updateSms);
    previewUpdate();
  });
  $("#update-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const w = state.watching;
    const message = $("#update-message").value.trim();
    const voice = $("#update-voice").value.trim();
    show($("#update-error"), false);
    if (!w || !message) return;
    try {
      const body = voice ? { message, voice_message: voice } : { message };
      const r = await api("POST", `/api/v1/alerts/${w.id}/updates`, { body });
      $("#update-result").textContent =
        `Vervolgbericht ${r.update.number} gaat naar ${fmtNumber(r.update.counts.queued || 0)} ontvanger(s).`;
      show($("#update-result"), true);
      $("#update-message").value = "";
      $("#update-voice").value = "";
      $("#update-reach").textContent = "";
      announce(`Vervolgbericht ${r.update.number} verstuurd.`);
      w.alert = r.alert;
      renderAlert(w.alert);
    } catch (err) {
      $("#update-error").textContent = problemText(err);
      show($("#update-error"), true);
    }
  });

  const previewWiden = debounce(async () => {
    const w = state.watching;
    if (!w || !w.ring) return;
    const ring = { ...w.ring };
    try {
      const p = await api("POST", `/api/v1/alerts/${w.id}/widen/preview`, { body: { target: ringTarget(ring) } });
      if (state.watching !== w || w.ring.radius !== ring.radius) return;
      const extra = [
        p.quiet_hours.deferred ? `${fmtNumber(p.quiet_hours.deferred)} na hun stille uren` : null,
        p.over_budget ? `${fmtNumber(p.over_budget)} boven hun dagbudget (overgeslagen)` : null,
        p.outside_scope ? `${fmtNumber(p.outside_scope)} buiten uw gemeenten (niet bereikt)` : null,
      ].filter(Boolean);
      $("#widen-reach").textContent =
        `Deze ring voegt ${fmtNumber(p.recipients.total)} bewoner(s) toe: ${fmtNumber(p.recipients.sms)} per SMS, ` +
        `${fmtNumber(p.recipients.voice)} per spraakoproep${extra.length ? `; ${extra.join(", ")}` : ""}.`;
      $("#widen-send").disabled = false;
    } catch (err) {
      $("#widen-reach").textContent = problemText(err);
    }
  }, 300);
  state.previewWiden = previewWiden;
  $("#widen-radius").addEventListener("input", () => {
    const w = state.watching;
    const radius = Number($("#widen-radius").value);
    if (!w || !w.ring || !(radius > 0)) return;
    w.ring.radius = radius;
    drawProposal();
    previewWiden();
  });
  $("#widen-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const w = state.watching;
    show($("#widen-error"), false);
    if (!w || !w.ring) return;
    try {
      const r = await api("POST", `/api/v1/alerts/${w.id}/widen`, { body: { target: ringTarget(w.ring) } });
      $("#widen-result").textContent = r.wave ? `Golf ${r.wave.number}: ${fmtNumber(r.added)} bewoner(s) erbij.` : "Deze ring voegt niemand toe.";
      show($("#widen-result"), true);
      announce($("#widen-result").textContent);
      w.alert = r.alert;
      w.ring = null;
      $("#widen-reach").textContent = "";
      $("#widen-send").disabled = true;
      await reloadAlert(w);
    } catch (err) {
      $("#widen-error").textContent = problemText(err);
      show($("#widen-error"), true);
    }
  });
  $("#widen-stop").addEventListener("click", async () => {
    const w = state.watching;
    if (!w) return;
    try {
      w.alert = await api("POST", `/api/v1/alerts/${w.id}/widen/stop`);
      announce("Automatisch uitbreiden is gestopt.");
      renderAlert(w.alert);
    } catch (err) {
      $("#widen-error").textContent = problemText(err);
      show($("#widen-error"), true);
    }
  });
}

function ringTarget(ring) {
  return { type: "circle", center: { lat: ring.lat, lon: ring.lon }, radius_m: Math.round(ring.radius) };
}

function resetLifecycle(w) {
  w.ring = null;
  w.drawing = false;
  for (const id of ["update-result", "update-error", "widen-result", "widen-error"]) show($(`#${id}`), false);
  $("#update-message").value = "";
  $("#update-voice").value = "";
  show($("#update-voice-box"), w.alert.channels.includes("voice"));
  $("#update-reach").textContent = "";
  $("#widen-reach").textContent = "";
  $("#widen-send").disabled = true;
  meter("", $("#update-meter"), w.alert.reference, updateSms);
  // the next ring starts around the alert's own circle (or the last wave's), a step wider
  const last = [...(w.alert.waves || [])].reverse().find((x) => x.target.type === "circle");
  const base = last ? last.target : w.alert.target.type === "circle" ? w.alert.target : null;
  if (base) {
    w.ring = { lon: base.center.lon, lat: base.center.lat, radius: Math.round(base.radius_m * 1.5) };
    $("#widen-radius").value = w.ring.radius;
  } else $("#widen-radius").value = "";
}

async function reloadAlert(w) {
  try {
    const alert = await api("GET", `/api/v1/alerts/${w.id}`);
    if (state.watching !== w) return;
    w.alert = alert;
    renderAlert(alert);
    renderWatchMap(alert);
  } catch {
    /* the next event or refresh tries again */
  }
}

function drawRing(event, kind) {
  const w = state.watching;
  if (!w || !w.map || !LIVE.has(w.alert.status)) return;
  const [lon, lat] = w.map.unproject(w.map.toMap(event));
  if (kind === "click") {
    if (!w.drawing) {
      w.ring = { lon, lat, radius: w.ring ? w.ring.radius : 250 };
      w.drawing = true;
      $("#widen-reach").textContent = "Klik nog eens om de straal vast te leggen.";
    } else {
      w.drawing = false;
      w.ring.radius = Math.max(10, Math.round(w.map.distance([w.ring.lon, w.ring.lat], [lon, lat])));
      $("#widen-radius").value = w.ring.radius;
      state.previewWiden();
    }
  } else if (w.drawing && w.ring) {
    w.ring.radius = Math.max(10, Math.round(w.map.distance([w.ring.lon, w.ring.lat], [lon, lat])));
  } else return;
  drawProposal();
}

function drawProposal() {
  const w = state.watching;
  if (!w || !w.map) return;
  w.map.overlay.replaceChildren();
  if (!w.ring || !LIVE.has(w.alert.status)) return;
  w.map.overlay.append(
    w.map.circleAt([w.ring.lon, w.ring.lat], w.ring.radius, {
      class: "proposal",
      fill: "none",
      stroke: "#b35900",
      "stroke-dasharray": `${w.map.unit * 6} ${w.map.unit * 3}`,
    }),
  );
}

function renderLifecycle(a) {
  const live = LIVE.has(a.status);
  show($("#update-card"), live);
  show($("#widen-card"), live);
  show($("#widen-stop"), live && Boolean(a.widen && !a.widen.ended));
  const items = [];
  if (a.sent_at) items.push([a.sent_at, "Startbericht verstuurd", `${fmtNumber(a.counts.delivered + a.counts.sent)} bereikt`]);
  for (const u of a.updates || []) {
    const reached = (u.counts.delivered || 0) + (u.counts.sent || 0);
    items.push([u.created_at, `Vervolgbericht ${u.number}: “${u.message}”`, `${fmtNumber(reached)} bereikt`]);
  }
  for (const wave of a.waves || []) {
    const radius = wave.target.type === "circle" ? `, straal ${fmtNumber(wave.target.radius_m)} m` : "";
    items.push([
      wave.created_at,
      `Golf ${wave.number}${wave.auto ? " (automatisch)" : ""}${radius}`,
      `${fmtNumber(wave.added)} bewoner(s) erbij`,
    ]);
  }
  if (a.widen && !a.widen.ended && a.widen.next_at)
    items.push([a.widen.next_at, "Volgende automatische golf", `straal ${fmtNumber(Math.min(a.widen.radius_m + a.widen.step_m, a.widen.max_radius_m))} m`]);
  if (a.closed_at) items.push([a.closed_at, ALERT_STATUS[a.status] || a.status, ""]);
  items.sort((x, y) => String(x[0]).localeCompare(String(y[0])));
  $("#wave-timeline").replaceChildren(
    ...items.map(([at, what, detail]) =>
      h("li", {}, h("time", { datetime: at }, fmtTime(at)), " ", h("strong", {}, what), detail ? ` · ${detail}` : ""),
    ),
  );
  show($("#timeline-card"), items.length > 0);
}

lifecycleCards();
