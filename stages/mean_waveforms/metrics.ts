/**
 * The module's waveform metrics (`calculate_waveform_metrics`, Jia et al. 2019; reference §1.7),
 * with its conventions kept:
 *
 * - 1-D metrics use the local-peak row of the 2-D mean (rows in channel_map order), resampled by
 *   FFT to int(samples * upsampling_factor) points over timestamps linspace(0, samples / fs);
 * - duration, halfwidth, PT_ratio and the two slopes follow numpy's first-occurrence argmin /
 *   argmax; halfwidth takes the *first* threshold crossing before the extremum and is NaN when
 *   there is none; slopes regress 20 upsampled points and are scaled by 1e-6 (µV/s to V/s);
 * - 2-D metrics use the non-upsampled 2-D mean at sites local_peak - site_range ... + site_range
 *   in steps of 2, kept only if 0 < site < rows (a strict > 0: row 0 never counts); sites above
 *   spread_threshold of the amplitude are filtered by a modified z-score (<= 1.5) of their
 *   positions in that list; trough times are read from the upsampled timestamps at the
 *   non-upsampled sample index, so velocities come out scaled by about samples / points.
 *
 * Where the module would crash (an all-NaN mean), the metrics are NaN instead.
 *
 * The 2-D mean's rows read here are numpy's float64 means (metricRows.ts), so where two samples'
 * exact means are equal, argmin and argmax see the same rounding numpy does.
 */
import { linregress } from '../../lib/numeric/linregress.js';
import { median } from '../../lib/numeric/median.js';
import { resampleFft } from '../../lib/numeric/resample.js';

export interface WaveformMetrics {
  snr: number;
  duration: number;
  halfwidth: number;
  PT_ratio: number;
  repolarization_slope: number;
  recovery_slope: number;
  amplitude: number;
  spread: number;
  velocity_above: number;
  velocity_below: number;
}

/** numpy's argmin: the first minimum, or the first NaN when there is one. */
export function argmin(w: ArrayLike<number>, from = 0, to = w.length): number {
  let best = from;
  for (let i = from; i < to; i++) {
    if (Number.isNaN(w[i])) return i;
    if (w[i] < w[best]) best = i;
  }
  return best;
}

/** numpy's argmax: the first maximum, or the first NaN when there is one. */
export function argmax(w: ArrayLike<number>, from = 0, to = w.length): number {
  let best = from;
  for (let i = from; i < to; i++) {
    if (Number.isNaN(w[i])) return i;
    if (w[i] > w[best]) best = i;
  }
  return best;
}

/** numpy.linspace(start, stop, num): i * step + start, the last point exactly `stop`. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** Time (ms) from the dominant extremum to the opposite extremum after it. */
export function waveformDuration(w: ArrayLike<number>, ts: ArrayLike<number>): number {
  const trough = argmin(w), peak = argmax(w);
  const from = w[peak] > Math.abs(w[trough]) ? peak : trough;
  const after = from === peak ? argmin(w, from) : argmax(w, from);
  // The module locates that value with ==, which never matches NaN (and then fails).
  if (Number.isNaN(w[after])) return NaN;
  return (ts[after] - ts[from]) * 1e3;
}

/** Width (ms) at half the dominant extremum: first crossing before it to first after it. */
export function waveformHalfwidth(w: ArrayLike<number>, ts: ArrayLike<number>): number {
  const trough = argmin(w), peak = argmax(w);
  const usePeak = w[peak] > Math.abs(w[trough]);
  const at = usePeak ? peak : trough;
  const threshold = w[at] * 0.5;
  const beyond = (v: number) => (usePeak ? v > threshold : v < threshold);
  let c1 = -1;
  for (let i = 0; i < at; i++) if (beyond(w[i])) { c1 = i; break; }
  let c2 = -1;
  for (let i = at; i < w.length; i++) if (usePeak ? w[i] < threshold : w[i] > threshold) { c2 = i; break; }
  if (c1 < 0 || c2 < 0) return NaN;
  return (ts[c2] - ts[c1]) * 1e3;
}

export function waveformPtRatio(w: ArrayLike<number>): number {
  return Math.abs(w[argmax(w)] / w[argmin(w)]);
}

/** The waveform turned so its largest deflection is negative, and that deflection's index. */
function flipped(w: ArrayLike<number>): { v: Float64Array; maxPoint: number } {
  const abs = Float64Array.from(w as ArrayLike<number>, Math.abs);
  const maxPoint = argmax(abs);
  const sign = Math.sign(w[maxPoint]);
  return { v: Float64Array.from(w as ArrayLike<number>, (x) => -x * sign), maxPoint };
}

function slopeOver(ts: ArrayLike<number>, v: Float64Array, from: number, window: number): number {
  const to = Math.min(v.length, from + window);
  const x = Array.prototype.slice.call(ts, from, to) as number[];
  return linregress(x, v.subarray(from, to)).slope * 1e-6;
}

/** Slope (V/s) of the return from the largest deflection, over `window` points. */
export function repolarizationSlope(w: ArrayLike<number>, ts: ArrayLike<number>, window = 20): number {
  const { v, maxPoint } = flipped(w);
  return slopeOver(ts, v, maxPoint, window);
}

