// Analyst page: alert effectiveness per month and level (GET /api/v1/alerts/stats) and
// its CSV. Shows the API's published figures only; hidden ones say so.

import { $, ApiError, LEVELS, announce, api, fmtNumber, h, saveFile } from "./common.js";
import { OUTCOMES } from "./outcomes.js";

const HIDDEN = "verborgen";

function query(format) {
  const year = $("#eff-year").value;
  const q = new URLSearchParams({ municipality: $("#f-municipality").value, from: `${year}-01-01`, to: `${year}-12-31` });
  if ($("#eff-level").value) q.set("level", $("#eff-level").value);
  if (format) q.set("format", format);
  return `/api/v1/alerts/stats?${q}`;
}

function cell(row, field, text) {
  const hidden = row.suppressed.includes(field);
  return h("td", { class: "num", title: hidden ? "Te weinig om te tonen" : undefined }, hidden ? HIDDEN : text);
}

function minutes(value) {
  return value === null ? "–" : value.toLocaleString("nl-NL");
}

function pair(row, name) {
  const hidden = row.suppressed.includes(`${name}_median`);
  if (hidden) return cell(row, `${name}_median`, "");
  return h("td", { class: "num" }, `${minutes(row[`${name}_median`])} / ${minutes(row[`${name}_p90`])}`);
}

function outcomes(row) {
  if (row.suppressed.includes("outcomes")) return h("td", { title: "Te weinig afgesloten acties" }, HIDDEN);
  if (!row.outcomes) return h("td", {}, "–");
  const parts = Object.entries(row.outcomes)
    .filter(([, share]) => share > 0)
    .map(([key, share]) => `${OUTCOMES[key] || key} ${Math.round(share * 100)}%`);
  return h("td", {}, parts.join(" · "));
}

function render(doc) {
  $("#eff-table tbody").replaceChildren(
    ...doc.items.map((r) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, r.month),
        h("td", {}, LEVELS[r.level] || r.level),
        h("td", { class: "num" }, fmtNumber(r.alerts)),
        h("td", { class: "num" }, fmtNumber(r.updates)),
        h("td", { class: "num" }, fmtNumber(r.waves)),
        cell(r, "reached", fmtNumber(r.reached)),
        cell(r, "tips", fmtNumber(r.tips)),
        h("td", { class: "num" }, r.tips_per_1000 === null ? "–" : r.tips_per_1000.toLocaleString("nl-NL")),
        pair(r, "first_tip_minutes"),
        pair(r, "first_useful_tip_minutes"),
        outcomes(r),
        h("td", { class: "num" }, minutes(r.close_minutes_median)),
      ),
    ),
  );
  if (!doc.items.length) $("#eff-table tbody").append(h("tr", {}, h("td", { colspan: 12, class: "help" }, "Geen acties in dit jaar.")));
  $("#eff-note").textContent = doc.protected
    ? "Bereik en tips zijn licht verstoord en afgerond; onder de drempel verborgen. Tijden tot de eerste tip en uitkomsten alleen over voldoende acties."
    : "Exacte cijfers.";
}

function problem(err) {
  return err instanceof ApiError ? err.problem.detail || err.message : `Er ging iets mis: ${err.message}`;
}

async function refresh() {
  try {
    render(await api("GET", query()));
  } catch (err) {
    $("#eff-table tbody").replaceChildren();
    $("#eff-note").textContent = problem(err);
  }
}

async function downloadCsv() {
  try {
    const resp = await api("GET", query("csv"), { accept: "text/csv", raw: true });
    const match = (resp.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
    const name = (match && match[1]) || `alert-effectiveness-${$("#f-municipality").value}-${$("#eff-year").value}.csv`;
    saveFile(await resp.text(), name, "text/csv");
    announce(`${name} gedownload.`);
  } catch (err) {
    $("#eff-note").textContent = problem(err);
  }
}

/** Set up the effectiveness section (after sign-in; the municipality comes from the page's filter). */
export function initEffectiveness(today = new Date()) {
  const year = today.getFullYear();
  $("#eff-year").replaceChildren(...[0, 1, 2].map((n) => h("option", { value: year - n }, String(year - n))));
  $("#eff-level").replaceChildren(
    h("option", { value: "" }, "Alle niveaus"),
    ...Object.entries(LEVELS).map(([value, label]) => h("option", { value }, label)),
  );
  for (const id of ["#eff-year", "#eff-level", "#f-municipality"]) $(id).addEventListener("change", refresh);
  $("#eff-csv").addEventListener("click", downloadCsv);
  $("#eff-filters").addEventListener("submit", (e) => e.preventDefault());
  refresh();
}
