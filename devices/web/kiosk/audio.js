// Kiosk audio: the microphone streamed as 16 kHz PCM16 frames, the reply played through a
// worklet that tells when each sentence really starts, the audio clock for the face, and the
// page's own voice detector that stops the reply when the customer speaks over it.
import { KIND_AUDIO_IN, KIND_AUDIO_OUT, encodeFrame } from "/web/link.js";

const TARGET_RATE = 16000;
const FRAME_MS = 40;
// The service takes at most `server.max_audio_seconds` (60) per stream: a microphone that
// stays open starts a new stream between turns, once a turn has ended (final transcript)
// or after a second of quiet, and at the latest at HARD_ROLL_S.
const ROLL_AFTER_S = 20;
const HARD_ROLL_S = 55;
const QUIET_ROLL_MS = 1000;

export class KioskAudio {
  constructor(link, { onPlayback, onBargeIn = () => {}, onMicFrame = () => {} }) {
    this.link = link;
    this.onMicFrame = onMicFrame;  // (frame number since the microphone opened, level)
    this.micFrames = 0;
    this.onPlayback = onPlayback;
    this.onBargeIn = onBargeIn;
    // barge-in by the page (`describe`'s `page`, from [pages] in branch.toml); off until told
    this.barge = { barge_in: false, barge_in_min_rms: 0.02, barge_in_echo_gain: 0.5,
                   barge_in_hold_ms: 160 };
    this.loudMs = 0;  // how long the microphone has been over the threshold during a reply
    this.ctx = null;
    this.micOn = false;
    this.stream = 0;  // current microphone stream id (0: none announced on this connection)
    this.nextStream = 1;
    this.seq = 0;
    this.meta = new Map();  // "turn:seq" -> speech message, until its audio frame arrives
    this.sentences = [];  // started sentences: {meta, start (audio clock s), end}
    this.stopped = new Set();  // turns cut by stop_audio: late frames are dropped
    this.playing = null;  // {turn, seq} of the sentence the worklet plays now
  }

  /** Audio context and both worklets; the context may start suspended without a gesture. */
  async open() {
    if (this.ctx) return;
    const ctx = new AudioContext({ latencyHint: "interactive" });
    this.ctx = ctx;
    await ctx.audioWorklet.addModule("capture-worklet.js");
    await ctx.audioWorklet.addModule("playback-worklet.js");
    this.player = new AudioWorkletNode(ctx, "bt-playback", { numberOfInputs: 0, outputChannelCount: [1] });
    this.player.connect(ctx.destination);
    this.player.port.onmessage = (ev) => this.playerEvent(ev.data);
    this.resume();
  }

  resume() { if (this.ctx && this.ctx.state === "suspended") this.ctx.resume(); }

  async startMic() {
    await this.open();
    this.resume();
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const source = this.ctx.createMediaStreamSource(this.media);
    this.capture = new AudioWorkletNode(this.ctx, "bt-capture", {
      processorOptions: { targetRate: TARGET_RATE, frameMs: FRAME_MS },
    });
    this.capture.port.onmessage = (ev) => this.micFrame(ev.data.pcm, ev.data.rms);
    // a silent sink keeps the graph pulling the capture node
    this.sink = new GainNode(this.ctx, { gain: 0 });
    source.connect(this.capture).connect(this.sink).connect(this.ctx.destination);
    this.source = source;
    this.micFrames = 0;
    this.micOn = true;
  }

  async stopMic() {
    this.micOn = false;
    if (this.capture) { this.capture.port.postMessage("stop"); this.capture.disconnect(); }
    if (this.source) this.source.disconnect();
    if (this.media) for (const track of this.media.getTracks()) track.stop();
    if (this.stream) this.link.send({ type: "audio_end", stream: this.stream });
    this.stream = 0;
  }

  micFrame(pcm, rms) {
    if (!this.micOn) return;
    this.level = rms;
    this.quietMs = rms < this.barge.barge_in_min_rms ? (this.quietMs || 0) + FRAME_MS : 0;
    if (this.stream && this.shouldRoll()) {
      this.link.send({ type: "audio_end", stream: this.stream });
      this.stream = 0;
    }
    if (!this.stream) {  // announce a stream first; queued with its frames until welcome
      this.stream = this.nextStream++;
      this.seq = 0;
      this.turnEnded = false;
      this.link.send({ type: "audio_start", stream: this.stream, sample_rate: TARGET_RATE,
                       channels: 1, encoding: "pcm16le" });
    }
    this.link.sendBinary(encodeFrame(KIND_AUDIO_IN, this.stream, this.seq++, pcm));
    this.onMicFrame(this.micFrames++, rms);
    this.listenOver(rms);
  }

