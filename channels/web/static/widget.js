/* Parley chat widget: vanilla ES2019, no dependencies, no build step.
 *
 *   <script src="https://gw.example/widget.js" data-parley-url="https://gw.example"></script>
 *
 * data-parley-url        gateway base URL (default: the origin this script came from)
 * data-parley-mode       "bubble" (default, floating launcher) or "inline" (into
 *                        #parley-chat if present, else <body>)
 * data-parley-transport  "poll" to long-poll instead of using a WebSocket
 *
 * Server texts are untrusted: they reach the page only through textContent.
 *
 * The conversation is drawn from the server's frames: on every page load the widget asks
 * for everything from seq 0, so a reload, a second tab or a reopened browser shows the
 * person's messages and the bot's, in order. A message typed here is shown at once and
 * takes its place (and the server's time) when its "user" frame comes back.
 *
 * Every bot reply (not an agent's, not the person's) has thumbs up / down: one rating per
 * reply, final once sent (the server keeps the first rating of a reply). Thumbs down opens
 * a short optional comment (up to 500 characters); the rating goes out with it on "Send"
 * (or Enter), or without it on "Skip" (or Escape). A rating is a "feedback" frame naming
 * the reply by its "turn" and "index"; it comes back as a "rated" frame, so every tab and
 * a reloaded page show it. It is never shown as a message, and the bot does not answer it.
 */
