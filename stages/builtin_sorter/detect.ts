/**
 * Spike detection on one block: threshold crossings of the smoothed signal that are a local
 * minimum in time, kept only if no other crossing within the dedup window and channel radius is
 * deeper (a spatio-temporal local minimum). Each kept event is its spike's trough on its peak
 * channel. Whether an event is kept depends only on crossings within its window, so the result
 * does not depend on where chunks are cut, provided the block extends `dedupSamples + 1` beyond
 * the core range on each side.
 */
import type { Block } from './block.js';

export interface DetectOptions {
  /** Per channel: a sample is a crossing below -threshold[c] (Infinity: never a peak channel). */
  threshold: Float32Array;
  dedupSamples: number;
  dedupRadius: number;
  numChannels: number;
  /** Events kept have coreFrom <= time < coreTo. */
  coreFrom: number;
  coreTo: number;
}

export interface Events {
  times: Float64Array;
  channels: Int32Array;
  /** Smoothed value at the trough, counts (negative). */
  values: Float32Array;
  /**
   * Where between samples the trough lies, from a parabola through the three samples around it
   * (-0.5..0.5). Spikes of one unit whose minimum falls on either of two samples would otherwise
   * give two clusters: a one-sample shift of a large spike moves its features a lot.
   */
  offsets: Float32Array;
}

export function detectEvents(block: Block, opts: DetectOptions): Events {
  const L = block.length, C = block.channels, x = block.smooth;
  const lo = Math.max(1, opts.coreFrom - opts.dedupSamples - block.first);
  const hi = Math.min(L - 1, opts.coreTo + opts.dedupSamples - block.first);
  const ct: number[] = [], cc: number[] = [], cv: number[] = [], co: number[] = [];
  const level = Float32Array.from(opts.threshold, (v) => -v);
  // Row by row, as the block is stored; crossings come out in time order, then channel order.
  for (let t = lo; t < hi; t++) {
    const row = t * C;
    for (let c = 0; c < C; c++) {
      const v = x[row + c];
      if (!(v < level[c])) continue;
      const before = x[row - C + c], after = x[row + C + c];
      if (v <= before && v < after) {
        const curvature = before - 2 * v + after;
        ct.push(t + block.first); cc.push(c); cv.push(v);
        co.push(curvature > 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (before - after)) / curvature)) : 0);
      }
    }
  }
  const t = Float64Array.from(ct), c = Int32Array.from(cc), v = Float32Array.from(cv), o = Float32Array.from(co);
  const keepT: number[] = [], keepC: number[] = [], keepV: number[] = [], keepO: number[] = [];
  let start = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] < opts.coreFrom || t[i] >= opts.coreTo) continue;
    while (t[start] < t[i] - opts.dedupSamples) start++;
    let isPeak = true;
    for (let j = start; j < t.length && t[j] <= t[i] + opts.dedupSamples; j++) {
      if (j === i || Math.abs(c[j] - c[i]) > opts.dedupRadius) continue;
      // Deeper wins; an exact tie goes to the earlier (then lower-channel) crossing.
      if (v[j] < v[i] || (v[j] === v[i] && j < i)) { isPeak = false; break; }
    }
    if (isPeak) { keepT.push(t[i]); keepC.push(c[i]); keepV.push(v[i]); keepO.push(o[i]); }
  }
  return { times: Float64Array.from(keepT), channels: Int32Array.from(keepC), values: Float32Array.from(keepV), offsets: Float32Array.from(keepO) };
}
