/**
 * Just enough raster drawing for a stage's diagnostic figure: an RGB canvas, lines (solid and
 * dashed), rectangles, images through a colour map, axes with numeric tick labels, and a
 * 3x5-pixel font (scaled up) for digits, a few signs and lower-case letters. Encode the result
 * with `encodePng` from lib/formats/png.ts.
 */
import { encodePng } from './png.js';

export type Rgb = readonly [number, number, number];

export const colors = {
  white: [255, 255, 255] as Rgb,
  black: [0, 0, 0] as Rgb,
  gray: [160, 160, 160] as Rgb,
  red: [214, 39, 40] as Rgb,
  blue: [31, 119, 180] as Rgb, // matplotlib's first line colour
};

// Matplotlib's viridis sampled at nine evenly spaced points; linear interpolation between
// them is visually indistinguishable at figure size.
const viridisStops: Rgb[] = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** Colour of t in [0, 1] (clamped) on viridis; NaN is drawn white, as matplotlib leaves it blank. */
export function viridis(t: number): Rgb {
  if (Number.isNaN(t)) return colors.white;
  const x = Math.min(1, Math.max(0, t)) * (viridisStops.length - 1);
  const i = Math.min(viridisStops.length - 2, Math.floor(x));
  const f = x - i;
  const a = viridisStops[i], b = viridisStops[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

// 3x5 glyphs, rows top to bottom, bit 2 = left column.
const glyphs: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1], '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 1, 1],
  '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7], '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0],
  '+': [0, 2, 7, 2, 0], ':': [0, 2, 0, 2, 0], ' ': [0, 0, 0, 0, 0], '=': [0, 7, 0, 7, 0],
  a: [0, 7, 1, 7, 7], b: [4, 4, 7, 5, 7], c: [0, 7, 4, 4, 7], d: [1, 1, 7, 5, 7],
  e: [7, 5, 7, 4, 7], f: [3, 4, 6, 4, 4], g: [7, 5, 7, 1, 7], h: [4, 4, 7, 5, 5],
  i: [2, 0, 2, 2, 2], k: [4, 5, 6, 5, 5], l: [6, 2, 2, 2, 7], m: [0, 7, 7, 5, 5],
  n: [0, 6, 5, 5, 5], o: [0, 7, 5, 5, 7], p: [7, 5, 7, 4, 4], q: [7, 5, 7, 1, 1],
  r: [0, 7, 4, 4, 4], s: [0, 7, 6, 1, 7], t: [4, 7, 4, 4, 3], u: [0, 5, 5, 5, 7],
  v: [0, 5, 5, 5, 2], w: [0, 5, 5, 7, 7], x: [0, 5, 2, 2, 5], y: [5, 5, 7, 1, 7],
  z: [0, 7, 1, 4, 7], '(': [1, 2, 2, 2, 1], ')': [4, 2, 2, 2, 4], '/': [1, 1, 2, 4, 4],
};

export class Raster {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb = colors.white) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(c, (y * this.width + x) * 3);
  }

  fillRect(x0: number, y0: number, w: number, h: number, c: Rgb): void {
    for (let y = Math.round(y0); y < Math.round(y0 + h); y++) for (let x = Math.round(x0); x < Math.round(x0 + w); x++) this.set(x, y, c);
  }

  /** A line of `width` pixels; `dash` = [on, off] lengths in pixels for a dashed line. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, width = 1, dash?: [number, number]): void {
    stroke(x0, y0, x1, y1, width, dash, (x, y) => this.set(x, y, c));
  }

  /** Text with its top-left corner at (x, y); `scale` multiplies the 3x5 glyphs. Returns its width. */
  text(x: number, y: number, s: string, c: Rgb = colors.black, scale = 2): number {
    let cx = x;
    for (const ch of s) {
      const g = glyphs[ch] ?? glyphs[ch.toLowerCase()] ?? glyphs[' '];
      for (let row = 0; row < 5; row++) {
        for (let col = 0; col < 3; col++) {
          if (g[row] & (4 >> col)) this.fillRect(cx + col * scale, y + row * scale, scale, scale, c);
        }
      }
      cx += 4 * scale;
    }
    return cx - x - scale;
  }

  static textWidth(s: string, scale = 2): number {
    return s.length ? [...s].length * 4 * scale - scale : 0;
  }

  toPng(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  // Multiples of the step computed afresh (not accumulated) and rounded, so labels read 0.05, not 0.04999.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)) || 0);
  return ticks;
}

