/**
 * Which channels take part in sorting, and at what level each detects. Reference sites and sync
 * lines carry no spikes and are left out of the channel map altogether (as Kilosort leaves out
 * unconnected channels); broken channels stay in the map but are never a spike's peak.
 */
import type { ChannelLevels } from './noise.js';

export interface ChannelChoice {
  /** 1 for channels in the channel map. */
  sortable: Uint8Array;
  /** The channel map: original channel numbers, ascending. */
  sortedChannels: number[];
  /** Noise levels floored so that no channel divides by zero. */
  noiseRaw: Float32Array;
  noiseSmooth: Float32Array;
  /** Detection level in counts of the smoothed signal; Infinity where no spike may peak. */
  threshold: Float32Array;
  peakChannels: number;
  medianNoiseRaw: number;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return 0;
  return v.length % 2 ? v[v.length >> 1] : (v[(v.length >> 1) - 1] + v[v.length >> 1]) / 2;
}

export function chooseChannels(levels: ChannelLevels, referenceChannels: number[], detectThreshold: number): ChannelChoice {
  const C = levels.dc.length;
  const reference = new Set(referenceChannels);
  const sortable = new Uint8Array(C);
  for (let c = 0; c < C; c++) {
    // SpikeGLX saves the probe's channels plus one sync channel last: an odd count means that one.
    const isSync = levels.digital[c] || (C % 2 === 1 && c === C - 1);
    sortable[c] = reference.has(c) || isSync ? 0 : 1;
  }
  const sortedChannels = [...sortable.keys()].filter((c) => sortable[c]);
  const medianRaw = median(sortedChannels.map((c) => levels.noiseRaw[c]));
  const medianSmooth = median(sortedChannels.map((c) => levels.noiseSmooth[c]));
  const noiseRaw = Float32Array.from(levels.noiseRaw, (v) => Math.max(v, 0.05 * medianRaw, 1e-6));
  const noiseSmooth = Float32Array.from(levels.noiseSmooth, (v) => Math.max(v, 0.05 * medianSmooth, 1e-6));
  const threshold = new Float32Array(C).fill(Infinity);
  let peakChannels = 0;
  for (const c of sortedChannels) {
    // Broken channels are never a spike's peak: far noisier than the rest, or nearly silent.
    const ratio = levels.noiseSmooth[c] / medianSmooth;
    if (ratio > 4 || ratio < 0.1) continue;
    threshold[c] = detectThreshold * noiseSmooth[c];
    peakChannels++;
  }
  return { sortable, sortedChannels, noiseRaw, noiseSmooth, threshold, peakChannels, medianNoiseRaw: medianRaw };
}
