// The fieldworker page: record a Buurtsignaal on the street from a phone (location from
// the browser or a tap on the map, or a buurt from the list) and triage open signals.
// Uses only the signals API: POST /api/v1/signals, GET /api/v1/signals, PATCH
// /api/v1/signals/{id}; the categories come from Open311's service list, the buurten
// from /api/v1/areas.

import { $, ApiError, announce, api, h, show, signIn } from "/console/static/common.js";
import { AreaMap, pointInFeature, svg } from "/console/static/map.js";

const state = {
  me: null,
  municipality: null,
  services: [],
  names: new Map(), // category code → name
  features: [],
  buurtNames: new Map(),
  map: null,
  point: null, // {lat, lon}
  next: null,
  current: null, // the signal being triaged
};

const todayIso = () => new Date().toLocaleDateString("sv-SE"); // YYYY-MM-DD, local

function selectTab(which) {
  for (const [tab, panel] of [
    ["#tab-new", "#new"],
    ["#tab-list", "#list"],
  ]) {
    const on = panel === which;
    $(tab).setAttribute("aria-selected", String(on));
    show($(panel), on);
  }
  if (which === "#list") loadSignals(true);
}

function categoryOptions(select, selected) {
  const byGroup = new Map();
  for (const s of state.services) {
    if (!byGroup.has(s.group)) byGroup.set(s.group, []);
    byGroup.get(s.group).push(s);
  }
  select.replaceChildren(
    ...[...byGroup].map(([g, list]) =>
      h(
        "optgroup",
        { label: g },
        ...list.map((s) => h("option", { value: s.service_code, selected: s.service_code === selected }, s.service_name)),
      ),
    ),
  );
  if (selected) select.value = selected;
}

async function loadMunicipality(gm) {
  state.municipality = gm;
  try {
    state.services = await api("GET", `/open311/v2/services.json?jurisdiction_id=${gm}`);
  } catch {
    state.services = [];
  }
  state.names = new Map(state.services.map((s) => [s.service_code, s.service_name]));
  categoryOptions($("#category"));
  let doc = { features: [] };
  try {
    doc = await api("GET", `/api/v1/areas?municipality=${gm}&level=buurt`);
  } catch (err) {
    showError("#form-error", `De buurten laden lukt niet: ${err.message}`);
  }
  state.features = doc.features || [];
  state.buurtNames = new Map(state.features.map((f) => [f.properties.code, f.properties.name]));
  $("#buurt").replaceChildren(
    h("option", { value: "" }, "— op de kaart gekozen punt —"),
    ...state.features
      .slice()
      .sort((a, b) => a.properties.name.localeCompare(b.properties.name, "nl"))
      .map((f) => h("option", { value: f.properties.code }, f.properties.name)),
  );
  state.map = new AreaMap($("#map"), state.features, { label: "Kaart van de buurten: tik om de plaats te kiezen", base: true });
  state.map.el.addEventListener("click", (event) => {
    const [lon, lat] = state.map.unproject(state.map.toMap(event));
    setPoint(lat, lon, "op de kaart");
  });
  clearPlace();
}

function buurtAt(lat, lon) {
  return state.features.find((f) => pointInFeature([lon, lat], f)) || null;
}

function mark(code) {
  for (const [c, path] of state.map.paths) path.classList.toggle("chosen", c === code);
}

function setPoint(lat, lon, how) {
  state.point = { lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) };
  $("#buurt").value = "";
  const f = buurtAt(lat, lon);
  mark(f ? f.properties.code : null);
  state.map.overlay.replaceChildren();
  const [x, y] = state.map.project([lon, lat]);
  state.map.overlay.append(svg("circle", { cx: x, cy: y, r: state.map.unit * 7, class: "pin", "stroke-width": state.map.unit * 2 }));
  const text = f
    ? `Punt ${how} in ${f.properties.name}.`
    : `Punt ${how}: buiten de buurten van ${state.municipality}.`;
  $("#place-text").textContent = text;
  announce(text);
}

function clearPlace() {
  state.point = null;
  $("#buurt").value = "";
  if (state.map) {
    state.map.overlay.replaceChildren();
    mark(null);
  }
  $("#place-text").textContent = "Nog geen plaats gekozen.";
}

function showError(selector, message) {
  const node = $(selector);
  node.textContent = message || "";
  show(node, Boolean(message));
}

function problemText(err) {
  if (!(err instanceof ApiError)) return `Dat lukt niet: ${err.message}`;
  const errors = err.problem.errors || [];
  const fields = errors.map((e) => e.msg).filter(Boolean);
  return [err.message, ...fields].join(" · ");
}

async function submitSignal(event) {
  event.preventDefault();
  showError("#form-error", "");
  show($("#saved"), false);
  const code = $("#buurt").value;
  if (!code && !state.point) {
    showError("#form-error", "Kies eerst een plaats: uw locatie, een tik op de kaart of een buurt.");
    return;
  }
  const body = {
    category: $("#category").value,
    severity: Number(document.querySelector("input[name=severity]:checked").value),
    source: $("#source").value,
    observed_on: $("#observed").value || undefined,
  };
  const text = $("#text").value.trim();
  if (text) body.text = text;
  if (code) body.area_code = code;
  else body.point = state.point;
  $("#save").disabled = true;
  try {
    const saved = await api("POST", "/api/v1/signals", { body });
    const where = saved.buurt_name || state.buurtNames.get(saved.buurt_code) || saved.buurt_code;
    const what = state.names.get(saved.category) || saved.category;
    $("#saved").textContent = `Opgeslagen: ${what} in ${where} (kenmerk ${saved.service_request_id}).`;
    $("#saved").dataset.id = saved.id;
    show($("#saved"), true);
    announce($("#saved").textContent);
    $("#text").value = "";
    clearPlace();
  } catch (err) {
    showError("#form-error", problemText(err));
  } finally {
    $("#save").disabled = false;
  }
}

