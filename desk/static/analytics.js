/* Parley analytics: the page of GET /desk/api/analytics, for supervisors and admins.
 *
 * It signs in with the console's session (api.js; no session: the console's sign-in).
 * Charts are SVG drawn with DOM calls (createElementNS), no library; every text — intent
 * and form names included — is set as textContent, so the page's strict CSP holds. The
 * definitions below are the README's ("Analytics"), word for word.
 */
import { Api, ApiError } from "./api.js";
import { byId, clear, el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const LEADS = new Set(["supervisor", "admin"]);
const CHANNELS = ["web", "slack", "telegram", "whatsapp"];

export const DEFINITIONS = {
  conversation: "Conversation: one whose first archived activity falls in the range and that has at least one user message; it counts on the day of its first activity. (A conversation that only got the bot's greeting is not counted anywhere.)",
  messages: "User message: a turn in which a person wrote or pressed a button (the inbox entry's kind is message; not a conversation start, a desk entry — an agent's message, a hand-back — or feedback), counted on the day it reached the gateway. Bot messages and agent messages: the messages the bot and agents sent, on the day they were queued, in conversations with at least one user message.",
  handoff: "Handed off: a conversation in which any turn asked for a person (a handoff event: the person asked, the fallback's last stage, or a custom action). Handoff rate = handed off / conversations.",
  abandoned: "Abandoned: not handed off, and the turn of its last user message left the person in a fallback (a fallback stage ≥ 1 reached in that turn) or in an unfinished form (a form still active after it). Abandonment rate = abandoned / conversations.",
  containment: "Contained (resolved by the bot): a conversation that was neither handed off nor abandoned. Containment rate = contained / conversations. Contained, handed off and abandoned add up to the conversations.",
  fallback: "Fallback: a user message whose turn reached a fallback stage ≥ 1 (did you mean, rephrase, or handoff). Fallback rate = fallbacks / user messages.",
  outOfScope: "Out of scope: a user message whose intent is out_of_scope. Out-of-scope rate = out-of-scope messages / user messages.",
  thumbs: "Thumbs-up share = thumbs up / (thumbs up + thumbs down), of the ratings given in the range (on the day they were given), with both counts.",
  csat: "CSAT: the 1–5 answers given in the range; satisfied share = answers of 4 or 5 / answers, the mean answer, the number of answers and how many of each.",
  intents: "Intent distribution: user messages per intent (the NLU's top intent), the 10 most frequent; other: the rest, with the messages that have no intent.",
  confidence: "Confidence histogram: user messages with an NLU confidence, in 10 bins: bin k holds k/10 ≤ confidence < (k+1)/10, and the last one also a confidence of exactly 1.",
  latency: "Reply latency: of user messages, the time from the gateway's receipt of the message to the worker queueing its replies (the platform's delivery is not in it). p50 and p95 are nearest-rank percentiles: the smallest latency with at least 50 % (95 %) of the values at or below it (of n sorted values, the ⌈p·n/100⌉-th).",
  forms: "Form completion: the forms started in the range (a form_start event), counted on the day they started and followed to their end, past the range's last day if need be; completed: the form ended with every required slot filled (its form_stop event says completed); completion rate = completed / started.",
  dropoff: "Drop-off step: for each form started and not completed — cancelled (action_deactivate_loop), replaced by another form, ended by a restart, or still open at its conversation's last archived turn — the slot the form was asking for at that moment (requested_slot), counted; \"before the first question\" when it asked nothing.",
  days: "Days are in the chosen time zone (daylight saving included): a conversation counts on the day of its first activity; messages, ratings and latencies on the day they happened; a form on the day it started. So a conversation that starts at 23:59 and goes on after midnight is one conversation of the first day, with user messages on both.",
};

const api = new Api();

// ---- formatting ----
const pct = (v) => (v == null ? "\u2014" : (v * 100).toFixed(1) + " %");
const ms = (v) => (v == null ? "\u2014" : Math.round(v) + " ms");
const shortDay = (iso) => iso.slice(5); // MM-DD
const firstSentence = (text) => {
  const end = text.indexOf(". ");
  return end < 0 ? text : text.slice(0, end + 1);
};

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function tip(node, text) {
  svg("title", {}, node).textContent = text;
  return node;
}

// ---- the session ----
function toLogin() {
  location.assign(new URL("./", import.meta.url).href);
}

function screen(name) {
  byId("boot").hidden = true;
  byId("denied").hidden = name !== "denied";
  byId("page").hidden = name !== "page";
}

async function boot() {
  api.onUnauthorized = toLogin;
  let me;
  try {
    me = await api.me();
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) { toLogin(); return; }
    byId("boot").textContent = exc.message;
    return;
  }
  if (me.must_change_password) { toLogin(); return; }
  if (!LEADS.has(me.role)) { screen("denied"); return; }
  byId("me").textContent = (me.name || me.email) + " \u00b7 " + me.role;
  byId("tz").value = browserZone();
  fillChannels([]);
  fillDefinitions();
  screen("page");
  await load(true);
}

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (exc) { return "UTC"; }
}

