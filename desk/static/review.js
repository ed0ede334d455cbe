/* The review page (/desk/review): the messages the bot handled worst, and a label for each.
 *
 * Supervisors and admins, with the console's session (api.js: cookie + CSRF token).
 * The list comes worst first from GET /desk/api/review; a label is PUT to
 * /desk/api/review/{conversation}/{sequence}/label, removed with DELETE. Entities are
 * marked by selecting words of the message: their offsets are counted in the message's
 * text, which the page shows only through text nodes (nothing is parsed as HTML).
 */
import { Api, ApiError } from "./api.js";
import { announce, byId, clear, clock, el, percent, toast, typingInField, who } from "./dom.js";

const LEADS = new Set(["supervisor", "admin"]);
const PAGE = 50;
const NEW_INTENT = "\u0000new";
const REASONS = {
  thumbs_down: "thumbs down", handoff: "handoff", fallback: "fallback",
  rephrased: "rephrased", low_confidence: "low confidence", out_of_scope: "out of scope",
};

const api = new Api();
const state = { items: [], index: -1, offset: 0, intents: [], entities: [], marks: [], pending: null };

api.onUnauthorized = () => gate("Your session has ended. Sign in again on the desk.", true);

function gate(text, link) {
  byId("review-app").hidden = true;
  const box = clear(byId("review-gate"));
  box.hidden = false;
  el("span", null, text + " ", box);
  if (link) el("a", null, "Go to the desk", box).href = "/desk/";
}

async function start() {
  let me;
  try {
    me = await api.me();
  } catch (exc) {
    gate(exc instanceof ApiError && exc.status === 401 ? "Sign in on the desk first." : exc.message, true);
    return;
  }
  if (!LEADS.has(me.role)) {
    gate("Only supervisors and admins review the bot's messages.", true);
    return;
  }
  byId("review-gate").hidden = true;
  byId("review-app").hidden = false;
  byId("review-me").textContent = who(me) + " \u00b7 " + me.role;
  await loadIntents();
  await load();
}

async function loadIntents() {
  try {
    const data = await api.get("review/intents");
    state.intents = [...new Set([...(data.intents || []), ...(data.new_intents || [])])].sort();
    state.entities = data.entities || [];
    if (!data.published) toast("The bot's intents are not known yet: start a worker once.", "info");
  } catch (exc) {
    toast(exc.message, "error");
  }
  const list = clear(byId("entity-names"));
  for (const name of state.entities) el("option", null, null, list).value = name;
}

function query() {
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset),
                                  status: byId("filter-status").value });
  for (const [key, id] of [["channel", "filter-channel"], ["from", "filter-from"], ["to", "filter-to"]]) {
    if (byId(id).value) q.set(key, byId(id).value);
  }
  return q;
}

async function load(keep = -1) {
  try {
    const data = await api.get("review?" + query());
    state.items = data.items || [];
  } catch (exc) {
    toast(exc.message, "error");
    state.items = [];
  }
  byId("page-label").textContent = state.items.length
    ? `${state.offset + 1}\u2013${state.offset + state.items.length}` : "";
  byId("page-prev").disabled = state.offset === 0;
  byId("page-next").disabled = state.items.length < PAGE;
  drawList();
  select(state.items.length ? Math.min(Math.max(keep, 0), state.items.length - 1) : -1);
}

function drawList() {
  const list = clear(byId("review-list"));
  byId("review-empty").hidden = state.items.length > 0;
  state.items.forEach((item, index) => {
    const row = el("li", "review-row", null, list);
    row.setAttribute("role", "option");
    row.id = "review-row-" + index;
    row.dataset.testid = "review-row";
    el("span", "review-row-text", item.text, row);
    const line = el("span", "review-row-line", null, row);
    for (const reason of item.reasons) el("span", "badge badge-" + reason, REASONS[reason] || reason, line);
    if (item.label) el("span", "badge badge-labelled", "labelled: " + item.label.intent, line);
    el("span", "muted small", `${item.intent || "no intent"} ${percent(item.confidence)} \u00b7 ${clock(item.at)}`, line);
    row.addEventListener("click", () => select(index));
  });
}

