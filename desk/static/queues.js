/* The left column: four queues as tabs, each a list of handoffs with live timers.
 *
 * Keyboard: the tab list and each queue list are one Tab stop each (roving tabindex);
 * arrows or j/k move inside, Enter opens. Rows are reused across re-renders so the
 * focused row keeps focus while the lists change under it.
 */
import { byId, clear, duration, el, num, now, percent, who, clock } from "./dom.js";
import { QUEUES } from "./store.js";

const CHANNELS = { web: "Web chat", webchat: "Web chat", telegram: "Telegram", slack: "Slack", whatsapp: "WhatsApp" };
export const channelName = (c) => CHANNELS[c] || String(c || "unknown channel");
export const reasonText = (r) => String(r || "no reason given").replace(/_/g, " ");

const SLA_WARN_SECONDS = 30;
const WINDOW_WARN_SECONDS = 3600;

/** Fill an SLA element: time left to the first response; classes sla-warning / sla-breached. */
export function renderSla(node, h) {
  const deadline = num(h.sla_deadline);
  const pending = !num(h.first_reply_at) && h._queue !== "closed" && (deadline != null || h.sla_breached);
  node.hidden = !pending;
  node.classList.remove("sla-warning", "sla-breached");
  if (!pending) { node.textContent = ""; return; }
  const left = deadline == null ? 0 : deadline - now();
  if (h.sla_breached || left <= 0) {
    node.classList.add("sla-breached");
    node.textContent = "SLA breached" + (deadline == null ? "" : " +" + duration(-left));
  } else {
    if (left < SLA_WARN_SECONDS) node.classList.add("sla-warning");
    node.textContent = "SLA " + duration(left);
  }
  node.title = "Time left to the first response";
}

/** Fill a WhatsApp 24-hour window element (hidden for other channels). */
export function renderWindow(node, h) {
  const ends = num(h.whatsapp_window_ends);
  node.hidden = ends == null;
  node.classList.remove("wa-closing", "wa-closed");
  if (ends == null) { node.textContent = ""; return; }
  const left = ends - now();
  if (left <= 0) {
    node.classList.add("wa-closed");
    node.textContent = "24h window closed";
    node.title = "WhatsApp only delivers template messages now";
  } else {
    if (left < WINDOW_WARN_SECONDS) node.classList.add("wa-closing");
    node.textContent = "24h window " + duration(left);
    node.title = "Time left to reply on WhatsApp";
  }
}

/** "waiting 2:13" / "with Anna · 4:02" / "closed 14:05" */
export function ageText(h) {
  const t = now();
  if (h._queue === "waiting" || h._queue === "offline") {
    const since = num(h.requested_at);
    if (since == null) return "";
    return h._queue === "offline" ? duration(t - since) + " ago" : "waiting " + duration(t - since);
  }
  if (h._queue === "active") {
    const since = num(h.claimed_at);
    const holder = h.agent ? "with " + who(h.agent) : "with an agent";
    return since == null ? holder : holder + " · " + duration(t - since);
  }
  const closed = num(h.closed_at);
  return closed == null ? String(h.status || "closed") : (h.status === "withdrawn" ? "withdrawn " : "closed ") + clock(closed);
}

export class QueuePanel {
  constructor(store, { onOpen }) {
    this.store = store;
    this.onOpen = onOpen;
    this.current = "waiting";
    this.openId = null;
    this.rows = new Map(); // id -> {li, button, parts...}
    this.focusId = {};     // queue -> id of the row that holds the roving tab stop
    this.tabs = [...document.querySelectorAll(".tabs [role=tab]")];
    this.tabs.forEach((tab) => {
      tab.addEventListener("click", () => this.show(tab.dataset.queue, true));
      tab.addEventListener("keydown", (e) => this.tabKey(e, tab));
    });
    for (const q of QUEUES) byId("queue-" + q).addEventListener("keydown", (e) => this.listKey(e, q));
    store.subscribe(() => this.scheduleRender());
  }