function fillChannels(seen) {
  const select = byId("channel");
  const chosen = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const name of [...new Set([...CHANNELS, ...seen])].sort()) select.add(new Option(name, name));
  select.value = chosen;
}

function fillDefinitions() {
  const list = byId("definitions");
  clear(list);
  for (const text of Object.values(DEFINITIONS)) {
    const term = /^[^:=]+?(?=: | = )/.exec(text);
    el("dt", null, term ? term[0] : "", list);
    el("dd", null, term && text.startsWith(term[0] + ": ") ? text.slice(term[0].length + 2) : text, list);
  }
  for (const node of document.querySelectorAll("[data-def]")) {
    node.textContent = DEFINITIONS[node.dataset.def] || "";
  }
}

// ---- loading ----
byId("filters").addEventListener("submit", (e) => { e.preventDefault(); load(false); });

async function load(first) {
  const q = new URLSearchParams();
  if (!first) {
    if (byId("from").value) q.set("from", byId("from").value);
    if (byId("to").value) q.set("to", byId("to").value);
  }
  if (byId("channel").value) q.set("channel", byId("channel").value);
  q.set("tz", byId("tz").value.trim() || "UTC");
  const error = byId("an-error");
  error.textContent = "";
  byId("show").disabled = true;
  try {
    render(await api.get("analytics?" + q));
  } catch (exc) {
    if (exc.status !== 401) error.textContent = exc.message;
  } finally {
    byId("show").disabled = false;
  }
}

function render(report) {
  byId("from").value = report.start;
  byId("to").value = report.end;
  fillChannels(Object.keys(report.channels));
  byId("range").textContent = `${report.start} to ${report.end} (${report.tz})` +
    (report.channel ? ", channel " + report.channel : ", all channels");
  tiles(report.total);
  const days = report.days.map((d) => shortDay(d.day));
  const figures = report.days.map((d) => d.figures);
  columns(byId("chart-outcomes"), days, [
    { name: "Contained", cls: "s-resolved", values: figures.map((f) => f.resolved) },
    { name: "Handed off", cls: "s-handed", values: figures.map((f) => f.handed_off) },
    { name: "Abandoned", cls: "s-abandoned", values: figures.map((f) => f.abandoned) },
  ], String);
  lines(byId("chart-fallback"), days, [
    { name: "Fallback rate", cls: "l-fallback", values: figures.map((f) => f.fallback_rate) },
  ], pct, 1);
  lines(byId("chart-latency"), days, [
    { name: "p50", cls: "l-p50", values: figures.map((f) => f.latency_p50_ms) },
    { name: "p95", cls: "l-p95", values: figures.map((f) => f.latency_p95_ms) },
  ], ms);
  intents(byId("chart-intents"), report.total);
  const bins = report.total.confidence_histogram.map((_, i) => (i / 10).toFixed(1));
  columns(byId("chart-confidence"), bins, [
    { name: "User messages", cls: "s-confidence", values: report.total.confidence_histogram },
  ], String);
  channelTable(report.channels);
  forms(report.total.forms);
}

