/* Parley desk: the agent console. Vanilla ES modules, no build step, no framework.
 *
 *   desk.js         sign-in, the session, presence, live wiring, keyboard shortcuts
 *   api.js          the HTTP API (/desk/api/*) with the CSRF token
 *   live.js         the WebSocket event stream, reconnect with backoff
 *   store.js        handoff summaries in four queues, reconciled by epoch
 *   queues.js       the left column          conversation.js  the center column
 *   transcript.js   the messages             details.js       the right column
 *   composer.js     reply, canned replies, notes, typing
 *   actions.js      claim, transfer, hand back, close      admin.js  users, audit log
 *
 * Text from customers, agents and the bot is only ever set as textContent.
 */
import { Actions } from "./actions.js";
import { AuditPanel, UsersPanel } from "./admin.js";
import { Api, ApiError } from "./api.js";
import { Composer } from "./composer.js";
import { ConversationView } from "./conversation.js";
import { announce, byId, clear, duration, toast, typingInField, who } from "./dom.js";
import { LiveSocket } from "./live.js";
import { QueuePanel, channelName, reasonText } from "./queues.js";
import { HandoffStore, QUEUES } from "./store.js";

const LEADS = new Set(["supervisor", "admin"]);
const REFETCH_DELAY_MS = 300;

const api = new Api();
const store = new HandoffStore();
let me = null;
const getMe = () => me;

const view = new ConversationView({ api, store, getMe });
const queues = new QueuePanel(store, { onOpen: (id) => openHandoff(id) });
const composer = new Composer({ api, view });
const actions = new Actions({ api, store, view, getMe, refreshLists: () => scheduleFetch(QUEUES) });
const users = new UsersPanel({ api, getMe });
const audit = new AuditPanel({ api });
const live = new LiveSocket({ onFrame, onState: showConnection, onOpen: () => resync() });

let ticker = null;
let fetchTimer = null;
const fetchWanted = new Set();

// ---- screens ----
function screen(name) {
  byId("boot").hidden = true;
  byId("login-view").hidden = name !== "login";
  byId("password-view").hidden = name !== "password";
  byId("app").hidden = name !== "app";
}

async function boot() {
  api.onUnauthorized = () => signedOut("Your session has ended. Sign in again.");
  try {
    enter(await api.me());
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 0) {
      byId("boot").textContent = "The desk server cannot be reached. Trying again\u2026";
      setTimeout(boot, 3000);
      return;
    }
    signedOut(exc instanceof ApiError && exc.status !== 401 ? exc.message : "");
  }
}

function enter(user) {
  me = user;
  store.me = user;
  if (user && user.must_change_password) {
    screen("password");
    byId("password-current").focus();
    return;
  }
  startDesk();
}

function signedOut(message) {
  stopDesk();
  me = null;
  store.me = null;
  screen("login");
  byId("login-error").textContent = message || "";
  byId("login-password").value = "";
  byId("login-email").focus();
}

byId("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const email = byId("login-email").value.trim();
  const password = byId("login-password").value;
  const error = byId("login-error");
  if (!email || !password) { error.textContent = "Enter your email and password."; return; }
  const submit = byId("login-submit");
  submit.disabled = true;
  error.textContent = "";
  try {
    const user = await api.login(email, password);
    byId("login-password").value = "";
    enter(user);
  } catch (exc) {
    error.textContent = exc.status === 401 ? "Wrong email or password."
      : exc.status === 429 ? "Too many failed sign-ins. Wait " + waitText(exc.retryAfter) + " and try again."
      : exc.message;
    byId("login-password").select();
  } finally {
    submit.disabled = false;
  }
});

byId("password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const current = byId("password-current").value;
  const next = byId("password-new").value;
  const error = byId("password-error");
  error.textContent = "";
  if (next.length < 10) { error.textContent = "The new password needs at least 10 characters."; return; }
  if (next !== byId("password-confirm").value) { error.textContent = "The two new passwords differ."; return; }
  if (next === current) { error.textContent = "Choose a password different from the one-time password."; return; }
  try {
    await api.changePassword(current, next);
    for (const id of ["password-current", "password-new", "password-confirm"]) byId(id).value = "";
    enter(await api.me());
  } catch (exc) {
    error.textContent = exc.status === 401 || exc.status === 403 ? "The one-time password is not right." : exc.message;
  }
});