  /**
   * The page's voice detector, frame by frame while an interruptible reply is heard: louder
   * than `barge_in_min_rms`, or than `barge_in_echo_gain` x the reply's own level if that is
   * higher (what leaks from the speaker into the microphone past echo cancellation), for
   * `barge_in_hold_ms` stops playback and mouth at once and tells the service what played.
   */
  listenOver(rms) {
    const o = this.barge;
    const heard = o.barge_in ? this.heardSentence() : null;
    if (!heard || !heard.meta.interruptible) { this.loudMs = 0; return; }
    const threshold = Math.max(o.barge_in_min_rms, o.barge_in_echo_gain * heard.rms);
    this.loudMs = rms > threshold ? this.loudMs + FRAME_MS : 0;
    if (this.loudMs < o.barge_in_hold_ms) return;
    this.loudMs = 0;
    this.stop(heard.meta.turn, "barge_in_page");
    this.onBargeIn({ turn: heard.meta.turn, seq: heard.meta.seq, rms, threshold,
                     t: Math.round(heard.t) });
  }

  /** Time for a new stream: this one is long, and no customer is in the middle of a turn. */
  shouldRoll() {
    const age = (this.seq * FRAME_MS) / 1000;
    return age >= HARD_ROLL_S
      || (age >= ROLL_AFTER_S && (this.turnEnded || this.quietMs >= QUIET_ROLL_MS));
  }

  /** The service ended a turn of this stream (its final transcript). */
  turnDone(stream) { if (stream === this.stream) this.turnEnded = true; }

  /** The connection dropped: the next microphone frame opens a new stream on the new one. */
  linkDown() {
    const old = this.stream;
    const announced = this.link.queue.some((x) => typeof x === "string"
      && x.includes('"type":"audio_start"') && x.includes(`"stream":${old},`));
    if (old && !announced) {
      // the service forgot this stream with the connection: its queued frames would only be
      // refused (unknown_stream) on the next one, so they go and a new stream starts
      this.link.queue = this.link.queue.filter((x) => typeof x === "string"
        || new DataView(x).getUint32(4, false) !== old);
      this.stream = 0;
    }
    this.stop(null, "connection lost", false);
  }

  speech(m) {
    if (this.stopped.has(m.turn)) return;
    this.meta.set(`${m.turn}:${m.seq}`, m);
  }

  frame(f) {
    if (f.kind !== KIND_AUDIO_OUT || !this.player || this.stopped.has(f.stream)) return;
    const key = `${f.stream}:${f.seq}`;
    const meta = this.meta.get(key);
    if (!meta) return;
    this.meta.delete(key);
    const data = new Float32Array(f.pcm.length);
    let energy = 0;
    for (let i = 0; i < data.length; i++) { data[i] = f.pcm[i] / 32768; energy += data[i] * data[i]; }
    const rms = data.length ? Math.sqrt(energy / data.length) : 0;  // the reply's own level
    this.player.port.postMessage({ type: "chunk", turn: meta.turn, seq: meta.seq, data,
                                   rate: meta.sample_rate, final: meta.final }, [data.buffer]);
    this.sentences.push({ meta, start: null, end: null, rms });
  }

  /** Stop playback and the mouth at once; the service hears what was actually played. */
  stop(turn, reason, tell = true) {
    if (turn != null) this.stopped.add(turn);
    this.meta.clear();
    this.sentences = [];
    this.stopReason = reason;
    this.tellStop = tell;
    if (this.player) this.player.port.postMessage({ type: "stop", turn });
  }

  playerEvent(ev) {
    const s = this.sentences.find((x) => x.meta.turn === ev.turn && x.meta.seq === ev.seq);
    if (ev.type === "started") {
      if (s) s.start = ev.at;
      this.link.send({ type: "playback_started", turn: ev.turn, seq: ev.seq });
    } else if (ev.type === "finished") {
      if (s) s.end = ev.at;
      this.link.send({ type: "playback_finished", turn: ev.turn, seq: ev.seq,
                       played_ms: ev.playedMs, final: !!ev.final });
    } else if (ev.type === "stopped" && ev.seq >= 0 && this.tellStop !== false) {
      this.link.send({ type: "playback_stopped", turn: ev.turn, seq: ev.seq,
                       played_ms: ev.playedMs, reason: this.stopReason || "stop_audio" });
    }
    this.onPlayback({ ...ev, meta: s ? s.meta : null });
  }

  /** Audio-clock time of the sample leaving the speaker now. */
  heardClock() {
    const ctx = this.ctx;
    return ctx.currentTime - (ctx.outputLatency || 0) - (ctx.baseLatency || 0);
  }

  /** The sentence being heard and how far into it (ms), from the audio clock. */
  heardSentence() {
    if (!this.ctx || !this.sentences.length) return null;
    const now = this.heardClock();
    let found = null;
    for (const s of this.sentences) {
      if (s.start == null || s.start > now) continue;
      const end = s.end ?? s.start + s.meta.duration_ms / 1000;
      if (now < end) found = s;
    }
    // forget sentences the speaker finished long ago
    while (this.sentences.length > 1 && this.sentences[0].end != null && this.sentences[0].end < now - 1) {
      this.sentences.shift();
    }
    return found ? { meta: found.meta, t: (now - found.start) * 1000, at: now, rms: found.rms }
      : null;
  }
}
