/**
 * Joins clusters found in different neighbourhoods that are one unit. A unit between two sites
 * has its spikes peak on either, so its spikes land in two (or three) neighbourhoods and are
 * clustered apart. Two clusters whose peak channels are close are compared on the channels both
 * neighbourhoods cover, with the same test that clustering uses: merged if their projection on
 * the separating direction is unimodal.
 */
import { isSeparate, principalAxes, testPair, type Points } from './isosplit.js';

export interface MergeInput {
  /** Peak channel of each event. */
  channels: Int32Array;
  /** Per event, [slot][component] with slot s = channel - peak + radius. */
  features: Float32Array;
  radius: number;
  components: number;
  /** Events of each cluster. */
  clusters: number[][];
  sortable: Uint8Array;
  mergeRadius: number;
  dims: number;
  isocutThreshold: number;
  /** Largest relative difference of the two mean waveforms (on common channels) to consider merging. */
  maxDifference: number;
  separationThreshold: number;
}

function modeChannel(events: number[], channels: Int32Array): number {
  const counts = new Map<number, number>();
  let best = channels[events[0]], bestCount = 0;
  for (const e of events) {
    const c = channels[e];
    const k = (counts.get(c) ?? 0) + 1;
    counts.set(c, k);
    if (k > bestCount || (k === bestCount && c < best)) { best = c; bestCount = k; }
  }
  return best;
}

/** Features of `events` on `common` channels (every event's neighbourhood covers them). */
function commonFeatures(m: MergeInput, events: number[], common: number[]): Points {
  const K = m.components, slots = 2 * m.radius + 1, d = common.length * K;
  const data = new Float64Array(events.length * d);
  events.forEach((e, i) => {
    common.forEach((c, j) => {
      const slot = c - m.channels[e] + m.radius;
      for (let k = 0; k < K; k++) data[i * d + j * K + k] = m.features[(e * slots + slot) * K + k];
    });
  });
  return { data, n: events.length, d };
}

function channelRange(events: number[], channels: Int32Array): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const e of events) { lo = Math.min(lo, channels[e]); hi = Math.max(hi, channels[e]); }
  return [lo, hi];
}

/** Returns the merged clusters (each an event list, ascending); order follows the first member. */
export function mergeAcrossNeighbourhoods(m: MergeInput): number[][] {
  let clusters = m.clusters.filter((c) => c.length > 0).map((c) => [...c].sort((a, b) => a - b));
  const tested = new Set<string>();
  for (let pass = 0; pass < 50; pass++) {
    const info = clusters.map((c) => ({ mode: modeChannel(c, m.channels), range: channelRange(c, m.channels) }));
    const pairs: Array<{ a: number; b: number; common: number[]; distance: number }> = [];
    for (let a = 0; a < clusters.length; a++) {
      for (let b = a + 1; b < clusters.length; b++) {
        if (Math.abs(info[a].mode - info[b].mode) > m.mergeRadius) continue;
        const key = `${clusters[a][0]}:${clusters[a].length}|${clusters[b][0]}:${clusters[b].length}`;
        if (tested.has(key)) continue;
        const lo = Math.max(info[a].range[1], info[b].range[1]) - m.radius;
        const hi = Math.min(info[a].range[0], info[b].range[0]) + m.radius;
        const common: number[] = [];
        for (let c = Math.max(0, lo); c <= hi && c < m.sortable.length; c++) if (m.sortable[c]) common.push(c);
        if (common.length < 2) continue;
        const pa = commonFeatures(m, clusters[a], common), pb = commonFeatures(m, clusters[b], common);
        let diff = 0, normA = 0, normB = 0;
        for (let j = 0; j < pa.d; j++) {
          let sa = 0, sb = 0;
          for (let i = 0; i < pa.n; i++) sa += pa.data[i * pa.d + j];
          for (let i = 0; i < pb.n; i++) sb += pb.data[i * pb.d + j];
          sa /= pa.n; sb /= pb.n;
          diff += (sa - sb) ** 2; normA += sa * sa; normB += sb * sb;
        }
        // One unit seen from two peak channels has nearly the same mean waveform on the channels
        // both see; two units rarely do, even when too few spikes make them look inseparable.
        const difference = Math.sqrt(diff / Math.max(normA, normB, 1e-12));
        if (difference > m.maxDifference) continue;
        pairs.push({ a, b, common, distance: difference });
      }
    }
    pairs.sort((x, y) => x.distance - y.distance || x.a - y.a || x.b - y.b);
    const used = new Set<number>();
    const joined: Array<[number, number]> = [];
    for (const p of pairs) {
      if (used.has(p.a) || used.has(p.b)) continue;
      const key = `${clusters[p.a][0]}:${clusters[p.a].length}|${clusters[p.b][0]}:${clusters[p.b].length}`;
      tested.add(key);
      const both = [...clusters[p.a], ...clusters[p.b]];
      const reduced = principalAxes(commonFeatures(m, both, p.common), m.dims);
      const na = clusters[p.a].length;
      const pa: Points = { data: reduced.data.subarray(0, na * reduced.d), n: na, d: reduced.d };
      const pb: Points = { data: reduced.data.subarray(na * reduced.d), n: both.length - na, d: reduced.d };
      if (!isSeparate(testPair(pa, pb), m.isocutThreshold, m.separationThreshold)) {
        used.add(p.a); used.add(p.b);
        joined.push([p.a, p.b]);
      }
    }
    if (joined.length === 0) break;
    const gone = new Set<number>();
    for (const [a, b] of joined) { clusters[a] = [...clusters[a], ...clusters[b]].sort((x, y) => x - y); gone.add(b); }
    clusters = clusters.filter((_, i) => !gone.has(i));
  }
  return clusters.sort((x, y) => x[0] - y[0]);
}
