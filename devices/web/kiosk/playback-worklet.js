// Reply playback on the audio thread: a queue of PCM sentences, each upsampled to the context
// rate as it plays. Reports the exact audio frame at which each sentence starts, when it ends,
// and how much had played when `stop` cleared the queue.

class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];  // {turn, seq, data: Float32Array, rate, pos}
    this.port.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === "chunk") {
        this.queue.push({ turn: m.turn, seq: m.seq, data: m.data, rate: m.rate, pos: 0,
                          final: !!m.final, started: false });
      } else if (m.type === "stop") {
        const now = this.queue[0];
        if (now && now.started) {
          this.port.postMessage({ type: "stopped", turn: now.turn, seq: now.seq,
                                  playedMs: Math.round((now.pos / now.rate) * 1000) });
        } else {
          this.port.postMessage({ type: "stopped", turn: m.turn ?? -1, seq: -1, playedMs: 0 });
        }
        this.queue = [];
      }
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    for (let i = 0; i < n; i++) {
      let v = 0;
      while (this.queue.length) {
        const c = this.queue[0];
        if (!c.started) {
          c.started = true;
          // currentFrame + i is when this sample leaves the graph; the page adds output latency
          this.port.postMessage({ type: "started", turn: c.turn, seq: c.seq,
                                  at: (currentFrame + i) / sampleRate });
        }
        const x = c.pos;
        const j = Math.floor(x);
        if (j >= c.data.length - 1) {
          if (j < c.data.length) v = c.data[j];
          this.queue.shift();
          this.port.postMessage({ type: "finished", turn: c.turn, seq: c.seq, final: c.final,
                                  playedMs: Math.round((c.data.length / c.rate) * 1000),
                                  at: (currentFrame + i) / sampleRate });
          if (j < c.data.length) break;
          continue;
        }
        v = c.data[j] + (c.data[j + 1] - c.data[j]) * (x - j);
        c.pos += c.rate / sampleRate;
        break;
      }
      for (const channel of out) channel[i] = v;
    }
    return true;
  }
}

registerProcessor("bt-playback", Playback);
