/**
 * Drift metrics (reference §1.8): each spike's depth from its first-PC weights, the median depth of
 * a unit per interval of `drift_metrics_interval_s` (NaN with too few spikes), then max_drift =
 * range of the medians and cumulative_drift = sum of |steps| between them, rounded to 2 decimals.
 */
import { arange } from '../../lib/numeric/numpyRange.js';
import { pairwiseSum, pairwiseSumFloat32 } from '../../lib/numeric/pairwiseSum.js';
import { roundHalfEven } from '../../lib/numeric/numpyRound.js';
import { median } from '../../lib/numeric/median.js';
import type { UnitSpikes } from './unitSpikes.js';

/**
 * ecephys' get_spike_depths: first PC per channel, negatives set to 0, squared (float32) as
 * weights; depth = sum(channel index x weight) / sum(weight) x 10. The numerator is a float64 sum
 * and the denominator a float32 sum, in numpy's order. A spike with no positive weight gets NaN
 * (0 / 0), which makes its interval's median NaN. `firstPcSign` -1 negates the first PC first
 * (pcPolarity.ts).
 */
export function spikeDepths(
  spikes: Pick<UnitSpikes, 'templates' | 'sourceRow'>, pcFeatures: Float32Array, pcCount: number,
  pcChannelCount: number, pcFeatureInd: Uint32Array, firstPcSign: 1 | -1 = 1,
): Float64Array {
  const n = spikes.templates.length;
  const depths = new Float64Array(n);
  const weighted = new Float64Array(pcChannelCount);
  const power = new Float32Array(pcChannelCount);
  const rowSize = pcCount * pcChannelCount;
  for (let e = 0; e < n; e++) {
    const src = spikes.sourceRow[e] * rowSize;
    const ind = spikes.templates[e] * pcChannelCount;
    for (let k = 0; k < pcChannelCount; k++) {
      const v = firstPcSign < 0 ? -pcFeatures[src + k] : pcFeatures[src + k];
      const w = v < 0 ? 0 : v;
      power[k] = w * w; // rounded to float32 on store, as numpy squares float32
      weighted[k] = pcFeatureInd[ind + k] * power[k];
    }
    depths[e] = (pairwiseSum(weighted) / pairwiseSumFloat32(power)) * 10;
  }
  return depths;
}

/** Interval starts from the first spike of all units, every `intervalS` seconds (numpy arange). */
export function driftIntervals(minTime: number, maxTime: number, intervalS: number): { starts: Float64Array; ends: Float64Array } {
  const starts = arange(minTime, maxTime, intervalS);
  const ends = starts.map((s) => s + intervalS);
  return { starts, ends };
}

/**
 * max_drift and cumulative_drift of one unit. A spike belongs to an interval when
 * start < t < end (strictly), so one exactly on a boundary counts in neither.
 */
export function unitDrift(
  times: ArrayLike<number>, depths: ArrayLike<number>, starts: Float64Array, ends: Float64Array,
  intervalS: number, minSpikesPerInterval: number,
): [number, number] {
  const m = starts.length;
  const origin = m > 0 ? starts[0] : 0;
  // Each spike's interval (-1 for none), then the depths grouped by interval (a counting sort).
  const n = times.length;
  const bucketOf = new Int32Array(n).fill(-1);
  const counts = new Int32Array(m + 1);
  for (let i = 0; i < n; i++) {
    const t = times[i];
    const guess = Math.floor((t - origin) / intervalS);
    // Rounding can put a spike one interval off the estimate: check the neighbours too. (Adjacent
    // intervals may overlap by an ulp; a spike inside that overlap, which numpy would count in
    // both, is counted in the first only.)
    for (let k = Math.max(0, guess - 1); k <= Math.min(m - 1, guess + 1); k++) {
      if (t > starts[k] && t < ends[k]) { bucketOf[i] = k; break; }
    }
    if (bucketOf[i] >= 0) counts[bucketOf[i] + 1]++;
  }
  for (let k = 0; k < m; k++) counts[k + 1] += counts[k];
  const grouped = new Float64Array(counts[m]);
  const fill = counts.slice(0, m);
  for (let i = 0; i < n; i++) if (bucketOf[i] >= 0) grouped[fill[bucketOf[i]]++] = depths[i];
  const medians = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const size = counts[k + 1] - counts[k];
    medians[k] = size >= minSpikesPerInterval ? median(grouped.subarray(counts[k], counts[k + 1])) : NaN;
  }
  let hi = -Infinity, lo = Infinity, any = false;
  for (const v of medians) {
    if (Number.isNaN(v)) continue;
    any = true;
    if (v > hi) hi = v;
    if (v < lo) lo = v;
  }
  // np.nanmax of all-NaN is NaN; np.nansum of nothing is 0.
  const maxDrift = any ? roundHalfEven(hi - lo, 2) : NaN;
  const cumulativeDrift = roundHalfEven(nansumOrder(medians), 2);
  return [maxDrift, cumulativeDrift];
}

/** np.nansum(np.abs(np.diff(medians))): NaN steps count as 0, summed in numpy's order. */
function nansumOrder(medians: Float64Array): number {
  const steps = new Float64Array(Math.max(0, medians.length - 1));
  for (let k = 1; k < medians.length; k++) {
    const s = Math.abs(medians[k] - medians[k - 1]);
    steps[k - 1] = Number.isNaN(s) ? 0 : s;
  }
  return pairwiseSum(steps);
}
