// Analyst pages: a choropleth of protected signal counts per buurt/wijk, a monthly
// trend, the informatiepositie table and downloads. Everything shown comes from the
// API's published (suppressed and rounded) figures; nothing is computed from raw data.

import { $, ApiError, announce, api, fmtNumber, h, saveFile, show, signIn } from "./common.js";
import { renderCoverage, scopeAreas } from "./coverage.js";
import { AreaMap, svg } from "./map.js";
import { initEffectiveness } from "./effectiveness.js";

const COLOURS = ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"];
const MONTHS = ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];
const MISMATCH = {
  possible_underreporting: ["▲", "Mogelijk onderrapportage bij de politie", "m-under"],
  not_bothered_or_not_reached: ["▼", "Bewoners niet gehinderd of niet bereikt", "m-over"],
  in_line: ["=", "In lijn", "m-inline"],
  no_signals_or_registrations: ["·", "Geen signalen of registraties", "m-none"],
  insufficient_data: ["?", "Te weinig gepubliceerde politiecijfers", "m-none"],
};
const GRAIN = { month: "per maand", quarter: "per kwartaal", year: "per jaar", buurt: "per buurt", wijk: "per wijk", gemeente: "per gemeente" };

const state = { me: null, areas: new Map(), summary: null, seq: 0, trendArea: null, scope: "" };

signIn({
  roles: ["analyst", "admin", "wijkagent"],
  onSignedIn: async (me) => {
    state.me = me;
    await setupFilters();
    for (const id of ["#f-municipality", "#f-level", "#f-category", "#f-period"])
      $(id).addEventListener("change", refresh);
    $("#dl-csv").addEventListener("click", () => download("csv"));
    $("#dl-geojson").addEventListener("click", () => download("geojson"));
    $("#trend-reset").addEventListener("click", () => showTrendOf(null));
    $("#filters").addEventListener("submit", (e) => e.preventDefault());
    refresh();
    if (me.role === "wijkagent") {
      // neither the priorities' edit form nor alert effectiveness is theirs (the API refuses both)
      $("#prio-edit").hidden = true;
      $("#eff-title").closest("section").hidden = true;
    } else {
      initEffectiveness();
    }
  },
});

// ------------------------------------------------------------------ filters

function periodOptions(today = new Date()) {
  const y = today.getFullYear();
  const m = today.getMonth() + 1; // 1..12
  const months = [];
  for (let i = 1; i <= 24; i++) {
    const d = new Date(y, m - 1 - i, 1);
    const label = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
    months.push([label, `${MONTHS[d.getMonth()]} ${d.getFullYear()}`]);
  }
  const quarters = [];
  let q = Math.floor((m - 1) / 3); // current quarter index 0..3; list the complete ones before it
  let qy = y;
  for (let i = 0; i < 8; i++) {
    q -= 1;
    if (q < 0) {
      q = 3;
      qy -= 1;
    }
    quarters.push([`${qy}-Q${q + 1}`, `${q + 1}e kwartaal ${qy}`]);
  }
  const years = [y - 1, y - 2, y - 3].map((v) => [String(v), String(v)]);
  return { months, quarters, years };
}

async function setupFilters() {
  const gms = state.me.municipalities.filter((m) => /^GM\d{4}$/.test(m));
  $("#f-municipality").replaceChildren(...gms.map((gm) => h("option", { value: gm }, gm)));
  const { months, quarters, years } = periodOptions();
  const group = (label, items) => h("optgroup", { label }, ...items.map(([v, t]) => h("option", { value: v }, t)));
  $("#f-period").replaceChildren(group("Maanden", months), group("Kwartalen", quarters), group("Jaren", years));
  $("#f-period").value = months[0][0]; // the last complete month
  let services = [];
  try {
    services = await api("GET", `/open311/v2/services.json?jurisdiction_id=${gms[0] || ""}`);
  } catch {
    services = [];
  }
  const byGroup = new Map();
  for (const s of services) {
    if (!byGroup.has(s.group)) byGroup.set(s.group, []);
    byGroup.get(s.group).push(s);
  }
  $("#f-category").replaceChildren(
    h("option", { value: "all" }, "Alle categorieën"),
    ...[...byGroup].map(([g, list]) =>
      h("optgroup", { label: g }, ...list.map((s) => h("option", { value: s.service_code }, s.service_name))),
    ),
  );
  // municipality names from the gemeente outline
  for (const gm of gms) {
    try {
      const doc = await api("GET", `/api/v1/areas?municipality=${gm}&level=gemeente`);
      const name = doc.features[0] && doc.features[0].properties.name;
      if (name) $(`#f-municipality option[value="${gm}"]`).textContent = `${name} (${gm})`;
    } catch {
      /* the code alone will do */
    }
  }
}