  scheduleRender() {
    if (this.pending) return;
    // A timer, not requestAnimationFrame: a desk left in a background tab must still
    // update its lists and the "(3) Parley desk" title that tells the agent someone waits.
    this.pending = setTimeout(() => { this.pending = 0; this.render(); }, 16);
  }

  show(queue, focusTab = false) {
    this.current = queue;
    for (const tab of this.tabs) {
      const on = tab.dataset.queue === queue;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      byId(tab.getAttribute("aria-controls")).hidden = !on;
      if (on && focusTab) tab.focus();
    }
  }

  tabKey(e, tab) {
    const i = this.tabs.indexOf(tab);
    let next = null;
    if (e.key === "ArrowRight") next = this.tabs[(i + 1) % this.tabs.length];
    else if (e.key === "ArrowLeft") next = this.tabs[(i - 1 + this.tabs.length) % this.tabs.length];
    else if (e.key === "Home") next = this.tabs[0];
    else if (e.key === "End") next = this.tabs[this.tabs.length - 1];
    if (!next) return;
    e.preventDefault();
    this.show(next.dataset.queue, true);
  }

  listKey(e, queue) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const map = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, Home: -1e9, End: 1e9 };
    if (!(e.key in map)) return;
    e.preventDefault();
    e.stopPropagation();
    this.move(map[e.key], queue);
  }

  /** Move the selection (and focus) by delta rows in the shown queue. */
  move(delta, queue = this.current) {
    const items = this.store.list(queue);
    if (!items.length) return;
    if (!byId("queue-" + queue).contains(document.activeElement)) {
      this.focusList(); // the first j/k lands on the remembered row, not the one after it
      return;
    }
    const ids = this.ordered(queue, items).map((h) => h.id);
    let i = ids.indexOf(this.focusId[queue]);
    if (i < 0) i = delta > 0 ? -1 : ids.length;
    i = Math.max(0, Math.min(ids.length - 1, i + delta));
    this.focusRow(queue, ids[i]);
  }

  /** Put focus in the shown queue's list (on the remembered row, else the first). */
  focusList() {
    const items = this.ordered(this.current, this.store.list(this.current));
    if (!items.length) { this.tabs.find((t) => t.dataset.queue === this.current).focus(); return; }
    const id = items.some((h) => h.id === this.focusId[this.current]) ? this.focusId[this.current] : items[0].id;
    this.focusRow(this.current, id);
  }

  focusRow(queue, id) {
    this.focusId[queue] = id;
    this.render();
    const row = this.rows.get(id);
    if (row) { row.button.focus(); row.button.scrollIntoView({ block: "nearest" }); }
  }

  setOpen(id) {
    this.openId = id;
    const h = id && this.store.get(id);
    if (h) this.focusId[h._queue] = id;
    this.render();
  }

  ordered(queue, items) {
    if (queue !== "active") return items;
    // Mine first: an agent's own conversations are what they work on.
    return items.filter((h) => this.store.isMine(h)).concat(items.filter((h) => !this.store.isMine(h)));
  }

  render() {
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.handoffId : null;
    const seen = new Set();
    for (const q of QUEUES) {
      const list = byId("queue-" + q);
      const items = this.ordered(q, this.store.list(q));
      const ids = items.map((h) => h.id);
      if (!ids.includes(this.focusId[q])) this.focusId[q] = ids.includes(this.openId) ? this.openId : ids[0];
      items.forEach((h, index) => {
        seen.add(h.id);
        const row = this.row(h);
        this.fill(row, h);
        row.button.tabIndex = h.id === this.focusId[q] ? 0 : -1;
        if (list.children[index] !== row.li) list.insertBefore(row.li, list.children[index] || null);
      });
      while (list.children.length > items.length) list.lastChild.remove();
      list.parentNode.classList.toggle("is-empty", items.length === 0);
      const count = document.querySelector(`[data-count="${q}"]`);
      if (count) {
        count.textContent = String(items.length);
        count.classList.toggle("tab-count-hot", q === "waiting" && items.length > 0);
      }
    }
    for (const id of [...this.rows.keys()]) if (!seen.has(id)) this.rows.delete(id);
    if (focused && this.rows.has(focused) && document.activeElement !== this.rows.get(focused).button) {
      this.rows.get(focused).button.focus();
    }
    const waiting = this.store.count("waiting");
    document.title = (waiting ? `(${waiting}) ` : "") + "Parley desk";
  }

  /** Only the timers change every second. */
  tick() {
    for (const row of this.rows.values()) {
      const h = this.store.get(row.id);
      if (!h) continue;
      row.age.textContent = ageText(h);
      renderSla(row.sla, h);
      renderWindow(row.window, h);
    }
  }

  row(h) {
    let row = this.rows.get(h.id);
    if (row) return row;
    const li = el("li", "queue-row");
    const button = el("button", "handoff-item", null, li);
    button.type = "button";
    button.dataset.testid = "handoff-item";
    button.dataset.handoffId = h.id;
    const top = el("span", "hi-top", null, button);
    row = {
      id: h.id, li, button,
      channel: el("span", "channel", null, top),
      team: el("span", "hi-team", null, top),
      position: el("span", "hi-position", null, top),
      mine: el("span", "hi-mine", "You", top),
      age: el("span", "hi-age", null, top),
      reason: el("span", "hi-reason", null, button),
      text: el("span", "hi-text", null, button),
    };
    const bottom = el("span", "hi-bottom", null, button);
    row.intent = el("span", "intent", null, bottom);
    row.sla = el("span", "sla", null, bottom);
    row.sla.dataset.testid = "sla-countdown";
    row.window = el("span", "wa-window", null, bottom);
    button.addEventListener("click", () => this.onOpen(h.id));
    button.addEventListener("focus", () => {
      const item = this.store.get(h.id);
      if (item) this.focusId[item._queue] = h.id;
    });
    this.rows.set(h.id, row);
    return row;
  }

  fill(row, h) {
    row.button.classList.toggle("is-open", h.id === this.openId);
    row.button.classList.toggle("is-mine", this.store.isMine(h));
    row.button.classList.toggle("is-breached", Boolean(h.sla_breached));
    if (h.id === this.openId) row.button.setAttribute("aria-current", "true");
    else row.button.removeAttribute("aria-current");
    row.channel.textContent = channelName(h.channel);
    row.channel.className = "channel channel-" + String(h.channel || "other").replace(/[^a-z0-9-]/gi, "");
    row.team.textContent = h.team || "no team";
    const pos = num(h.position);
    row.position.textContent = pos == null ? "" : "#" + pos;
    row.position.hidden = pos == null;
    row.mine.hidden = !this.store.isMine(h);
    row.reason.textContent = reasonText(h.reason);
    row.text.textContent = h.last_user_text ? "\u201c" + h.last_user_text + "\u201d" : "";
    row.text.hidden = !h.last_user_text;
    clear(row.intent);
    if (h.intent) {
      el("span", "intent-name", h.intent, row.intent);
      const conf = percent(h.confidence);
      if (conf) el("span", confidenceClass(h.confidence), conf, row.intent);
    } else el("span", "intent-none", "no intent", row.intent);
    row.age.textContent = ageText(h);
    renderSla(row.sla, h);
    renderWindow(row.window, h);
  }
}

/** Confidence chips: calm when the bot was sure, amber when it guessed. */
export function confidenceClass(confidence) {
  const c = num(confidence);
  if (c == null) return "conf";
  return "conf " + (c >= 0.7 ? "conf-high" : c >= 0.4 ? "conf-mid" : "conf-low");
}