function locate() {
  if (!navigator.geolocation) {
    showError("#form-error", "Deze browser kan uw locatie niet bepalen. Tik op de kaart of kies een buurt.");
    return;
  }
  $("#place-text").textContent = "Locatie bepalen…";
  navigator.geolocation.getCurrentPosition(
    (pos) => setPoint(pos.coords.latitude, pos.coords.longitude, "van uw locatie"),
    () => {
      $("#place-text").textContent = "Locatie niet beschikbaar.";
      showError("#form-error", "Uw locatie is niet beschikbaar. Tik op de kaart of kies een buurt.");
    },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 },
  );
}

function signalItem(s) {
  const what = state.names.get(s.category) || s.category;
  const where = state.buurtNames.get(s.buurt_code) || s.buurt_code;
  const text = s.text ? (s.text.length > 90 ? `${s.text.slice(0, 90)}…` : s.text) : "";
  return h(
    "li",
    {},
    h(
      "button",
      { type: "button", dataset: { id: s.id }, onclick: () => openTriage(s) },
      h("span", { class: "sev", title: "ernst" }, s.severity ?? "–"),
      h("strong", {}, what),
      ` · ${where}`,
      h("span", { class: "meta" }, `${s.observed_on}${text ? ` · ${text}` : ""}`),
    ),
  );
}

async function loadSignals(reset) {
  showError("#list-error", "");
  const params = new URLSearchParams({ municipality: state.municipality, status: "open", limit: "20" });
  if (!reset && state.next) params.set("cursor", state.next);
  try {
    const doc = await api("GET", `/api/v1/signals?${params}`);
    const items = doc.items.map(signalItem);
    if (reset) $("#signals").replaceChildren(...items);
    else $("#signals").append(...items);
    if (reset && !doc.items.length) $("#signals").replaceChildren(h("li", { class: "help" }, "Geen open signalen."));
    state.next = doc.next;
    show($("#more"), Boolean(doc.next));
  } catch (err) {
    showError("#list-error", problemText(err));
  }
}

function openTriage(s) {
  state.current = s;
  const where = state.buurtNames.get(s.buurt_code) || s.buurt_code;
  $("#triage-what").textContent = `${s.observed_on} · ${where}${s.text ? ` · ${s.text}` : ""}`;
  categoryOptions($("#t-category"), s.category);
  $("#t-severity").value = String(s.severity ?? 3);
  $("#t-status").value = s.status;
  $("#t-notes").value = s.status_notes || "";
  $("#t-public").value = s.public_note || "";
  showError("#triage-error", "");
  $("#triage").showModal();
}

async function saveTriage(event) {
  event.preventDefault();
  const s = state.current;
  const wanted = {
    category: $("#t-category").value,
    severity: Number($("#t-severity").value),
    status: $("#t-status").value,
    status_notes: $("#t-notes").value.trim(),
    public_note: $("#t-public").value.trim(),
  };
  const before = {
    category: s.category,
    severity: s.severity,
    status: s.status,
    status_notes: s.status_notes || "",
    public_note: s.public_note || "",
  };
  const changes = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => v !== before[k]));
  if (!Object.keys(changes).length) {
    $("#triage").close();
    return;
  }
  $("#t-save").disabled = true;
  try {
    await api("PATCH", `/api/v1/signals/${s.id}`, { body: changes });
    $("#triage").close();
    announce("Signaal bijgewerkt.");
    await loadSignals(true);
  } catch (err) {
    showError("#triage-error", problemText(err));
  } finally {
    $("#t-save").disabled = false;
  }
}

function start(me) {
  state.me = me;
  const gms = me.municipalities.filter((m) => /^GM\d{4}$/.test(m));
  $("#municipality").replaceChildren(...gms.map((gm) => h("option", { value: gm }, gm)));
  $("#municipality").addEventListener("change", () => loadMunicipality($("#municipality").value));
  $("#observed").value = todayIso();
  $("#observed").max = todayIso();
  $("#tab-new").addEventListener("click", () => selectTab("#new"));
  $("#tab-list").addEventListener("click", () => selectTab("#list"));
  $("#locate").addEventListener("click", locate);
  $("#buurt").addEventListener("change", () => {
    const code = $("#buurt").value;
    if (!code) return clearPlace();
    state.point = null;
    state.map.overlay.replaceChildren();
    mark(code);
    $("#place-text").textContent = `Buurt ${state.buurtNames.get(code)} gekozen.`;
  });
  $("#signal-form").addEventListener("submit", submitSignal);
  $("#more").addEventListener("click", () => loadSignals(false));
  $("#triage-form").addEventListener("submit", saveTriage);
  $("#t-cancel").addEventListener("click", () => $("#triage").close());
  if (gms.length) loadMunicipality(gms[0]);
}

signIn({ roles: ["fieldworker", "operator"], onSignedIn: start });
