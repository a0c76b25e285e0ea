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
  const L = block.length;
  const lo = Math.max(1, opts.coreFrom - opts.dedupSamples - block.first);
  const hi = Math.min(L - 1, opts.coreTo + opts.dedupSamples - block.first);
  const ct: number[] = [], cc: number[] = [], cv: number[] = [], co: number[] = [];
  for (let c = 0; c < opts.numChannels; c++) {
    const thr = -opts.threshold[c];
    if (!Number.isFinite(thr)) continue;
    const x = block.smooth.subarray(c * block.stride, c * block.stride + L);
    for (let t = lo; t < hi; t++) {
      const v = x[t];
      if (v < thr && v <= x[t - 1] && v < x[t + 1]) {
        const curvature = x[t - 1] - 2 * v + x[t + 1];
        ct.push(t + block.first); cc.push(c); cv.push(v);
        co.push(curvature > 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (x[t - 1] - x[t + 1])) / curvature)) : 0);
      }
    }
  }
  // Sort crossings by time, then channel, so the window scan below sees them in order.
  const order = ct.map((_, i) => i).sort((a, b) => ct[a] - ct[b] || cc[a] - cc[b]);
  const t = Float64Array.from(order, (i) => ct[i]);
  const c = Int32Array.from(order, (i) => cc[i]);
  const v = Float32Array.from(order, (i) => cv[i]);
  const o = Float32Array.from(order, (i) => co[i]);
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
