/* The desk's live event stream: WebSocket /desk/api/events on the page's origin.
 *
 * Frames from the server: {"type":"hello","user":...} once per connection, then
 * {"type": <desk event>, "id": <stream id>, "data": {...}}. The client sends
 * {"type":"ping"} every 20 s, which also keeps the agent's presence online.
 *
 * A closed socket is reopened with capped exponential backoff (with jitter, so a
 * restarted gateway is not hit by every desk in the same millisecond). Events sent
 * while the socket was down are not replayed, so onOpen() is where the page re-fetches
 * its lists; onFrame() dedupes by stream id in case a frame is seen twice.
 */
import { API_BASE } from "./api.js";

const PING_MS = 20000;
const MAX_BACKOFF_MS = 30000;

export function eventsUrl() {
  const url = new URL("events", API_BASE);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class LiveSocket {
  /**
   * onFrame(frame): every parsed frame except pongs.
   * onState(state, detail): "connecting" | "open" | "waiting" (detail.retryIn ms,
   *   detail.neverOpened) | "stopped".
   * onOpen(): after each successful open (the first one too).
   */
  constructor({ onFrame, onState, onOpen }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.onOpen = onOpen;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.running = false;
    this.seen = new Set();
    this.seenOrder = [];
    this.wake = () => { if (this.running && !this.ws) this.connectNow(); };
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    this.connect();
  }

  stop() {
    this.running = false;
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "logout");
    }
    this.onState("stopped", {});
  }

  connectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (!this.running || this.ws) return;
    this.onState("connecting", {});
    let opened = false;
    let ws;
    try {
      ws = new WebSocket(eventsUrl());
    } catch (exc) {
      this.retry(false);
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      opened = true;
      this.attempt = 0;
      this.onState("open", {});
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
      this.onOpen();
    });
    ws.addEventListener("message", (e) => {
      if (this.ws !== ws) return;
      let frame;
      try { frame = JSON.parse(e.data); } catch (exc) { return; }
      if (!frame || typeof frame.type !== "string" || frame.type === "pong") return;
      if (frame.id != null && this.isDuplicate(String(frame.id))) return;
      this.onFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return; // stopped on purpose
      this.ws = null;
      clearInterval(this.pinger);
      this.retry(!opened);
    });
    // "error" is always followed by "close": nothing to do here.
  }

  retry(neverOpened) {
    if (!this.running) return;
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt = Math.min(this.attempt + 1, 10);
    this.onState("waiting", { retryIn: delay, neverOpened });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  isDuplicate(id) {
    if (this.seen.has(id)) return true;
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > 2000) this.seen.delete(this.seenOrder.shift());
    return false;
  }
}
