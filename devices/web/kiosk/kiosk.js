// Kiosk page: the customer's side of the /kiosk protocol. Typed, touched and spoken turns go
// to the service; its replies come back as text, cards, buttons and speech with a moving face.
import { DeviceLink, REFUSED_CODES, audioWallClock, deviceFromPage, pairFromPage,
         showRefusal } from "/web/link.js";
import { Face } from "./avatar.js";
import { KioskAudio } from "./audio.js";

const T = {
  zh: { connecting: "连接中…", online: "已连接", offline: "连接中断，正在重试…", mic: "点按说话",
        micOn: "正在听…", send: "发送", ask: "请输入您要办理的业务",
        take: "取号", takeSay: "我要取号", ticket: "您的号码", service: "业务", counters: "窗口", ahead: "前面还有",
        wait: "预计等候", minutes: (m) => `约${m}分钟`, people: (n) => `${n}位`,
        terminal: "请到自助设备办理", where: "位置", bring: "请携带", cancelled: "此号码已作废",
        called: (c) => `请到${c}号窗口`, sources: "参考资料：",
        formButton: "开户预填", formOk: "确定", formEdit: "修改", formDone: "已确认", formCancelled: "已取消",
        formEmpty: "待填写", warning: "重要提醒：请先不要转账" },
  en: { connecting: "Connecting…", online: "Connected", offline: "Connection lost, retrying…",
        mic: "Tap to talk", micOn: "Listening…", send: "Send",
        take: "Take a ticket", takeSay: "I would like a ticket",
        ask: "Type what you would like to do",
        ticket: "Your number", service: "Service", counters: "Counters", ahead: "People ahead",
        wait: "Estimated wait", minutes: (m) => `about ${m} min`, people: (n) => `${n}`,
        terminal: "Please use the self-service terminal", where: "Where", bring: "Bring",
        cancelled: "This number was withdrawn", called: (c) => `Please go to counter ${c}`,
        sources: "Sources: ", formButton: "Account form", formOk: "OK", formEdit: "Change",
        formDone: "Confirmed", formCancelled: "Cancelled", formEmpty: "to fill in",
        warning: "Important: please do not transfer money yet" },
};

// the demo branch's services; a branch's own service ids show as they are (the ticket's
// sentence under the card names them in the branch's words)
const SERVICES = {
  personal: ["个人业务", "Personal accounts and cards"], cash: ["现金业务", "Cash and transfers"],
  fx: ["外汇业务", "Foreign exchange"], loan: ["贷款业务", "Loans"], wealth: ["理财业务", "Wealth management"],
  corporate: ["对公业务", "Corporate services"], urgent: ["紧急业务", "Urgent"],
};

const $ = (id) => document.getElementById(id);
// test and diagnosis hook: the latest messages, playback reports and mouth positions
const hook = (window.__bt = { events: [], mouthLog: [], playback: [], bargeIns: [], mic: [],
                              state: "connecting" });
const HOOK_MAX = 5000;  // a kiosk runs for days: keep the latest entries only
function keep(list, entry) {
  list.push(entry);
  if (list.length > HOOK_MAX) list.splice(0, list.length - HOOK_MAX);
}
// a pairing link (`#pair=CODE`) is exchanged for this kiosk's own credential first
const pairing = await pairFromPage("kiosk", (p) => { hook.pairing = p; });
const { device, credential, options } = deviceFromPage("kiosk", "kiosk-1");
const ui = { lang: options.get("lang") === "en" ? "en" : "zh", chosen: options.has("lang"),
             elderly: options.get("elderly") === "1", turn: 0, ticket: null, form: null,
             forms: [], warningTurn: null };
// the next customer must not see the last one's conversation: clear the screen after this
// long without a touch, a word or a reply (never under 20 s, so nobody is rushed)
const RESET_S = Math.max(20, Number(options.get("reset")) || 90);
let resetTimer = null;

const link = new DeviceLink({ role: "kiosk", device, credential,
                              capabilities: ["audio", "tts", "visemes", "large_text"] });
const face = new Face($("face"));
const audio = new KioskAudio(link, { onPlayback: playbackEvent,
                                    onBargeIn: (b) => keep(hook.bargeIns, b),
                                    // each 40 ms microphone frame as it leaves: its number,
                                    // level and wall-clock time (for benchmarks)
                                    onMicFrame: (n, rms) => keep(hook.mic, {
                                      n, rms: +rms.toFixed(4),
                                      wall: performance.timeOrigin + performance.now() }) });
