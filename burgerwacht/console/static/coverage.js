// Participation coverage on the analyst page: enrolled residents per 1,000 inhabitants
// per buurt/wijk as a map (GET /api/v1/participation, GeoJSON) and a table. The
// figures are the API's protected ones (perturbed, suppressed, rounded); nothing is
// computed here but the colour class. Also the wijkagent's scope: a wijkagent sees the
// areas of their own wijken only (the API answers nothing else).

import { $, api, fmtNumber, h } from "./common.js";
import { AreaMap, svg } from "./map.js";

const COLOURS = ["#edf8fb", "#b2e2e2", "#66c2a4", "#2ca25f", "#006d2c"];
const BREAKS = [10, 25, 50, 100]; // per 1,000 inhabitants

/** The wijk (WK code) of a CBS buurt or wijk code, or null. */
export function wijkOf(code) {
  if (/^BU\d{8}$/.test(code || "")) return `WK${code.slice(2, 8)}`;
  if (/^WK\d{6}$/.test(code || "")) return code;
  return null;
}

/** The area collection as a wijkagent may see it: only their wijken (unchanged for others). */
export function scopeAreas(areas, me) {
  if (!me || !me.wijken || !me.wijken.length) return areas;
  const keep = (f) => me.wijken.includes(wijkOf(f.properties.code || f.properties.area_code));
  return { ...areas, features: areas.features.filter(keep) };
}

function colourOf(per1000) {
  const i = BREAKS.findIndex((b) => per1000 < b);
  return COLOURS[i < 0 ? COLOURS.length - 1 : i];
}

let seq = 0;

/** Draw the coverage map and table for the chosen municipality and level. */
export async function renderCoverage(sel, me) {
  const box = $("#coverage-map");
  if (!box) return;
  const mine = ++seq;
  const q = new URLSearchParams({ municipality: sel.municipality, level: sel.level, format: "geojson" });
  const geo = await api("GET", `/api/v1/participation?${q}`);
  if (mine !== seq) return;
  const features = geo.features.filter((f) => f.geometry);
  const map = new AreaMap(box, features, { label: `Kaart: deelnemers per 1.000 inwoners per ${sel.level}` });
  for (const f of features) {
    const p = f.properties;
    const path = map.paths.get(p.area_code);
    if (!path) continue;
    const title = svg("title");
    if (p.per_1000 === null) {
      path.setAttribute("fill", "url(#hatch)");
      path.style.fill = "url(#hatch)";
      path.classList.add("suppressed");
      title.textContent = `${p.area_name}: ${p.suppressed ? "onderdrukt" : "geen CBS-cijfer"}`;
    } else {
      const colour = colourOf(p.per_1000);
      path.setAttribute("fill", colour);
      path.style.fill = colour;
      title.textContent = `${p.area_name}: ${p.per_1000.toLocaleString("nl-NL")} per 1.000 inwoners`;
    }
    path.dataset.per1000 = p.per_1000 === null ? "" : String(p.per_1000);
    path.append(title);
  }
  map.addLabels((f) => {
    const p = f.properties;
    return `${p.area_name}\n${p.per_1000 === null ? "×" : p.per_1000.toLocaleString("nl-NL")}`;
  });
  const bounds = [0, ...BREAKS];
  $("#coverage-legend").replaceChildren(
    ...COLOURS.map((c, i) =>
      h("li", {}, swatch(c), i < BREAKS.length ? `${bounds[i]} – ${BREAKS[i]}` : `${BREAKS[BREAKS.length - 1]} of meer`),
    ),
    h("li", {}, swatch("#eeeeee"), "onderdrukt of geen CBS-cijfer"),
  );
  const rows = [...features].sort((a, b) => (a.properties.per_1000 ?? -1) - (b.properties.per_1000 ?? -1));
  $("#coverage-table tbody").replaceChildren(
    ...rows.map(({ properties: p }) =>
      h(
        "tr",
        { dataset: { code: p.area_code } },
        h("th", { scope: "row" }, p.area_name, h("span", { class: "code" }, ` ${p.area_code}`)),
        h("td", { class: "num" }, p.suppressed ? "onderdrukt" : fmtNumber(p.enrolled)),
        h("td", { class: "num" }, fmtNumber(p.sms)),
        h("td", { class: "num" }, fmtNumber(p.voice)),
        h("td", { class: "num" }, fmtNumber(p.inhabitants)),
        h("td", { class: "num" }, p.per_1000 === null ? "–" : p.per_1000.toLocaleString("nl-NL")),
      ),
    ),
  );
  const pv = geo.privacy;
  $("#coverage-note").textContent =
    `Deelnemers: actieve aanmeldingen per gebied, met ruis, onder ${pv.k} onderdrukt en afgerond op ${pv.round_to}. ` +
    "Inwoners: CBS Kerncijfers wijken en buurten. Lage dekking: zet bij een actie ook andere kanalen in." +
    (me && me.wijken && me.wijken.length ? ` Uw wijken: ${me.wijken.join(", ")}.` : "");
}

function swatch(fill) {
  const s = svg("svg", { width: "18", height: "14", "aria-hidden": "true", class: "swatch" });
  s.append(svg("rect", { width: "18", height: "14", fill, stroke: "#555", "stroke-width": "1" }));
  return s;
}