/** Slope (V/s) after the repolarisation peak, over `window` points. */
export function recoverySlope(w: ArrayLike<number>, ts: ArrayLike<number>, window = 20): number {
  const { v, maxPoint } = flipped(w);
  return slopeOver(ts, v, argmax(v, maxPoint), window);
}

/** Modified z-score filter (Iglewicz and Hoaglin): true where 0.6745 |x - med| / MAD <= thresh. */
export function isNotOutlier(points: ArrayLike<number>, thresh = 1.5): boolean[] {
  const med = median(points);
  const diff = Array.from(points as ArrayLike<number>, (p) => Math.abs(p - med));
  const mad = median(diff);
  // 0/0 is NaN, which fails the comparison, as in numpy.
  return diff.map((d) => (0.6745 * d) / mad <= thresh);
}

export interface Features2d { amplitude: number; spread: number; velocity_above: number; velocity_below: number }

/**
 * Amplitude, spread and velocities of a 2-D mean (rows x samples, channel_map order) around
 * row `localPeak`; `timestamps` is the upsampled time base (see the header comment).
 */
export function features2d(
  mean2d: Float64Array, rows: number, samples: number, timestamps: ArrayLike<number>, localPeak: number,
  spreadThreshold: number, siteRange: number, siteSpacingM: number,
): Features2d {
  const sites: number[] = [];
  for (let d = -siteRange; d <= siteRange; d += 2) {
    const s = localPeak + d;
    if (s > 0 && s < rows) sites.push(s);
  }
  if (sites.length === 0) return { amplitude: NaN, spread: 0, velocity_above: NaN, velocity_below: NaN };
  const troughIdx = sites.map((s) => argmin(mean2d.subarray(s * samples, (s + 1) * samples)));
  const overall = sites.map((s, i) => {
    const row = mean2d.subarray(s * samples, (s + 1) * samples);
    // numpy's max and min propagate NaN.
    return row[argmax(row)] - row[troughIdx[i]];
  });
  const maxChan = argmax(overall);
  const amplitude = overall[maxChan];
  let points = overall.map((a, i) => (a > amplitude * spreadThreshold ? i : -1)).filter((i) => i >= 0);
  if (points.length > 1) {
    const keep = isNotOutlier(points);
    points = points.filter((_, i) => keep[i]);
  }
  const spread = points.length * siteSpacingM * 1e6;
  const channels = points.map((i) => sites[i] - localPeak);
  const t0 = timestamps[troughIdx[maxChan]];
  const times = points.map((i) => timestamps[troughIdx[i]] - t0);
  const velocity = (keep: (c: number) => boolean) => {
    const xs: number[] = [], ys: number[] = [];
    channels.forEach((c, i) => { if (keep(c)) { xs.push(c); ys.push(times[i]); } });
    return xs.length > 1 ? linregress(xs, ys).slope / siteSpacingM : NaN;
  };
  return { amplitude, spread, velocity_above: velocity((c) => c >= 0), velocity_below: velocity((c) => c <= 0) };
}

/**
 * SNR (Nordhausen et al. 1996; Suner et al. 2005) from per-sample sums over n snippets of the
 * peak channel, in counts: A / (2 * std of every snippet's deviation from the mean), both in µV.
 */
export function snrFromSums(sum: ArrayLike<number>, sumSq: ArrayLike<number>, n: number, bitVolts: number): number {
  if (n === 0) return NaN;
  const S = sum.length;
  let hi = -Infinity, lo = Infinity, ss = 0;
  for (let j = 0; j < S; j++) {
    const m = sum[j] / n;
    if (m > hi) hi = m;
    if (m < lo) lo = m;
    // n * sumSq - sum^2 is an exact integer for the counts involved; divided once at the end.
    ss += n * sumSq[j] - sum[j] * sum[j];
  }
  const variance = ss / (n * n * S);
  const A = (hi - lo) * bitVolts;
  return A / (2 * Math.sqrt(Math.max(0, variance)) * bitVolts);
}

export interface MetricInputs {
  /** 2-D mean in µV, rows in channel_map order, not baseline-corrected. */
  mean2d: Float64Array;
  rows: number;
  samples: number;
  localPeak: number;
  snr: number;
  sampleRateHz: number;
  upsamplingFactor: number;
  spreadThreshold: number;
  siteRange: number;
  siteSpacingM: number;
}

export function upsampledCount(samples: number, factor: number): number {
  return Math.trunc(samples * factor);
}

export function waveformMetrics(m: MetricInputs): WaveformMetrics {
  const n = upsampledCount(m.samples, m.upsamplingFactor);
  const timestamps = linspace(0, m.samples / m.sampleRateHz, n);
  const row = m.mean2d.subarray(m.localPeak * m.samples, (m.localPeak + 1) * m.samples);
  const w = resampleFft(row, n);
  const f2 = features2d(m.mean2d, m.rows, m.samples, timestamps, m.localPeak, m.spreadThreshold, m.siteRange, m.siteSpacingM);
  return {
    snr: m.snr,
    duration: waveformDuration(w, timestamps),
    halfwidth: waveformHalfwidth(w, timestamps),
    PT_ratio: waveformPtRatio(w),
    repolarization_slope: repolarizationSlope(w, timestamps),
    recovery_slope: recoverySlope(w, timestamps),
    ...f2,
  };
}