function tickLabel(v: number): string {
  const r = Number(v.toPrecision(6));
  return Math.abs(r) >= 1e5 || (r !== 0 && Math.abs(r) < 1e-3) ? r.toExponential(1) : String(r);
}

/** A plotting area inside a Raster that maps data coordinates to pixels and draws its axes. */
export class Axes {
  constructor(
    readonly r: Raster,
    readonly x: number, readonly y: number, readonly w: number, readonly h: number,
    public xmin: number, public xmax: number, public ymin: number, public ymax: number,
  ) {}

  px(xv: number): number { return this.x + ((xv - this.xmin) / (this.xmax - this.xmin || 1)) * (this.w - 1); }
  py(yv: number): number { return this.y + this.h - 1 - ((yv - this.ymin) / (this.ymax - this.ymin || 1)) * (this.h - 1); }

  private inside(px: number, py: number): boolean {
    return px >= this.x && px <= this.x + this.w - 1 && py >= this.y && py <= this.y + this.h - 1;
  }

  /** A polyline through (i + x0, ys[i]), broken at non-finite values and clipped to the axes. */
  plot(ys: ArrayLike<number>, c: Rgb, width = 2, x0 = 0): void {
    for (let i = 1; i < ys.length; i++) {
      const a = ys[i - 1], b = ys[i];
      if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
      this.segment(i - 1 + x0, a, i + x0, b, c, width);
    }
  }

  /** A data-space segment, clipped to the axes pixel by pixel. */
  segment(xa: number, ya: number, xb: number, yb: number, c: Rgb, width = 1, dash?: [number, number]): void {
    stroke(this.px(xa), this.py(ya), this.px(xb), this.py(yb), width, dash, (x, y) => {
      if (this.inside(Math.round(x), Math.round(y))) this.r.set(x, y, c);
    });
  }


  /**
   * An image of rows x cols values filling the axes, row 0 at the top (imshow's default
   * origin), coloured on viridis between vmin and vmax.
   */
  image(values: ArrayLike<number>, rows: number, cols: number, vmin: number, vmax: number): void {
    const span = vmax - vmin || 1;
    for (let py = 0; py < this.h; py++) {
      const row = Math.min(rows - 1, Math.floor((py / this.h) * rows));
      for (let px = 0; px < this.w; px++) {
        const col = Math.min(cols - 1, Math.floor((px / this.w) * cols));
        this.r.set(this.x + px, this.y + py, viridis((values[row * cols + col] - vmin) / span));
      }
    }
  }

  /** Frame, ticks and numeric tick labels (x below, y to the left). */
  frame(xTicks = niceTicks(this.xmin, this.xmax), yTicks = niceTicks(this.ymin, this.ymax), scale = 2): void {
    const { r } = this;
    const right = this.x + this.w - 1, bottom = this.y + this.h - 1;
    r.line(this.x - 1, this.y - 1, right + 1, this.y - 1, colors.black);
    r.line(this.x - 1, bottom + 1, right + 1, bottom + 1, colors.black);
    r.line(this.x - 1, this.y - 1, this.x - 1, bottom + 1, colors.black);
    r.line(right + 1, this.y - 1, right + 1, bottom + 1, colors.black);
    for (const t of xTicks) {
      const px = Math.round(this.px(t));
      if (px < this.x - 1 || px > right + 1) continue;
      r.line(px, bottom + 1, px, bottom + 5, colors.black);
      const label = tickLabel(t);
      r.text(px - Raster.textWidth(label, scale) / 2, bottom + 8, label, colors.black, scale);
    }
    for (const t of yTicks) {
      const py = Math.round(this.py(t));
      if (py < this.y - 1 || py > bottom + 1) continue;
      r.line(this.x - 5, py, this.x - 1, py, colors.black);
      const label = tickLabel(t);
      r.text(this.x - 8 - Raster.textWidth(label, scale), py - 2.5 * scale, label, colors.black, scale);
    }
  }
}

/** Pixels along a segment, `width` wide, with optional [on, off] dashes: shared by every line drawn. */
function stroke(x0: number, y0: number, x1: number, y1: number, width: number, dash: [number, number] | undefined, plot: (x: number, y: number) => void): void {
  const len = Math.hypot(x1 - x0, y1 - y0);
  const steps = Math.max(1, Math.ceil(len * 2));
  const half = (width - 1) / 2;
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    if (dash && (t * len) % (dash[0] + dash[1]) >= dash[0]) continue;
    const x = x0 + (x1 - x0) * t, y = y0 + (y1 - y0) * t;
    for (let dy = -half; dy <= half; dy++) for (let dx = -half; dx <= half; dx++) plot(x + dx, y + dy);
  }
}
