/**
 * Which spikes each unit averages: those in the epoch `complete_session` (0 < t / fs < inf, so a
 * spike at sample 0 is left out), grouped by cluster id, and for a unit with more than
 * spikes_per_epoch of them a random subset of that size.
 *
 * The module draws the subset with an unseeded np.random.shuffle, so its means differ from run
 * to run. Here the draw is seeded by the unit id (a partial Fisher-Yates shuffle on a 32-bit
 * generator), so the same inputs give the same outputs - which a build tool's records rely on -
 * and one unit's choice does not depend on how many other units there are.
 */
import { mulberry32 } from '../../lib/numeric/mulberry32.js';

export interface UnitSpikes {
  /** spikes[offsets[u] .. offsets[u+1]) are unit u's spike indices, in file order. */
  offsets: Uint32Array;
  spikes: Uint32Array;
}

/** Spikes with t > 0 grouped by cluster id (a counting sort, so linear in the spikes). */
export function groupSpikesByUnit(times: Float64Array, clusters: Uint32Array, unitCount: number): UnitSpikes {
  const offsets = new Uint32Array(unitCount + 1);
  for (let i = 0; i < times.length; i++) if (times[i] > 0) offsets[clusters[i] + 1]++;
  for (let u = 0; u < unitCount; u++) offsets[u + 1] += offsets[u];
  const fill = offsets.slice(0, unitCount);
  const spikes = new Uint32Array(offsets[unitCount]);
  for (let i = 0; i < times.length; i++) if (times[i] > 0) spikes[fill[clusters[i]]++] = i;
  return { offsets, spikes };
}

/** Fixed base seed; documented so a user can reproduce a choice. */
export const selectionSeed = 0x5eed;

/**
 * Unit u's chosen spikes: all of them when there are at most `limit`, else `limit` of them drawn
 * without replacement by a generator seeded with (selectionSeed, u).
 */
export function chooseSpikes(group: UnitSpikes, unit: number, limit: number): Uint32Array {
  const all = group.spikes.subarray(group.offsets[unit], group.offsets[unit + 1]);
  if (all.length <= limit) return all.slice();
  const pool = all.slice();
  const next = mulberry32(Math.imul(selectionSeed, 0x9e3779b1) ^ unit);
  for (let i = 0; i < limit; i++) {
    const j = i + Math.floor(next() * (pool.length - i));
    const t = pool[i]; pool[i] = pool[j]; pool[j] = t;
  }
  return pool.subarray(0, limit).slice();
}
