// The device's link to the service: one websocket on the page's own host and port, `hello`
// first, everything sent before `welcome` queued (bounded), reconnect with backoff.
// The credential comes from the URL fragment (never sent to a server, never logged) or from
// localStorage, where the page keeps it once it has one.

export const PROTOCOL = 2;  // devices/protocol.py PROTOCOL_VERSION (tests/test_static_pages.py checks)
const MAGIC0 = 0x42, MAGIC1 = 0x54, FRAME_VERSION = 1, HEADER = 12;
export const KIND_AUDIO_IN = 1, KIND_AUDIO_OUT = 2;

/** Device id and credential from `#device=...&credential=...`, else from localStorage. */
export function deviceFromPage(role, fallbackId) {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const key = `bt.${role}`;
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(key) || "{}"); } catch { saved = {}; }
  const device = hash.get("device") || saved.device || fallbackId;
  const credential = hash.get("credential") || saved.credential || "";
  if (hash.get("credential")) {
    localStorage.setItem(key, JSON.stringify({ device, credential }));
    hash.delete("credential");  // keep it off the screen and out of bookmarks
    const rest = hash.toString();
    history.replaceState(null, "", location.pathname + (rest ? `#${rest}` : ""));
  }
  return { device, credential, options: hash };
}

/** A binary audio frame: 12-byte header, then PCM16LE. */
export function encodeFrame(kind, stream, seq, pcm /* Int16Array */) {
  const buf = new ArrayBuffer(HEADER + pcm.byteLength);
  const view = new DataView(buf);
  view.setUint8(0, MAGIC0); view.setUint8(1, MAGIC1);
  view.setUint8(2, FRAME_VERSION); view.setUint8(3, kind);
  view.setUint32(4, stream >>> 0, false); view.setUint32(8, seq >>> 0, false);
  const out = new Int16Array(buf, HEADER);
  out.set(pcm);  // the page runs on little-endian machines only (x86, ARM)
  return buf;
}

export function decodeFrame(buf /* ArrayBuffer */) {
  const view = new DataView(buf);
  if (buf.byteLength < HEADER || view.getUint8(0) !== MAGIC0 || view.getUint8(1) !== MAGIC1) {
    return null;
  }
  return { kind: view.getUint8(3), stream: view.getUint32(4, false), seq: view.getUint32(8, false),
           pcm: new Int16Array(buf.slice(HEADER)) };
}

/**
 * events: "state" (detail: {state, error}), "message" (detail: JSON object),
 * "audio" (detail: decoded frame), "welcome" (detail: welcome message), "down".
 * state: connecting | online | refused | offline
 */
export class DeviceLink extends EventTarget {
  constructor({ role, device, credential, capabilities = [], maxQueuedFrames = 500 }) {
    super();
    this.role = role; this.device = device; this.credential = credential;
    this.capabilities = capabilities;
    this.maxQueuedFrames = maxQueuedFrames;  // 500 frames of 40 ms: 20 s of speech
    this.queue = [];
    this.ws = null; this.welcomed = false; this.failures = 0; this.timer = null;
    this.state = "connecting"; this.lastError = null;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/${this.role}`;
  }

  start() { this.connect(); }

  connect() {
    clearTimeout(this.timer);
    this.welcomed = false;
    this.setState("connecting");
    const ws = new WebSocket(this.url());
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", device_id: this.device, role: this.role,
                               credential: this.credential, protocol: PROTOCOL,
                               capabilities: this.capabilities }));
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => this.closed(ws);
    ws.onerror = () => {};  // onclose follows and decides
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      const frame = decodeFrame(data);
      if (frame) this.emit("audio", frame);
      return;
    }
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg.type === "welcome") {
      this.welcomed = true; this.failures = 0; this.lastError = null;
      this.setState("online");
      this.emit("welcome", msg);
      const pending = this.queue; this.queue = [];
      for (const item of pending) this.ws.send(item);
      return;
    }
    if (msg.type === "error" && msg.fatal) {
      this.lastError = msg;
      this.setState(["bad_credential", "unknown_device", "wrong_role"].includes(msg.code)
        ? "refused" : "offline", msg);
    }
    if (msg.type === "bye") this.byeDelay = (msg.reconnect_after_s || 1) * 1000;
    this.emit("message", msg);
  }

  closed(ws) {
    if (ws !== this.ws) return;
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this.emit("down", null);
    this.failures = wasWelcomed ? 1 : this.failures + 1;
    // refused credentials retry slowly (staff may be fixing branch.toml), never hammering
    const base = this.state === "refused" ? 5000 : 1000;
    const cap = this.state === "refused" ? 60000 : 15000;
    let delay = Math.min(cap, base * 2 ** Math.min(this.failures - 1, 6));
    if (this.byeDelay) { delay = Math.max(delay, this.byeDelay); this.byeDelay = 0; }
    delay *= 0.8 + 0.4 * Math.random();  // kiosks of a branch do not reconnect in step
    if (this.state !== "refused") this.setState("offline");
    this.retryInMs = Math.round(delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Send a JSON message now, or once welcomed. */
  send(msg) { this.put(JSON.stringify(msg)); }

  /** Send a binary frame now, or once welcomed (the oldest audio goes first past the bound). */
  sendBinary(buf) {
    if (!this.welcomed) {
      let frames = 0;
      for (const item of this.queue) if (typeof item !== "string") frames++;
      if (frames >= this.maxQueuedFrames) {
        const i = this.queue.findIndex((item) => typeof item !== "string");
        this.queue.splice(i, 1);
      }
    }
    this.put(buf);
  }

  put(item) {
    if (this.welcomed && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(item);
    else this.queue.push(item);
  }

  setState(state, error = null) {
    this.state = state;
    this.emit("state", { state, error });
  }

  emit(name, detail) { this.dispatchEvent(new CustomEvent(name, { detail })); }
}