function selection() {
  return {
    municipality: $("#f-municipality").value,
    level: $("#f-level").value,
    category: $("#f-category").value,
    period: $("#f-period").value,
  };
}

function summaryQuery(sel, extra = {}) {
  const q = new URLSearchParams({ municipality: sel.municipality, level: sel.level, period: sel.period });
  if (sel.category === "all") q.set("group", "all");
  else q.set("category", sel.category);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return `/api/v1/signals/summary?${q}`;
}

function showError(err) {
  const node = $("#error");
  if (!err) {
    show(node, false);
    return;
  }
  node.textContent = err instanceof ApiError ? err.problem.detail || err.message : `Er ging iets mis: ${err.message}`;
  show(node, true);
}

async function refresh() {
  const seq = ++state.seq;
  const sel = selection();
  if (!sel.municipality) return;
  showError(null);
  // an area chosen for the trend belongs to one municipality and level
  const scope = `${sel.municipality}/${sel.level}`;
  if (scope !== state.scope) state.trendArea = null;
  state.scope = scope;
  try {
    const key = `${sel.municipality}/${sel.level}`;
    if (!state.areas.has(key))
      state.areas.set(key, await api("GET", `/api/v1/areas?municipality=${sel.municipality}&level=${sel.level}`));
    const [areas, summary] = [scopeAreas(state.areas.get(key), state.me), await api("GET", summaryQuery(sel))];
    if (seq !== state.seq) return;
    state.summary = summary;
    renderChoropleth(areas, summary, sel);
    renderTable(summary);
    announce(`Kaart bijgewerkt: ${summary.period.label}.`);
  } catch (err) {
    showError(err);
  }
  trend(sel, seq).catch(showError);
  informatiepositie(sel, seq).catch(showError);
  renderCoverage(sel, state.me).catch(showError);
}

// ------------------------------------------------------------------ choropleth

/** Class breaks over the published counts only: suppressed cells never join a class. */
export function classes(values, roundTo = 5) {
  const v = [...new Set(values)].sort((a, b) => a - b);
  if (!v.length) return [];
  if (v.length <= COLOURS.length) return v.map((x) => [x, x]);
  const out = [];
  let lo = v[0];
  for (let i = 1; i <= COLOURS.length; i++) {
    const idx = Math.min(v.length - 1, Math.round((i * v.length) / COLOURS.length) - 1);
    let hi = v[idx];
    hi = Math.ceil(hi / roundTo) * roundTo;
    if (out.length && hi <= out[out.length - 1][1]) continue;
    out.push([lo, hi]);
    lo = hi + roundTo;
  }
  out[out.length - 1][1] = Math.max(out[out.length - 1][1], v[v.length - 1]);
  return out;
}

function classOf(n, breaks) {
  return breaks.findIndex(([lo, hi]) => n >= lo && n <= hi);
}

function categoryName() {
  const opt = $("#f-category").selectedOptions[0];
  return opt ? opt.textContent : "";
}