hook.link = link;
hook.audio = audio;

function t(key, ...args) {
  const v = T[ui.lang][key];
  return typeof v === "function" ? v(...args) : v;
}

function render() {
  document.documentElement.lang = ui.lang === "zh" ? "zh-CN" : "en";
  document.body.classList.toggle("elderly", ui.elderly);
  $("lang-zh").setAttribute("aria-pressed", String(ui.lang === "zh"));
  $("lang-en").setAttribute("aria-pressed", String(ui.lang === "en"));
  $("elderly").setAttribute("aria-pressed", String(ui.elderly));
  $("mic-label").textContent = audio.micOn ? t("micOn") : t("mic");
  $("mic").setAttribute("aria-pressed", String(audio.micOn));
  $("send").textContent = t("send");
  $("take-label").textContent = t("take");
  $("text-label").textContent = t("ask");
  $("form-start").hidden = !ui.forms.includes("account_opening");
  $("form-start").textContent = t("formButton");
  const st = link.state === "refused" ? "offline" : link.state;
  // a kiosk that cannot sign in (refused, revoked, never paired) offers nothing to press
  $("input").hidden = !$("refused").hidden;
  $("status").textContent = t(st === "online" ? "online" : st === "offline" ? "offline" : "connecting");
  $("status").className = `status ${st}`;
}

function active() {
  clearTimeout(resetTimer);
  resetTimer = setTimeout(idleReset, RESET_S * 1000);
}

/** Forget the customer: screen cleared, the service's conversation ended too. */
function idleReset() {
  clearTimeout(resetTimer);
  if (!$("log").children.length && !$("cards").children.length) return;
  for (const id of ["log", "cards", "choices", "caption"]) $(id).replaceChildren();
  ui.form = null;
  $("heard").textContent = "";
  $("sources").hidden = true;
  ui.ticket = null;
  link.send({ type: "end_session", reason: "kiosk idle" });
}
hook.idleReset = idleReset;

function sendContext() {
  link.send({ type: "context", elderly: ui.elderly, language: ui.chosen ? ui.lang : null });
}

function say(text, choice = null) {
  if (!text.trim()) return;
  active();
  ui.turn += 1;
  addLog("customer", text);
  link.send({ type: "text", id: `t${ui.turn}`, text, choice, language: ui.chosen ? ui.lang : null });
}

function addLog(who, text) {
  const li = document.createElement("li");
  li.className = who;
  // an ID or phone number being dictated for a form never stands whole on the screen
  const digits = ui.form && ["id_number", "mobile"].includes(ui.form.asking);
  li.textContent = who === "customer" && digits ? maskDigits(text) : text;
  $("log").appendChild(li);
  li.scrollIntoView({ block: "end" });
}

function clearChoices() { $("choices").replaceChildren(); }

function maskDigits(text) {
  let seen = (text.match(/[0-9Xx]/g) || []).length;
  return text.replace(/[0-9Xx]/g, (c) => (seen-- > 4 ? "*" : c));
}

// ---------------------------------------------------------------- forms (account opening)

/** The form card: every field with its masked value; the asked one gets a touch input. */
function showForm(m) {
  ui.form = m.state === "filling" || m.state === "confirming" ? m : null;
  let box = $("form-card");
  if (!box) {
    box = document.createElement("article");
    box.id = "form-card";
    $("cards").prepend(box);
  }
  box.className = `card form ${m.state}`;
  box.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = m.state === "done" ? `${m.title} · ${t("formDone")}`
    : m.state === "cancelled" ? `${m.title} · ${t("formCancelled")}` : m.title;
  box.appendChild(h);
  if (m.problem && m.state === "filling") {
    const p = document.createElement("p");
    p.className = "problem";
    p.setAttribute("role", "alert");
    p.textContent = m.problem;
    box.appendChild(p);
  }
  const dl = document.createElement("dl");
  for (const f of m.fields) {
    const dt = document.createElement("dt"); dt.textContent = f.label;
    const dd = document.createElement("dd");
    dd.dataset.field = f.key;
    if (f.key === m.asking) {
      dd.className = "asking";
      dd.appendChild(fieldInput(f));
    } else {
      const v = document.createElement("span");
      v.className = "value";
      v.textContent = f.filled ? f.value : t("formEmpty");
      dd.appendChild(v);
      if (f.filled && ui.form) {
        const edit = document.createElement("button");
        edit.type = "button";
        edit.className = "edit";
        edit.textContent = t("formEdit");
        edit.addEventListener("click", () => say(`${t("formEdit")} ${f.label}`, `edit:${f.key}`));
        dd.appendChild(edit);
      }
    }
    dl.append(dt, dd);
  }
  box.appendChild(dl);
  if (m.state === "cancelled" || m.state === "done") setTimeout(() => box.remove(), 8000);
}

