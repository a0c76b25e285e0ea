/**
 * Peak channels in pc_feature_ind space (indices into Kilosort's sorted channels, not probe
 * channels), as the Allen module finds them: a template's peak is the channel with the largest mean
 * first PC over its spikes; a unit's peak is the median of its templates' peaks, truncated to an
 * integer (the module stores it in a uint16 array).
 */
import type { UnitSpikes } from './unitSpikes.js';

/**
 * Per template present in the epoch. The means are float32 sums in spike order divided in float32,
 * as numpy averages a float32 column, so near-ties between channels break the same way. With
 * `firstPcSign` -1 (a Kilosort 4 folder whose first PC has the other sign, pcPolarity.ts) the
 * first PC is negated first.
 */
export function templatePeakChannels(
  spikes: Pick<UnitSpikes, 'templates' | 'sourceRow'>, pcFeatures: Float32Array, pcCount: number,
  pcChannelCount: number, pcFeatureInd: Uint32Array, templateCount: number, firstPcSign: 1 | -1 = 1,
): Int32Array {
  const f = Math.fround;
  const sums = new Float32Array(templateCount * pcChannelCount);
  const counts = new Int32Array(templateCount);
  const rowSize = pcCount * pcChannelCount;
  for (let e = 0; e < spikes.templates.length; e++) {
    const t = spikes.templates[e];
    counts[t]++;
    const src = spikes.sourceRow[e] * rowSize; // PC 0 comes first in each row
    const dst = t * pcChannelCount;
    for (let k = 0; k < pcChannelCount; k++) {
      const v = pcFeatures[src + k];
      sums[dst + k] = sums[dst + k] + (firstPcSign < 0 ? -v : v);
    }
  }
  const peaks = new Int32Array(templateCount).fill(-1);
  for (let t = 0; t < templateCount; t++) {
    if (counts[t] === 0) continue;
    const n = f(counts[t]);
    let best = 0;
    let bestMean = f(sums[t * pcChannelCount] / n);
    for (let k = 1; k < pcChannelCount; k++) {
      const m = f(sums[t * pcChannelCount + k] / n);
      if (m > bestMean) { bestMean = m; best = k; }
    }
    peaks[t] = pcFeatureInd[t * pcChannelCount + best] & 0xffff;
  }
  return peaks;
}

/** Per unit: median of its templates' peak channels, truncated. */
export function unitPeakChannels(spikes: UnitSpikes, templatePeaks: Int32Array): Int32Array {
  const units = spikes.clusterIds.length;
  const out = new Int32Array(units);
  const seen = new Int32Array(templatePeaks.length).fill(-1);
  for (let u = 0; u < units; u++) {
    const peaks: number[] = [];
    for (let i = spikes.unitStart[u]; i < spikes.unitStart[u + 1]; i++) {
      const t = spikes.templates[spikes.spikesByUnit[i]];
      if (seen[t] === u) continue;
      seen[t] = u;
      peaks.push(templatePeaks[t]);
    }
    peaks.sort((a, b) => a - b);
    const h = peaks.length >> 1;
    const median = peaks.length % 2 ? peaks[h] : (peaks[h - 1] + peaks[h]) / 2;
    out[u] = Math.trunc(median) & 0xffff;
  }
  return out;
}