function renderChoropleth(areas, summary, sel) {
  const rows = new Map(summary.items.map((r) => [r.area_code, r]));
  const published = summary.items.filter((r) => !r.suppressed && r.count !== null).map((r) => r.count);
  const breaks = classes(published, summary.privacy.round_to);
  const levelName = sel.level === "wijk" ? "wijk" : "buurt";
  const map = new AreaMap($("#choropleth"), areas.features, {
    label: `Kaart: signalen ${categoryName().toLowerCase()} per ${levelName}, ${summary.period.label}`,
  });
  let suppressed = 0;
  for (const [code, path] of map.paths) {
    const r = rows.get(code);
    const title = svg("title");
    if (!r || r.suppressed) {
      path.setAttribute("fill", "url(#hatch)");
      path.style.fill = "url(#hatch)"; // CSSOM: allowed by the CSP, and beats the stylesheet
      path.classList.add("suppressed");
      suppressed += 1;
      title.textContent = `${r ? r.area_name : code}: onderdrukt`;
    } else {
      const c = classOf(r.count, breaks);
      const colour = COLOURS[Math.max(0, c) + COLOURS.length - breaks.length];
      path.setAttribute("fill", colour);
      path.style.fill = colour;
      path.dataset.class = String(c);
      title.textContent = `${r.area_name}: ${fmtNumber(r.count)}`;
    }
    path.dataset.count = r && r.count !== null ? String(r.count) : "";
    path.classList.add("choro");
    path.addEventListener("click", () => showTrendOf({ code, name: r ? r.area_name : code }));
    path.append(title);
  }
  map.addLabels((f) => {
    const r = rows.get(f.properties.code);
    return `${f.properties.name}\n${r && !r.suppressed ? fmtNumber(r.count) : "×"}`;
  });
  $("#map-sub").textContent = `${categoryName()} · ${summary.period.label} · per ${levelName}`;
  const offset = COLOURS.length - breaks.length;
  const legend = $("#legend");
  legend.replaceChildren(
    ...breaks.map(([lo, hi], i) =>
      h(
        "li",
        {},
        swatch(COLOURS[i + offset]),
        lo === hi ? fmtNumber(lo) : `${fmtNumber(lo)} – ${fmtNumber(hi)}`,
      ),
    ),
    h("li", {}, swatch("url(#legend-hatch)", true), `onderdrukt (${suppressed}): minder dan ${summary.privacy.k} of herleidbaar`),
  );
  if (!breaks.length) legend.prepend(h("li", { class: "help" }, "Geen gepubliceerde aantallen in deze selectie."));
}

function swatch(fill, hatch = false) {
  const s = svg("svg", { width: "18", height: "14", "aria-hidden": "true", class: "swatch" });
  if (hatch) {
    const defs = svg("defs");
    defs.innerHTML =
      '<pattern id="legend-hatch" patternUnits="userSpaceOnUse" width="5" height="5" patternTransform="rotate(45)">' +
      '<rect width="5" height="5" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="5" stroke="#8a8a8a" stroke-width="2"/></pattern>';
    s.append(defs);
  }
  s.append(svg("rect", { width: "18", height: "14", fill, stroke: "#555", "stroke-width": "1" }));
  return s;
}

function renderTable(summary) {
  const body = $("#summary-table tbody");
  const items = [...summary.items].sort((a, b) => (b.count ?? -1) - (a.count ?? -1) || a.area_name.localeCompare(b.area_name, "nl"));
  body.replaceChildren(
    ...items.map((r) =>
      h(
        "tr",
        { dataset: { code: r.area_code } },
        h(
          "th",
          { scope: "row" },
          h(
            "button",
            {
              type: "button",
              class: "link",
              title: `Trend van ${r.area_name}`,
              onclick: () => showTrendOf({ code: r.area_code, name: r.area_name }),
            },
            r.area_name,
          ),
          h("span", { class: "code" }, ` ${r.area_code}`),
        ),
        h("td", { class: "num", dataset: { count: r.suppressed ? "" : String(r.count) } }, r.suppressed ? "onderdrukt" : fmtNumber(r.count)),
        h("td", { class: "num" }, r.change === null ? "–" : (r.change > 0 ? "+" : "") + fmtNumber(r.change)),
        h("td", { class: "num" }, r.mean_severity === null ? "–" : r.mean_severity.toLocaleString("nl-NL")),
      ),
    ),
  );
  $("#privacy-note").textContent =
    `Aantallen onder ${summary.privacy.k} zijn onderdrukt (ook nul), net als aantallen waaruit een onderdrukt aantal is af te leiden; ` +
    `gepubliceerde aantallen zijn afgerond op ${summary.privacy.round_to}. Verschil: ten opzichte van ${summary.previous_period ? summary.previous_period.label : "–"}.`;
}