function fieldInput(f) {
  if (f.input === "choice") {
    const row = document.createElement("div");
    row.className = "options";
    for (const o of f.options) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "choice";
      b.dataset.key = o.key;
      b.textContent = o.label;
      b.addEventListener("click", () => { clearChoices(); say(o.label, `occupation:${o.key}`); });
      row.appendChild(b);
    }
    return row;
  }
  const form = document.createElement("form");
  form.className = "field-input";
  const input = document.createElement("input");
  input.name = f.key;
  input.setAttribute("aria-label", f.label);
  input.autocomplete = "off";
  input.maxLength = f.input === "digits" ? 24 : 120;
  if (f.input === "digits") input.inputMode = "numeric";
  const ok = document.createElement("button");
  ok.type = "submit";
  ok.className = "big";
  ok.textContent = t("formOk");
  form.append(input, ok);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    // the value goes to the service only; the conversation log shows it masked
    active();
    ui.turn += 1;
    const shown = f.input === "digits" ? maskDigits(input.value) : `${f.label} ✓`;
    const li = document.createElement("li");
    li.className = "customer";
    li.textContent = shown;
    $("log").appendChild(li);
    link.send({ type: "text", id: `t${ui.turn}`, text: input.value, choice: `field:${f.key}`,
                language: ui.chosen ? ui.lang : null });
    input.value = "";
  });
  setTimeout(() => input.focus(), 0);
  return form;
}

function showChoices(choices) {
  clearChoices();
  for (const c of choices) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    b.textContent = c.label;
    b.dataset.key = c.key;
    b.addEventListener("click", () => { clearChoices(); say(c.label, c.key); });
    $("choices").appendChild(b);
  }
}

function field(dl, label, value) {
  const dt = document.createElement("dt"); dt.textContent = label;
  const dd = document.createElement("dd"); dd.textContent = value;
  dl.append(dt, dd);
  return dd;
}

function card(kind, title) {
  const box = document.createElement("article");
  box.className = `card ${kind}`;
  const h = document.createElement("h2"); h.textContent = title;
  box.appendChild(h);
  $("cards").prepend(box);
  return box;
}

// The wait as a range the branch's own service times support (p50 to p90), like the reply.
function waitText(mean, p50, p90) {
  if (typeof p50 !== "number" || typeof p90 !== "number") {
    return String(Math.max(1, Math.round((mean || 0) / 60)));
  }
  const low = Math.max(1, Math.round(p50 / 60));
  const high = Math.max(low, Math.round(p90 / 60));
  if (high === low) return String(low);
  return ui.lang === "zh" ? `${low}到${high}` : `${low}-${high}`;
}

function showTicket(m) {
  const box = card("ticket", t("ticket"));
  box.dataset.number = m.number;
  const n = document.createElement("p"); n.className = "number"; n.textContent = m.number;
  const dl = document.createElement("dl");
  field(dl, t("service"), (SERVICES[m.service] || [m.service, m.service])[ui.lang === "zh" ? 0 : 1]);
  field(dl, t("counters"), m.counters.join("、"));
  const ahead = field(dl, t("ahead"), t("people", m.ahead));
  const wait = field(dl, t("wait"), t("minutes", waitText(m.estimated_wait_s, m.wait_p50_s, m.wait_p90_s)));
  const line = document.createElement("p"); line.textContent = m.text;
  box.append(n, dl, line);
  ui.ticket = { number: m.number, service: m.service, ahead: m.ahead, box, aheadEl: ahead, waitEl: wait };
}

