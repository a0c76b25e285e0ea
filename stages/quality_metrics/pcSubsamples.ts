/**
 * The spikes each unit's PC metrics are computed on, drawn as the Allen module draws them when
 * joblib runs its per-cluster loop in the main process (one core): after `np.random.seed(9999)`,
 * clusters in ascending id order, and for each the units in range in ascending id order, each
 * `np.random.permutation(its spikes)[:subsample]`. Every unit in range is permuted whole, even
 * when none of its spikes is kept, so the generator advances exactly as numpy's does.
 *
 * On several cores the module runs that loop in joblib worker processes whose generators are not
 * seeded, so its PC metrics then vary from run to run; these draws are one of the outcomes it can
 * give (the one it gives on one core).
 */
import { Mt19937 } from '../../lib/numeric/mt19937.js';
import { spikesOf } from './unitSpikes.js';
import { channelRange } from './pcFeatureRows.js';
import type { PcData, PcParams } from './pcData.js';

/** Per unit u: for each unit in range of u (ascending), the spikes drawn (epoch indices, draw order). */
export type PcSubsamples = Array<Array<{ unit: number; spikes: Int32Array }>>;

/** Units whose peak channel lies in the channel range of unit u, ascending. */
export function unitsInRange(data: Pick<PcData, 'unitPeakChannel' | 'maxChannel'>, params: Pick<PcParams, 'numChannelsToCompare'>, u: number): number[] {
  const [lo, hi] = channelRange(data.unitPeakChannel[u], params.numChannelsToCompare, data.maxChannel);
  const out: number[] = [];
  for (let v = 0; v < data.unitPeakChannel.length; v++) {
    const p = data.unitPeakChannel[v];
    if (p >= lo && p <= hi) out.push(v);
  }
  return out;
}

/**
 * How many spikes of unit v the module keeps for unit u: all of them, or, when u has more than
 * max_spikes_for_unit, int(n_v / n_u * max_spikes_for_unit) (numpy's float arithmetic, truncated).
 */
export function subsampleSize(nThis: number, nV: number, maxSpikesForUnit: number): number {
  return Math.trunc(nThis > maxSpikesForUnit ? (nV / nThis) * maxSpikesForUnit : nV);
}

export function drawPcSubsamples(data: Pick<PcData, 'spikes' | 'unitPeakChannel' | 'maxChannel'>, params: PcParams): PcSubsamples {
  const { spikes } = data;
  const units = spikes.clusterIds.length;
  const rng = new Mt19937(params.seed);
  let largest = 0;
  for (let v = 0; v < units; v++) largest = Math.max(largest, spikes.unitStart[v + 1] - spikes.unitStart[v]);
  const work = new Int32Array(largest);
  const out: PcSubsamples = [];
  for (let u = 0; u < units; u++) {
    const nThis = spikes.unitStart[u + 1] - spikes.unitStart[u];
    const draws: Array<{ unit: number; spikes: Int32Array }> = [];
    for (const v of unitsInRange(data, params, u)) {
      const own = spikesOf(spikes, v);
      const perm = work.subarray(0, own.length);
      perm.set(own);
      rng.shuffle(perm);
      draws.push({ unit: v, spikes: perm.slice(0, subsampleSize(nThis, own.length, params.maxSpikesForUnit)) });
    }
    out.push(draws);
  }
  return out;
}