// ------------------------------------------------------------------ trend

function lastMonths(period, n = 12) {
  // the n months ending with the last month of the chosen period
  let y;
  let m;
  if (/^\d{4}-\d{2}$/.test(period)) [y, m] = period.split("-").map(Number);
  else if (/^\d{4}-Q\d$/.test(period)) {
    y = Number(period.slice(0, 4));
    m = Number(period.slice(6)) * 3;
  } else {
    y = Number(period);
    m = 12;
  }
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(y, m - 1 - i, 1);
    out.push(`${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`);
  }
  return out;
}

/** Show the trend of one area (null: the whole municipality). A click on a map or
 * table that no longer matches the filters (they changed, the new summary is loading)
 * is ignored. */
function showTrendOf(area) {
  const sel = selection();
  if (area && (!state.summary || state.summary.municipality !== sel.municipality || state.summary.level !== sel.level))
    return;
  state.trendArea = area;
  trend(sel, state.seq).catch((err) => {
    if (area && state.trendArea === area) state.trendArea = null; // back to the municipality next time
    showError(err);
  });
}

async function trend(sel, seq) {
  // one request: the trend endpoint reads the same protected figures as the summaries
  const months = lastMonths(sel.period);
  const q = new URLSearchParams({
    municipality: sel.municipality,
    to: months[months.length - 1],
    months: String(months.length),
  });
  if (sel.category === "all") q.set("group", "all");
  else q.set("category", sel.category);
  const area = state.trendArea;
  if (area) q.set("area", area.code);
  else if (state.me.wijken && state.me.wijken.length) q.set("area", state.me.wijken[0]); // a wijkagent: their wijk
  const doc = await api("GET", `/api/v1/signals/trend?${q}`);
  if (seq !== state.seq || area !== state.trendArea) return;
  const points = doc.points.map((p) => ({ period: p.period, count: p.suppressed ? null : p.count }));
  const where = doc.level === "gemeente" ? "hele gemeente" : doc.area_name;
  $("#trend-sub").textContent = `${categoryName()}, ${where}, ${months[0]} t/m ${months[months.length - 1]}. Gearceerd: onderdrukt.${area ? "" : " Kies een gebied op de kaart of in de tabel voor zijn trend."}`;
  $("#trend").dataset.area = doc.area_code;
  show($("#trend-reset"), Boolean(area));
  const W = 720;
  const H = 220;
  const left = 40;
  const bottom = 28;
  const top = 12;
  const max = Math.max(5, ...points.map((p) => p.count || 0));
  const step = (W - left - 10) / points.length;
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": `Trend: ${points.map((p) => `${p.period} ${p.count === null ? "onderdrukt" : p.count}`).join(", ")}`,
  });
  const defs = svg("defs");
  defs.innerHTML =
    '<pattern id="trend-hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">' +
    '<rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8a8a8a" stroke-width="2"/></pattern>';
  chart.append(defs);
  for (const tick of niceTicks(max)) {
    chart.append(svg("line", { x1: left, x2: W - 5, y1: y(tick), y2: y(tick), class: "grid" }));
    const t = svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis" });
    t.textContent = String(tick);
    chart.append(t);
  }
  points.forEach((p, i) => {
    const x = left + i * step + step * 0.15;
    const w = step * 0.7;
    if (p.count === null) {
      // a hatched stub on the baseline: hidden, not "high"
      const stub = svg("rect", { x, y: y(0) - 16, width: w, height: 16, fill: "url(#trend-hatch)", class: "bar-suppressed" });
      const title = svg("title");
      title.textContent = `${p.period}: onderdrukt`;
      stub.append(title);
      chart.append(stub);
      const mark = svg("text", { x: x + w / 2, y: y(0) - 20, "text-anchor": "middle", class: "axis" });
      mark.textContent = "×";
      chart.append(mark);
    } else {
      const r = svg("rect", { x, y: y(p.count), width: w, height: Math.max(0, y(0) - y(p.count)), class: "bar-value" });
      const title = svg("title");
      title.textContent = `${p.period}: ${p.count}`;
      r.append(title);
      chart.append(r);
      const v = svg("text", { x: x + w / 2, y: y(p.count) - 3, "text-anchor": "middle", class: "value" });
      v.textContent = String(p.count);
      chart.append(v);
    }
    const [py, pm] = p.period.split("-").map(Number);
    const t = svg("text", { x: x + w / 2, y: H - 10, "text-anchor": "middle", class: "axis" });
    t.textContent = pm === 1 || i === 0 ? `${MONTHS[pm - 1]} ${String(py).slice(2)}` : MONTHS[pm - 1];
    chart.append(t);
  });
  chart.append(svg("line", { x1: left, x2: W - 5, y1: y(0), y2: y(0), class: "baseline" }));
  $("#trend").replaceChildren(chart);
}

