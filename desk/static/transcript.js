/* The transcript of the open conversation: user, bot and agent turns, notes, events.
 *
 * Each message appears once. Live frames carry a message_id; entries fetched from the
 * server may or may not carry one (message_id or id), so an entry without an id is
 * matched by kind and text within a few seconds. An agent's own reply is drawn at once
 * as pending (data-client-message-id) and confirmed when its message.agent frame comes.
 */
import { attrs, clock, el, iso, num, percent, who } from "./dom.js";
import { confidenceClass } from "./queues.js";

const KINDS = new Set(["user", "bot", "agent", "note", "event"]);
const SAME_TEXT_SECONDS = 10;

export class Transcript {
  constructor(list, getMe) {
    this.list = list;
    this.getMe = getMe;
    this.reset();
  }

  reset() {
    this.ids = new Set();
    this.entries = []; // {node, kind, text, at, id}
    while (this.list.firstChild) this.list.firstChild.remove();
  }

  nearBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 120;
  }

  scrollToEnd() { this.list.scrollTop = this.list.scrollHeight; }

  /** Draw the whole transcript of a freshly fetched handoff (pending replies stay). */
  load(entries, notes) {
    const pending = [...this.list.querySelectorAll(".msg.is-pending, .msg.is-failed")];
    this.reset();
    const all = (Array.isArray(entries) ? entries : []).filter((e) => e && typeof e === "object");
    // Notes may come inside the transcript, in `notes`, or both: show each once, each
    // extra one at its place in time (the transcript's own order is kept as it is).
    const noted = new Set();
    for (const e of all) if (e.kind === "note") noteKeys(e).forEach((k) => noted.add(k));
    for (const n of Array.isArray(notes) ? notes : []) {
      if (!n || noteKeys(n).some((k) => noted.has(k))) continue;
      const at = num(n.at);
      const index = at == null ? -1 : all.findIndex((e) => num(e.at) != null && num(e.at) > at);
      const known = n.id != null ? { message_id: "note:" + n.id } : {};
      all.splice(index < 0 ? all.length : index, 0, Object.assign({ kind: "note" }, n, known));
    }
    for (const entry of all) this.add(entry, false);
    for (const node of pending) {
      if (!this.ids.has(node.dataset.messageId || "")) this.list.appendChild(node);
    }
    this.scrollToEnd();
  }

  /**
   * Add one entry unless it is already shown. Returns the node (existing or new).
   * entry: {kind, text, at, intent, confidence, entities, agent, author, message_id|id,
   *         payload, attachments}
   */
  add(entry, follow = true) {
    const kind = KINDS.has(entry.kind) ? entry.kind : "event";
    const id = entry.message_id != null ? String(entry.message_id)
      : entry.id != null && kind !== "note" ? String(entry.id) : "";
    if (id && this.ids.has(id)) return null;
    const text = entry.text == null ? "" : String(entry.text);
    const at = num(entry.at);
    if (id) {
      const twin = this.entries.find((e) => !e.id && e.kind === kind && e.text === text &&
        (at == null || e.at == null || Math.abs(e.at - at) < SAME_TEXT_SECONDS));
      if (twin) { this.mark(twin, id); return twin.node; }
    }
    const stick = follow && this.nearBottom();
    const node = this.draw(kind, entry, text, at);
    const record = { node, kind, text, at, id: "" };
    if (id) this.mark(record, id);
    this.entries.push(record);
    const firstPending = this.list.querySelector(".msg.is-pending, .msg.is-failed");
    this.list.insertBefore(node, kind === "agent" ? null : firstPending);
    if (stick) this.scrollToEnd();
    return node;
  }

  mark(record, id) {
    record.id = id;
    record.node.dataset.messageId = id;
    this.ids.add(id);
  }

  /** Draw an agent reply being sent. Returns its node; confirm() or fail() it later. */
  addPending(text, clientMessageId) {
    const me = this.getMe();
    const node = this.draw("agent", { agent: me, at: null }, text, null);
    node.classList.add("is-pending");
    node.dataset.clientMessageId = clientMessageId;
    node.querySelector("time").textContent = "sending\u2026";
    this.list.appendChild(node);
    this.scrollToEnd();
    return node;
  }

  /** The server took (202) or delivered (message.agent) a reply: it is no longer pending. */
  confirm(clientMessageId, messageId, at) {
    const node = this.list.querySelector(`.msg[data-client-message-id="${cssEscape(clientMessageId)}"]`);
    if (messageId && this.ids.has(String(messageId)) && node && !node.dataset.messageId) {
      node.remove(); // the live frame drew it already
      return true;
    }
    if (!node) return false;
    if (node.dataset.messageId) return true; // confirmed already (answer and frame both came)
    node.classList.remove("is-pending", "is-failed");
    const retry = node.querySelector(".msg-retry");
    if (retry) retry.remove();
    const time = node.querySelector("time");
    const when = num(at) || Date.now() / 1000;
    time.textContent = clock(when);
    time.dateTime = iso(when);
    if (messageId) {
      const record = { node, kind: "agent", text: node.querySelector(".msg-text").textContent, at: when, id: "" };
      this.mark(record, String(messageId));
      this.entries.push(record);
    }
    return true;
  }

  fail(node, message, retry) {
    node.classList.remove("is-pending");
    node.classList.add("is-failed");
    node.querySelector("time").textContent = message;
    if (!node.querySelector(".msg-retry")) {
      const b = el("button", "msg-retry btn btn-quiet", "Retry", node);
      b.type = "button";
      b.addEventListener("click", () => { b.remove(); retry(); });
    }
  }

  draw(kind, entry, text, at) {
    const node = el("li", "msg " + kind);
    if (kind === "event") {
      el("span", "msg-text", text, node);
      if (at != null) attrs(el("time", "msg-time", clock(at), node), { datetime: iso(at) });
      return node;
    }
    const meta = el("div", "msg-meta", null, node);
    el("span", "msg-who", this.author(kind, entry), meta);
    attrs(el("time", "msg-time", at == null ? "" : clock(at), meta), { datetime: iso(at) });
    if (kind === "user") {
      const intent = el("span", "intent", null, meta);
      if (entry.intent) {
        el("span", "intent-name", entry.intent, intent);
        const conf = percent(entry.confidence);
        if (conf) el("span", confidenceClass(entry.confidence), conf, intent);
      } else el("span", "intent-none", "no intent", intent);
    }
    const body = el("div", "msg-text", text, node);
    if (!text && entry.payload) body.textContent = "Pressed a button: " + entry.payload;
    const entities = Array.isArray(entry.entities) ? entry.entities : [];
    if (kind === "user" && entities.length) {
      const box = el("div", "msg-entities", null, node);
      for (const e of entities) {
        if (e && e.entity) el("span", "entity", e.entity + ": " + (e.value == null ? "" : e.value), box);
      }
    }
    this.attachments(node, entry.attachments);
    return node;
  }

  author(kind, entry) {
    if (kind === "user") return "Customer";
    if (kind === "bot") return "Bot";
    const person = entry.agent || entry.author;
    const me = this.getMe();
    const mine = me && person && typeof person === "object" && String(person.id) === String(me.id);
    const name = mine ? "You" : who(person) || "Agent";
    return kind === "note" ? "Note \u00b7 " + name : name;
  }

  attachments(node, list) {
    if (!Array.isArray(list) || !list.length) return;
    const box = el("div", "msg-attachments", null, node);
    for (const a of list) {
      const label = (a && (a.name || a.filename || a.content_type || a.mime_type || a.type)) || "attachment";
      const url = a && safeUrl(a.url);
      if (url) {
        const link = attrs(el("a", "attachment", label, box), { href: url, target: "_blank", rel: "noopener noreferrer" });
        link.title = "Open the attachment in a new tab";
      } else el("span", "attachment", label, box);
    }
  }
}

function noteKeys(n) {
  const keys = ["t:" + n.text + "@" + num(n.at)];
  if (n.id != null) keys.push("id:" + n.id);
  return keys;
}

function safeUrl(value) {
  try {
    const u = new URL(String(value), location.href);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch (exc) { return null; }
}

function cssEscape(value) {
  return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
}
