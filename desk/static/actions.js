/* The conversation's actions: claim, transfer (to a team or an agent), hand back to the
 * bot (optionally setting slots, restarting the form), close.
 *
 * Each answers with the handoff's new summary, which goes into the store at once; the
 * live event that follows confirms it (the store keeps whichever has the newer epoch).
 */
import { ApiError } from "./api.js";
import { attrs, byId, clear, el, toast, who } from "./dom.js";
import { formOf } from "./details.js";

export class Actions {
  constructor({ api, store, view, getMe, refreshLists }) {
    this.api = api;
    this.store = store;
    this.view = view;
    this.getMe = getMe;
    this.refreshLists = refreshLists;
    this.busy = false;
    byId("claim-button").addEventListener("click", () => this.claim());
    byId("transfer-button").addEventListener("click", () => this.openTransfer());
    byId("handback-button").addEventListener("click", () => this.openHandback());
    byId("close-button").addEventListener("click", () => this.close());
    byId("transfer-form").addEventListener("submit", (e) => { e.preventDefault(); this.transfer(); });
    byId("handback-form").addEventListener("submit", (e) => { e.preventDefault(); this.handback(); });
    byId("handback-add-slot").addEventListener("click", () => this.slotRow("", "").name.focus());
    for (const dialog of document.querySelectorAll("dialog")) {
      for (const b of dialog.querySelectorAll("[data-close]")) b.addEventListener("click", () => dialog.close());
    }
  }

  async run(verb, body, done) {
    const id = this.view.id;
    if (!id || this.busy) return null;
    this.busy = true;
    try {
      const summary = await this.api.action(id, verb, body);
      if (summary && summary.id) this.store.take(summary);
      this.store.changed();
      this.refreshLists();
      if (done) done(summary);
      return summary;
    } finally {
      this.busy = false;
    }
  }

  async claim() {
    const h = this.view.current();
    if (!h || !this.view.can(h).claim) return;
    this.view.showClaimError("");
    try {
      await this.run("claim", {}, () => byId("reply-input").focus());
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 409) {
        const holder = exc.body.holder;
        this.view.showClaimError(holder ? "Already claimed by " + who(holder) : exc.message);
        this.refreshLists();
        this.view.refresh(false);
      } else this.view.showClaimError(exc.message);
    }
  }

  async close() {
    const h = this.view.current();
    if (!h || !this.view.can(h).close) return;
    try {
      await this.run("close", {}, () => toast("Conversation closed."));
    } catch (exc) {
      toast("Not closed: " + exc.message, "error");
    }
  }

  // ---- transfer ----
  async openTransfer() {
    const h = this.view.current();
    if (!h || !this.view.can(h).transfer) return;
    const select = byId("transfer-target");
    const error = byId("transfer-error");
    error.textContent = "";
    clear(select);
    select.add(new Option("Loading\u2026", ""));
    byId("transfer-dialog").showModal();
    let teams = [];
    let agents = [];
    try {
      [teams, agents] = await Promise.all([this.api.teams(), this.api.agents()]);
    } catch (exc) {
      error.textContent = "Could not load teams and agents: " + exc.message;
    }
    clear(select);
    const me = this.getMe() || {};
    const teamGroup = el("optgroup", null, null, select);
    teamGroup.label = "Teams (back to the queue)";
    for (const t of teams) {
      if (!t || !t.name) continue;
      const label = `${t.name} \u2014 ${t.waiting || 0} waiting, ${t.online_agents || 0} online` +
        (t.name === h.team ? " (current)" : "");
      teamGroup.appendChild(new Option(label, "team:" + t.name));
    }
    const agentGroup = el("optgroup", null, null, select);
    agentGroup.label = "Agents (theirs at once)";
    for (const a of agents) {
      if (!a || String(a.id) === String(me.id)) continue;
      const teamsText = Array.isArray(a.teams) && a.teams.length ? " \u00b7 " + a.teams.join(", ") : "";
      const option = new Option(`${who(a)} \u2014 ${a.presence || "offline"}${teamsText}`, "agent:" + a.id);
      if (a.presence && a.presence !== "online") option.className = "is-away";
      agentGroup.appendChild(option);
    }
    const firstOther = [...select.options].find((o) => o.value !== "team:" + h.team);
    if (firstOther) select.value = firstOther.value;
    select.focus();
  }

  async transfer() {
    const value = byId("transfer-target").value;
    const error = byId("transfer-error");
    if (!value) { error.textContent = "Choose a team or an agent."; return; }
    const [kind, target] = [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)];
    const body = kind === "team" ? { team: target } : { agent_id: target };
    const label = byId("transfer-target").selectedOptions[0].textContent.split(" \u2014 ")[0];
    try {
      await this.run("transfer", body, () => {
        byId("transfer-dialog").close();
        toast("Transferred to " + label + ".");
      });
    } catch (exc) {
      error.textContent = exc.message;
    }
  }

  // ---- hand back ----
  openHandback() {
    const h = this.view.current();
    if (!h || !this.view.can(h).handback) return;
    byId("handback-error").textContent = "";
    clear(byId("handback-slots"));
    const slots = h.slots || (h.request && h.request.slots) || {};
    const list = byId("slot-names") || attrs(el("datalist", null, null, document.body), { id: "slot-names" });
    clear(list);
    for (const name of Object.keys(slots).sort()) el("option", null, null, list).value = name;
    const form = formOf(h);
    const restart = byId("handback-restart");
    restart.checked = false;
    restart.disabled = !form;
    byId("handback-restart-label").textContent = form
      ? "Restart the form " + form.name + " (the bot asks its questions again)"
      : "Restart the form (no form was active)";
    byId("handback-dialog").showModal();
    byId("handback-add-slot").focus();
  }

  slotRow(name, value) {
    const row = el("div", "slot-row", null, byId("handback-slots"));
    const n = attrs(el("input", "slot-name", null, row), {
      type: "text", list: "slot-names", "aria-label": "Slot name", placeholder: "slot", spellcheck: "false",
    });
    n.value = name;
    const v = attrs(el("input", "slot-value", null, row), { type: "text", "aria-label": "Value", placeholder: "value" });
    v.value = value;
    const remove = el("button", "btn btn-quiet", "Remove", row);
    remove.type = "button";
    remove.setAttribute("aria-label", "Remove this slot");
    remove.addEventListener("click", () => { row.remove(); byId("handback-add-slot").focus(); });
    return { row, name: n, value: v };
  }

  async handback() {
    const h = this.view.current() || {};
    const current = h.slots || {};
    const slots = {};
    for (const row of byId("handback-slots").querySelectorAll(".slot-row")) {
      const name = row.querySelector(".slot-name").value.trim();
      if (!name) continue;
      slots[name] = coerce(row.querySelector(".slot-value").value, current[name]);
    }
    const body = {};
    if (Object.keys(slots).length) body.slots = slots;
    if (byId("handback-restart").checked) body.restart_form = true;
    try {
      await this.run("handback", body, () => {
        byId("handback-dialog").close();
        toast("Handed back to the bot.");
      });
    } catch (exc) {
      byId("handback-error").textContent = exc.message;
    }
  }
}

/** A typed value for a slot: empty clears it; booleans and numbers keep their type. */
function coerce(raw, existing) {
  const text = raw.trim();
  if (text === "") return null;
  if (typeof existing === "boolean") {
    if (/^(true|yes|1)$/i.test(text)) return true;
    if (/^(false|no|0)$/i.test(text)) return false;
  }
  if (typeof existing === "number" && Number.isFinite(Number(text))) return Number(text);
  return text;
}
