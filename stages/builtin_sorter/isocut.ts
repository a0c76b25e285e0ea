/**
 * Is a one-dimensional sample unimodal, and if not, where should it be cut? The isocut test of
 * ISO-SPLIT (Magland & Barnett 2015), written from its description: the sorted values are grouped
 * into intervals (small at the tails, large in the middle) whose density is count / width; the best
 * unimodal density (non-decreasing up to a mode, non-increasing after it) is fitted by weighted
 * isotonic regression; the dip score is the Kolmogorov-Smirnov distance between observed and fitted
 * counts, scaled by the square root of the counts, over the whole range and over tail ranges
 * halved towards the mode (so a small separate group in a tail still shows). Gaussian samples score
 * below about 0.7; two modes with a clear dip between them score well above 1.
 */

interface Fit { values: Float64Array; sse: number }

/**
 * Weighted least-squares non-decreasing fit of y (pool adjacent violators), with the error of
 * every prefix: prefixSse[i] is the error of the best fit of y[0..i].
 */
function increasingFit(y: Float64Array, w: Float64Array): { fit: Float64Array; prefixSse: Float64Array } {
  const n = y.length;
  const sumW: number[] = [], sumWy: number[] = [], sumWyy: number[] = [], count: number[] = [];
  const prefixSse = new Float64Array(n);
  let sse = 0;
  const blockSse = (b: number) => sumWyy[b] - (sumWy[b] * sumWy[b]) / sumW[b];
  for (let i = 0; i < n; i++) {
    sumW.push(w[i]); sumWy.push(w[i] * y[i]); sumWyy.push(w[i] * y[i] * y[i]); count.push(1);
    while (sumW.length > 1) {
      const b = sumW.length - 1;
      if (sumWy[b - 1] / sumW[b - 1] <= sumWy[b] / sumW[b]) break;
      sse -= blockSse(b - 1) + blockSse(b);
      sumW[b - 1] += sumW[b]; sumWy[b - 1] += sumWy[b]; sumWyy[b - 1] += sumWyy[b]; count[b - 1] += count[b];
      sumW.pop(); sumWy.pop(); sumWyy.pop(); count.pop();
      sse += blockSse(b - 1);
    }
    prefixSse[i] = Math.max(0, sse);
  }
  const fit = new Float64Array(n);
  let at = 0;
  for (let b = 0; b < sumW.length; b++) for (let k = 0; k < count[b]; k++) fit[at++] = sumWy[b] / sumW[b];
  return { fit, prefixSse };
}

/** Best unimodal (up then down) weighted fit. */
export function unimodalFit(y: Float64Array, w: Float64Array): Fit {
  const n = y.length;
  if (n === 0) return { values: new Float64Array(0), sse: 0 };
  const up = increasingFit(y, w);
  const yr = y.slice().reverse(), wr = w.slice().reverse();
  const down = increasingFit(yr, wr);
  // Mode block ends at m: increasing on [0..m], decreasing on [m+1..n-1].
  let best = -1, bestSse = Infinity;
  for (let m = 0; m < n; m++) {
    const sse = up.prefixSse[m] + (m + 1 < n ? down.prefixSse[n - 2 - m] : 0);
    if (sse < bestSse) { bestSse = sse; best = m; }
  }
  const left = increasingFit(y.subarray(0, best + 1), w.subarray(0, best + 1)).fit;
  const right = best + 1 < n ? increasingFit(yr.subarray(0, n - 1 - best), wr.subarray(0, n - 1 - best)).fit.reverse() : new Float64Array(0);
  const values = new Float64Array(n);
  values.set(left, 0);
  values.set(right, best + 1);
  return { values, sse: bestSse };
}

export interface Isocut {
  dipScore: number;
  /** Value at which to cut when the sample is not unimodal. */
  cutPoint: number;
}

