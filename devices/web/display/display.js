// Number-caller display: draws the board from each `board` snapshot, shows each new `call`
// large with a chime, and acknowledges every call (re-sent calls too, so the service stops
// re-sending). A call seen before, or one already on the board when the page (re)connects,
// is never announced again as new.
import { DeviceLink, deviceFromPage } from "/web/link.js";

const $ = (id) => document.getElementById(id);
// test and diagnosis hook, latest entries only (a display runs for days)
const hook = (window.__bt = { calls: [], announced: [], acks: [], boards: 0, state: "connecting" });
function keep(list, entry) {
  list.push(entry);
  if (list.length > 500) list.shift();
}
const { device, credential } = deviceFromPage("caller", "caller-1");
const link = new DeviceLink({ role: "caller", device, credential });
const SEEN_MAX = 500;
let seen;  // call ids announced on this display, kept across reloads
try { seen = new Set(JSON.parse(localStorage.getItem("bt.calls.seen") || "[]")); } catch { seen = new Set(); }
let ctx = null;

function remember(id) {
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  localStorage.setItem("bt.calls.seen", JSON.stringify([...seen]));
}

function drawBoard(b) {
  hook.boards += 1;
  const rows = (b.serving || []).map((s) => {
    const tr = document.createElement("tr");
    const c = document.createElement("td"); c.textContent = s.counter;
    const n = document.createElement("td"); n.className = "num"; n.textContent = s.number;
    tr.append(c, n);
    return tr;
  });
  $("serving").replaceChildren(...rows);
  const recent = (b.recent || []).slice(0, 8).map((r) => {
    const li = document.createElement("li");
    li.textContent = `${r.number} → ${r.counter_number ?? r.counter}`;
    return li;
  });
  $("recent").replaceChildren(...recent);
  const waiting = Object.values(b.waiting || {}).reduce((a, x) => a + x, 0);
  $("waiting").textContent = `等候 ${waiting} 人 · ${waiting} waiting`;
  if ($("number").textContent === "—" && b.recent && b.recent.length) {
    // a fresh page shows the last call quietly; it is not announced again
    $("number").textContent = b.recent[0].number;
    $("counter").textContent = `${b.recent[0].counter_number ?? b.recent[0].counter} 号窗口`;
  }
}

function onCall(c) {
  keep(hook.calls, c);
  link.send({ type: "ack", call: c.call });
  keep(hook.acks, c.call);
  if (seen.has(c.call)) return;  // a re-send of a call already shown
  remember(c.call);
  keep(hook.announced, { call: c.call, number: c.number, counter: c.counter, at: performance.now() });
  $("number").textContent = c.number;
  const en = document.createElement("span");
  en.lang = "en";
  en.className = "en";
  en.textContent = `Counter ${c.counter}`;
  $("counter").replaceChildren(`请到 ${c.counter} 号窗口`, en);
  $("say").textContent = c.language === "zh" ? c.text_zh : `${c.text_zh} · ${c.text}`;
  const now = document.querySelector(".now");
  now.classList.remove("flash"); void now.offsetWidth; now.classList.add("flash");
  chime();
}

/** Two soft tones made on the spot: no sound file to download. */
function chime() {
  try {
    ctx = ctx || new AudioContext();
    if (ctx.state === "suspended") ctx.resume();
    const start = ctx.currentTime + 0.02;
    [[880, 0], [660, 0.35]].forEach(([freq, at]) => {
      const osc = new OscillatorNode(ctx, { frequency: freq, type: "sine" });
      const gain = new GainNode(ctx, { gain: 0 });
      gain.gain.setValueAtTime(0, start + at);
      gain.gain.linearRampToValueAtTime(0.3, start + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.001, start + at + 0.6);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + at);
      osc.stop(start + at + 0.65);
    });
    hook.chimes = (hook.chimes || 0) + 1;
  } catch (err) {
    console.warn(`chime: ${err.name}`);
  }
}

link.addEventListener("message", (ev) => {
  const m = ev.detail;
  if (m.type === "board") drawBoard(m);
  else if (m.type === "call") onCall(m);
  else if (m.type === "error" && m.fatal && ["bad_credential", "unknown_device", "wrong_role"].includes(m.code)) {
    $("refused").hidden = false;
    $("refused-detail").textContent = `${m.code} · ${device}`;
  }
});
link.addEventListener("welcome", () => { $("refused").hidden = true; });
link.addEventListener("state", (ev) => {
  hook.state = ev.detail.state;
  const s = ev.detail.state;
  $("status").textContent = s === "online" ? "已连接 · Connected"
    : s === "refused" ? "未登录 · Not signed in" : "连接中… · Connecting…";
});
link.start();