// ---- tiles ----
function tiles(t) {
  const box = clear(byId("tiles"));
  const tile = (id, label, value, sub, def) => {
    const node = el("div", "tile", null, box);
    node.dataset.testid = "tile-" + id;
    node.title = DEFINITIONS[def];
    el("p", "tile-label", label, node);
    el("p", "tile-value", value, node);
    el("p", "tile-sub", sub, node);
    el("p", "tile-def", firstSentence(DEFINITIONS[def]), node);
  };
  tile("conversations", "Conversations", String(t.conversations),
    `${t.resolved} contained, ${t.handed_off} handed off, ${t.abandoned} abandoned`, "conversation");
  tile("messages", "User messages", String(t.user_messages),
    `${t.bot_messages} bot, ${t.agent_messages} agent messages`, "messages");
  tile("containment", "Containment rate", pct(t.containment_rate), `${t.resolved} contained`, "containment");
  tile("handoff", "Handoff rate", pct(t.handoff_rate), `${t.handed_off} handed off`, "handoff");
  tile("abandonment", "Abandonment rate", pct(t.abandonment_rate), `${t.abandoned} abandoned`, "abandoned");
  tile("fallback", "Fallback rate", pct(t.fallback_rate), `${t.fallbacks} of ${t.user_messages} user messages`, "fallback");
  tile("out-of-scope", "Out-of-scope rate", pct(t.out_of_scope_rate), `${t.out_of_scope} of ${t.user_messages}`, "outOfScope");
  tile("thumbs", "Thumbs-up share", pct(t.thumbs_up_share), `${t.thumbs_up} up, ${t.thumbs_down} down`, "thumbs");
  tile("csat", "CSAT (4\u20135)", pct(t.csat_satisfied_share),
    t.csat_answers ? `mean ${t.csat_mean.toFixed(2)} of ${t.csat_answers} answers` : "no answers", "csat");
  tile("latency", "Reply latency p50 / p95", `${ms(t.latency_p50_ms)} / ${ms(t.latency_p95_ms)}`,
    `${t.latency_count} user messages`, "latency");
}

// ---- charts ----
// The drawing's units are the chart's CSS pixels at a laptop's width, so that text keeps
// its size: a chart across the page is twice as wide as one of a pair.
const W = 600, H = 220, L = 56, R = 12, T = 12, B = 30;
const widthOf = (box) => (box.closest(".chart-wide") ? 2 * W : W);

function frame(box, label) {
  clear(box);
  const chart = svg("svg", { viewBox: `0 0 ${widthOf(box)} ${H}`, role: "img", "aria-label": label, class: "plot" }, box);
  chart.dataset.width = widthOf(box);
  return chart;
}

function axis(chart, max, format) {
  const width = Number(chart.dataset.width);
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    svg("line", { x1: L, x2: width - R, y1: y, y2: y, class: "grid" }, chart);
    svg("text", { x: L - 6, y: y + 4, class: "tick tick-y" }, chart).textContent = format((max * i) / 4);
  }
}

function xLabels(chart, labels, step, x) {
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((label, i) => {
    if (i % every) return;
    svg("text", { x: x(i) + step / 2, y: H - B + 16, class: "tick tick-x" }, chart).textContent = label;
  });
}

function legend(box, series, kind) {
  const list = el("ul", "legend", null, box);
  for (const s of series) {
    const item = el("li", null, null, list);
    el("span", "swatch " + (kind === "line" ? "swatch-line " : "") + s.cls, null, item);
    el("span", null, s.name, item);
  }
}

function empty(box, text) {
  clear(box);
  el("p", "chart-empty", text, box);
}

/** Stacked columns, one per label. */
function columns(box, labels, series, format) {
  const totals = labels.map((_, i) => series.reduce((n, s) => n + (s.values[i] || 0), 0));
  const top = Math.max(...totals, 0);
  if (!top) { empty(box, "Nothing in this range."); return; }
  const max = 4 * niceStep(top / 4); // counts: four whole steps
  const chart = frame(box, series.map((s) => s.name).join(", "));
  axis(chart, max, String);
  const step = (widthOf(box) - L - R) / labels.length;
  const x = (i) => L + i * step;
  const scale = (v) => ((H - T - B) * v) / max;
  labels.forEach((label, i) => {
    let base = H - B;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (!v) continue;
      const h = scale(v);
      base -= h;
      tip(svg("rect", { x: x(i) + step * 0.15, y: base, width: step * 0.7, height: h, class: "bar " + s.cls }, chart),
        `${label}: ${s.name} ${format(v)}`);
    }
  });
  xLabels(chart, labels, step, x);
  if (series.length > 1) legend(box, series, "bar");
}