function waitText(seconds) {
  if (!seconds) return "a few minutes";
  return seconds < 60 ? Math.ceil(seconds) + " seconds" : Math.ceil(seconds / 60) + " minutes";
}

async function logout() {
  try { await api.logout(); } catch (exc) { /* signed out here either way */ }
  signedOut("You are signed out.");
}
byId("logout-button").addEventListener("click", logout);
byId("password-logout").addEventListener("click", logout);

// ---- the desk ----
function startDesk() {
  screen("app");
  showMe();
  // Admins manage users; supervisors and admins read the audit log; agents see one view.
  byId("view-users").hidden = me.role !== "admin";
  byId("view-audit").hidden = !LEADS.has(me.role);
  byId("view-review").hidden = !LEADS.has(me.role);
  byId("view-analytics").hidden = !LEADS.has(me.role);
  byId("view-desk").hidden = !LEADS.has(me.role);
  queues.show("waiting");
  live.start();
  fetchAll().then(() => {
    // Start in the queue: the first row gets focus once the lists are there.
    const at = document.activeElement;
    if (!at || at === document.body || at.getAttribute("role") === "tab") queues.focusList();
  });
  api.canned().then((r) => composer.setCanned(r), () => composer.setCanned([]));
  api.teams().then(fillTeamFilter, () => {});
  clearInterval(ticker);
  ticker = setInterval(() => { queues.tick(); view.tick(); }, 1000);
  openFromHash();
  queues.focusList();
}

/** #handoff=<id> opens that conversation: a reload keeps it, and links can point at one. */
function openFromHash() {
  const wanted = /^#handoff=([\w-]+)$/.exec(location.hash);
  if (wanted && me && !byId("app").hidden && wanted[1] !== view.id) openHandoff(wanted[1]);
}
window.addEventListener("hashchange", openFromHash);

function stopDesk() {
  live.stop();
  clearInterval(ticker);
  clearTimeout(fetchTimer);
  composer.typing.stop();
  store.items.clear();
  store.changed();
  view.close();
  users.hide();
  clear(byId("toasts"));
  showView("desk");
}

function showMe() {
  byId("me").textContent = who(me) + " \u00b7 " + me.role;
  byId("me").title = me.email + (me.teams && me.teams.length ? " \u2014 teams: " + me.teams.join(", ") : "");
  setPresence(me.presence || "offline");
}

function setPresence(status) {
  byId("presence-select").value = status;
  byId("presence-dot").dataset.status = status;
}

byId("presence-select").addEventListener("change", async (e) => {
  const wanted = e.target.value;
  const before = (me && me.presence) || "offline";
  setPresence(wanted);
  try {
    const answer = await api.setPresence(wanted);
    me.presence = (answer && answer.status) || wanted;
    setPresence(me.presence);
  } catch (exc) {
    setPresence(before);
    toast("Status not changed: " + exc.message, "error");
  }
});

function fillTeamFilter(teams) {
  const select = byId("team-filter");
  while (select.options.length > 1) select.remove(1);
  for (const t of teams) if (t && t.name) select.add(new Option(t.name, t.name));
  select.parentNode.hidden = teams.length < 2;
}

byId("team-filter").addEventListener("change", (e) => {
  store.team = e.target.value;
  store.items.clear();
  store.changed();
  fetchAll();
});

// ---- lists ----
async function fetchQueue(queue) {
  const started = performance.now();
  try {
    store.replace(queue, await api.handoffs(queue, store.team), started);
  } catch (exc) {
    if (exc.status !== 401) toast(`Could not load the ${queue} queue: ${exc.message}`, "error");
  }
}

function fetchAll() { return Promise.all(QUEUES.map(fetchQueue)); }

function scheduleFetch(list) {
  for (const q of list) fetchWanted.add(q);
  clearTimeout(fetchTimer);
  fetchTimer = setTimeout(() => {
    const wanted = [...fetchWanted];
    fetchWanted.clear();
    wanted.forEach(fetchQueue);
  }, REFETCH_DELAY_MS);
}

/** After every (re)connect: events may have been missed while the socket was down. */
function resync() {
  fetchAll();
  view.refresh(true);
}

function openHandoff(id) {
  showView("desk");
  queues.setOpen(id);
  history.replaceState(null, "", "#handoff=" + id);
  view.open(id);
}