(function () {
  "use strict";
  if (window.__parleyWidget) return; // included twice: one widget is enough
  window.__parleyWidget = true;

  // currentScript is only set while this file first runs: read the options now.
  const script = document.currentScript ||
    [].slice.call(document.querySelectorAll('script[src*="widget.js"]')).pop();
  const attr = (name) => (script && script.getAttribute(name)) || "";
  const base = (attr("data-parley-url") || originOf(script && script.src) || location.origin)
    .replace(/\/+$/, "");
  const mode = attr("data-parley-mode") === "inline" ? "inline" : "bubble";
  let transport = attr("data-parley-transport") === "poll" || typeof WebSocket === "undefined"
    ? "poll" : "ws";

  const TEXT = {
    connecting: "Connecting\u2026",
    open: "Connected",
    lost: "Connection lost \u2014 reconnecting\u2026",
    offline: "Offline \u2014 messages will be sent when the connection is back",
    unavailable: "Chat is not available on this site.",
  };

  // ---- persisted state (localStorage may be missing or throw: then memory only) ----
  const KEY = "parley:" + base + ":";
  const load = (k) => { try { return localStorage.getItem(KEY + k); } catch (e) { return null; } };
  const save = (k, v) => {
    try { if (v == null) localStorage.removeItem(KEY + k); else localStorage.setItem(KEY + k, v); }
    catch (e) { /* private mode or full: memory only */ }
  };
  let token = load("token");
  let conversation = load("conversation");
  // Last seq shown (user messages and replies share the numbering). Not kept across page
  // loads: a new page has drawn nothing yet, so it asks for the whole conversation.
  let after = 0;
  save("after", null); // written by older versions of this file

  // ---- connection state ----
  const pending = [];     // outgoing messages not acked yet, oldest first
  const typedHere = new Map(); // client id -> its element, until its "user" frame comes
  let gen = 0;            // bumped on each teardown; callbacks of older connections stop
  let ws = null;
  let pollCtrl = null;
  let connected = false;  // welcome received (ws) or session made (poll)
  let connecting = false;
  let everConnected = false;
  let started = false;    // bubble mode connects on first open only
  let refused = false;    // this site's origin may not use the chat: stop for good
  let attempt = 0;        // backoff exponent
  let wsFailures = 0;     // WebSocket opens in a row that never reached "welcome"
  let reconnectTimer = null;
  let pumping = -1;       // gen of the running long-poll send loop
  let typingTimer = null;
  let errorTimer = null;
  let resendTimer = null;
  let resendDelay = 2000;
  const ui = {};

  function originOf(src) {
    try { return src ? new URL(src, location.href).origin : ""; } catch (e) { return ""; }
  }

  function el(tag, cls, text, parent) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function newId() {
    const c = window.crypto;
    if (c && c.randomUUID) return c.randomUUID(); // secure contexts only
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.random() * 256;
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  const pad = (n) => String(n).padStart(2, "0");
  const hhmm = (d) => pad(d.getHours()) + ":" + pad(d.getMinutes());

  // ---- UI ----
  const CSS = `
.parley-chat{--p:#2563eb;box-sizing:border-box;display:flex;flex-direction:column;overflow:hidden;background:#fff;
 color:#1f2937;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;border-radius:16px;
 box-shadow:0 10px 30px rgba(15,23,42,.12),0 1px 3px rgba(15,23,42,.08)}
.parley-chat *{box-sizing:inherit}
.parley-inline{height:100%;min-height:360px}
.parley-fill{height:100vh;max-width:640px;margin:0 auto;border-radius:0}
.parley-header{display:flex;align-items:center;padding:14px 16px;background:var(--p);color:#fff}
.parley-heading{flex:1}
.parley-title{font-weight:600;font-size:15px}
.parley-subtitle{font-size:12px;opacity:.85}
.parley-close{background:none;border:0;color:inherit;font-size:22px;cursor:pointer}
.parley-messages{flex:1;overflow-y:auto;padding:16px;background:#f8fafc;display:flex;flex-direction:column;gap:10px}
.parley-msg{display:flex;flex-direction:column;max-width:80%}
.parley-user{align-self:flex-end;align-items:flex-end}
.parley-bot,.parley-typing{align-self:flex-start;align-items:flex-start}
.parley-bubble{padding:9px 13px;border-radius:16px;box-shadow:0 1px 2px rgba(15,23,42,.08);overflow-wrap:anywhere;
 background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:4px}
.parley-user .parley-bubble{background:var(--p);border-color:var(--p);color:#fff;border-radius:16px 16px 4px 16px}
.parley-text{white-space:pre-wrap}
.parley-text:empty{display:none}
.parley-image{display:block;max-width:100%;border-radius:10px;margin:2px 0 6px}
.parley-time{font-size:11px;color:#94a3b8;margin:3px 4px 0}
.parley-author{font-size:11px;font-weight:600;color:#475569;margin:0 4px 3px}
.parley-agent .parley-bubble{border-color:#c7d2fe;background:#eef2ff}
.parley-pending{opacity:.6}
.parley-failed .parley-bubble{background:#fee2e2;border-color:#fee2e2;color:#991b1b}
.parley-buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.parley-button{font:inherit;font-size:13px;padding:6px 12px;border-radius:999px;border:1px solid var(--p);background:#fff;
 color:var(--p);cursor:pointer}
.parley-button:hover{background:#eff6ff}
.parley-button:disabled{cursor:default;opacity:.5;background:#fff}
.parley-button.parley-chosen{background:var(--p);color:#fff}
.parley-rate{display:flex;align-items:center;flex-wrap:wrap;gap:2px;margin:3px 0 0 2px}
.parley-thumb{display:inline-flex;padding:3px 5px;border:0;border-radius:6px;background:none;color:#94a3b8;cursor:pointer}
.parley-thumb svg{width:15px;height:15px;fill:currentColor}
.parley-thumb-down svg{transform:rotate(180deg)}
.parley-thumb:hover,.parley-thumb:focus-visible{color:#475569;background:#e5e7eb;outline:0}
.parley-thumb[aria-pressed=true]{color:var(--p);background:#dbeafe}
.parley-thumb:disabled{cursor:default}
.parley-thumb:disabled:not([aria-pressed=true]){opacity:.4;background:none}
.parley-comment{display:flex;gap:6px;width:100%;margin-top:4px}
.parley-comment input{flex:1;min-width:0;font:inherit;font-size:13px;padding:5px 10px;border:1px solid #d1d5db;border-radius:999px}
.parley-comment button{font:inherit;font-size:12px;padding:4px 10px;border-radius:999px;border:1px solid var(--p);background:#fff;color:var(--p);cursor:pointer}
.parley-comment button[type=submit]{background:var(--p);color:#fff}
.parley-rated{font-size:11px;color:#64748b;margin-left:4px}
.parley-typing .parley-bubble{display:flex;gap:4px;padding:12px 14px}
.parley-dot{width:7px;height:7px;border-radius:50%;background:#94a3b8;animation:parley-blink 1.2s infinite}
.parley-dot:nth-child(2){animation-delay:.15s}.parley-dot:nth-child(3){animation-delay:.3s}
@keyframes parley-blink{0%,80%,100%{opacity:.3}40%{opacity:1;transform:translateY(-3px)}}
.parley-status{font-size:12px;color:#64748b;padding:4px 16px;min-height:24px;border-top:1px solid #eef2f7}
.parley-chat[data-state=closed] .parley-status{color:#b45309}
.parley-chat[data-state=unavailable] .parley-status{color:#b91c1c;font-size:13px;padding:10px 16px}
.parley-input:disabled,.parley-send:disabled{opacity:.5;cursor:not-allowed}
.parley-status.parley-error{color:#b91c1c}
.parley-form{display:flex;gap:8px;padding:10px 12px 12px}
.parley-input{flex:1;min-width:0;font:inherit;color:inherit;padding:10px 14px;border:1px solid #d1d5db;border-radius:999px;outline:0}
.parley-input:focus{border-color:var(--p);box-shadow:0 0 0 3px rgba(37,99,235,.15)}
.parley-send{font:inherit;font-weight:600;padding:0 18px;border:0;border-radius:999px;background:var(--p);color:#fff;cursor:pointer}
.parley-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;
 background:#2563eb;color:#fff;cursor:pointer;box-shadow:0 6px 20px rgba(37,99,235,.4)}
.parley-launcher svg{width:26px;height:26px;fill:currentColor;vertical-align:middle}
.parley-panel{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:370px;height:560px;max-height:calc(100vh - 110px)}
.parley-panel .parley-chat{height:100%}
.parley-panel[hidden]{display:none}
@media (max-width:480px){.parley-panel{inset:0;width:auto;height:auto;max-height:none}.parley-panel .parley-chat{border-radius:0}
 .parley-launcher[aria-expanded=true]{display:none}}
@media (prefers-reduced-motion:reduce){.parley-dot{animation:none}}
`;

  function build() {
    el("style", "", CSS, document.head || document.documentElement);
    const chat = ui.chat = el("div", "parley-chat");
    chat.setAttribute("data-state", "closed");
    const header = el("div", "parley-header", null, chat);
    const heading = el("div", "parley-heading", null, header);
    el("div", "parley-title", "Parley", heading);
    el("div", "parley-subtitle", "Support bot", heading);

    const list = ui.list = el("div", "parley-messages", null, chat);
    list.setAttribute("role", "log");
    list.setAttribute("aria-live", "polite");
    ui.status = el("div", "parley-status", null, chat);
    ui.status.setAttribute("role", "status");

    const form = el("form", "parley-form", null, chat);
    const input = ui.input = el("input", "parley-input", null, form);
    input.autocomplete = "off";
    input.placeholder = "Type a message\u2026";
    input.maxLength = 4000; // the server refuses longer messages
    input.setAttribute("aria-label", "Message");
    const send = ui.send = el("button", "parley-send", "Send", form);
    send.type = "submit";
    form.addEventListener("submit", (e) => {
      e.preventDefault(); // Enter in the input submits too
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      submit({ text: text }, text);
    });

    if (mode === "inline") {
      const host = document.getElementById("parley-chat");
      chat.classList.add("parley-inline");
      if (!host) chat.classList.add("parley-fill");
      (host || document.body).appendChild(chat);
      return;
    }
    const close = el("button", "parley-close", "\u00d7", header);
    close.type = "button";
    close.setAttribute("aria-label", "Close chat");
    close.addEventListener("click", () => setOpen(false));
    const panel = ui.panel = el("div", "parley-panel", null, document.body);
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Chat with Parley");
    panel.appendChild(chat);
    panel.addEventListener("keydown", (e) => { if (e.key === "Escape") setOpen(false); });
    const launcher = ui.launcher = el("button", "parley-launcher", null, document.body);
    launcher.type = "button";
    // An SVG icon, not an emoji: pages offline or without an emoji font still show it.
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.appendChild(document.createElementNS(svg.namespaceURI, "path")).setAttribute("d",
      "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    launcher.appendChild(svg);
    launcher.addEventListener("click", () => setOpen(panel.hidden));
    setOpen(false, true);
  }

  function setOpen(open, quiet) {
    ui.panel.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", String(open));
    ui.launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (quiet) return;
    if (open) {
      start();
      ui.input.focus();
      ui.list.scrollTop = ui.list.scrollHeight;
    } else ui.launcher.focus();
  }

  // Follow new messages only if the reader is already near the bottom.
  const atBottom = () => ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 120;
  // Order in the list: messages the server numbered (data-seq), in its order; then those
  // typed here and not numbered yet (data-local); the typing indicator last.
  function append(node, follow) {
    const typing = ui.typing && ui.typing.parentNode === ui.list ? ui.typing : null;
    let before = node === typing ? null : typing;
    if (node.hasAttribute("data-seq")) {
      const local = ui.list.querySelector(":scope > [data-local]");
      if (local && local !== node) before = local;
    }
    ui.list.insertBefore(node, before);
    if (follow) ui.list.scrollTop = ui.list.scrollHeight;
  }

  function setTime(msg, date) {
    const time = msg.lastChild;
    time.textContent = hhmm(date);
    time.dateTime = date.toISOString();
  }

  // seq: the server's number of this message; none for a message just typed here.
  function addMessage(who, text, date, seq) {
    const follow = seq == null || atBottom();
    const msg = el("div", "parley-msg parley-" + who);
    if (seq == null) msg.setAttribute("data-local", "");
    else msg.setAttribute("data-seq", String(seq));
    el("div", "parley-text", text, el("div", "parley-bubble", null, msg));
    el("time", "parley-time", null, msg);
    setTime(msg, date);
    append(msg, follow);
    return msg;
  }

  const dateOf = (at) => typeof at === "number" && isFinite(at) ? new Date(at * 1000) : new Date();

  function safeImage(src) {
    try {
      const u = new URL(String(src), base + "/");
      return /^https?:$/.test(u.protocol) || /^data:image\//i.test(u.href) ? u.href : null;
    } catch (e) { return null; }
  }

  function renderReply(f) {
    const msg = addMessage("bot", f.text == null ? "" : String(f.text), dateOf(f.at), f.seq);
    if (f.author === "agent") { // a person at the desk: say who
      msg.classList.add("parley-agent");
      msg.insertBefore(el("div", "parley-author", String(f.name || "Support team")), msg.firstChild);
    }
    const src = f.image && safeImage(f.image);
    if (src) {
      const img = el("img", "parley-image");
      img.alt = "Image from the bot";
      const follow = atBottom();
      img.addEventListener("load", () => { if (follow) ui.list.scrollTop = ui.list.scrollHeight; });
      img.src = src;
      msg.firstChild.insertBefore(img, msg.firstChild.firstChild);
    }
    const buttons = Array.isArray(f.buttons) ? f.buttons.filter((b) => b && b.title != null) : [];
    if (buttons.length) addButtons(msg, buttons);
    if (f.author !== "agent" && isTurn(f.turn) && isTurn(f.index)) addThumbs(msg, f.turn, f.index);
  }

  const isTurn = (n) => typeof n === "number" && isFinite(n) && n >= 0 && Math.floor(n) === n;

  function addButtons(msg, buttons) {
    const box = el("div", "parley-buttons");
    buttons.forEach((b) => {
      const title = String(b.title);
      const btn = el("button", "parley-button", title, box);
      btn.type = "button";
      btn.setAttribute("data-payload", String(b.payload == null ? title : b.payload));
      btn.addEventListener("click", () => {
        if (btn.disabled) return;
        for (const x of box.children) x.disabled = true;
        btn.classList.add("parley-chosen");
        submit({ payload: String(b.payload == null ? title : b.payload), title: title }, title);
      });
    });
    msg.insertBefore(box, msg.lastChild); // between the bubble and the time
  }

  // ---- ratings of bot replies ----
  const THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 " +
    "7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function thumbButton(bar, up) {
    const btn = el("button", "parley-thumb parley-thumb-" + (up ? "up" : "down"), null, bar);
    btn.type = "button";
    btn.setAttribute("aria-label", up ? "Helpful" : "Not helpful");
    btn.setAttribute("aria-pressed", "false");
    btn.title = up ? "Helpful" : "Not helpful";
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg"); // no emoji font needed
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.appendChild(document.createElementNS(svg.namespaceURI, "path")).setAttribute("d", THUMB);
    btn.appendChild(svg);
    return btn;
  }

  function addThumbs(msg, turn, index) {
    const bar = el("div", "parley-rate");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Rate this reply");
    bar.setAttribute("data-turn", String(turn));
    bar.setAttribute("data-index", String(index));
    const up = thumbButton(bar, true);
    const down = thumbButton(bar, false);
    up.addEventListener("click", () => { if (!up.disabled) rate(bar, 1, ""); });
    down.addEventListener("click", () => { if (!down.disabled) askComment(bar); });
    msg.insertBefore(bar, msg.lastChild); // above the time
  }

  // Thumbs down: the choice shows at once; the rating goes out with the optional comment.
  function askComment(bar) {
    markRated(bar, 0, true);
    const form = el("form", "parley-comment", null, bar);
    const input = el("input", "", null, form);
    input.maxLength = 500; // the server refuses longer comments
    input.placeholder = "What went wrong? (optional)";
    input.setAttribute("aria-label", "What went wrong? (optional)");
    const send = el("button", "", "Send", form);
    send.type = "submit";
    const skip = el("button", "", "Skip", form);
    skip.type = "button";
    form.addEventListener("submit", (e) => { e.preventDefault(); rate(bar, 0, input.value.trim()); });
    skip.addEventListener("click", () => rate(bar, 0, ""));
    form.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      e.stopPropagation(); // not the panel's Escape (close)
      rate(bar, 0, "");
    });
    input.focus();
  }

  // Show a rating on its reply's bar: the chosen thumb pressed, both disabled.
  function markRated(bar, value, open) {
    for (const b of bar.querySelectorAll(".parley-thumb")) {
      b.disabled = true;
      b.setAttribute("aria-pressed", String(b.classList.contains(value ? "parley-thumb-up" : "parley-thumb-down")));
    }
    if (open) return;
    const form = bar.querySelector(".parley-comment");
    if (form) bar.removeChild(form);
    if (!bar.querySelector(".parley-rated")) el("span", "parley-rated", "Thanks for your feedback", bar);
  }

  function rate(bar, value, comment) {
    if (refused || bar.hasAttribute("data-rated")) return;
    bar.setAttribute("data-rated", String(value));
    markRated(bar, value, false);
    const feedback = { kind: "thumbs", value: value, comment: comment.slice(0, 500),
      about_sequence: Number(bar.getAttribute("data-turn")),
      about_position: Number(bar.getAttribute("data-index")) };
    const item = { id: "rating-" + feedback.about_sequence + "-" + feedback.about_position,
      el: bar, feedback: feedback };
    pending.push(item);
    if (!started) start();
    else if (connected) { if (transport === "ws") sendWs(item); else pump(gen); }
  }

  // A rating given here, in another tab or before a reload.
  function onRated(f) {
    if (!fresh(f)) return;
    const bar = ui.list.querySelector('.parley-rate[data-turn="' + Number(f.turn) + '"][data-index="' +
      Number(f.index) + '"]');
    if (!bar) return;
    bar.setAttribute("data-rated", String(f.value));
    markRated(bar, Number(f.value) === 1 ? 1 : 0, false);
  }

  function showTyping() {
    if (!ui.typing) {
      ui.typing = el("div", "parley-typing");
      const bubble = el("div", "parley-bubble", null, ui.typing);
      bubble.setAttribute("aria-label", "The bot is typing");
      for (let i = 0; i < 3; i++) el("span", "parley-dot", null, bubble);
    }
    if (ui.typing.parentNode !== ui.list) append(ui.typing, atBottom());
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 30000); // never left on by a lost "off"
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    if (ui.typing && ui.typing.parentNode) ui.typing.parentNode.removeChild(ui.typing);
  }

  // state: "connecting" | "open" | "closed", mirrored in data-state
  function setStatus(state) {
    ui.chat.setAttribute("data-state", state);
    clearTimeout(errorTimer);
    ui.status.classList.remove("parley-error");
    ui.status.textContent = state === "open" ? TEXT.open
      : navigator.onLine === false ? TEXT.offline
      : everConnected ? TEXT.lost : TEXT.connecting;
  }

  function showError(message) {
    ui.status.textContent = String(message || "Something went wrong.");
    ui.status.classList.add("parley-error");
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => setStatus(ui.chat.getAttribute("data-state")), 8000);
  }

  // ---- sending ----
  function frameOf(item) {
    if (item.feedback) return { type: "feedback", id: item.id, feedback: item.feedback };
    return item.text != null
      ? { type: "message", id: item.id, text: item.text }
      : { type: "message", id: item.id, payload: item.payload, title: item.title };
  }

  function submit(content, shown) {
    if (refused) return;
    const msg = addMessage("user", shown, new Date());
    msg.classList.add("parley-pending");
    const item = Object.assign({ id: newId(), el: msg }, content);
    pending.push(item);
    typedHere.set(item.id, msg);
    if (!started) start();
    else if (connected) { if (transport === "ws") sendWs(item); else pump(gen); }
    // Otherwise it waits in `pending` and goes out, same id, once connected.
  }

  function sendWs(item) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frameOf(item)));
  }

  function onAck(id) {
    const i = pending.findIndex((p) => p.id === id);
    if (i >= 0) pending.splice(i, 1)[0].el.classList.remove("parley-pending"); // else a repeat
    resendDelay = 2000;
  }

  // A message the server could not take (say its store is briefly down) gets an error frame
  // instead of an ack, on a socket that stays open: resend the unacked (same ids, so never
  // twice), backing off, rather than wait for a reconnect that may not come.
  function resendLater() {
    if (resendTimer || !pending.length) return;
    resendTimer = setTimeout(() => {
      resendTimer = null;
      if (connected && transport === "ws") pending.forEach(sendWs);
    }, resendDelay);
    resendDelay = Math.min(resendDelay * 2, 30000);
  }

  // Long-poll transport: POST pending messages one at a time, in order.
  async function pump(g) {
    if (pumping === g) return;
    pumping = g;
    try {
      let item;
      while (g === gen && connected && (item = pending.find((p) => p.sentIn !== g))) {
        item.sentIn = g;
        const body = Object.assign(frameOf(item), { token: token });
        delete body.type;
        const r = await post("/channels/web/send", body, 15000);
        if (g !== gen) return;
        if (r.status === 401) return expire();
        if (r.status === 403) return refuse();
        if (r.ok) onAck(item.id);
        else if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
          // Refused for good (too long, malformed...): resending would not help.
          pending.splice(pending.indexOf(item), 1);
          typedHere.delete(item.id);
          item.el.removeAttribute("data-local"); // it stays where it is
          item.el.classList.replace("parley-pending", "parley-failed");
          showError((r.data && r.data.message) || "That message could not be sent.");
        } else return lost();
      }
    } catch (e) {
      if (g === gen) lost();
    } finally {
      if (pumping === g) pumping = -1;
    }
  }

  // ---- receiving ----
  function handleFrame(f) {
    if (!f) return;
    if (f.type === "reply") onReply(f);
    else if (f.type === "user") onUser(f);
    else if (f.type === "rated") onRated(f);
    else if (f.type === "typing") { if (f.on) showTyping(); else hideTyping(); }
    else if (f.type === "ack") onAck(f.id);
    else if (f.type === "error") { showError(f.message); resendLater(); }
  }

  // Frames may come twice across reconnects: show each seq once.
  function fresh(f) {
    const seq = Number(f.seq);
    if (!(seq > after)) return false;
    after = f.seq = seq;
    return true;
  }

  function onReply(f) {
    if (!fresh(f)) return;
    hideTyping();
    renderReply(f);
  }

  // A message the person sent: typed in this tab (shown already: it takes its place and
  // the server's time), or in another tab, or before this page was loaded.
  function onUser(f) {
    if (!fresh(f)) return;
    const id = String(f.id);
    const shown = typedHere.get(id);
    if (shown) {
      typedHere.delete(id);
      shown.removeAttribute("data-local");
      shown.setAttribute("data-seq", String(f.seq));
      shown.classList.remove("parley-pending");
      setTime(shown, dateOf(f.at));
      append(shown, atBottom());
      return;
    }
    const text = f.title != null ? f.title : f.text != null ? f.text : f.payload;
    addMessage("user", String(text == null ? "" : text), dateOf(f.at), f.seq);
    if (f.payload != null) markChosen(String(f.payload), f.title);
  }

  // A button press seen from elsewhere: the newest open row offering it shows the choice.
  function markChosen(payload, title) {
    const boxes = ui.list.querySelectorAll(".parley-buttons");
    for (let i = boxes.length - 1; i >= 0; i--) {
      const buttons = [].slice.call(boxes[i].children);
      if (buttons.some((b) => b.disabled)) continue;
      const chosen = buttons.find((b) => b.getAttribute("data-payload") === payload &&
        (title == null || b.textContent === String(title)));
      if (!chosen) continue;
      buttons.forEach((b) => { b.disabled = true; });
      chosen.classList.add("parley-chosen");
      return;
    }
  }

  // ---- connection ----
  function post(path, body, ms, isPoll) {
    const ctrl = window.AbortController ? new AbortController() : null;
    if (isPoll) pollCtrl = ctrl;
    const timer = setTimeout(() => ctrl && ctrl.abort(), ms);
    return fetch(base + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit", // the token travels in the body, no cookies needed
      signal: ctrl ? ctrl.signal : undefined,
    }).then((res) => res.json().catch(() => null)
      .then((data) => ({ ok: res.ok, status: res.status, data: data })))
      .finally(() => clearTimeout(timer));
  }

  function setConversation(id) {
    conversation = id;
    save("conversation", id);
    after = 0; // seqs count per conversation
  }

  // true: a session; false: failed, retry; "refused": this site may not use the chat.
  async function openSession() {
    const r = await post("/channels/web/session", { token: token || null }, 15000);
    if (r.status === 403) return "refused";
    if (!r.ok || !r.data || typeof r.data.token !== "string") {
      if (r.status >= 400 && r.status < 500) save("token", token = null); // refused: start afresh
      return false;
    }
    save("token", token = r.data.token); // may be refreshed: keep the newest
    if (r.data.conversation !== conversation) setConversation(r.data.conversation);
    return true;
  }

  function start() {
    if (started) return;
    started = true;
    connect();
  }

  async function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (connecting || connected || refused) return;
    const g = ++gen;
    connecting = true;
    setStatus("connecting");
    let ok = false;
    try { ok = await openSession(); } catch (e) { /* network: retry below */ }
    if (g !== gen) return;
    if (ok === "refused") refuse();
    else if (!ok) lost();
    else if (transport === "ws") openWs(g);
    else openPoll(g);
  }

  function openWs(g) {
    let sock;
    try {
      const u = new URL(base + "/channels/web/ws");
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      sock = ws = new WebSocket(u.href);
    } catch (e) { return wsFailed(g); }
    let welcomed = false;
    const timer = setTimeout(() => wsFailed(g), 10000); // opened but silent counts as failed
    sock.onopen = () => {
      if (g === gen) sock.send(JSON.stringify({ type: "hello", token: token, after: after }));
    };
    sock.onmessage = (e) => {
      if (g !== gen) return;
      let f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (!f || f.type !== "welcome") return handleFrame(f);
      welcomed = true;
      clearTimeout(timer);
      wsFailures = 0;
      onConnected(f);
    };
    sock.onclose = (e) => {
      clearTimeout(timer);
      if (g !== gen) return;
      if (e.code === 4401) expire();
      else if (!welcomed) wsFailed(g);
      else lost();
    };
  }

  function wsFailed(g) {
    if (g !== gen) return;
    // Some proxies and networks block WebSockets: after 3 failed opens, long-poll instead.
    if (++wsFailures >= 3) transport = "poll";
    lost();
  }

  function openPoll(g) {
    onConnected(null); // the session answered, so the server is reachable
    (async () => {
      while (g === gen) {
        const begun = Date.now();
        // The server holds a poll up to 25 s; give up on it after 35.
        const r = await post("/channels/web/poll", { token: token, after: after }, 35000, true)
          .catch(() => null);
        if (g !== gen) return;
        if (r && r.status === 401) return expire();
        if (r && r.status === 403) return refuse();
        if (!r || !r.ok) return lost();
        const events = (r.data && r.data.events) || [];
        events.forEach(handleFrame);
        // A server answering at once with nothing must not make this a busy loop.
        if (!events.length && Date.now() - begun < 1000) await new Promise((ok) => setTimeout(ok, 1000));
      }
    })();
  }

  function onConnected(welcome) {
    connected = true;
    connecting = false;
    everConnected = true;
    attempt = 0;
    if (welcome) {
      if (welcome.conversation && welcome.conversation !== conversation) setConversation(welcome.conversation);
      // The server's last seq is below ours: its count restarted, so follow it.
      if (typeof welcome.last === "number" && welcome.last < after) after = welcome.last;
    }
    setStatus("open");
    // Resend everything unacked with the same ids: the server answers each id once.
    if (transport === "ws") pending.forEach(sendWs); else pump(gen);
  }

  function teardown() {
    gen++;
    connected = connecting = false;
    if (ws) { try { ws.close(1000); } catch (e) { /* already closed */ } ws = null; }
    if (pollCtrl) { pollCtrl.abort(); pollCtrl = null; }
    hideTyping(); // its "off" may never come
  }

  function lost() {
    if (refused) return;
    teardown();
    setStatus("closed");
    if (reconnectTimer) return;
    // 0.5 s doubling to 10 s; up to 25% jitter (kept under the cap) so that clients cut
    // off together do not all come back in the same instant.
    const delay = Math.min(10000, 500 * 2 ** attempt) * (1 - Math.random() * 0.25);
    attempt = Math.min(attempt + 1, 10);
    reconnectTimer = setTimeout(connect, delay);
  }

  // The gateway refuses pages of this site's origin (403; its log names the setting):
  // say so in plain words and stop, rather than "Connecting..." and retrying forever.
  function refuse() {
    refused = true;
    teardown();
    clearTimeout(reconnectTimer);
    clearTimeout(errorTimer);
    reconnectTimer = null;
    ui.chat.setAttribute("data-state", "unavailable");
    ui.status.classList.remove("parley-error");
    ui.status.textContent = TEXT.unavailable;
    ui.input.disabled = ui.send.disabled = true;
    ui.input.placeholder = TEXT.unavailable;
    pending.splice(0).forEach((item) => {
      item.el.removeAttribute("data-local");
      item.el.classList.replace("parley-pending", "parley-failed");
    });
    typedHere.clear();
  }

  // Session invalid or expired (4401 / 401): drop the token; the retry makes a new one.
  function expire() {
    save("token", token = null);
    lost();
  }

  function reconnectNow() {
    if (!started || connected || connecting) return;
    attempt = 0;
    connect();
  }

  function init() {
    build();
    window.addEventListener("online", reconnectNow);
    window.addEventListener("offline", () => { if (started) lost(); });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") reconnectNow();
    });
    window.addEventListener("pageshow", (e) => { if (e.persisted) reconnectNow(); });
    if (mode === "inline") start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
