/* The center column: the open conversation's header, timers, transcript and the state
 * of its action buttons, kept current by live events.
 *
 * What is drawn comes from two sources: the detail fetched on open (transcript, slots,
 * form, request) and the store's summary (status, agent, SLA), which events keep fresh.
 * Events for this handoff that arrive while its detail is still loading are held and
 * applied after it is drawn, so nothing said in that moment is lost.
 */
import { byId, duration, now, num, who } from "./dom.js";
import { renderDetails, statusText } from "./details.js";
import { ageText, channelName, reasonText, renderSla, renderWindow } from "./queues.js";
import { queueOf } from "./store.js";
import { Transcript } from "./transcript.js";

const LEADS = new Set(["supervisor", "admin"]);

export class ConversationView {
  constructor({ api, store, getMe }) {
    this.api = api;
    this.store = store;
    this.getMe = getMe;
    this.id = null;
    this.detail = null;
    this.loading = null;
    this.held = [];
    this.listeners = new Set();
    this.transcript = new Transcript(byId("transcript"), getMe);
    this.ui = {
      empty: byId("conv-empty"), conv: byId("conv"), heading: byId("conv-heading"),
      meta: byId("conv-meta"), age: byId("conv-age"), sla: byId("conv-sla"), window: byId("conv-window"),
      claim: byId("claim-button"), transfer: byId("transfer-button"),
      handback: byId("handback-button"), close: byId("close-button"),
      claimError: byId("claim-error"), reply: byId("reply-input"), send: byId("reply-send"),
      canned: byId("canned-select"), details: byId("details"),
    };
    renderDetails(this.ui.details, null);
    store.subscribe(() => { if (this.id) this.renderState(); });
  }

  /** fn() is called when the open handoff or what may be done with it changes. */
  subscribe(fn) { this.listeners.add(fn); }

  /** The open handoff: the fetched detail overlaid with the store's fresher summary. */
  current() {
    if (!this.id) return null;
    const live = this.store.get(this.id);
    const base = this.detail || {};
    const h = Object.assign({}, base, live || {});
    if (!h._queue) h._queue = queueOf(h.status) || "closed";
    return h;
  }

  /** What the signed-in user may do with handoff h (the server decides; this is the UI). */
  can(h) {
    const me = this.getMe() || {};
    const lead = LEADS.has(me.role);
    const mine = Boolean(h && h.agent && String(h.agent.id) === String(me.id));
    const q = h ? h._queue : "closed";
    const queued = q === "waiting" || q === "offline";
    const active = q === "active" && h.status === "active";
    return {
      claim: queued,
      reply: queued || (active && (mine || lead)),
      transfer: active && (mine || lead),
      handback: active && (mine || lead),
      close: queued || (active && (mine || lead)),
      note: Boolean(h),
      mine, lead, queued, active,
    };
  }

  async open(id) {
    if (this.id === id && this.detail) return;
    this.id = id;
    this.detail = null;
    this.held = [];
    this.transcript.reset();
    this.ui.claimError.textContent = "";
    this.ui.empty.hidden = true;
    this.ui.conv.hidden = false;
    this.ui.conv.setAttribute("aria-busy", "true");
    this.renderState();
    await this.load(true);
  }

  /** Re-fetch the open handoff; redraw the transcript too after a reconnect. */
  async refresh(redrawTranscript = false) {
    if (this.id) await this.load(redrawTranscript);
  }

  async load(redrawTranscript) {
    const id = this.id;
    const request = this.api.handoff(id);
    this.loading = request;
    let data;
    try {
      data = await request;
    } catch (exc) {
      if (this.id === id) {
        this.ui.conv.removeAttribute("aria-busy");
        this.ui.claimError.textContent = exc.message;
      }
      return;
    } finally {
      if (this.loading === request) this.loading = null;
    }
    if (this.id !== id || !data) return;
    this.detail = data;
    this.store.take(data);
    this.store.changed();
    if (redrawTranscript) this.transcript.load(data.transcript, data.notes);
    const held = this.held;
    this.held = [];
    for (const [type, d] of held) this.onEvent(type, d);
    this.ui.conv.removeAttribute("aria-busy");
    this.renderState();
  }

  close() {
    this.id = null;
    this.detail = null;
    this.transcript.reset();
    this.ui.conv.hidden = true;
    this.ui.empty.hidden = false;
    renderDetails(this.ui.details, null);
    this.detailsSignature = null;
    this.notify();
  }

  notify() { for (const fn of this.listeners) fn(this.current()); }

