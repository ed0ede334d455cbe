/* The handoff summaries the desk knows, grouped in its four queues, kept current by
 * list fetches (authoritative) and live events (immediate, possibly partial).
 *
 * Every ownership change bumps a handoff's epoch, so the two sources are reconciled by
 * epoch: a fetched summary never replaces a newer state an event already brought, and a
 * late event never undoes a newer summary. Events only patch what they carry and ask
 * for the affected lists to be re-fetched, which fills in the rest (SLA deadline,
 * queue positions) a moment later.
 */
import { num, now } from "./dom.js";

export const QUEUES = ["waiting", "offline", "active", "closed"];

// The queue (list) a handoff status belongs to.
const QUEUE_OF = {
  waiting: "waiting", offline: "offline", timed_out: "offline",
  active: "active", closed: "closed", withdrawn: "closed",
};

export const queueOf = (status) => QUEUE_OF[status] || null;

export class HandoffStore {
  constructor() {
    this.items = new Map();   // id -> summary (with ._queue)
    this.touched = new Map(); // id -> performance.now() of the last event that changed it
    this.listeners = new Set();
    this.me = null;
    this.team = "";           // the team filter ("" = every queue the server shows me)
  }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  changed() { for (const fn of this.listeners) fn(); }
  get(id) { return this.items.get(id) || null; }

  list(queue) {
    const all = [...this.items.values()].filter((h) => h._queue === queue);
    return all.sort(COMPARE[queue]);
  }

  count(queue) {
    let n = 0;
    for (const h of this.items.values()) if (h._queue === queue) n++;
    return n;
  }

  /** Take a fetched list for one queue; startedAt = performance.now() when the fetch began. */
  replace(queue, summaries, startedAt) {
    const fresh = new Set();
    for (const s of summaries) {
      if (!s || !s.id) continue;
      fresh.add(s.id);
      this.take(s, queue);
    }
    for (const [id, h] of this.items) {
      if (h._queue !== queue || fresh.has(id)) continue;
      if ((this.touched.get(id) || 0) > startedAt) continue; // an event moved it here since
      this.items.delete(id);
    }
    this.changed();
  }

  /** Take one summary (a fetch, a claim answer); kept only if not older than what we have. */
  take(summary, queue = queueOf(summary.status)) {
    const old = this.items.get(summary.id);
    if (old && (num(old.epoch) || 0) > (num(summary.epoch) || 0)) return old;
    const item = Object.assign({}, summary, { _queue: queue || (old && old._queue) });
    this.items.set(summary.id, item);
    return item;
  }

  patch(id, changes) {
    const old = this.items.get(id);
    if (!old) return null;
    const item = Object.assign({}, old, changes);
    if (changes.status) item._queue = queueOf(changes.status) || old._queue;
    this.items.set(id, item);
    this.touched.set(id, performance.now());
    return item;
  }

  /**
   * Apply one live event. Returns the set of queues worth re-fetching (the event may
   * concern handoffs this page has not listed yet, or move others' positions).
   */
  apply(type, data) {
    const id = data.handoff_id;
    const item = id ? this.items.get(id) : null;
    const epoch = num(data.epoch) || 0;
    const stale = item && (num(item.epoch) || 0) > epoch;
    const refetch = new Set();
    const at = num(data.at) || now();
    const set = (changes) => {
      if (!item || stale) return;
      this.patch(id, Object.assign({ epoch: Math.max(epoch, num(item.epoch) || 0) }, changes));
    };
    switch (type) {
      case "handoff.requested": {
        if (this.team && data.team !== this.team) break;
        const status = data.status || "waiting";
        if (!item) {
          this.items.set(id, provisional(data, status, at));
          this.touched.set(id, performance.now());
        }
        refetch.add(queueOf(status) || "waiting");
        break;
      }
      case "handoff.claimed":
        set({ status: "active", agent: data.agent || null, claimed_at: at, position: null });
        refetch.add("waiting").add("offline").add("active");
        break;
      case "handoff.timeout":
        set({ status: "offline", position: null });
        refetch.add("waiting").add("offline");
        break;
      case "handoff.cancelled":
        set({ status: "withdrawn", closed_at: at, position: null });
        refetch.add("waiting").add("offline").add("closed");
        break;
      case "handoff.handed_back":
      case "handoff.closed":
        set({ status: "closed", closed_at: at, position: null });
        refetch.add("waiting").add("offline").add("active").add("closed");
        break;
      case "handoff.transferred":
        if (data.to_agent) set({ status: "active", agent: data.to_agent, team: data.to_team || (item && item.team) });
        else set({ status: "waiting", agent: null, team: data.to_team || (item && item.team) });
        refetch.add("waiting").add("active");
        break;
      case "message.user": {
        const intent = data.parse && data.parse.intent;
        set({
          last_user_text: data.text != null ? data.text : item && item.last_user_text,
          intent: intent ? intent.name : item && item.intent,
          confidence: intent ? intent.confidence : item && item.confidence,
        });
        break;
      }
      case "message.agent":
        if (item && !num(item.first_reply_at)) set({ first_reply_at: at });
        if (item && (item._queue === "waiting" || item._queue === "offline")) {
          set({ status: "active", agent: data.agent || null, claimed_at: at, position: null });
          refetch.add("waiting").add("offline").add("active");
        }
        break;
      case "sla.breached":
        set({ sla_breached: true });
        break;
      default:
        return refetch;
    }
    if (id && !item && type !== "handoff.requested") {
      // An event about a handoff we have not listed: let the lists tell us where it is.
      QUEUES.forEach((q) => refetch.add(q));
    }
    this.changed();
    return refetch;
  }

  isMine(h) {
    return Boolean(this.me && h && h.agent && String(h.agent.id) === String(this.me.id));
  }
}

// A summary made from a handoff.requested event until the list fetch brings the real one.
function provisional(data, status, at) {
  const parse = (data.request && data.request.parse) || {};
  const intent = parse.intent || {};
  return {
    id: data.handoff_id, conversation_id: data.conversation_id, channel: data.channel || "",
    team: data.team || "", reason: data.reason || "", status, agent: null,
    requested_at: at, claimed_at: null, first_reply_at: null, closed_at: null,
    wait_seconds: 0, sla_deadline: null, sla_breached: false,
    intent: intent.name || null, confidence: intent.confidence == null ? null : intent.confidence,
    last_user_text: parse.text || "", whatsapp_window_ends: null, epoch: num(data.epoch) || 0,
    position: null, _queue: queueOf(status) || "waiting", _provisional: true,
  };
}

const t = (h, key) => num(h[key]) || 0;
const COMPARE = {
  waiting: (a, b) => (num(a.position) || 1e9) - (num(b.position) || 1e9) || t(a, "requested_at") - t(b, "requested_at"),
  offline: (a, b) => t(a, "requested_at") - t(b, "requested_at"),
  active: (a, b) => t(b, "claimed_at") - t(a, "claimed_at"),
  closed: (a, b) => t(b, "closed_at") - t(a, "closed_at"),
};
