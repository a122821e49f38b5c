// Number-caller display: draws the board from each `board` snapshot, shows each new `call`
// large, plays a chime and then the announcement the service synthesised (`call_audio` with
// binary frames; no browser speech engine), and acknowledges every call (re-sent calls too,
// so the service stops re-sending). Only a call whose board sequence is above the last one
// announced here is new: a re-sent call, or one already on the board when the page
// (re)connects, is never announced again.
import { DeviceLink, KIND_AUDIO_OUT, REFUSED_CODES, audioWallClock, deviceFromPage, pairFromPage,
         showRefusal } from "/web/link.js";

const $ = (id) => document.getElementById(id);
// test and diagnosis hook, latest entries only (a display runs for days)
const hook = (window.__bt = { calls: [], announced: [], acks: [], boards: 0, played: [],
                              callAudio: [], state: "connecting" });
function keep(list, entry) {
  list.push(entry);
  if (list.length > 500) list.shift();
}
const pairing = await pairFromPage("caller", (p) => { hook.pairing = p; });
const { device, credential } = deviceFromPage("caller", "caller-1");
const link = new DeviceLink({ role: "caller", device, credential });
hook.link = link;
const SEEN_MAX = 500;
let seen;  // call ids announced on this display, kept across reloads
try { seen = new Set(JSON.parse(localStorage.getItem("bt.calls.seen") || "[]")); } catch { seen = new Set(); }
let lastSeq = Number(localStorage.getItem("bt.calls.seq")) || 0;  // board sequence announced
hook.lastSeq = lastSeq;

function remember(id, seq) {
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  localStorage.setItem("bt.calls.seen", JSON.stringify([...seen]));
  if (seq > lastSeq) {
    lastSeq = seq;
    hook.lastSeq = seq;
    localStorage.setItem("bt.calls.seq", String(seq));
  }
}

// ---------------------------------------------------------------- sound: chime, then the call

let ctx = null;
let player = null;
let opening = null;
let nextTurn = 1;
const speaking = new Map();  // frame stream of an announced call -> {turn, call}
const parts = new Map();  // "stream:part" -> call_audio message, until its frame arrives

function openAudio() {
  opening = opening || (async () => {
    ctx = new AudioContext({ latencyHint: "interactive" });
    await ctx.audioWorklet.addModule("/k/playback-worklet.js");
    player = new AudioWorkletNode(ctx, "bt-playback", { numberOfInputs: 0, outputChannelCount: [1] });
    player.connect(ctx.destination);
    player.port.onmessage = (ev) => played(ev.data);
    if (ctx.state === "suspended") ctx.resume();
  })();
  return opening;
}

/** Two soft tones made on the spot (no sound file), played through the same queue as the
 * announcement so the call follows the chime without a gap or an overlap. */
function chimePcm(rate) {
  const data = new Float32Array(Math.round(rate * 1.0));
  for (const [freq, at] of [[880, 0], [660, 0.35]]) {
    const start = Math.round(at * rate);
    for (let i = 0; start + i < data.length && i < rate * 0.6; i++) {
      const t = i / rate;
      const env = Math.min(1, t / 0.02) * Math.exp(-t / 0.12);
      data[start + i] += 0.3 * env * Math.sin(2 * Math.PI * freq * t);
    }
  }
  return data;
}

async function chime(turn) {
  try {
    await openAudio();
    if (ctx.state === "suspended") ctx.resume();
    const data = chimePcm(ctx.sampleRate);
    player.port.postMessage({ type: "chunk", turn, seq: 0, data, rate: ctx.sampleRate,
                              final: false }, [data.buffer]);
  } catch (err) {
    console.warn(`chime: ${err.name}`);
  }
}

function callAudio(m) {
  keep(hook.callAudio, m);
  if (speaking.has(m.stream)) parts.set(`${m.stream}:${m.part}`, m);
}

function audioFrame(f) {
  if (f.kind !== KIND_AUDIO_OUT || !player) return;
  const key = `${f.stream}:${f.seq}`;
  const meta = parts.get(key);
  const spk = speaking.get(f.stream);
  if (!meta || !spk) return;
  parts.delete(key);
  const data = new Float32Array(f.pcm.length);
  for (let i = 0; i < data.length; i++) data[i] = f.pcm[i] / 32768;
  player.port.postMessage({ type: "chunk", turn: spk.turn, seq: 1 + meta.part, data,
                            rate: meta.sample_rate, final: meta.final }, [data.buffer]);
}

/** The playback worklet's report: when the chime (seq 0) and each sentence really started. */
function played(ev) {
  const call = [...speaking.values()].find((s) => s.turn === ev.turn);
  keep(hook.played, { ...ev, call: call ? call.call : null, kind: ev.seq === 0 ? "chime" : "speech",
                      wall: ev.at != null ? audioWallClock(ctx, ev.at) : null });
  if (ev.type === "started" && ev.seq === 0) hook.chimes = (hook.chimes || 0) + 1;
  if (ev.type === "finished" && ev.final) {
    for (const [stream, s] of speaking) if (s.turn === ev.turn) speaking.delete(stream);
  }
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
  // a re-send of a call already shown, or an older call than the last one announced here
  if (seen.has(c.call) || (c.seq > 0 && c.seq <= lastSeq)) return;
  remember(c.call, c.seq || 0);
  keep(hook.announced, { call: c.call, number: c.number, counter: c.counter, seq: c.seq,
                         at: performance.now(), wall: performance.timeOrigin + performance.now() });
  $("number").textContent = c.number;
  const en = document.createElement("span");
  en.lang = "en";
  en.className = "en";
  en.textContent = `Counter ${c.counter}`;
  $("counter").replaceChildren(`请到 ${c.counter} 号窗口`, en);
  $("say").textContent = c.language === "zh" ? c.text_zh : `${c.text_zh} · ${c.text}`;
  const now = document.querySelector(".now");
  now.classList.remove("flash"); void now.offsetWidth; now.classList.add("flash");
  const turn = nextTurn++;
  speaking.set(c.seq % 4294967296, { turn, call: c.call });
  chime(turn);
}

link.addEventListener("message", (ev) => {
  const m = ev.detail;
  if (m.type === "board") drawBoard(m);
  else if (m.type === "call") onCall(m);
  else if (m.type === "call_audio") callAudio(m);
  else if (m.type === "error" && m.fatal && REFUSED_CODES.includes(m.code)) showRefusal(m.code, device);
});
link.addEventListener("audio", (ev) => audioFrame(ev.detail));
link.addEventListener("welcome", () => { $("refused").hidden = true; });
document.addEventListener("click", () => { if (ctx && ctx.state === "suspended") ctx.resume(); });
openAudio().catch((err) => { console.warn(`audio: ${err.name}`); hook.audioError = String(err); });
link.addEventListener("state", (ev) => {
  hook.state = ev.detail.state;
  const s = ev.detail.state;
  $("status").textContent = s === "online" ? "已连接 · Connected"
    : s === "refused" ? "未登录 · Not signed in" : "连接中… · Connecting…";
});
if (credential) link.start();
else {
  hook.state = "unpaired";
  showRefusal(pairing && pairing.error ? pairing.error : "not_paired", device);
}