/** Lines with a dot per value; a missing value (no data that day) is a gap. */
function lines(box, labels, series, format, fixedMax) {
  const values = series.flatMap((s) => s.values.filter((v) => v != null));
  if (!values.length) { empty(box, "No user messages in this range."); return; }
  const max = fixedMax || 4 * niceStep((Math.max(...values, 0) || 1) / 4);
  const chart = frame(box, series.map((s) => s.name).join(", "));
  axis(chart, max, format);
  const step = (widthOf(box) - L - R) / labels.length;
  const x = (i) => L + i * step;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const s of series) {
    const path = [];
    let drawing = false;
    s.values.forEach((v, i) => {
      if (v == null) { drawing = false; return; }
      path.push((drawing ? "L" : "M") + (x(i) + step / 2).toFixed(1) + "," + y(v).toFixed(1));
      drawing = true;
    });
    if (path.length) svg("path", { d: path.join(" "), class: "line " + s.cls }, chart);
    s.values.forEach((v, i) => {
      if (v == null) return;
      tip(svg("circle", { cx: x(i) + step / 2, cy: y(v), r: 3.5, class: "dot " + s.cls }, chart),
        `${labels[i]}: ${s.name} ${format(v)}`);
    });
  }
  xLabels(chart, labels, step, x);
  legend(box, series, "line");
}

/** Horizontal bars: user messages per intent, then "other". */
function intents(box, total) {
  const rows = total.intents.map((i) => [i.intent, i.count, "s-intent"]);
  if (total.intents_other) rows.push(["other", total.intents_other, "s-other"]);
  if (!rows.length) { empty(box, "No user messages in this range."); return; }
  const rowH = 22;
  const height = rows.length * rowH + 8;
  clear(box);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": "Intent distribution", class: "plot" }, box);
  const max = Math.max(...rows.map((r) => r[1]));
  const left = 170, right = 70;
  rows.forEach(([name, count, cls], i) => {
    const y = 4 + i * rowH;
    svg("text", { x: left - 8, y: y + 15, class: "tick tick-y" }, chart).textContent = name;
    const width = Math.max(1, ((W - left - right) * count) / max);
    tip(svg("rect", { x: left, y: y + 3, width, height: rowH - 6, class: "bar " + cls }, chart),
      `${name}: ${count} (${pct(total.user_messages ? count / total.user_messages : null)})`);
    svg("text", { x: left + width + 6, y: y + 15, class: "tick" }, chart).textContent =
      `${count} \u00b7 ${pct(total.user_messages ? count / total.user_messages : null)}`;
  });
}

/** The smallest whole 1, 2, 2.5 or 5 × 10^n at least `value` (a grid step). */
function niceStep(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of power >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

// ---- tables ----
function channelTable(channels) {
  const body = clear(byId("channels-body"));
  const names = Object.keys(channels);
  if (!names.length) {
    const cell = el("td", "muted", "Nothing in this range.", el("tr", null, null, body));
    cell.colSpan = 12;
    return;
  }
  for (const name of names) {
    const f = channels[name];
    const row = el("tr", null, null, body);
    el("th", null, name, row).scope = "row";
    for (const text of [String(f.conversations), pct(f.containment_rate), pct(f.handoff_rate),
      pct(f.abandonment_rate), String(f.user_messages), pct(f.fallback_rate),
      pct(f.out_of_scope_rate), pct(f.thumbs_up_share), pct(f.csat_satisfied_share),
      ms(f.latency_p50_ms), ms(f.latency_p95_ms)]) el("td", null, text, row);
  }
}

/** Per form: started → completed as a bar, and the slots where the others stopped. */
function forms(list) {
  const box = clear(byId("forms"));
  if (!list.length) { el("p", "muted", "No form started in this range.", box); return; }
  for (const form of list) {
    const card = el("div", "form-card", null, box);
    el("h3", "form-name", form.form, card);
    el("p", "form-line", `${form.started} started, ${form.completed} completed (${pct(form.completion_rate)})`, card);
    const chart = svg("svg", { viewBox: `0 0 ${W} 28`, role: "img", "aria-label": `${form.form}: completed of started`, class: "plot funnel" }, card);
    tip(svg("rect", { x: 0, y: 4, width: W, height: 20, class: "bar s-started" }, chart), `${form.started} started`);
    if (form.started && form.completed) {
      tip(svg("rect", { x: 0, y: 4, width: (W * form.completed) / form.started, height: 20, class: "bar s-resolved" }, chart),
        `${form.completed} completed`);
    }
    if (form.dropped.length) {
      const drops = el("ul", "drops", null, card);
      for (const d of form.dropped) {
        el("li", null, `${d.slot == null ? "before the first question" : "asking for " + d.slot}: ${d.count}`, drops);
      }
    }
  }
}

boot();
