/**
 * The feature rows the PC metrics of one unit are computed on (the module's `all_pcs`): every unit
 * whose peak channel lies within `num_channels_to_compare` channels of this unit's peak contributes
 * its PCs on the channels compared, subsampled, in the module's row order. Which channels, and
 * which units take part, is the folder's channel rule (pcData.ts).
 */
import { selectSharedChannels } from './sharedChannels.js';
import type { DrawnUnit, PcData, PcParams } from './pcData.js';

export interface PcRows {
  /** nRows x nFeatures, row-major; feature f = pc * channels + channel, as numpy reshapes (n, pcs, channels). */
  rows: Float64Array;
  /** Unit index of each row. */
  unitOfRow: Int32Array;
  nRows: number;
  nFeatures: number;
  channelCount: number;
  /** Units whose spikes are among the rows, this one included when it is. */
  unitsTaken: number;
}

/** The contiguous channel range around a unit's peak, clipped at 0 and at max(pc_feature_ind). */
export function channelRange(peak: number, numChannelsToCompare: number, maxChannel: number): [number, number] {
  const half = Math.trunc((numChannelsToCompare - 1) / 2);
  const down = peak < half ? peak : half;
  const up = peak + half > maxChannel ? maxChannel - peak : half;
  return [peak - down, peak + up];
}

/**
 * Build the rows for unit u from its subsample draws (see pcSubsamples.ts): each unit's drawn
 * spikes, grouped by template in ascending template order. Under the module's rule the channels
 * are the whole window, and a unit contributes nothing when any of its drawn templates lacks one
 * of them in its pc_feature_ind row. A unit with fewer than two spikes drawn contributes nothing
 * under either rule: for a single spike the module's `np.squeeze` turns the template mask into a
 * scalar, the unit's PCs come back 4-D, and its caller leaves them out.
 */
export function buildPcRows(data: PcData, params: PcParams, u: number, draws: Array<{ unit: number; spikes: Int32Array }>): PcRows {
  const { spikes, pcFeatures, pcFeatureInd, pcCount, pcChannelCount } = data;
  const [lo, hi] = channelRange(data.unitPeakChannel[u], params.numChannelsToCompare, data.maxChannel);
  const drawn: DrawnUnit[] = [];
  for (const { unit, spikes: s } of draws) {
    if (s.length < 2) continue;
    const ordered = groupByTemplate(s, spikes.templates);
    const templates: number[] = [];
    for (let i = 0; i < ordered.length; i++) {
      const t = spikes.templates[ordered[i]];
      if (templates[templates.length - 1] !== t) templates.push(t);
    }
    drawn.push({ unit, ordered, templates });
  }
  const chosen = data.channelRule === 'shared'
    ? selectSharedChannels(data, u, lo, hi, drawn)
    : { channels: Array.from({ length: hi - lo + 1 }, (_, c) => lo + c), units: drawn };
  const { channels } = chosen;
  const channelCount = channels.length;
  const nFeatures = pcCount * channelCount;
  const accepted: Array<{ unit: number; ordered: Int32Array; columnOf: Map<number, Int32Array> }> = [];
  let nRows = 0;
  for (const { unit, ordered, templates } of chosen.units) {
    const columnOf = new Map<number, Int32Array>();
    let valid = true;
    for (const t of templates) {
      const cols = new Int32Array(channelCount);
      for (let c = 0; c < channelCount && valid; c++) {
        const k = firstIndexOf(pcFeatureInd, t * pcChannelCount, pcChannelCount, channels[c]);
        if (k < 0) valid = false;
        cols[c] = k;
      }
      if (!valid) break;
      columnOf.set(t, cols);
    }
    if (!valid) continue;
    accepted.push({ unit, ordered, columnOf });
    nRows += ordered.length;
  }
  const rows = new Float64Array(nRows * nFeatures);
  const unitOfRow = new Int32Array(nRows);
  const rowSize = pcCount * pcChannelCount;
  let r = 0;
  for (const { unit, ordered, columnOf } of accepted) {
    for (let i = 0; i < ordered.length; i++, r++) {
      const e = ordered[i];
      const cols = columnOf.get(spikes.templates[e])!;
      const src = spikes.sourceRow[e] * rowSize;
      const dst = r * nFeatures;
      for (let p = 0; p < pcCount; p++) {
        for (let c = 0; c < channelCount; c++) rows[dst + p * channelCount + c] = pcFeatures[src + p * pcChannelCount + cols[c]];
      }
      unitOfRow[r] = unit;
    }
  }
  return { rows, unitOfRow, nRows, nFeatures, channelCount, unitsTaken: accepted.length };
}

function firstIndexOf(a: Uint32Array, start: number, n: number, value: number): number {
  for (let k = 0; k < n; k++) if (a[start + k] === value) return k;
  return -1;
}

/** Spikes grouped by template, ascending, keeping the draw order within a template. */
function groupByTemplate(drawn: Int32Array, templates: Uint32Array): Int32Array {
  const idx = Int32Array.from({ length: drawn.length }, (_, i) => i)
    .sort((a, b) => templates[drawn[a]] - templates[drawn[b]] || a - b);
  return idx.map((i) => drawn[i]);
}
