// The device's link to the service: one websocket on the page's own host and port, `hello`
// first, everything sent before `welcome` queued (bounded), reconnect with backoff.
// The credential comes from pairing (a one-time code exchanged for it, `pairFromPage`), or
// from the URL fragment (never sent to a server, never logged), and is kept in localStorage.

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

/** Why a page cannot sign in, in both languages (the service's code or the pairing's). */
export const REFUSALS = {
  bad_credential: ["本机的登录凭据无效。", "This device's credential is not valid."],
  credential_revoked: ["本机的配对已被注销，请联系工作人员重新配对。",
                       "This device's pairing was revoked. Please ask a member of staff to pair it again."],
  unknown_device: ["本机未在本网点登记。", "This device is not registered at this branch."],
  wrong_role: ["本机登记的类型不符。", "This device is registered for another role."],
  unknown_code: ["配对码无效。", "The pairing code is not valid."],
  expired_code: ["配对码已过期，请向工作人员索取新的配对码。",
                 "The pairing code has expired. Please ask a member of staff for a new one."],
  used_code: ["配对码已使用过，请向工作人员索取新的配对码。",
              "The pairing code was already used. Please ask a member of staff for a new one."],
  not_paired: ["本机尚未配对。", "This device is not paired yet."],
};
export const REFUSED_CODES = ["bad_credential", "credential_revoked", "unknown_device", "wrong_role"];

/** Fill a page's #refused box for a refusal code (never with the credential itself). */
export function showRefusal(code, device) {
  const box = document.getElementById("refused");
  if (!box) return;
  const [zh, en] = REFUSALS[code] || REFUSALS.bad_credential;
  document.getElementById("refused-zh").textContent = zh;
  document.getElementById("refused-en").textContent = en;
  document.getElementById("refused-detail").textContent = `${code} · ${device || "-"}`;
  box.dataset.code = code;
  box.hidden = false;
}

/**
 * Wall-clock time (ms since the epoch, like Python's time.time() * 1000 on the same machine)
 * at which the sample the audio graph renders at context time `at` (s) is heard: mapped
 * through getOutputTimestamp(), which pairs the context time leaving the speaker with the
 * performance clock, so the output latency is inside it.
 */
export function audioWallClock(ctx, at) {
  const ts = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
  if (ts && ts.performanceTime > 0 && ts.contextTime > 0) {
    return performance.timeOrigin + ts.performanceTime + (at - ts.contextTime) * 1000;
  }
  const latency = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
  return performance.timeOrigin + performance.now() + (at - ctx.currentTime + latency) * 1000;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `#pair=CODE` in the address: exchange the one-time code for this device's own credential
 * (GET /pair, the code in a header, never in a URL the server sees) and keep it in
 * localStorage; the code leaves the address bar at once. Busy or unreachable services are
 * asked again with backoff (5 s doubling to 60 s); a wrong, expired or used code is shown.
 * Returns {paired: true} or {error: code}, or null when the page was not asked to pair.
 */
export async function pairFromPage(role, report = () => {}) {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const code = hash.get("pair");
  if (!code) return null;
  hash.delete("pair");
  const rest = hash.toString();
  history.replaceState(null, "", location.pathname + (rest ? `#${rest}` : ""));
  for (let attempt = 0; ; attempt++) {
    report({ state: "pairing", attempt });
    let res = null;
    try {
      res = await fetch("/pair", { headers: { "X-Pairing-Code": code }, cache: "no-store" });
    } catch { res = null; }
    if (res && res.ok) {
      const got = await res.json();
      localStorage.setItem(`bt.${role}`, JSON.stringify({ device: got.device,
                                                          credential: got.credential }));
      report({ state: "paired", device: got.device });
      return { paired: true, device: got.device };
    }
    if (res && res.status !== 429 && res.status < 500) {
      let err = "unknown_code";
      try { err = (await res.json()).error || err; } catch { /* keep the default */ }
      report({ state: "refused", error: err });
      return { error: err };
    }
    const wait = Math.min(60000, 5000 * 2 ** Math.min(attempt, 4)) * (0.8 + 0.4 * Math.random());
    report({ state: "waiting", retryInMs: Math.round(wait) });
    await sleep(wait);
  }
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
      this.setState(REFUSED_CODES.includes(msg.code) ? "refused" : "offline", msg);
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
