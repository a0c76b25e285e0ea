/**
 * Per-channel levels measured on a few windows spread over the recording, as depth_estimation
 * measures offsets (a value per window, then the median over windows), so memory stays one window:
 * the DC level (median), the robust noise (median |x - dc| / 0.6745, which spikes barely move) of
 * the raw and of the smoothed signal, and whether the channel is digital (a sync line takes two
 * values, it is not a voltage).
 */
import { medianInPlace } from '../../lib/numeric/median.js';
import { readRows, smoothRows } from './block.js';

export interface ChannelLevels {
  dc: Float32Array;
  noiseRaw: Float32Array;
  noiseSmooth: Float32Array;
  digital: boolean[];
  /** Sample ranges measured, for the output JSON. */
  windows: Array<[number, number]>;
}

export interface LevelSource {
  fd: number;
  path: string;
  numChannels: number;
  totalSamples: number;
  kernel: Float32Array;
}

export function windowStarts(totalSamples: number, count: number, length: number): number[] {
  if (totalSamples <= length) return [0];
  const n = Math.max(1, Math.min(count, Math.floor(totalSamples / length)));
  if (n === 1) return [Math.floor((totalSamples - length) / 2)];
  return Array.from({ length: n }, (_, i) => Math.floor((i * (totalSamples - length)) / (n - 1)));
}

/**
 * Median of values on a grid of step 1 (|int16 - dc|), interpolated within the median's grid cell
 * as for grouped data: with noise of a few counts the plain median jumps by whole counts (3 vs 4
 * is a 30% change of the noise level); the interpolated one moves smoothly.
 */
function gridMedian(values: Float32Array): number {
  const m = medianInPlace(values);
  let below = 0, at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < m - 0.25) below++;
    else if (v <= m + 0.25) at++;
  }
  return at > 0 ? m - 0.5 + (values.length / 2 - below) / at : m;
}

export function measureLevels(src: LevelSource, windowCount: number, windowSamples: number): ChannelLevels {
  const C = src.numChannels;
  const length = Math.max(1, Math.min(windowSamples, src.totalSamples));
  const starts = src.totalSamples === 0 ? [] : windowStarts(src.totalSamples, windowCount, length);
  const W = starts.length;
  const dcW = Array.from({ length: C }, () => new Float64Array(W));
  const rawW = Array.from({ length: C }, () => new Float64Array(W));
  const smoothW = Array.from({ length: C }, () => new Float64Array(W));
  const seen = Array.from({ length: C }, () => new Set<number>());
  const taps = src.kernel.length;
  const column = new Float32Array(length);
  const work = new Float32Array(length);
  const centred = new Float32Array(length);
  starts.forEach((first, w) => {
    const rows = readRows({ ...src, dc: new Float32Array(C) }, first, length);
    // Row-major to channel-major in one sequential sweep; reading a column straight from the
    // rows would touch a new cache line per sample.
    const cols = new Float32Array(C * length);
    for (let t = 0; t < length; t++) for (let c = 0; c < C; c++) cols[c * length + t] = rows[t * C + c];
    for (let c = 0; c < C; c++) {
      column.set(cols.subarray(c * length, (c + 1) * length));
      if (seen[c].size <= 2) for (let t = 0; t < length && seen[c].size <= 2; t++) seen[c].add(column[t]);
      work.set(column);
      const dc = medianInPlace(work);
      dcW[c][w] = dc;
      for (let t = 0; t < length; t++) work[t] = Math.abs(column[t] - dc);
      rawW[c][w] = gridMedian(work) / 0.6745;
      // The smoothed window where the kernel fits inside it (an estimate, edges are not needed).
      const half = (taps - 1) >> 1;
      for (let t = 0; t < length; t++) centred[t] = column[t] - dc;
      const from = Math.min(half, length - 1), to = Math.max(from + 1, length - half);
      if (length >= taps) smoothRows(centred, 1, from, to, src.kernel, work);
      else work.set(centred);
      const inner = work.subarray(from, to);
      for (let t = 0; t < inner.length; t++) inner[t] = Math.abs(inner[t]);
      smoothW[c][w] = medianInPlace(inner) / 0.6745;
    }
  });
  return {
    dc: Float32Array.from(dcW, (v) => medianInPlace(v)),
    noiseRaw: Float32Array.from(rawW, (v) => medianInPlace(v)),
    noiseSmooth: Float32Array.from(smoothW, (v) => medianInPlace(v)),
    digital: seen.map((s) => s.size === 2),
    windows: starts.map((s) => [s, s + length]),
  };
}