function queueUpdate(m) {
  const mine = ui.ticket;
  const tk = m.ticket;
  if (!mine || !tk) return;
  if (tk.number === mine.number) {
    if (typeof tk.people_ahead === "number") {
      mine.ahead = tk.people_ahead;
      mine.aheadEl.textContent = t("people", mine.ahead);
    }
    if (typeof tk.estimated_wait_s === "number") {
      mine.waitEl.textContent = t("minutes", waitText(tk.estimated_wait_s, tk.wait_p50_s, tk.wait_p90_s));
    }
    if (tk.state === "called") {
      mine.box.classList.add("called");
      mine.aheadEl.textContent = t("called", tk.counter_number ?? tk.counter ?? "");
    }
  } else if (m.event === "call_next" && tk.service === mine.service && mine.ahead > 0) {
    mine.ahead -= 1;
    mine.aheadEl.textContent = t("people", mine.ahead);
  }
}

// An anti-fraud or compliance warning: shown large, first, and announced to screen readers.
function showWarning(m) {
  ui.warningTurn = m.turn;
  const box = card("warning", t("warning"));
  box.dataset.rule = m.warning || "";
  box.setAttribute("role", "alert");
  const p = document.createElement("p"); p.className = "warning-text"; p.textContent = m.text;
  box.append(p);
}

function showTerminal(m) {
  const box = card("terminal", t("terminal"));
  const n = document.createElement("p"); n.className = "number"; n.textContent = m.name || m.terminal;
  const dl = document.createElement("dl");
  field(dl, t("where"), m.location);
  if (m.bring.length) field(dl, t("bring"), m.bring.join("、"));
  box.append(n, dl);
  if (m.text) { const p = document.createElement("p"); p.textContent = m.text; box.append(p); }
}

function cancelTicket(m) {
  for (const box of document.querySelectorAll(".card.ticket")) {
    if (box.dataset.number === m.number) {
      box.classList.add("cancelled");
      box.querySelector("h2").textContent = t("cancelled");
    }
  }
  if (ui.ticket && ui.ticket.number === m.number) ui.ticket = null;
}

function onMessage(m) {
  const wall = performance.timeOrigin + performance.now();  // arrival, for benchmarks
  keep(hook.events, m.type !== "speech" ? { ...m, wall } : {  // the timing tracks can be long
    type: "speech", turn: m.turn, seq: m.seq, duration_ms: m.duration_ms, final: m.final,
    interruptible: m.interruptible, visemes: m.visemes.length, wall });
  if (["reply", "transcript", "speech", "ticket", "go_terminal"].includes(m.type)) active();
  switch (m.type) {
    case "reply":
      // a warning's words are shown once, large, in its own card (showWarning), not twice
      if (m.interruptible !== false) addLog("teller", m.text);
      showChoices(m.choices || []);
      if (m.sources && m.sources.length) {
        $("sources").hidden = false;
        $("sources").textContent = t("sources") + m.sources.join("；");
      } else $("sources").hidden = true;
      if (m.large_text && !ui.elderly) { ui.elderly = true; render(); }
      if (m.expression) face.setExpression(m.expression);
      if (m.interruptible === false) showWarning(m);
      break;
    case "form": showForm(m); break;
    case "describe":  // `#barge=off` turns the page's own detector off on this kiosk
      ui.forms = (m.features && m.features.forms) || [];
      if (m.page) audio.barge = { ...m.page, barge_in: m.page.barge_in && options.get("barge") !== "off" };
      render();
      break;
    case "transcript":
      if (m.final) {
        $("heard").textContent = "";
        if (m.text) addLog("customer", m.text);
        audio.turnDone(m.stream);
      }
      else $("heard").textContent = ui.form && ["id_number", "mobile"].includes(ui.form.asking)
        ? maskDigits(m.text) : m.text;
      break;
    case "ticket": ui.smileTurn = m.turn; showTicket(m); break;
    case "ticket_cancelled": cancelTicket(m); break;
    case "go_terminal": ui.smileTurn = m.turn; showTerminal(m); break;
    case "queue_update": queueUpdate(m); break;
    case "speech": audio.speech(m); break;
    case "stop_audio":
      // an anti-fraud or compliance warning is never cut by the customer speaking over it
      if (m.turn === ui.warningTurn && (m.reason || "barge_in") === "barge_in") break;
      audio.stop(m.turn, m.reason || "stop_audio");
      break;
    case "error":
      if (m.fatal && REFUSED_CODES.includes(m.code)) { showRefusal(m.code, device); render(); }
      else if (!m.fatal) console.warn(`service: ${m.code}`);
      break;
    default: break;
  }
}

// ---------------------------------------------------------------- speech, captions, mouth

