/**
 * Double-counted spike removal, the rule of the Allen module's `remove_double_counted_spikes`:
 *
 * 1. Units are visited in the order of their peak channel (numpy's unstable argsort, so units on
 *    the same channel come in numpy's order: it decides where they sit in the overlap matrix).
 * 2. Within a unit, of two consecutive spikes closer than `withinSamples`, the earlier goes.
 * 3. On what is left, for every pair of units whose peak channels differ by less than
 *    `channelDistance`, both trains are merged and, of two consecutive spikes closer than
 *    `betweenSamples`, the later goes, whichever unit it belongs to. Removals of all pairs are
 *    collected and applied at once, so a spike removed for one pair still counts for the next.
 *
 * Unit ids are template ids: only clusters 0..T-1 are visited (the module indexes templates by
 * cluster id), spikes of higher cluster ids (Phy merges) are kept untouched.
 */
import { numpyArgsort } from '../../lib/numeric/numpyArgsort.js';

export interface DoubleCountParams {
  /** int(within_unit_overlap_window * sample_rate) */
  withinSamples: number;
  /** int(between_unit_overlap_window * sample_rate) */
  betweenSamples: number;
  /** between_unit_channel_distance */
  channelDistance: number;
}

export interface SpikeTable {
  /** Spike times in samples, as numbers (exact below 2^53). */
  times: ArrayLike<number>;
  /** numpy computes differences of unsigned times modulo 2^64, so a time going backwards is far. */
  timesUnsigned: boolean;
  /** Cluster id of each spike. */
  clusters: ArrayLike<number>;
  /** Probe channel of each template's peak (channel_map of the peak column). */
  peakChannels: ArrayLike<number>;
  /** Unsigned channel numbers wrap on subtraction too: only equal channels are then near. */
  peakChannelsUnsigned: boolean;
}

export interface DoubleCountResult {
  /** 1 for each spike that stays, in input order. */
  keep: Uint8Array;
  keptCount: number;
  /** T x T, row-major; index k is the k-th unit in peak-channel order. */
  overlapMatrix: Float64Array;
  /** Unit (template id) at each position of the peak-channel order. */
  unitOrder: Int32Array;
}

/** numpy's `b - a < w` for a pair of spike times. */
function isClose(a: number, b: number, w: number, unsigned: boolean): boolean {
  if (unsigned && b < a) return false;
  return b - a < w;
}

/** Spikes of each unit 0..units-1, ascending, as offsets into one index list (np.where per unit). */
function groupByUnit(clusters: ArrayLike<number>, spikes: Int32Array, units: number): { start: Int32Array; index: Int32Array } {
  const start = new Int32Array(units + 1);
  for (let k = 0; k < spikes.length; k++) {
    const c = clusters[spikes[k]];
    if (c >= 0 && c < units) start[c + 1]++;
  }
  for (let u = 0; u < units; u++) start[u + 1] += start[u];
  const fill = start.slice(0, units);
  const index = new Int32Array(start[units]);
  for (let k = 0; k < spikes.length; k++) {
    const c = clusters[spikes[k]];
    if (c >= 0 && c < units) index[fill[c]++] = k;
  }
  return { start, index };
}

/**
 * The later spike of each close consecutive pair in the merged trains, reported through `remove`
 * as (train, position). Sorted trains without equal times have one merged order, found by merging;
 * otherwise numpy's argsort decides which of two equal times counts as later.
 */
function betweenUnitOverlap(
  t1: Float64Array, t2: Float64Array, w: number, remove: (train: 0 | 1, k: number) => void,
): number {
  const n1 = t1.length, n2 = t2.length;
  if (n1 + n2 < 2 || w <= 0) return 0;
  let simple = true;
  for (let k = 1; k < n1 && simple; k++) if (!(t1[k - 1] < t1[k])) simple = false;
  for (let k = 1; k < n2 && simple; k++) if (!(t2[k - 1] < t2[k])) simple = false;
  if (simple) {
    let i = 0, j = 0, count = 0, prev = NaN;
    while (i < n1 || j < n2) {
      const from1 = j >= n2 || (i < n1 && t1[i] < t2[j]);
      if (i < n1 && j < n2 && t1[i] === t2[j]) { simple = false; break; }
      const t = from1 ? t1[i] : t2[j];
      if (prev === prev && t - prev < w) {
        remove(from1 ? 0 : 1, from1 ? i : j);
        count++;
      }
      prev = t;
      if (from1) i++; else j++;
    }
    if (simple) return count;
  }
  const all = new Float64Array(n1 + n2);
  all.set(t1, 0);
  all.set(t2, n1);
  const order = numpyArgsort(all);
  let count = 0;
  for (let k = 1; k < order.length; k++) {
    // Sorted, so the difference is never negative and unsigned wrapping cannot arise.
    if (all[order[k]] - all[order[k - 1]] < w) {
      const o = order[k];
      if (o < n1) remove(0, o); else remove(1, o - n1);
      count++;
    }
  }
  return count;
}

