/**
 * The metrics of one unit's spike train (reference §1.8), with the Allen module's arithmetic:
 * firing rate, presence ratio, ISI violations (Hill 2011 and the Llobet 2022 correction) and
 * amplitude cut-off. `minTime`/`maxTime` are the first and last spike of all units.
 */
import { linspace } from '../../lib/numeric/numpyRange.js';
import { histogramEdges, histogramDensity } from '../../lib/numeric/histogram.js';
import { gaussianFilter1d } from '../../lib/numeric/gaussianFilter1d.js';
import { pairwiseSum } from '../../lib/numeric/pairwiseSum.js';

export function firingRate(spikeCount: number, minTime: number, maxTime: number): number {
  return spikeCount / (maxTime - minTime);
}

/**
 * Fraction of time bins with at least one spike. The module asks numpy for 100 bin edges, which
 * make 99 bins, and divides by 100: a unit present throughout scores 0.99.
 */
export function presenceRatio(times: ArrayLike<number>, minTime: number, maxTime: number): number {
  const counts = histogramEdges(times, linspace(minTime, maxTime, 100));
  let occupied = 0;
  for (let k = 0; k < counts.length; k++) if (counts[k] > 0) occupied++;
  return occupied / 100;
}

export interface IsiViolations {
  /** Hill et al.: contaminating rate as a fraction of the unit's rate. */
  fpRate: number;
  /** Llobet et al.: 1 - sqrt(1 - v T / (N^2 (threshold - min_isi))); NaN when the root is of a negative. */
  fpRateCorrected: number;
  violations: number;
}

/**
 * ISIs below `isiThreshold`, after dropping spike i+1 wherever the ISI to spike i (in the original
 * train, not cascading) is at most `minIsi`: those are double-counted spikes, not violations.
 */
export function isiViolations(times: ArrayLike<number>, minTime: number, maxTime: number, isiThreshold: number, minIsi: number): IsiViolations {
  const n = times.length;
  const kept: number[] = [];
  if (n > 0) kept.push(times[0]);
  for (let i = 1; i < n; i++) if (!(times[i] - times[i - 1] <= minIsi)) kept.push(times[i]);
  const numSpikes = kept.length;
  let violations = 0;
  for (let i = 1; i < numSpikes; i++) if (kept[i] - kept[i - 1] < isiThreshold) violations++;
  const duration = maxTime - minTime;
  const violationTime = 2 * numSpikes * (isiThreshold - minIsi);
  const totalRate = numSpikes / duration;
  const violationRate = violations / violationTime;
  const fpRate = violationRate / totalRate;
  const root = 1 - (violations * duration) / (numSpikes * numSpikes * (isiThreshold - minIsi));
  const fpRateCorrected = root < 0 ? NaN : 1 - Math.sqrt(root);
  return { fpRate, fpRateCorrected, violations };
}

/**
 * Estimated fraction of spikes below the detection threshold: a 500-bin density histogram of the
 * amplitudes, smoothed (Gaussian, sigma 3 bins); from the peak up, the bin whose density is closest
 * to the lowest bin's mirrors the cut-off; the mass above it estimates the missing mass. Capped at
 * 0.5, beyond which the estimate means nothing.
 */
export function amplitudeCutoff(amplitudes: ArrayLike<number>, bins = 500, smoothingBins = 3): number {
  const { counts: density, edges } = histogramDensity(amplitudes, bins);
  const pdf = gaussianFilter1d(density, smoothingBins);
  let peak = 0;
  for (let k = 1; k < bins; k++) if (pdf[k] > pdf[peak]) peak = k;
  let g = peak;
  let bestGap = Math.abs(pdf[peak] - pdf[0]);
  for (let k = peak + 1; k < bins; k++) {
    const gap = Math.abs(pdf[k] - pdf[0]);
    if (gap < bestGap) { bestGap = gap; g = k; }
  }
  // np.mean(np.diff(support)) with support = the left edges.
  const steps = new Float64Array(bins - 1);
  for (let k = 0; k < bins - 1; k++) steps[k] = edges[k + 1] - edges[k];
  const binSize = pairwiseSum(steps) / (bins - 1);
  const missing = pairwiseSum(pdf, g, bins - g) * binSize;
  return Math.min(missing, 0.5);
}
