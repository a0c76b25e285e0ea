/**
 * The channels and neighbours one unit's PC metrics use on Kilosort 4 folders (the `shared` rule of
 * pcData.ts). This goes beyond the Allen module, which was written for Kilosort 2.
 *
 * Kilosort 2 writes each template's PCs on its 32 nearest channels, so the module can ask that every
 * channel within num_channels_to_compare of a unit's peak be among the PC channels of every unit it
 * takes. Kilosort 4 writes each cluster's PCs on its own 10 channels (the nearest to its largest,
 * ordered by size): a neighbour two channels away lacks part of the window, and the module's rule
 * leaves every PC metric empty. Here:
 * - the unit's channels are those of its window on which all its drawn templates have PCs;
 * - its anchor is its peak channel (for a unit merged from templates that do not all have PCs
 *   there, the nearest of its channels);
 * - a neighbour (peak channel in the window, as in the module) is taken when it has PCs on the
 *   anchor. Kilosort 4 keeps a cluster's largest channels, so one without this unit's peak among
 *   them carries little signal there: its spikes are not what this unit's could be mistaken for;
 * - the channels compared are the unit's channels that every neighbour taken has too: the
 *   anchor at least, the whole window when every template has it (then this is the module's rule).
 */
import type { DrawnUnit, PcData } from './pcData.js';

/** Per channel lo..hi: 1 where every template given has PCs on it. */
function channelsOfAll(data: Pick<PcData, 'pcFeatureInd' | 'pcChannelCount'>, templates: number[], lo: number, hi: number): Uint8Array {
  const { pcFeatureInd, pcChannelCount } = data;
  const count = new Int32Array(hi - lo + 1);
  const seen = new Uint8Array(hi - lo + 1);
  for (const t of templates) {
    seen.fill(0);
    for (let k = 0; k < pcChannelCount; k++) {
      const c = pcFeatureInd[t * pcChannelCount + k] - lo;
      if (c >= 0 && c <= hi - lo && !seen[c]) { seen[c] = 1; count[c]++; }
    }
  }
  return Uint8Array.from(count, (n) => (n === templates.length ? 1 : 0));
}

/** The channels (ascending) and the drawn units (in draw order) whose spikes unit u's metrics compare. */
export function selectSharedChannels(
  data: Pick<PcData, 'pcFeatureInd' | 'pcChannelCount' | 'unitPeakChannel'>, u: number, lo: number, hi: number, drawn: DrawnUnit[],
): { channels: number[]; units: DrawnUnit[] } {
  const own = drawn.find((d) => d.unit === u);
  if (!own) return { channels: [], units: [] };
  const common = channelsOfAll(data, own.templates, lo, hi);
  const peak = data.unitPeakChannel[u];
  let anchor = -1;
  for (let c = lo; c <= hi; c++) {
    if (common[c - lo] && (anchor < 0 || Math.abs(c - peak) < Math.abs(anchor - peak))) anchor = c;
  }
  if (anchor < 0) return { channels: [], units: [] };
  const units: DrawnUnit[] = [];
  for (const d of drawn) {
    if (d.unit !== u) {
      const has = channelsOfAll(data, d.templates, lo, hi);
      if (!has[anchor - lo]) continue;
      for (let i = 0; i < common.length; i++) common[i] &= has[i];
    }
    units.push(d);
  }
  const channels: number[] = [];
  for (let i = 0; i < common.length; i++) if (common[i]) channels.push(lo + i);
  return { channels, units };
}