export function removeDoubleCountedSpikes(
  table: SpikeTable, params: DoubleCountParams, onUnit?: (done: number, total: number) => void,
): DoubleCountResult {
  const { times, clusters, timesUnsigned } = table;
  const units = table.peakChannels.length;
  const n = times.length;
  const unitOrder = numpyArgsort(table.peakChannels);
  const overlapMatrix = new Float64Array(units * units);
  const keep = new Uint8Array(n).fill(1);

  // Within-unit pass, on all spikes.
  const everySpike = new Int32Array(n);
  for (let i = 0; i < n; i++) everySpike[i] = i;
  const before = groupByUnit(clusters, everySpike, units);
  for (let k = 0; k < units; k++) {
    const u = unitOrder[k];
    let removed = 0;
    for (let a = before.start[u]; a + 1 < before.start[u + 1]; a++) {
      const i = before.index[a];
      if (isClose(times[i], times[before.index[a + 1]], params.withinSamples, timesUnsigned)) {
        keep[i] = 0;
        removed++;
      }
    }
    overlapMatrix[k * units + k] = removed;
    onUnit?.(k + 1, 2 * units);
  }

  // Between-unit pass on the spikes left; positions below index this reduced list, as the module's
  // arrays are reduced before the pass.
  let left = 0;
  for (let i = 0; i < n; i++) left += keep[i];
  const reduced = new Int32Array(left);
  for (let i = 0, r = 0; i < n; i++) if (keep[i]) reduced[r++] = i;
  const after = groupByUnit(clusters, reduced, units);
  const trainOf = (u: number): { spikes: Int32Array; t: Float64Array } => {
    const spikes = after.index.subarray(after.start[u], after.start[u + 1]);
    const t = new Float64Array(spikes.length);
    for (let k = 0; k < spikes.length; k++) t[k] = times[reduced[spikes[k]]];
    return { spikes, t };
  };
  const near = (c1: number, c2: number): boolean => table.peakChannelsUnsigned
    ? c1 === c2 && params.channelDistance > 0
    : Math.abs(c1 - c2) < params.channelDistance;
  const dropReduced = new Uint8Array(left);
  for (let k1 = 0; k1 < units; k1++) {
    const u1 = unitOrder[k1];
    const c1 = table.peakChannels[u1];
    let train1: ReturnType<typeof trainOf> | undefined;
    // Units are in ascending channel order, so the first one too far ends the search.
    for (let k2 = k1 + 1; k2 < units; k2++) {
      const u2 = unitOrder[k2];
      const c2 = table.peakChannels[u2];
      if (!near(c1, c2)) {
        if (table.peakChannelsUnsigned ? c2 !== c1 : c2 - c1 >= params.channelDistance) break;
        continue;
      }
      train1 ??= trainOf(u1);
      const train2 = trainOf(u2);
      const t1 = train1;
      overlapMatrix[k1 * units + k2] = betweenUnitOverlap(t1.t, train2.t, params.betweenSamples, (train, k) => {
        dropReduced[(train === 0 ? t1.spikes : train2.spikes)[k]] = 1;
      });
    }
    onUnit?.(units + k1 + 1, 2 * units);
  }
  for (let r = 0; r < left; r++) if (dropReduced[r]) keep[reduced[r]] = 0;
  let keptCount = 0;
  for (let i = 0; i < n; i++) keptCount += keep[i];
  return { keep, keptCount, overlapMatrix, unitOrder };
}