function playbackEvent(ev) {
  // `wall`: when it was heard, on the machine's clock (ms since the epoch), for benchmarks
  keep(hook.playback, ev.at != null && audio.ctx ? { ...ev, wall: audioWallClock(audio.ctx, ev.at) } : ev);
  if (ev.type !== "started" || !ev.meta) return;
  // warnings (never interruptible) look concerned; a ticket or terminal handed out smiles
  face.setExpression(ev.meta.expression ? ev.meta.expression
    : !ev.meta.interruptible ? "concerned"
    : ev.meta.turn === ui.smileTurn ? "smile" : "neutral");
}

let lastFrame = performance.now();
let lastViseme = null;
function animate(now) {
  const dt = Math.min(0.1, (now - lastFrame) / 1000);
  lastFrame = now;
  const heard = audio.heardSentence();  // {meta, t} for the sentence the speaker plays now
  let viseme = null;
  if (heard) {
    viseme = visemeAt(heard.meta.visemes, heard.t);
    caption(heard.meta, heard.t);
  }  // after speech the last caption stays on screen
  face.update(viseme, dt, now);
  if (heard) {
    keep(hook.mouthLog, { t: Math.round(heard.t), viseme, turn: heard.meta.turn,
                          seq: heard.meta.seq, open: +face.opening().toFixed(3),
                          at: +heard.at.toFixed(4), expr: face.expression });
  } else if (lastViseme !== null) {  // the mouth came to rest
    keep(hook.mouthLog, { t: null, viseme: null, open: +face.opening().toFixed(3) });
  }
  lastViseme = viseme;
  requestAnimationFrame(animate);
}

function visemeAt(track, tMs) {
  let lo = 0, hi = track.length - 1, found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (track[mid][1] <= tMs) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  const v = track[found];
  return v && tMs >= v[1] && tMs < v[1] + v[2] ? v[0] : 0;
}

function caption(meta, tMs) {
  const box = $("caption");
  const key = `${meta.turn}:${meta.seq}`;
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.dataset.turn = String(meta.turn);
    box.replaceChildren();
    const words = meta.words && meta.words.length ? meta.words : [[meta.text, 0, meta.duration_ms]];
    for (const [w, start] of words) {
      const span = document.createElement("span");
      span.textContent = w + (meta.language === "en" ? " " : "");
      span.dataset.start = String(start);
      span.className = "tosay";
      box.appendChild(span);
    }
  }
  for (const span of box.children) {
    span.className = Number(span.dataset.start) <= tMs ? "said" : "tosay";
  }
}

// ---------------------------------------------------------------- wiring

link.addEventListener("message", (ev) => onMessage(ev.detail));
link.addEventListener("audio", (ev) => audio.frame(ev.detail));
link.addEventListener("welcome", () => {
  $("refused").hidden = true;
  sendContext();
  render();
});
link.addEventListener("state", (ev) => {
  hook.state = ev.detail.state;
  if (ev.detail.error && REFUSED_CODES.includes(ev.detail.error.code)) {
    showRefusal(ev.detail.error.code, device);
  }
  render();  // after showRefusal: the input bar goes with it
});
link.addEventListener("down", () => audio.linkDown());

$("ask").addEventListener("submit", (ev) => {
  ev.preventDefault();
  say($("text").value);
  $("text").value = "";
  audio.resume();
});
// "take a ticket" at any time: the same turn as typing it
$("take").addEventListener("click", () => { say(t("takeSay"), "take_ticket"); audio.resume(); });
$("lang-zh").addEventListener("click", () => { ui.lang = "zh"; ui.chosen = true; sendContext(); render(); });
$("lang-en").addEventListener("click", () => { ui.lang = "en"; ui.chosen = true; sendContext(); render(); });
$("form-start").addEventListener("click", () => say(t("formButton"), "form"));
$("elderly").addEventListener("click", () => { ui.elderly = !ui.elderly; sendContext(); render(); });
$("mic").addEventListener("click", async () => {
  await (audio.micOn ? audio.stopMic() : audio.startMic());
  render();
});

render();
if (credential) link.start();
else {  // nothing to sign in with: say why (a failed pairing, or never paired)
  hook.state = "unpaired";
  showRefusal(pairing && pairing.error ? pairing.error : "not_paired", device);
  render();
}
audio.open().then(() => (options.get("mic") === "on" ? audio.startMic() : null))
  .then(render)
  .catch((err) => { console.warn(`audio: ${err.name}`); hook.audioError = String(err); });
requestAnimationFrame(animate);
