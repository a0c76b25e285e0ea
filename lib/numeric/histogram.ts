/**
 * `np.histogram` with numpy's bin assignment: explicit edges use searchsorted (left edge inclusive,
 * the last bin also includes its right edge); an integer bin count uses numpy's fast path (a scaled
 * index corrected against the edges), which can differ from searchsorted by one bin within an ulp
 * of an edge.
 */
import { linspace } from './numpyRange.js';

/** Index of the first edge > x (`searchsorted(edges, x, side='right')`). */
function upperBound(edges: ArrayLike<number>, x: number): number {
  let lo = 0, hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * Counts per bin for explicit (non-decreasing) edges. numpy counts via cumulative searchsorted
 * over the sorted values; this is the same count per value: bin k holds edges[k] <= x < edges[k+1],
 * the last bin also x == edges[last]. Values outside the edges are dropped.
 */
export function histogramEdges(values: ArrayLike<number>, edges: ArrayLike<number>): Float64Array {
  const nb = edges.length - 1;
  const counts = new Float64Array(Math.max(0, nb));
  if (nb <= 0) return counts;
  const first = edges[0];
  const last = edges[nb];
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!(x >= first && x <= last)) continue;
    // Only the last bin includes its right edge; repeated edges make empty bins.
    const k = x === last ? nb - 1 : upperBound(edges, x) - 1;
    if (k >= 0 && k < nb) counts[k]++;
  }
  return counts;
}

export interface UniformHistogram { counts: Float64Array; edges: Float64Array }

/** `np.histogram(values, bins)` with an integer bin count, float64 values. */
export function histogramUniform(values: ArrayLike<number>, bins: number): UniformHistogram {
  let first = Infinity, last = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x < first) first = x;
    if (x > last) last = x;
  }
  if (values.length === 0) { first = 0; last = 1; }
  if (first === last) { first -= 0.5; last += 0.5; }
  const edges = linspace(first, last, bins + 1);
  const counts = new Float64Array(bins);
  const denom = last - first;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!(x >= first && x <= last)) continue;
    let k = Math.trunc(((x - first) / denom) * bins);
    if (k === bins) k--;
    if (x < edges[k]) k--;
    if (x >= edges[k + 1] && k !== bins - 1) k++;
    counts[k]++;
  }
  return { counts, edges };
}

/** `np.histogram(values, bins, density=True)`: counts / bin width / total, per bin. */
export function histogramDensity(values: ArrayLike<number>, bins: number): UniformHistogram {
  const { counts, edges } = histogramUniform(values, bins);
  let total = 0;
  for (let k = 0; k < bins; k++) total += counts[k];
  const density = new Float64Array(bins);
  for (let k = 0; k < bins; k++) density[k] = counts[k] / (edges[k + 1] - edges[k]) / total;
  return { counts: density, edges };
}
