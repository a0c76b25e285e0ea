/**
 * Kilosort's 'good' / 'mua' label, from refractory-period violations: the contamination estimate
 * of Hill et al. (2011), as quality_metrics computes isi_viol. A unit that fires inside its own
 * refractory period has spikes of other neurons mixed in.
 */

export interface LabelOptions {
  refractorySamples: number;
  durationSamples: number;
  maxContamination: number;
  minSpikes: number;
}

/** Estimated fraction of a spike train's spikes that come from other neurons. */
export function contamination(sortedTimes: Float64Array, o: LabelOptions): number {
  const n = sortedTimes.length;
  if (n < 2) return 0;
  let violations = 0;
  for (let i = 1; i < n; i++) if (sortedTimes[i] - sortedTimes[i - 1] < o.refractorySamples) violations++;
  return (violations * o.durationSamples) / (2 * n * n * o.refractorySamples);
}

export function label(sortedTimes: Float64Array, o: LabelOptions): 'good' | 'mua' {
  return sortedTimes.length >= o.minSpikes && contamination(sortedTimes, o) <= o.maxContamination ? 'good' : 'mua';
}