// ---- live events ----
function onFrame(frame) {
  if (frame.type === "hello") {
    if (frame.user && typeof frame.user === "object") {
      me = Object.assign({}, me, frame.user);
      store.me = me;
      showMe();
    }
    return;
  }
  const data = frame.data && typeof frame.data === "object" ? frame.data : {};
  const type = frame.type;
  if (type === "presence.changed") {
    if (me && data.agent && String(data.agent.id) === String(me.id) && data.status) {
      me.presence = data.status;
      setPresence(data.status);
    }
    return;
  }
  const refetch = store.apply(type, data);
  view.onEvent(type, data);
  if (refetch.size) scheduleFetch(refetch);
  if (type === "handoff.requested" && (!store.team || data.team === store.team)) {
    announce(`New handoff for ${data.team || "no team"} on ${channelName(data.channel)}: ${reasonText(data.reason)}`);
  }
  if (type === "sla.breached" && me && LEADS.has(me.role)) {
    const h = store.get(data.handoff_id);
    const where = h && h.channel ? " \u00b7 " + channelName(h.channel) : "";
    const target = data.target_seconds ? " (target " + duration(data.target_seconds) + ")" : "";
    toast(`SLA breached: ${data.team || "a team"}${where} \u2014 no first reply yet${target}`,
      "alert", { label: "Open", run: () => openHandoff(data.handoff_id) });
  }
}

function showConnection(state, detail) {
  const box = byId("connection-status");
  box.dataset.state = state;
  const text = byId("connection-text");
  if (state === "open") text.textContent = "Live";
  else if (state === "connecting") text.textContent = "Connecting\u2026";
  else if (state === "waiting") {
    text.textContent = "Reconnecting in " + Math.max(1, Math.round(detail.retryIn / 1000)) + " s";
    // A socket refused before opening may mean the session is gone: ask once.
    if (detail.neverOpened && me) api.me().then((u) => { me = Object.assign({}, me, u); }, (exc) => {
      if (exc.status === 401) signedOut("Your session has ended. Sign in again.");
    });
  } else text.textContent = "Offline";
}

// ---- views (admin panels) ----
function showView(name) {
  byId("desk-view").hidden = name !== "desk";
  byId("users-view").hidden = name !== "users";
  byId("audit-view").hidden = name !== "audit";
  for (const [id, v] of [["view-desk", "desk"], ["view-users", "users"], ["view-audit", "audit"]]) {
    if (v === name) byId(id).setAttribute("aria-current", "page");
    else byId(id).removeAttribute("aria-current");
  }
  if (name === "users") users.show();
  if (name === "audit") audit.show();
}
byId("view-desk").addEventListener("click", () => showView("desk"));
byId("view-users").addEventListener("click", () => showView("users"));
byId("view-audit").addEventListener("click", () => showView("audit"));
byId("users-back").addEventListener("click", () => { showView("desk"); queues.focusList(); });
byId("audit-back").addEventListener("click", () => { showView("desk"); queues.focusList(); });
byId("shortcuts-button").addEventListener("click", () => byId("shortcuts-dialog").showModal());

// ---- keyboard ----
document.addEventListener("keydown", (e) => {
  if (byId("app").hidden || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.querySelector("dialog[open]")) return; // dialogs keep their own keys (Esc closes)
  if (e.key === "Escape") {
    if (typingInField(e.target)) { e.target.blur(); queues.focusList(); }
    return;
  }
  if (typingInField(e.target) || byId("desk-view").hidden) return;
  const key = e.key;
  const run = {
    j: () => queues.move(1), k: () => queues.move(-1),
    c: () => actions.claim(), "/": () => composer.focusReply(), n: () => byId("note-input").focus(),
    t: () => actions.openTransfer(), b: () => actions.openHandback(),
    "?": () => byId("shortcuts-dialog").showModal(),
  }[key];
  const tab = { 1: "waiting", 2: "offline", 3: "active", 4: "closed" }[key];
  if (run) { e.preventDefault(); run(); }
  else if (tab) { e.preventDefault(); queues.show(tab); queues.focusList(); }
  else if ((key === "ArrowDown" || key === "ArrowUp") && e.target === document.body) {
    e.preventDefault();
    queues.move(key === "ArrowDown" ? 1 : -1);
  }
});

boot();
