/* Admin panels: users (list, add with a one-time password shown once, change role,
 * teams, disabled) and the audit log (who did what, when, in which conversation). */
import { attrs, byId, clear, clock, el, iso, num, toast, who } from "./dom.js";

const ROLES = ["agent", "supervisor", "admin"];
const AUDIT_PAGE = 100;

export class UsersPanel {
  constructor({ api, getMe }) {
    this.api = api;
    this.getMe = getMe;
    this.teams = [];
    byId("user-add-form").addEventListener("submit", (e) => { e.preventDefault(); this.add(); });
  }

  async show() {
    byId("user-password").hidden = true;
    clear(byId("user-password"));
    const body = byId("users-body");
    clear(body);
    try {
      const [users, teams] = await Promise.all([this.api.users(), this.api.teams()]);
      this.teams = teams.map((t) => t.name).filter(Boolean);
      this.teamChecks(byId("user-add-teams"), [], "new");
      for (const u of users) this.row(body, u);
      if (!users.length) el("td", "muted", "No users yet.", el("tr", null, null, body)).colSpan = 5;
    } catch (exc) {
      el("td", "form-error", "Could not load the users: " + exc.message, el("tr", null, null, body)).colSpan = 5;
    }
  }

  teamChecks(box, chosen, key) {
    for (const node of [...box.querySelectorAll("label")]) node.remove();
    if (!this.teams.length) { el("label", "muted", "no teams", box); return; }
    for (const name of this.teams) {
      const label = el("label", "check", null, box);
      const input = attrs(el("input", null, null, label), { type: "checkbox", value: name, name: "teams-" + key });
      input.checked = chosen.includes(name);
      el("span", null, name, label);
    }
  }

  row(body, user) {
    const me = this.getMe() || {};
    const tr = el("tr", null, null, body);
    tr.dataset.userId = user.id;
    const who_ = el("td", null, null, tr);
    el("div", "user-name", user.name || user.email, who_);
    el("div", "muted small", user.email + (String(user.id) === String(me.id) ? " (you)" : ""), who_);
    const roleCell = el("td", null, null, tr);
    const role = attrs(el("select", null, null, roleCell), { "aria-label": "Role of " + (user.name || user.email) });
    for (const r of ROLES) role.add(new Option(r, r));
    role.value = user.role;
    const teamsCell = el("td", null, null, tr);
    const box = el("fieldset", "team-checks", null, teamsCell);
    el("legend", "visually-hidden", "Teams of " + (user.name || user.email), box);
    this.teamChecks(box, Array.isArray(user.teams) ? user.teams : [], user.id);
    const statusCell = el("td", null, null, tr);
    const label = el("label", "check", null, statusCell);
    const disabled = attrs(el("input", null, null, label), { type: "checkbox" });
    disabled.checked = Boolean(user.disabled);
    el("span", null, "Disabled", label);
    el("div", "muted small", user.presence || "offline", statusCell);
    const saveCell = el("td", null, null, tr);
    const save = el("button", "btn", "Save", saveCell);
    save.type = "button";
    save.setAttribute("aria-label", "Save " + (user.name || user.email));
    save.addEventListener("click", async () => {
      const teams = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      const changes = {};
      if (role.value !== user.role) changes.role = role.value;
      if (JSON.stringify(teams) !== JSON.stringify(user.teams || [])) changes.teams = teams;
      if (disabled.checked !== Boolean(user.disabled)) changes.disabled = disabled.checked;
      if (!Object.keys(changes).length) { toast("Nothing changed for " + who(user) + "."); return; }
      save.disabled = true;
      try {
        const answer = await this.api.updateUser(user.id, changes);
        Object.assign(user, (answer && (answer.user || answer)) || changes);
        toast("Saved " + who(user) + ".");
      } catch (exc) {
        toast("Not saved: " + exc.message, "error");
      } finally {
        save.disabled = false;
      }
    });
  }

  async add() {
    const email = byId("user-add-email").value.trim();
    const error = byId("user-add-error");
    error.textContent = "";
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) { error.textContent = "Enter the new user's email address."; return; }
    const body = {
      email,
      name: byId("user-add-name").value.trim(),
      role: byId("user-add-role").value,
      teams: [...byId("user-add-teams").querySelectorAll("input:checked")].map((i) => i.value),
    };
    byId("user-add-submit").disabled = true;
    try {
      const answer = await this.api.addUser(body);
      this.showPassword(answer.user || body, answer.password);
      byId("user-add-email").value = "";
      byId("user-add-name").value = "";
      if (answer.user) this.row(byId("users-body"), answer.user);
    } catch (exc) {
      error.textContent = exc.message;
    } finally {
      byId("user-add-submit").disabled = false;
    }
  }

  /** The one-time password is shown here once and never stored by the page. */
  showPassword(user, password) {
    const box = clear(byId("user-password"));
    box.hidden = false;
    el("p", null, `One-time password for ${who(user)} (shown only now; they choose their own at first sign-in):`, box);
    const code = el("code", "one-time-password", password || "", box);
    code.dataset.testid = "one-time-password";
    const copy = el("button", "btn", "Copy", box);
    copy.type = "button";
    copy.addEventListener("click", () => {
      navigator.clipboard.writeText(password || "").then(() => toast("Copied."), () => toast("Copy it by hand.", "error"));
    });
    copy.focus();
  }

  hide() { clear(byId("user-password")); byId("user-password").hidden = true; }
}

export class AuditPanel {
  constructor({ api }) {
    this.api = api;
    this.oldest = null;
    byId("audit-refresh").addEventListener("click", () => this.show());
    byId("audit-more").addEventListener("click", () => this.more());
  }

  async show() {
    this.oldest = null;
    clear(byId("audit-body"));
    await this.more();
  }

  /** The next page of older entries (the API pages by entry id, newest first). */
  async more() {
    const body = byId("audit-body");
    const button = byId("audit-more");
    button.disabled = true;
    try {
      const entries = await this.api.audit(this.oldest);
      for (const e of entries) this.row(body, e);
      const ids = entries.map((e) => num(e && e.id)).filter((id) => id != null);
      if (ids.length) this.oldest = Math.min(...ids);
      button.hidden = entries.length < AUDIT_PAGE || !ids.length;
      if (!body.children.length) el("td", "muted", "Nothing recorded yet.", el("tr", null, null, body)).colSpan = 5;
    } catch (exc) {
      el("td", "form-error", "Could not load the audit log: " + exc.message, el("tr", null, null, body)).colSpan = 5;
    } finally {
      button.disabled = false;
    }
  }

  row(body, entry) {
    if (!entry || typeof entry !== "object") return;
    const tr = el("tr", null, null, body);
    const at = num(entry.at != null ? entry.at : entry.created_at);
    attrs(el("time", null, clock(at), el("td", "nowrap", null, tr)), { datetime: iso(at) });
    el("td", null, entry.actor_email || who(entry.actor || entry.user) || "system", tr);
    el("td", "mono", entry.action || entry.type || "", tr);
    el("td", "mono small", entry.conversation_id || entry.handoff_id || "", tr);
    const details = entry.detail || entry.details;
    const parts = details && typeof details === "object"
      ? Object.entries(details).map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v)))
      : [];
    if (entry.ip) parts.push("from " + entry.ip);
    el("td", "small", parts.join(" \u00b7 "), tr);
  }
}
