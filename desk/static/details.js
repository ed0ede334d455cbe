/* The right column: what the bot knew when it handed over (reason, its reading of the
 * last message, the slots, the form) and the request snapshot as it was stored. */
import { clear, clock, el, num, percent, who } from "./dom.js";
import { channelName, confidenceClass, reasonText } from "./queues.js";

/** Render the details of one handoff (summary + detail fields) into `root`. */
export function renderDetails(root, h) {
  clear(root);
  if (!h) {
    el("p", "details-empty", "Details of the open conversation appear here.", root);
    return;
  }
  const request = h.request && typeof h.request === "object" ? h.request : {};
  const parse = request.parse && typeof request.parse === "object" ? request.parse : {};

  const handoff = section(root, "Handoff", "details-handoff");
  const dl = el("dl", "facts", null, handoff);
  fact(dl, "Reason", reasonText(h.reason));
  fact(dl, "Team", h.team || "—");
  fact(dl, "Channel", channelName(h.channel));
  fact(dl, "Status", statusText(h));
  if (num(h.position) != null) fact(dl, "Place in queue", "#" + num(h.position));
  fact(dl, "Asked at", clock(h.requested_at) || "—");
  if (num(h.claimed_at) != null) fact(dl, "Claimed at", clock(h.claimed_at));
  if (num(h.first_reply_at) != null) {
    const after = num(h.first_reply_at) - (num(h.requested_at) || num(h.first_reply_at));
    fact(dl, "First reply", clock(h.first_reply_at) + " (after " + minutes(after) + ")");
  }
  if (num(h.closed_at) != null) fact(dl, "Closed at", clock(h.closed_at));
  fact(dl, "Customer", request.user_id || "—", "mono");
  fact(dl, "Conversation", h.conversation_id || "—", "mono");

  const reading = section(root, "The bot's reading", "details-parse");
  const intent = parse.intent || {};
  const main = el("p", "reading-main", null, reading);
  if (intent.name || h.intent) {
    el("span", "intent-name", intent.name || h.intent, main);
    const conf = intent.confidence != null ? intent.confidence : h.confidence;
    if (percent(conf)) el("span", confidenceClass(conf), percent(conf), main);
  } else el("span", "intent-none", "no intent recognised", main);
  if (parse.text) el("p", "reading-text", "\u201c" + parse.text + "\u201d", reading);
  ranking(reading, parse.intent_ranking);
  const entities = Array.isArray(parse.entities) ? parse.entities.filter((e) => e && e.entity) : [];
  if (entities.length) {
    const box = el("div", "entities", null, reading);
    for (const e of entities) el("span", "entity", e.entity + ": " + (e.value == null ? "" : e.value), box);
  }

  const slots = h.slots && typeof h.slots === "object" ? h.slots : request.slots || {};
  const slotSection = section(root, "Slots", "details-slots");
  const set = Object.keys(slots).filter((k) => slots[k] != null && slots[k] !== "").sort();
  const empty = Object.keys(slots).filter((k) => !set.includes(k)).sort();
  if (!set.length) el("p", "muted", "No slot is set.", slotSection);
  else {
    const sdl = el("dl", "facts", null, slotSection);
    for (const k of set) fact(sdl, k, show(slots[k]), "mono");
  }
  if (empty.length) el("p", "muted small", "Empty: " + empty.join(", "), slotSection);

  const form = formOf(h);
  const formSection = section(root, "Form", "details-form");
  if (!form) el("p", "muted", "No form was active.", formSection);
  else {
    const fdl = el("dl", "facts", null, formSection);
    fact(fdl, "Form", form.name, "mono");
    fact(fdl, "Asking for", form.requested_slot || "—", "mono");
  }

  const snap = section(root, "Request snapshot", "details-request");
  const details = el("details", "snapshot", null, snap);
  el("summary", null, "As stored at the handoff", details);
  el("pre", "snapshot-json", JSON.stringify(request, null, 2), details);
}

/** The form the conversation is in: the live form state, else the one at the handoff. */
export function formOf(h) {
  if (h.form && h.form.name) return h.form;
  const r = h.request || {};
  return r.active_form ? { name: r.active_form, requested_slot: r.requested_slot || null } : null;
}

export function statusText(h) {
  const status = String(h.status || "");
  if (status === "active") return h.agent ? "with " + who(h.agent) : "with an agent";
  if (status === "offline") return "offline ticket";
  if (status === "timed_out") return "timed out (offline ticket)";
  return status.replace(/_/g, " ") || "unknown";
}

function section(root, title, cls) {
  const s = el("section", "details-section " + cls, null, root);
  el("h3", "details-title", title, s);
  return s;
}

function fact(dl, term, value, cls) {
  el("dt", null, term, dl);
  el("dd", cls || null, value, dl);
}

function ranking(root, list) {
  if (!Array.isArray(list) || list.length < 2) return;
  const ol = el("ol", "ranking", null, root);
  ol.setAttribute("aria-label", "Other intents the bot considered");
  for (const r of list.slice(0, 4)) {
    if (!r || !r.name) continue;
    const li = el("li", null, null, ol);
    el("span", "ranking-name", r.name, li);
    const meter = el("meter", "ranking-meter", null, li);
    meter.min = 0;
    meter.max = 1;
    meter.value = num(r.confidence) || 0;
    meter.setAttribute("aria-label", r.name);
    el("span", "ranking-value", percent(r.confidence), li);
  }
}

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function minutes(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
}
