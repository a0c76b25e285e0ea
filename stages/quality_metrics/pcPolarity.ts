/**
 * The sign of the first PC in a Kilosort 4 folder. Kilosort 2 fixes it: its first PC is negative at
 * the trough, so a spike's first-PC weight is positive on its peak channel, and the module's peak
 * channels (largest mean first PC) and spike depths (positive first-PC weights only) rely on that.
 * Kilosort 4 fits its PCs to the recording with scikit-learn's TruncatedSVD, whose sign is a
 * convention of scikit-learn's (which has changed between its versions), so on some installations
 * every first-PC weight of a negative spike is negative: peak channels would then be the channel
 * farthest from the spike, and depths undefined. The folder itself says which sign it has: on the
 * channel where a template's mean first PC is largest in size, that mean is positive for the
 * usual negative spike.
 */
import type { UnitSpikes } from './unitSpikes.js';

export interface FirstPcPolarity {
  /** -1 when most templates' first PC is negative on their largest channel. */
  sign: 1 | -1;
  negativeTemplates: number;
  templates: number;
}

export function firstPcPolarity(
  spikes: Pick<UnitSpikes, 'templates' | 'sourceRow'>, pcFeatures: Float32Array, pcCount: number,
  pcChannelCount: number, templateCount: number,
): FirstPcPolarity {
  const sums = new Float64Array(templateCount * pcChannelCount);
  const rowSize = pcCount * pcChannelCount;
  for (let e = 0; e < spikes.templates.length; e++) {
    const src = spikes.sourceRow[e] * rowSize; // PC 0 comes first in each row
    const dst = spikes.templates[e] * pcChannelCount;
    for (let k = 0; k < pcChannelCount; k++) sums[dst + k] += pcFeatures[src + k];
  }
  let negative = 0, positive = 0;
  for (let t = 0; t < templateCount; t++) {
    let largest = 0;
    for (let k = 0; k < pcChannelCount; k++) {
      const v = sums[t * pcChannelCount + k];
      if (Math.abs(v) > Math.abs(largest)) largest = v;
    }
    if (largest < 0) negative++;
    else if (largest > 0) positive++;
  }
  return { sign: negative > positive ? -1 : 1, negativeTemplates: negative, templates: negative + positive };
}