function niceTicks(max) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((s) => s * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Math.round(v));
  return out;
}

// ------------------------------------------------------------------ informatiepositie

function pct(x) {
  return x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`;
}

/** A police figure, or why there is none (suppressed, or the data's grain). */
function registered(r) {
  switch (r.registered_status) {
    case "published":
      return fmtNumber(r.registered);
    case "suppressed":
      return "onderdrukt";
    case "coarser_period":
      return `alleen ${GRAIN[r.granularity] || r.granularity}`;
    case "coarser_area":
      return `alleen ${GRAIN[r.area_granularity] || r.area_granularity}`;
    default:
      return "niet geleverd";
  }
}

async function informatiepositie(sel, seq) {
  const q = new URLSearchParams({ municipality: sel.municipality, period: sel.period, limit: "10" });
  const doc = await api("GET", `/api/v1/informatiepositie?${q}`);
  if (seq !== state.seq) return;
  // rows with nothing published on either side say nothing: left out
  const rows = doc.items.filter(
    (r) => r.level !== "gemeente" && r.mismatch !== "no_signals_or_registrations" && (r.signals !== null || r.registered !== null),
  );
  const body = $("#ip-table tbody");
  if (!rows.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "help" }, "Geen signalen of registraties in deze periode.")));
  } else {
    body.replaceChildren(
      ...rows.map((r) => {
        const [icon, label, cls] = MISMATCH[r.mismatch] || ["?", r.mismatch, ""];
        return h(
          "tr",
          { dataset: { code: r.area_code, theme: r.theme } },
          h("th", { scope: "row" }, r.area_name),
          h("td", {}, r.theme_name),
          h("td", { class: "num" }, r.signals_suppressed ? "onderdrukt" : fmtNumber(r.signals)),
          h("td", { class: "num" }, registered(r)),
          h("td", { class: "num" }, pct(r.signal_share)),
          h("td", { class: "num" }, pct(r.registered_share)),
          h("td", { class: `mismatch ${cls}` }, h("span", { "aria-hidden": "true", class: "icon" }, icon), " ", label),
        );
      }),
    );
  }
  $("#priorities").replaceChildren(
    ...doc.priorities.map((p) =>
      h("li", {}, h("strong", {}, `${p.area_name} · ${p.theme}`), h("span", { class: "help block" }, p.reason)),
    ),
  );
  if (!doc.priorities.length) $("#priorities").append(h("li", { class: "help" }, "Geen prioriteiten."));
  renderProgress(doc.progress);
  if (state.me.role !== "wijkagent") priorityForm(sel.municipality, seq).catch(showError);
}

// ------------------------------------------------------------------ priorities and progress

function change(side) {
  if (side.current === null || side.baseline === null)
    return side.reason === "suppressed" ? "onderdrukt" : "niet beschikbaar";
  const pct = side.change_pct === null ? "" : ` (${side.change_pct > 0 ? "+" : ""}${side.change_pct} %)`;
  return `${fmtNumber(side.current)} tegen ${fmtNumber(side.baseline)}${pct}`;
}

function renderProgress(progress) {
  const body = $("#progress-table tbody");
  if (!progress.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "help" }, "Geen prioriteiten vastgelegd: de standaardgewichten gelden.")));
    return;
  }
  body.replaceChildren(
    ...progress.map((p) => {
      const span = p.registrations.span || p.signals.span;
      const status = p.on_track === null ? "onbekend" : p.on_track ? "op koers" : "niet op koers";
      return h(
        "tr",
        { dataset: { theme: p.theme } },
        h("th", { scope: "row" }, p.theme_name),
        h("td", { class: "num" }, fmtNumber(p.weight)),
        h("td", { class: "num" }, p.target_change_pct === null ? "–" : `${p.target_change_pct} %`),
        h("td", {}, span ? `${span.from} – ${span.to} (basis ${p.baseline_year})` : "–"),
        h("td", { class: "num" }, change(p.registrations)),
        h("td", { class: "num" }, change(p.signals)),
        h("td", { class: `progress ${p.on_track === false ? "m-under" : ""}` }, status),
      );
    }),
  );
}

async function priorityForm(municipality, seq) {
  const doc = await api("GET", `/api/v1/municipalities/${municipality}/priorities`);
  if (seq !== state.seq) return;
  const mine = new Map(doc.items.map((i) => [i.theme, i]));
  const rows = doc.themes.map(({ theme, theme_name: name }) => {
    const item = mine.get(theme);
    return h(
      "tr",
      { dataset: { theme } },
      h("th", { scope: "row" }, name),
      h("td", {}, h("input", { type: "number", min: "0", max: "10", step: "0.1", name: `w-${theme}`, value: String(doc.weights[theme]), "aria-label": `Gewicht ${name}` })),
      h("td", {}, h("input", { type: "number", min: "-100", max: "1000", step: "1", name: `t-${theme}`, value: item && item.target_change_pct !== null ? String(item.target_change_pct) : "", "aria-label": `Doel ${name}` })),
    );
  });
  $("#prio-form tbody").replaceChildren(...rows);
  const form = $("#prio-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const items = [];
    for (const theme of Object.keys(doc.default_weights)) {
      const weight = Number(form.elements[`w-${theme}`].value);
      const target = form.elements[`t-${theme}`].value;
      if (weight === doc.default_weights[theme] && target === "" && !mine.has(theme)) continue;
      items.push({ theme, weight, target_change_pct: target === "" ? null : Number(target) });
    }
    try {
      await api("PUT", `/api/v1/municipalities/${municipality}/priorities`, { body: { items } });
      show($("#prio-error"), false);
      announce("Prioriteiten opgeslagen.");
      refresh();
    } catch (err) {
      $("#prio-error").textContent = err instanceof ApiError ? err.problem.detail || err.message : err.message;
      show($("#prio-error"), true);
    }
  };
}

// ------------------------------------------------------------------ downloads

async function download(format) {
  const sel = selection();
  try {
    const resp = await api("GET", summaryQuery(sel, { format }), {
      accept: format === "csv" ? "text/csv" : "application/geo+json",
      raw: true,
    });
    const text = await resp.text();
    const disposition = resp.headers.get("Content-Disposition") || "";
    const match = disposition.match(/filename="([^"]+)"/);
    const name =
      format === "csv"
        ? (match && match[1]) || `buurtsignaal-${sel.municipality}-${sel.period}-${sel.level}.csv`
        : `buurtsignaal-${sel.municipality}-${sel.period}-${sel.level}.geojson`;
    saveFile(text, name, format === "csv" ? "text/csv" : "application/geo+json");
    announce(`${name} gedownload.`);
  } catch (err) {
    showError(err);
  }
}
