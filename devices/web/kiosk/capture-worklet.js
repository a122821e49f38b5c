// Microphone capture on the audio thread: downmix to mono, low-pass, resample to 16 kHz with
// state carried across 128-sample blocks (44.1 kHz gives a fractional ratio), post PCM16 frames.

const TAPS = 63;

/** Windowed-sinc low-pass (Blackman), unity gain at DC; cutoff in cycles per input sample. */
function lowPass(cutoff) {
  const h = new Float32Array(TAPS);
  const m = (TAPS - 1) / 2;
  let sum = 0;
  for (let i = 0; i < TAPS; i++) {
    const x = i - m;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (TAPS - 1))
      + 0.08 * Math.cos((4 * Math.PI * i) / (TAPS - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < TAPS; i++) h[i] /= sum;
  return h;
}

class Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.outRate = o.targetRate || 16000;
    this.step = sampleRate / this.outRate;  // input samples per output sample (2.75625 at 44.1k)
    this.frame = Math.round((this.outRate * (o.frameMs || 40)) / 1000);
    // pass band to 0.45 of the output rate: nothing above 8 kHz folds back into speech
    this.h = this.step > 1 ? lowPass((0.45 * this.outRate) / sampleRate) : null;
    this.hist = new Float32Array(TAPS - 1);  // the filter's last inputs from earlier blocks
    this.pos = 0;  // where the next output sample falls, in filtered samples of this block
    this.prev = 0;  // last filtered sample of the previous block (index -1)
    this.out = new Int16Array(this.frame);
    this.fill = 0;
    this.energy = 0;
    this.running = true;
    this.port.onmessage = (ev) => { if (ev.data === "stop") this.running = false; };
  }

  process(inputs) {
    const input = inputs[0];
    if (!this.running) return false;
    if (!input || input.length === 0 || input[0].length === 0) return true;
    const n = input[0].length;
    const mono = new Float32Array(n);
    for (const channel of input) for (let i = 0; i < n; i++) mono[i] += channel[i] / input.length;
    const y = this.h ? this.filter(mono) : mono;
    for (; this.pos < n - 1; this.pos += this.step) {
      const i = Math.floor(this.pos);
      const f = this.pos - i;
      const a = i < 0 ? this.prev : y[i];
      this.push(a + (y[i + 1] - a) * f);
    }
    this.pos -= n;
    this.prev = y[n - 1];
    return true;
  }

  filter(x) {
    const hist = this.hist, h = this.h, k = TAPS - 1, n = x.length;
    const ext = new Float32Array(k + n);
    ext.set(hist); ext.set(x, k);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < TAPS; j++) acc += h[j] * ext[i + j];
      y[i] = acc;
    }
    this.hist = ext.slice(n);
    return y;
  }

  push(v) {
    const s = Math.max(-1, Math.min(1, v));
    this.energy += s * s;
    this.out[this.fill++] = s < 0 ? s * 32768 : s * 32767;
    if (this.fill === this.frame) {
      const rms = Math.sqrt(this.energy / this.frame);
      this.port.postMessage({ pcm: this.out, rms }, [this.out.buffer]);
      this.out = new Int16Array(this.frame);
      this.fill = 0;
      this.energy = 0;
    }
  }
}

registerProcessor("bt-capture", Capture);
