/* Small DOM and formatting helpers shared by the desk's modules.
 *
 * Everything a user, an agent or the bot wrote reaches the page through textContent
 * (el(), setText()); nothing here builds HTML from strings, so a strict CSP
 * (default-src 'self') holds and a message like "<img onerror=...>" shows as text.
 */

/** Create an element with an optional class list, text and parent. */
export function el(tag, cls, text, parent) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = String(text);
  if (parent) parent.appendChild(node);
  return node;
}

/** Set attributes from an object; null/undefined/false values are skipped. */
export function attrs(node, values) {
  for (const [name, value] of Object.entries(values)) {
    if (value == null || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export const byId = (id) => document.getElementById(id);

/** A field the server may send as a float, "" (not yet) or null: a finite number or null. */
export function num(value) {
  if (value === "" || value == null) return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

// ---- time: the server's clock, not the laptop's ----
// SLA countdowns compare server timestamps with "now"; a laptop whose clock is off by a
// minute would show a wrong countdown. The offset is learned from the HTTP Date header
// (1 s resolution, so offsets under 2 s are ignored: same-machine clocks stay exact).
let clockOffset = 0;

export function learnClock(dateHeader) {
  const server = Date.parse(dateHeader || "");
  if (!Number.isFinite(server)) return;
  const offset = (server + 500 - Date.now()) / 1000;
  clockOffset = Math.abs(offset) < 2 ? 0 : offset;
}

/** Seconds since the epoch on the server's clock. */
export const now = () => Date.now() / 1000 + clockOffset;

const pad = (n) => String(n).padStart(2, "0");

/** 75 → "1:15", 3725 → "1h 02m", 90000 → "25h 00m". Negative values are made positive. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(Math.abs(seconds)));
  if (s < 3600) return Math.floor(s / 60) + ":" + pad(s % 60);
  return Math.floor(s / 3600) + "h " + pad(Math.floor((s % 3600) / 60)) + "m";
}

/** A timestamp as "14:05" today, "Mon 14:05" within a week, else "12 Mar 14:05". */
export function clock(at) {
  const t = num(at);
  if (t == null) return "";
  const d = new Date((t - clockOffset) * 1000);
  const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
  const age = Date.now() - d.getTime();
  if (new Date().toDateString() === d.toDateString()) return hm;
  if (age < 6 * 86400e3) return d.toLocaleDateString(undefined, { weekday: "short" }) + " " + hm;
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short" }) + " " + hm;
}

/** ISO string for a <time datetime>, or "" when the value is missing. */
export function iso(at) {
  const t = num(at);
  return t == null ? "" : new Date((t - clockOffset) * 1000).toISOString();
}

/** 0.8734 → "87%"; missing → "". */
export function percent(confidence) {
  const c = num(confidence);
  return c == null ? "" : Math.round(c * 100) + "%";
}

/** Agents are shown by name, else e-mail, else id. */
export function who(user) {
  if (!user || typeof user !== "object") return user ? String(user) : "";
  return String(user.name || user.email || user.id || "");
}

export function newId() {
  const c = window.crypto;
  if (c && c.randomUUID) return c.randomUUID(); // secure contexts (https, localhost)
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** True when a key press happened in a place where letters are typed. */
export function typingInField(target) {
  if (!target || !target.closest) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
}

// ---- announcements and toasts ----

/** Say something to screen readers through the polite live region. */
export function announce(text) {
  const region = byId("announcer");
  if (!region) return;
  // Re-setting the same text is not announced again: clear first, then set a moment later.
  region.textContent = "";
  setTimeout(() => { region.textContent = String(text); }, 50);
}

/**
 * Show a toast. kind: "info" | "error" | "alert" (alerts stay until dismissed).
 * action: optional {label, run} drawn as a button. Returns the toast element.
 */
export function toast(text, kind = "info", action = null) {
  const box = byId("toasts");
  const t = el("div", "toast toast-" + kind, null, box);
  t.setAttribute("role", kind === "info" ? "status" : "alert");
  if (kind === "alert") t.setAttribute("data-testid", "sla-alert");
  el("span", "toast-text", text, t);
  if (action) {
    const b = el("button", "toast-action", action.label, t);
    b.type = "button";
    b.addEventListener("click", () => { t.remove(); action.run(); });
  }
  const x = el("button", "toast-close", "\u00d7", t);
  x.type = "button";
  x.setAttribute("aria-label", "Dismiss");
  x.addEventListener("click", () => t.remove());
  if (kind !== "alert") setTimeout(() => t.remove(), kind === "error" ? 9000 : 5000);
  while (box.children.length > 5) box.firstChild.remove();
  return t;
}