function select(index) {
  state.index = index;
  const rows = byId("review-list").children;
  for (let i = 0; i < rows.length; i++) rows[i].setAttribute("aria-selected", String(i === index));
  if (index >= 0) {
    byId("review-list").setAttribute("aria-activedescendant", "review-row-" + index);
    rows[index].scrollIntoView({ block: "nearest" });
  }
  const item = state.items[index];
  byId("detail-empty").hidden = Boolean(item);
  byId("detail").hidden = !item;
  if (item) showItem(item);
}

function showItem(item) {
  byId("detail-error").textContent = "";
  const meta = clear(byId("detail-meta"));
  el("span", "mono small", `${item.channel} \u00b7 ${item.conversation_id} #${item.sequence} \u00b7 ${clock(item.at)}`, meta);
  for (const reason of item.reasons) el("span", "badge badge-" + reason, REASONS[reason] || reason, meta);
  const context = clear(byId("detail-context"));
  for (const said of item.context) {
    const li = el("li", "review-said review-said-" + said.author + (said.current ? " review-said-current" : ""), null, context);
    el("span", "review-said-who", said.author === "agent" ? said.name || "agent" : said.author, li);
    el("span", "review-said-text", said.text, li);
  }
  const label = item.label;
  // The parse's values are the extractor's normalised output, not an annotation: spans only.
  state.marks = (label ? label.entities.map((e) => ({ ...e }))
    : item.entities.map((e) => ({ start: e.start, end: e.end, entity: e.entity }))).filter(
    (e) => Number.isInteger(e.start) && Number.isInteger(e.end) && typeof e.entity === "string");
  state.pending = null;
  drawText(item);
  fillIntents(label ? label.intent : item.intent);
  byId("detail-ranking").textContent = item.ranking.length
    ? "The bot's ranking: " + item.ranking.map((r) => `${r.name} ${percent(r.confidence)}`).join(", ") : "";
  byId("remove-label").hidden = !label;
}

function drawText(item) {
  const box = clear(byId("detail-text"));
  let cursor = 0;
  for (const mark of [...state.marks].sort((a, b) => a.start - b.start)) {
    if (mark.start < cursor) continue;
    box.appendChild(document.createTextNode(item.text.slice(cursor, mark.start)));
    const m = el("mark", "review-mark", item.text.slice(mark.start, mark.end), box);
    m.title = mark.entity + (mark.value ? " = " + mark.value : "");
    cursor = mark.end;
  }
  box.appendChild(document.createTextNode(item.text.slice(cursor)));
  const list = clear(byId("entity-list"));
  state.marks.forEach((mark, index) => {
    const li = el("li", null, null, list);
    el("span", "mono", `${item.text.slice(mark.start, mark.end)} \u2192 ${mark.entity}`, li);
    const x = el("button", "btn btn-quiet", "Remove", li);
    x.type = "button";
    x.setAttribute("aria-label", `Remove the ${mark.entity} entity`);
    x.addEventListener("click", () => { state.marks.splice(index, 1); drawText(item); });
  });
}

function fillIntents(current) {
  const select = clear(byId("intent-select"));
  const names = [...new Set([...state.intents, ...(current ? [current] : [])])].sort();
  for (const name of names) el("option", null, name, select).value = name;
  el("option", null, "New intent\u2026", select).value = NEW_INTENT;
  select.value = current && names.includes(current) ? current : NEW_INTENT;
  byId("intent-new").value = "";
  byId("intent-new").hidden = select.value !== NEW_INTENT;
}

byId("intent-select").addEventListener("change", () => {
  const fresh = byId("intent-select").value === NEW_INTENT;
  byId("intent-new").hidden = !fresh;
  if (fresh) byId("intent-new").focus();
});

/** The selection as [start, end) offsets in the message's text, spaces trimmed. */
function selectedSpan() {
  const box = byId("detail-text");
  const sel = window.getSelection();
  if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
  const range = sel.getRangeAt(0);
  if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return null;
  const before = document.createRange();
  before.selectNodeContents(box);
  before.setEnd(range.startContainer, range.startOffset);
  let start = before.toString().length;
  let end = start + range.toString().length;
  const text = box.textContent;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  return start < end ? [start, end] : null;
}