  /** A live event; only those about the open handoff do anything here. */
  onEvent(type, data) {
    if (!this.id || data.handoff_id !== this.id) return;
    if (this.loading) { this.held.push([type, data]); return; }
    const parse = data.parse || {};
    const intent = parse.intent || {};
    switch (type) {
      case "message.user":
        this.transcript.add({
          kind: "user", text: data.text, at: data.at, message_id: data.message_id,
          intent: intent.name, confidence: intent.confidence, entities: parse.entities,
          payload: data.payload, attachments: data.attachments,
        });
        break;
      case "message.agent":
        if (data.client_message_id && this.transcript.confirm(data.client_message_id, data.message_id, data.at)) break;
        this.transcript.add({ kind: "agent", text: data.text, at: data.at, agent: data.agent, message_id: data.message_id });
        break;
      case "handoff.claimed":
        this.eventLine("Claimed by " + this.name(data.agent), data.at);
        break;
      case "handoff.transferred":
        this.eventLine("Transferred to " + (data.to_agent ? this.name(data.to_agent) : "team " + data.to_team), data.at);
        break;
      case "handoff.handed_back":
        this.eventLine("Handed back to the bot by " + this.name(data.agent), data.at);
        break;
      case "handoff.closed":
        this.eventLine("Closed by " + this.name(data.agent), data.at);
        break;
      case "handoff.cancelled":
        this.eventLine("The customer went back to the bot", data.at);
        break;
      case "handoff.timeout":
        this.eventLine("Nobody answered in time: the bot took over; kept as an offline ticket", data.at);
        break;
      case "sla.breached":
        this.eventLine("First-response target missed", data.at);
        break;
      case "note.added": // another agent's note (one's own is drawn already: matched by text)
        if (data.note) {
          this.transcript.add({ kind: "note", message_id: "note:" + data.note.id, text: data.note.text,
            at: data.note.at, author: data.note.author });
        }
        break;
      default:
        return;
    }
    if (type.startsWith("handoff.")) this.refreshSoon();
  }

  /** After a state change, re-read slots and form (not the transcript) once things settle. */
  refreshSoon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(false), 400);
  }

  name(agent) {
    const me = this.getMe();
    if (agent && me && typeof agent === "object" && String(agent.id) === String(me.id)) return "you";
    return who(agent) || "an agent";
  }

  eventLine(text, at) {
    const node = this.transcript.add({ kind: "event", text, at });
    if (node) node.classList.add("is-live-event");
  }

  /** Header, timers, buttons and details from the current state. */
  renderState() {
    const h = this.current();
    if (!h) return;
    const ui = this.ui;
    const request = h.request || {};
    ui.heading.textContent = channelName(h.channel) + " \u00b7 " + (request.user_id || h.conversation_id || "conversation");
    ui.meta.textContent = [h.team ? "team " + h.team : "", statusText(h), reasonText(h.reason)]
      .filter(Boolean).join(" \u00b7 ");
    ui.conv.dataset.status = h.status || "";
    this.tick();
    const can = this.can(h);
    ui.claim.hidden = !can.claim;
    ui.transfer.disabled = !can.transfer;
    ui.handback.disabled = !can.handback;
    ui.close.disabled = !can.close;
    ui.reply.disabled = !can.reply;
    ui.send.disabled = !can.reply;
    ui.canned.disabled = !can.reply;
    ui.reply.placeholder = placeholder(h, can);
    if (this.detail) this.renderDetailsIfChanged(Object.assign({}, this.detail, h));
    this.notify();
  }

  /** Redraw the right column only when what it shows changed (keeps its focus and
   * the open state of the snapshot while unrelated events arrive). */
  renderDetailsIfChanged(h) {
    const shown = ["id", "reason", "team", "channel", "status", "agent", "position", "requested_at",
      "claimed_at", "first_reply_at", "closed_at", "conversation_id", "intent", "confidence", "slots",
      "form", "request"];
    const signature = JSON.stringify(shown.map((k) => h[k]));
    if (signature === this.detailsSignature) return;
    this.detailsSignature = signature;
    const snapshot = this.ui.details.querySelector(".snapshot");
    const wasOpen = Boolean(snapshot && snapshot.open && this.detailsId === h.id);
    this.detailsId = h.id;
    renderDetails(this.ui.details, h);
    const again = this.ui.details.querySelector(".snapshot");
    if (again) again.open = wasOpen;
  }

  tick() {
    const h = this.current();
    if (!h) return;
    renderSla(this.ui.sla, h);
    renderWindow(this.ui.window, h);
    this.ui.age.textContent = headerAge(h);
  }

  showClaimError(text) { this.ui.claimError.textContent = text; }

  /** Helpers for the composer and actions modules. */
  addNote(note) {
    // Known by its id, so that its live event (which may come first) is not drawn twice.
    const known = note && note.id != null ? { message_id: "note:" + note.id } : {};
    this.transcript.add(Object.assign({ kind: "note" }, note, known,
      { author: note.author || this.getMe() }));
  }
}

/** The header's clock: how long the customer has waited, or how long an agent has had it. */
function headerAge(h) {
  if (h._queue !== "active") return ageText(h);
  const since = num(h.claimed_at);
  return since == null ? "" : "claimed " + duration(now() - since) + " ago";
}

function placeholder(h, can) {
  if (h._queue === "closed" || !["waiting", "offline", "active"].includes(h.status)) {
    return "This conversation is " + String(h.status || "closed").replace(/_/g, " ") + ".";
  }
  if (can.queued) return "Reply to the customer (sending claims the conversation)\u2026";
  if (!can.reply) return "Only " + who(h.agent) + " can reply here.";
  if (!can.mine) return "Replying takes the conversation over from " + who(h.agent) + "\u2026";
  return "Reply to the customer\u2026";
}

