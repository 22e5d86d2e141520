// Two-person approval and exercise mode in the operator console: the badge with the
// number of alerts awaiting approval in the operator's scope (GET /api/v1/alerts?
// status=awaiting_approval, refreshed every 15 s and after actions), the queue with
// Goedkeuren / Afwijzen per alert (the author's own request cannot be approved), and
// the purple band that marks every screen showing an exercise.

import { $, LEVELS, announce, api, fmtDateTime, fmtNumber, h, show } from "./common.js";

const queue = { me: null, items: [], hooks: null, timer: null };

export const EXERCISE_LABEL = "OEFENING";

// the band at the top of the screen; text, not colour only
export function exerciseBand(on) {
  show($("#exercise-band"), Boolean(on));
}

// a label for lists: text, so it does not rely on colour
export function exerciseLabel(alert) {
  return alert.mode === "exercise" ? h("span", { class: "ex-label" }, EXERCISE_LABEL) : null;
}

/**
 * hooks: {view(name), watch(id), refreshAlerts(), problemText(err)}
 */
export function initApproval(me, hooks) {
  queue.me = me;
  queue.hooks = hooks;
  $("#queue-open").addEventListener("click", () => openQueue());
  refreshQueue();
  queue.timer = setInterval(refreshQueue, 15000);
}

export function queueShown() {
  return !$("#queue").hidden;
}

export async function refreshQueue() {
  let list;
  try {
    list = await api("GET", "/api/v1/alerts?status=awaiting_approval&limit=200");
  } catch {
    return;
  }
  queue.items = list.items;
  const n = list.items.length;
  const badge = $("#queue-badge");
  badge.textContent = String(n);
  badge.dataset.count = String(n);
  badge.classList.toggle("has", n > 0);
  $("#queue-badge-label").textContent =
    n === 1 ? "1 actie wacht op goedkeuring door een tweede persoon" : `${n} acties wachten op goedkeuring door een tweede persoon`;
  if (queueShown()) renderQueue();
}

export async function openQueue() {
  queue.hooks.view("queue");
  $("#queue-open").setAttribute("aria-current", "page");
  await refreshQueue();
  renderQueue();
  $("#queue-title").focus?.();
}

export function leaveQueue() {
  $("#queue-open").removeAttribute("aria-current");
}

function renderQueue() {
  const items = queue.items;
  $("#queue-list").replaceChildren(...items.map(queueItem));
  show($("#queue-empty"), items.length === 0);
  exerciseBand(items.some((a) => a.mode === "exercise"));
}

/**
 * Goedkeuren / Afwijzen for one alert awaiting approval: the buttons, the reject form
 * with its required reason, and an error line. ``ids`` names the elements (the queue and
 * the watch view each have their own); ``own`` disables approving; ``done(kind)`` runs
 * after a successful approve ("approved") or reject ("rejected").
 */
function decisionControls(a, { ids, own, help, done }) {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const fail = (err) => {
    const type = (err && err.problem && err.problem.type) || "";
    error.textContent = type.endsWith("own-alert")
      ? "U kunt deze actie niet goedkeuren: u hebt hem geschreven of ter goedkeuring aangeboden. Een collega moet hem goedkeuren."
      : queue.hooks.problemText(err);
    show(error, true);
  };
  const reason = h("textarea", { id: ids.reason, rows: "2", maxlength: "500", required: true });
  const rejectForm = h(
    "form",
    {
      class: "reject-form",
      hidden: true,
      novalidate: true, // our own message says what is missing
      onsubmit: async (event) => {
        event.preventDefault();
        show(error, false);
        const text = reason.value.trim();
        if (!text) {
          error.textContent = "Geef een reden op: de aanvrager leest waarom de actie terug naar concept gaat.";
          show(error, true);
          reason.focus();
          return;
        }
        try {
          await api("POST", `/api/v1/alerts/${a.id}/reject`, { body: { reason: text } });
          announce(`Actie ${a.reference} afgewezen; hij is weer een concept.`);
          await done("rejected");
        } catch (err) {
          fail(err);
        }
      },
    },
    h("label", { for: ids.reason }, "Reden van afwijzen (verplicht, de aanvrager ziet hem)"),
    reason,
    h("button", { type: "submit", class: "danger", id: ids.confirm }, "Afwijzen bevestigen"),
  );
  const buttons = h(
    "div",
    { class: "actions" },
    h(
      "button",
      {
        type: "button",
        class: "primary",
        id: ids.approve,
        disabled: own ? true : null,
        "aria-describedby": own && help ? help.id : null,
        onclick: async (event) => {
          event.target.disabled = true;
          show(error, false);
          try {
            await api("POST", `/api/v1/alerts/${a.id}/approve`);
            announce(`Actie ${a.reference} goedgekeurd en verstuurd.`);
            await done("approved");
          } catch (err) {
            event.target.disabled = false;
            fail(err);
          }
        },
      },
      "Goedkeuren",
    ),
    h(
      "button",
      {
        type: "button",
        id: ids.reject,
        "aria-expanded": "false",
        onclick: (event) => {
          rejectForm.hidden = !rejectForm.hidden;
          event.target.setAttribute("aria-expanded", String(!rejectForm.hidden));
          if (!rejectForm.hidden) reason.focus();
        },
      },
      "Afwijzen",
    ),
  );
  return [buttons, help, rejectForm, error];
}

