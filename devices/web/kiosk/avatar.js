// The digital human: an SVG face whose mouth takes the shape of the viseme being heard.
// It blinks, breathes a little when idle, and smiles or looks concerned per sentence.

const NS = "http://www.w3.org/2000/svg";

// viseme id (0 sil, 1 PP, 2 FF, 3 TH, 4 DD, 5 kk, 6 CH, 7 SS, 8 nn, 9 RR, 10 aa, 11 E,
// 12 ih, 13 oh, 14 ou) -> [opening, width, rounding], each 0..1
export const SHAPES = [
  [0.0, 0.5, 0.0], [0.0, 0.42, 0.1], [0.12, 0.55, 0.0], [0.22, 0.55, 0.0], [0.3, 0.55, 0.0],
  [0.38, 0.5, 0.0], [0.32, 0.4, 0.5], [0.16, 0.66, 0.0], [0.26, 0.5, 0.0], [0.32, 0.42, 0.4],
  [0.9, 0.6, 0.0], [0.6, 0.7, 0.0], [0.45, 0.72, 0.0], [0.72, 0.4, 0.7], [0.5, 0.3, 0.9],
];

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

export class Face {
  constructor(container) {
    const svg = el("svg", { viewBox: "0 0 200 240", role: "img", class: "face" });
    const title = el("title", {}, svg);
    title.textContent = "数字柜员 / Digital teller";
    el("ellipse", { cx: 100, cy: 250, rx: 92, ry: 60, class: "shoulders" }, svg);
    el("rect", { x: 84, y: 170, width: 32, height: 34, rx: 8, class: "skin" }, svg);
    el("path", { d: "M30 105 Q30 20 100 20 Q170 20 170 105 L170 130 L30 130 Z", class: "hair" }, svg);
    el("ellipse", { cx: 100, cy: 115, rx: 58, ry: 72, class: "skin" }, svg);
    el("path", { d: "M42 90 Q60 40 100 42 Q140 40 158 90 Q140 62 100 62 Q60 62 42 90 Z", class: "hair" }, svg);
    this.browL = el("path", { class: "brow" }, svg);
    this.browR = el("path", { class: "brow" }, svg);
    this.eyes = [el("ellipse", { cx: 78, cy: 108, rx: 7, ry: 7, class: "eye" }, svg),
                 el("ellipse", { cx: 122, cy: 108, rx: 7, ry: 7, class: "eye" }, svg)];
    el("path", { d: "M100 112 Q95 135 100 140 Q104 141 107 138", class: "nose" }, svg);
    this.mouth = el("path", { class: "mouth" }, svg);
    this.teeth = el("path", { class: "teeth" }, svg);
    container.appendChild(svg);
    this.svg = svg;
    this.shape = [0, 0.5, 0];  // rendered [open, width, round], eased toward the target
    this.expression = "neutral";
    this.nextBlink = performance.now() + 2500;
    this.blinkUntil = 0;
    this.drawBrows();
    this.draw();
  }

  setExpression(name) {
    if (name === this.expression) return;
    this.expression = name;
    this.drawBrows();
  }

  drawBrows() {
    // concerned: the inner ends rise and the outer ends drop (raised inner ends read as
    // worry; lowered inner ends would read as anger); smiling lifts them a little evenly
    const lift = this.expression === "concerned" ? 5 : this.expression === "smile" ? -2 : 0;
    const outer = this.expression === "smile" ? 90 : 92 + Math.max(lift, 0) / 2;
    this.browL.setAttribute("d", `M66 ${outer} Q78 ${86 - Math.max(lift, 0) / 2} 90 ${90 - lift}`);
    this.browR.setAttribute("d", `M110 ${90 - lift} Q122 ${86 - Math.max(lift, 0) / 2} 134 ${outer}`);
  }

  /** Move toward the shape of `viseme` (null: rest); `dt` seconds since the last frame. */
  update(viseme, dt, now) {
    const target = viseme == null ? [0, 0.5, 0] : SHAPES[viseme] || SHAPES[0];
    const k = Math.min(1, dt / 0.045);  // ~45 ms to reach a shape: lips never lag a syllable
    for (let i = 0; i < 3; i++) this.shape[i] += (target[i] - this.shape[i]) * k;
    if (viseme === 0 || viseme === 1 || viseme == null) this.shape[0] *= 1 - k;
    if (now >= this.nextBlink) {
      this.blinkUntil = now + 130;
      this.nextBlink = now + 2500 + Math.random() * 3500;
    }
    const closed = now < this.blinkUntil;
    for (const eye of this.eyes) eye.setAttribute("ry", closed ? "1" : "7");
    const breathe = viseme == null ? Math.sin(now / 900) * 0.8 : 0;
    this.svg.style.transform = `translateY(${breathe.toFixed(2)}px)`;
    this.draw();
  }

  /** How open the rendered mouth is (0..1), read back by the test hook. */
  opening() { return this.shape[0]; }

  draw() {
    const [open, width, round] = this.shape;
    const cx = 100, cy = 158;
    const w = 14 + 14 * width - 6 * round;
    const h = 20 * open;
    const corner = this.expression === "smile" ? -3 : this.expression === "concerned" ? 2.5 : 0;
    const top = cy - 1 - h * 0.35;
    const bottom = cy + 1 + h;
    this.mouth.setAttribute("d",
      `M${cx - w} ${cy + corner} Q${cx} ${top - 3} ${cx + w} ${cy + corner} `
      + `Q${cx} ${bottom + 3} ${cx - w} ${cy + corner} Z`);
    this.mouth.dataset.open = open.toFixed(3);
    const teeth = h > 6 ? `M${cx - w * 0.6} ${top + 1} Q${cx} ${top - 1} ${cx + w * 0.6} ${top + 1} `
      + `L${cx + w * 0.55} ${top + 3.5} Q${cx} ${top + 2} ${cx - w * 0.55} ${top + 3.5} Z` : "";
    this.teeth.setAttribute("d", teeth);
  }
}