/** Kolmogorov-Smirnov distance of two count vectors over [from, to), scaled by sqrt of the counts. */
function ksDistance(observed: Float64Array, fitted: Float64Array, from: number, to: number): number {
  let total1 = 0, total2 = 0;
  for (let i = from; i < to; i++) { total1 += observed[i]; total2 += fitted[i]; }
  if (total1 <= 0 || total2 <= 0) return 0;
  let cum1 = 0, cum2 = 0, d = 0;
  for (let i = from; i < to; i++) {
    cum1 += observed[i];
    cum2 += fitted[i];
    d = Math.max(d, Math.abs(cum1 / total1 - cum2 / total2));
  }
  return d * Math.sqrt((total1 + total2) / 2);
}

/**
 * Interval boundaries as sample indices: intervals hold 1, 2, 3, ... samples growing from both
 * tails towards the middle, so a small group of values in a tail is still resolved.
 */
function intervalBounds(n: number): number[] {
  const bins = Math.max(1, Math.ceil(Math.sqrt(n / 2)));
  const left = Math.ceil(bins / 2), right = bins - left;
  const sizes = [...Array.from({ length: left }, (_, i) => i + 1), ...Array.from({ length: right }, (_, i) => right - i)];
  const scale = (n - 1) / sizes.reduce((a, b) => a + b, 0);
  const bounds = [0];
  let acc = 0;
  for (const s of sizes) { acc += s * scale; bounds.push(Math.min(n - 1, Math.round(acc))); }
  return bounds.filter((b, i) => i === 0 || b > bounds[i - 1]);
}

export function isocut(sample: ArrayLike<number>): Isocut {
  const x = Float64Array.from(sample).sort();
  const n = x.length;
  if (n < 8 || x[n - 1] <= x[0]) return { dipScore: 0, cutPoint: n ? x[n >> 1] : 0 };
  const bounds = intervalBounds(n);
  const m = bounds.length - 1;
  const floor = ((x[n - 1] - x[0]) / n) * 1e-3;
  const spacing = new Float64Array(m), counts = new Float64Array(m), density = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    spacing[i] = Math.max(floor, x[bounds[i + 1]] - x[bounds[i]]);
    counts[i] = bounds[i + 1] - bounds[i];
    density[i] = counts[i] / spacing[i];
  }
  const fitted = unimodalFit(density, counts).values;
  const fittedCounts = Float64Array.from(fitted, (d, i) => d * spacing[i]);
  let peak = 0;
  for (let i = 1; i < m; i++) if (fitted[i] > fitted[peak]) peak = i;
  // The largest distance over the whole range or over any tail range halved towards the peak:
  // a small separate mode in one tail shows within its tail, not over the whole sample.
  let dip = ksDistance(counts, fittedCounts, 0, peak + 1);
  let critical: [number, number] = [0, peak + 1];
  for (let len = peak + 1; len >= 4 || len === peak + 1; len = Math.floor(len / 2)) {
    const d = ksDistance(counts, fittedCounts, 0, len);
    if (d > dip) { dip = d; critical = [0, len]; }
    if (len <= 1) break;
  }
  for (let len = m - peak; len >= 4 || len === m - peak; len = Math.floor(len / 2)) {
    const d = ksDistance(counts, fittedCounts, m - len, m);
    if (d > dip) { dip = d; critical = [m - len, m]; }
    if (len <= 1) break;
  }
  // Cut where the observed density falls furthest below the unimodal fit, within the range that
  // gave the score: fit a down-then-up shape to the residual and take its lowest point.
  const residual = Float64Array.from(density, (d, i) => fitted[i] - d);
  const valley = unimodalFit(residual, spacing).values;
  let cut = critical[0];
  for (let i = critical[0]; i < critical[1]; i++) if (valley[i] > valley[cut]) cut = i;
  return { dipScore: dip, cutPoint: (x[bounds[cut]] + x[bounds[cut + 1]]) / 2 };
}