function queueItem(a) {
  const approval = a.approval || {};
  const own = approval.requested_by === queue.me.id;
  const who = own ? "u zelf" : approval.requested_by_name || `gebruiker ${approval.requested_by}`;
  const total = approval.preview ? approval.preview.recipients.total : null;
  const help = own
    ? h(
        "p",
        { class: "help", id: `own-${a.id}` },
        "U hebt deze actie zelf ter goedkeuring aangeboden: een collega moet hem goedkeuren.",
      )
    : null;
  const controls = decisionControls(a, {
    ids: {
      approve: `approve-${a.id}`,
      reject: `reject-${a.id}`,
      reason: `reject-reason-${a.id}`,
      confirm: `reject-confirm-${a.id}`,
    },
    own,
    help,
    done: async (kind) => {
      await refreshQueue();
      if (kind === "approved") {
        leaveQueue();
        await queue.hooks.watch(a.id);
      } else queue.hooks.refreshAlerts();
    },
  });
  return h(
    "li",
    { class: `queue-item${a.mode === "exercise" ? " exercise" : ""}`, id: `queue-${a.id}`, dataset: { id: String(a.id) } },
    h("h3", {}, exerciseLabel(a), a.mode === "exercise" ? " " : "", a.title),
    h(
      "p",
      { class: "meta" },
      [
        a.reference,
        LEVELS[a.level] || a.level,
        `gevraagd door ${who}`,
        approval.requested_at ? fmtDateTime(approval.requested_at) : null,
      ]
        .filter(Boolean)
        .join(" · "),
    ),
    h("p", {}, "Ontvangers: ", h("strong", { class: "queue-total" }, fmtNumber(total))),
    ...controls,
  );
}

/**
 * The watch view of an alert awaiting approval: Goedkeuren / Afwijzen for a colleague
 * (the one who asked to send it sees who must act instead). Drawn again only when the
 * alert's approval state changes, so a reason being typed survives progress events.
 * ``reload()`` shows the alert again after a decision.
 */
export function renderWatchDecision(a, reload) {
  const box = $("#watch-decision");
  const waiting = a.status === "awaiting_approval";
  const approval = a.approval || {};
  // who is looking is part of the key: the view drawn before /me answered is drawn again
  const key = waiting ? `${a.id}:${approval.requested_at || ""}:${queue.me ? queue.me.id : ""}` : "";
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  if (!waiting || !queue.me) {
    box.replaceChildren();
    show(box, false);
    return;
  }
  if (approval.requested_by === queue.me.id) {
    box.replaceChildren(
      h(
        "p",
        { class: "help", id: "watch-own" },
        "U hebt deze actie zelf ter goedkeuring aangeboden: een collega moet hem goedkeuren (in de wachtrij of hier).",
      ),
    );
    show(box, true);
    return;
  }
  const controls = decisionControls(a, {
    ids: { approve: "watch-approve", reject: "watch-reject", reason: "watch-reject-reason", confirm: "watch-reject-confirm" },
    own: false,
    help: null,
    done: async () => {
      await refreshQueue();
      delete box.dataset.key; // drawn again whatever the alert's state now
      await reload();
    },
  });
  box.replaceChildren(...controls);
  show(box, true);
}
