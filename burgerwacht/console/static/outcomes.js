// Alert outcomes: their Dutch labels (the operator's close form, the analyst's
// effectiveness table) and the outcome picker on the operator's close form.

import { $, h } from "./common.js";

export const OUTCOMES = {
  found_safe: "Gevonden, ongedeerd",
  found_other: "Gevonden, niet ongedeerd",
  arrested: "Aanhouding",
  not_found: "Niet gevonden",
  false_alarm: "Loos alarm",
  other: "Anders",
};

/** Fill the picker (once): a prompt first, so the operator chooses on purpose. */
export function initOutcomePicker() {
  $("#close-outcome").replaceChildren(
    h("option", { value: "", disabled: true, selected: true }, "Kies de uitkomst…"),
    ...Object.entries(OUTCOMES).map(([value, label]) => h("option", { value }, label)),
  );
}

export function resetOutcomePicker() {
  $("#close-outcome").value = "";
  $("#close-note").value = "";
}

/** The close body: the message, the chosen outcome and the note when there is one. */
export function closeBody(message) {
  const note = $("#close-note").value.trim();
  return { message, outcome: $("#close-outcome").value || "other", ...(note ? { outcome_note: note } : {}) };
}
