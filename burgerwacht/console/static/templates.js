// Template picker in the compose form: choosing a template fills level, lifetime,
// channels, radius and texts; a field per placeholder fills the texts as you type. The
// alert is created with the filled texts plus template_id and fields (the server records
// the template; texts sent are taken as they are, so edits by hand are kept).

import { $, api, h, show } from "./common.js";

const picker = { templates: new Map(), chosen: null };
const PLACEHOLDER = /\{\{|\}\}|\{([a-z_][a-z0-9_]{0,39})\}/g;

// the same reading as the server's: {{ and }} are literal braces, {name} a placeholder
export function fillTemplate(text, values) {
  return text.replace(PLACEHOLDER, (m, name) => (m === "{{" ? "{" : m === "}}" ? "}" : values[name] || m));
}

export async function initTemplatePicker() {
  let items = [];
  try {
    items = (await api("GET", "/api/v1/templates")).items;
  } catch {
    items = []; // no templates: the picker stays hidden
  }
  const select = $("#template");
  for (const t of items) {
    picker.templates.set(String(t.id), t);
    select.append(h("option", { value: String(t.id) }, t.municipality ? t.name : `${t.name} (landelijk)`));
  }
  show($("#template-row"), items.length > 0);
  select.addEventListener("change", () => choose(select.value));
}

function set(selector, value, event = "input") {
  const node = $(selector);
  if (node.type === "checkbox") node.checked = value;
  else node.value = value;
  node.dispatchEvent(new Event(event, { bubbles: true }));
}

function choose(id) {
  const t = picker.templates.get(id) || null;
  picker.chosen = t;
  const box = $("#template-fields");
  box.replaceChildren();
  show(box, Boolean(t && t.placeholders.length));
  if (!t) return;
  set("#level", t.level, "change");
  set("#expires", t.expires_in_minutes);
  set("#ch-sms", t.channels.includes("sms"), "change");
  set("#ch-voice", t.channels.includes("voice"), "change");
  if (t.radius_m) set("#c-radius", t.radius_m);
  for (const name of t.placeholders) {
    box.append(
      h(
        "div",
        {},
        h("label", { for: `tf-${name}` }, name.replaceAll("_", " ")),
        h("input", { id: `tf-${name}`, dataset: { field: name }, maxlength: "200", oninput: fillTexts }),
      ),
    );
  }
  fillTexts();
}

function values() {
  const out = {};
  for (const input of $("#template-fields").querySelectorAll("input[data-field]")) {
    if (input.value.trim()) out[input.dataset.field] = input.value.trim();
  }
  return out;
}

function fillTexts() {
  const t = picker.chosen;
  if (!t) return;
  const v = values();
  set("#title", fillTemplate(t.title, v));
  set("#message", fillTemplate(t.message, v));
  set("#voice-message", t.voice_message ? fillTemplate(t.voice_message, v) : "");
}

// placeholders still without a value (for the "Nog nodig" line)
export function templateProblems() {
  if (!picker.chosen) return [];
  const v = values();
  return picker.chosen.placeholders.filter((name) => !v[name]).map((name) => `een waarde voor ${name}`);
}

// the alert body gains template_id and fields when a template was chosen
export function withTemplate(body) {
  if (!picker.chosen) return body;
  return { ...body, template_id: picker.chosen.id, fields: values() };
}

export function resetTemplatePicker() {
  $("#template").value = "";
  choose("");
}
