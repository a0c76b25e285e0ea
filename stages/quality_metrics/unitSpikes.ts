/**
 * The spikes of the module's single epoch, `complete_session` = (0, inf), grouped by unit.
 *
 * The Allen module keeps spikes with 0 < t < inf, so a spike at sample 0 is dropped from every
 * metric. Units are the distinct cluster ids of those spikes in ascending order, and every per-unit
 * array follows that order. Spike lists keep the file's order (not sorted by time): ISIs are taken
 * in that order, as numpy's diff does.
 */

export interface UnitSpikes {
  /** Epoch spikes: time in seconds, cluster and template id, amplitude. */
  times: Float64Array;
  clusters: Uint32Array;
  templates: Uint32Array;
  amplitudes: Float64Array;
  /** Row of each epoch spike in the Kilosort arrays (pc_features). */
  sourceRow: Int32Array;
  /** Position of each epoch spike's cluster in `clusterIds`. */
  unitOf: Int32Array;
  /** Distinct cluster ids, ascending. */
  clusterIds: Uint32Array;
  /** Epoch spike indices of unit u: spikesByUnit[unitStart[u] .. unitStart[u+1]), ascending. */
  unitStart: Int32Array;
  spikesByUnit: Int32Array;
  /** First and last spike time of all units in the epoch. */
  minTime: number;
  maxTime: number;
}

function sharedInt32(n: number): Int32Array { return new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n); }
function sharedUint32(n: number): Uint32Array { return new Uint32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n); }
function sharedFloat64(n: number): Float64Array { return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8)).subarray(0, n); }

export function selectEpochSpikes(
  times: Float64Array, clusters: Uint32Array, templates: Uint32Array, amplitudes: Float64Array,
): UnitSpikes {
  const total = times.length;
  let n = 0;
  for (let i = 0; i < total; i++) if (times[i] > 0 && times[i] < Infinity) n++;
  const out = {
    times: sharedFloat64(n), clusters: sharedUint32(n), templates: sharedUint32(n), amplitudes: sharedFloat64(n),
    sourceRow: sharedInt32(n),
  };
  let minTime = Infinity, maxTime = -Infinity;
  for (let i = 0, e = 0; i < total; i++) {
    const t = times[i];
    if (!(t > 0 && t < Infinity)) continue;
    out.times[e] = t; out.clusters[e] = clusters[i]; out.templates[e] = templates[i]; out.amplitudes[e] = amplitudes[i];
    out.sourceRow[e] = i;
    if (t < minTime) minTime = t;
    if (t > maxTime) maxTime = t;
    e++;
  }
  // Distinct ids through a map: cluster ids are dense enough in practice but need not be.
  const idSet = new Set<number>();
  for (let e = 0; e < n; e++) idSet.add(out.clusters[e]);
  const clusterIds = sharedUint32(idSet.size);
  clusterIds.set(Array.from(idSet).sort((a, b) => a - b));
  const position = new Map<number, number>();
  clusterIds.forEach((id, u) => position.set(id, u));
  const unitOf = sharedInt32(n);
  const unitStart = sharedInt32(clusterIds.length + 1);
  for (let e = 0; e < n; e++) {
    const u = position.get(out.clusters[e])!;
    unitOf[e] = u;
    unitStart[u + 1]++;
  }
  for (let u = 0; u < clusterIds.length; u++) unitStart[u + 1] += unitStart[u];
  const fill = Int32Array.from(unitStart.subarray(0, clusterIds.length));
  const spikesByUnit = sharedInt32(n);
  for (let e = 0; e < n; e++) spikesByUnit[fill[unitOf[e]]++] = e;
  return { ...out, unitOf, clusterIds, unitStart, spikesByUnit, minTime, maxTime };
}

/** Epoch spike indices of unit u (a view, ascending). */
export function spikesOf(s: Pick<UnitSpikes, 'unitStart' | 'spikesByUnit'>, u: number): Int32Array {
  return s.spikesByUnit.subarray(s.unitStart[u], s.unitStart[u + 1]);
}
