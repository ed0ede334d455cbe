/* The bottom of the conversation: the reply box (Enter sends, Shift+Enter is a new
 * line), canned replies, internal notes, and the typing signal to the customer.
 *
 * Every reply gets its own client_message_id when it is written; retries (automatic on
 * network failure, or the Retry button) reuse it, so the server sends it to the
 * customer once however many times the POST reaches it.
 */
import { ApiError } from "./api.js";
import { byId, newId, toast } from "./dom.js";

const MAX_TEXT = 4096; // the server's limit for one agent message (Telegram's, the smallest)
const TYPING_EVERY_MS = 3000; // {on:true} at most this often while the agent types
const TYPING_IDLE_MS = 5000;  // {on:false} after this long without a key

/** Tells the customer's channel that the agent is typing, within the contract's pace. */
export class TypingSignal {
  constructor(api) {
    this.api = api;
    this.id = null;
    this.on = false;
    this.sentAt = 0;
    this.idle = null;
  }

  input(id) {
    if (this.id && this.id !== id) this.stop();
    this.id = id;
    const t = Date.now();
    if (!this.on || t - this.sentAt >= TYPING_EVERY_MS) {
      this.on = true;
      this.sentAt = t;
      this.post(id, true);
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  stop() {
    clearTimeout(this.idle);
    if (this.on && this.id) this.post(this.id, false);
    this.on = false;
    this.sentAt = 0;
  }

  post(id, on) {
    // Best effort: a lost typing signal is harmless, and must never bother the agent.
    this.api.typing(id, on).catch(() => {});
  }
}

export class Composer {
  constructor({ api, view }) {
    this.api = api;
    this.view = view;
    this.typing = new TypingSignal(api);
    this.canned = [];
    this.ui = {
      form: byId("reply-form"), input: byId("reply-input"), send: byId("reply-send"),
      error: byId("reply-error"), canned: byId("canned-select"),
      noteForm: byId("note-form"), note: byId("note-input"), noteAdd: byId("note-add"),
    };
    const ui = this.ui;
    ui.form.addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
    ui.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    ui.input.addEventListener("input", () => {
      ui.error.textContent = "";
      // Only the agent holding the conversation is shown typing (the server refuses others).
      const h = this.view.current();
      const holder = h && this.view.can(h).active && this.view.can(h).mine;
      if (holder && ui.input.value.trim()) this.typing.input(this.view.id);
      else this.typing.stop();
    });
    ui.canned.addEventListener("change", () => this.useCanned());
    ui.noteForm.addEventListener("submit", (e) => { e.preventDefault(); this.addNote(); });
    view.subscribe(() => { if (!view.id) this.typing.stop(); });
  }

  /** Fill the canned-replies picker (the bot's responses). */
  setCanned(responses) {
    this.canned = Array.isArray(responses) ? responses.filter((r) => r && r.text) : [];
    const select = this.ui.canned;
    while (select.options.length > 1) select.remove(1);
    for (const [i, r] of this.canned.entries()) {
      const text = String(r.text);
      const label = (r.name ? String(r.name).replace(/^utter_/, "") + ": " : "") +
        (text.length > 70 ? text.slice(0, 69) + "\u2026" : text);
      select.add(new Option(label, String(i)));
    }
    select.hidden = this.canned.length === 0;
  }

  useCanned() {
    const select = this.ui.canned;
    const r = this.canned[Number(select.value)];
    select.value = "";
    if (!r) return;
    const h = this.view.current() || {};
    const slots = h.slots || (h.request && h.request.slots) || {};
    // Responses are templates ("Order {order_id} has shipped"): fill in what the slots know.
    const text = String(r.text).replace(/\{(\w+)\}/g, (m, name) =>
      slots[name] != null && slots[name] !== "" ? String(slots[name]) : m);
    const input = this.ui.input;
    input.value = text;
    input.focus();
    input.setSelectionRange(text.length, text.length);
    input.dispatchEvent(new Event("input")); // the typing signal, as if typed
  }

  submit() {
    const id = this.view.id;
    const input = this.ui.input;
    const text = input.value.trim();
    if (!id || input.disabled || !text) return;
    if (text.length > MAX_TEXT) {
      this.ui.error.textContent = `The reply is ${text.length} characters long; the limit is ${MAX_TEXT}.`;
      return;
    }
    this.typing.stop();
    input.value = "";
    this.ui.error.textContent = "";
    const clientMessageId = newId();
    const node = this.view.transcript.addPending(text, clientMessageId);
    this.deliver(id, text, clientMessageId, node);
  }

  async deliver(id, text, clientMessageId, node) {
    const time = node.querySelector("time");
    try {
      const answer = await this.api.sendMessage(id, text, clientMessageId, (attempt, delay) => {
        time.textContent = `not sent yet \u2014 retrying in ${Math.round(delay / 1000) || 1} s`;
      });
      if (this.view.id === id) this.view.transcript.confirm(clientMessageId, answer && answer.message_id, null);
    } catch (exc) {
      const message = exc instanceof ApiError && exc.status === 0
        ? "Not sent: no connection" : "Not sent: " + exc.message;
      this.view.transcript.fail(node, message, () => {
        node.classList.add("is-pending");
        node.classList.remove("is-failed");
        time.textContent = "sending\u2026";
        this.deliver(id, text, clientMessageId, node); // same id: sent once at most
      });
      if (this.view.id === id && !(exc instanceof ApiError && exc.status === 0)) {
        this.ui.error.textContent = exc.message;
      }
    }
  }

  async addNote() {
    const id = this.view.id;
    const note = this.ui.note;
    const text = note.value.trim();
    if (!id || !text) return;
    if (text.length > MAX_TEXT) { toast(`The note is too long (limit ${MAX_TEXT} characters).`, "error"); return; }
    this.ui.noteAdd.disabled = true;
    try {
      const saved = await this.api.action(id, "notes", { text });
      note.value = "";
      if (this.view.id === id) this.view.addNote(saved || { text, at: Date.now() / 1000 });
    } catch (exc) {
      toast("The note was not saved: " + exc.message, "error");
    } finally {
      this.ui.noteAdd.disabled = false;
    }
  }

  focusReply() {
    const input = this.ui.input;
    if (input.disabled) { toast("You cannot reply in this conversation."); return; }
    input.focus();
  }
}

