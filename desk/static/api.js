/* The desk's HTTP API client (the contract's /desk/api/*), same origin, session cookie.
 *
 * The CSRF token lives in memory only (never in storage): it came with /login or /me
 * and goes as X-CSRF-Token on every POST/PUT/PATCH/DELETE. A 401 anywhere means the
 * session is gone: onUnauthorized() takes the page back to the login form.
 */
import { learnClock } from "./dom.js";

export const API_BASE = new URL("./api/", import.meta.url);

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const TRANSIENT = new Set([0, 429, 502, 503, 504]); // 0: the request never got an answer

/** An error answer of the API (status 0: network failure, no answer at all). */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    const text = body && typeof body.error === "string" ? body.error : fallback;
    super(text || `The server answered ${status}.`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = 0;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  constructor() {
    this.csrf = null;
    this.onUnauthorized = () => {};
  }

  /**
   * One request. Resolves to the JSON body (null for 204); rejects with ApiError.
   * quiet401: the caller handles 401 itself (login, the first /me).
   */
  async request(method, path, body, { quiet401 = false } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (MUTATING.has(method) && this.csrf) headers["X-CSRF-Token"] = this.csrf;
    let response;
    try {
      response = await fetch(new URL(path, API_BASE), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (exc) {
      throw new ApiError(0, null, "The desk server cannot be reached. Check the connection.");
    }
    learnClock(response.headers.get("Date"));
    let data = null;
    if (response.status !== 204) {
      const type = response.headers.get("Content-Type") || "";
      if (type.includes("json")) data = await response.json().catch(() => null);
    }
    if (response.ok) return data;
    const error = new ApiError(response.status, data, describe(response.status));
    error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
    if (response.status === 401 && !quiet401) this.onUnauthorized(error);
    throw error;
  }

  get(path, options) { return this.request("GET", path, undefined, options); }
  post(path, body, options) { return this.request("POST", path, body === undefined ? {} : body, options); }
  put(path, body) { return this.request("PUT", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }

  // ---- session ----
  async login(email, password) {
    const data = await this.post("login", { email, password }, { quiet401: true });
    this.csrf = data.csrf_token;
    return data.user;
  }

  async me() {
    const data = await this.get("me", { quiet401: true });
    this.csrf = data.csrf_token;
    return data.user;
  }

  async logout() {
    try { await this.post("logout", undefined, { quiet401: true }); } finally { this.csrf = null; }
  }

  changePassword(current, next) { return this.post("password", { current, new: next }); }
  setPresence(status) { return this.put("presence", { status }); }

  // ---- handoffs ----
  async handoffs(status, team) {
    const q = new URLSearchParams({ status });
    if (team) q.set("team", team);
    const data = await this.get("handoffs?" + q);
    return (data && data.handoffs) || [];
  }

  handoff(id) { return this.get("handoffs/" + encodeURIComponent(id)); }
  action(id, verb, body) { return this.post(`handoffs/${encodeURIComponent(id)}/${verb}`, body); }

  /**
   * Send an agent reply. The client_message_id makes the POST idempotent on the server,
   * so a request whose answer was lost is sent again with the same id, with backoff,
   * until it is answered or `attempts` run out. onRetry(attempt, delayMs) reports progress.
   */
  async sendMessage(id, text, clientMessageId, onRetry = () => {}, attempts = 6) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.action(id, "messages", { text, client_message_id: clientMessageId });
      } catch (exc) {
        if (!(exc instanceof ApiError) || !TRANSIENT.has(exc.status) || attempt >= attempts) throw exc;
        const delay = exc.retryAfter ? exc.retryAfter * 1000 : Math.min(8000, 500 * 2 ** (attempt - 1));
        onRetry(attempt, delay);
        await sleep(delay);
      }
    }
  }

  typing(id, on) { return this.action(id, "typing", { on }); }

  // ---- directory ----
  async canned() { return ((await this.get("canned")) || {}).responses || []; }
  async teams() { return ((await this.get("teams")) || {}).teams || []; }
  async agents() { return ((await this.get("agents")) || {}).agents || []; }

  // ---- admin ----
  async users() { return listOf(await this.get("users"), "users"); }
  addUser(user) { return this.post("users", user); }
  updateUser(id, changes) { return this.patch("users/" + encodeURIComponent(id), changes); }
  async audit(before) {
    const q = new URLSearchParams({ limit: "100" });
    if (before != null) q.set("before", String(before));
    return listOf(await this.get("audit?" + q), "entries");
  }
}

function listOf(data, key) {
  return data && Array.isArray(data[key]) ? data[key] : [];
}

function describe(status) {
  if (status === 401) return "Your session has ended. Sign in again.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "That conversation no longer exists.";
  if (status === 409) return "Someone else changed this conversation first.";
  if (status === 429) return "Too many requests. Wait a moment and try again.";
  if (status >= 500) return "The desk server had a problem. Try again in a moment.";
  return `The server refused the request (${status}).`;
}