function markEntity() {
  const item = state.items[state.index];
  const span = selectedSpan() || state.pending;
  const name = byId("entity-name").value.trim();
  if (!item) return;
  if (!span) { byId("detail-error").textContent = "Select the words of the entity in the message first."; return; }
  if (!name) { byId("detail-error").textContent = "Name the entity first."; byId("entity-name").focus(); return; }
  if (state.marks.some((m) => m.start < span[1] && span[0] < m.end)) {
    byId("detail-error").textContent = "That overlaps an entity already marked.";
    return;
  }
  state.marks.push({ start: span[0], end: span[1], entity: name });
  state.pending = null;
  byId("detail-error").textContent = "";
  window.getSelection().removeAllRanges();
  drawText(item);
  announce(`Marked ${item.text.slice(span[0], span[1])} as ${name}.`);
}

async function save(verdict) {
  const item = state.items[state.index];
  if (!item) return;
  const path = `review/${encodeURIComponent(item.conversation_id)}/${item.sequence}/label`;
  const chosen = byId("intent-select").value;
  const intent = chosen === NEW_INTENT ? byId("intent-new").value.trim() : chosen;
  const body = verdict === "correct"
    ? { verdict, entities: state.marks.map(plain) }
    : { verdict, intent, entities: state.marks.map(plain) };
  if (verdict === "relabel" && !intent) {
    byId("detail-error").textContent = "Pick the right intent or type a new one.";
    return;
  }
  try {
    const answer = await api.put(path, body);
    if (answer.new_intent && !state.intents.includes(answer.label.intent)) {
      state.intents = [...state.intents, answer.label.intent].sort();
      toast(`"${answer.label.intent}" is a new intent: add it to domain.yml before training.`, "info");
    }
    announce("Label saved.");
    next();
  } catch (exc) {
    byId("detail-error").textContent = exc.message;
  }
}

const plain = (m) => (m.value ? { start: m.start, end: m.end, entity: m.entity, value: m.value }
  : { start: m.start, end: m.end, entity: m.entity });

async function removeLabel() {
  const item = state.items[state.index];
  if (!item || !item.label) return;
  try {
    await api.request("DELETE", `review/${encodeURIComponent(item.conversation_id)}/${item.sequence}/label`);
    announce("Label removed.");
    await load(state.index);
  } catch (exc) {
    byId("detail-error").textContent = exc.message;
  }
}

/** After a label: the open list loses the item; other views show it labelled. */
async function next() {
  await load(state.index);
  byId("review-list").focus();
}

// Typing the entity's name moves the focus, which clears the selection: keep the last one.
const remember = () => { const span = selectedSpan(); if (span) state.pending = span; };
byId("detail-text").addEventListener("mouseup", remember);
byId("detail-text").addEventListener("keyup", remember);
byId("entity-add").addEventListener("mousedown", (e) => e.preventDefault()); // keep selection
byId("entity-add").addEventListener("click", markEntity);
byId("mark-right").addEventListener("click", () => save("correct"));
byId("save-label").addEventListener("click", () => save("relabel"));
byId("remove-label").addEventListener("click", removeLabel);
byId("page-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
byId("page-next").addEventListener("click", () => { state.offset += PAGE; load(); });
byId("review-filters").addEventListener("submit", (e) => { e.preventDefault(); state.offset = 0; load(); });

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || byId("review-app").hidden) return;
  if (e.key === "Escape") { document.activeElement.blur(); byId("review-list").focus(); return; }
  if (typingInField(e.target)) return;
  const keys = {
    j: () => select(Math.min(state.index + 1, state.items.length - 1)),
    ArrowDown: () => select(Math.min(state.index + 1, state.items.length - 1)),
    k: () => select(Math.max(state.index - 1, 0)),
    ArrowUp: () => select(Math.max(state.index - 1, 0)),
    r: () => save("correct"),
    s: () => save("relabel"),
    e: markEntity,
    i: () => byId("intent-select").focus(),
  };
  const run = keys[e.key];
  if (run && state.items.length) { e.preventDefault(); run(); }
});

start();
