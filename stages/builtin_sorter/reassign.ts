/**
 * Moves each spike to the cluster whose mean waveform it is closest to. Clustering sees only
 * the spikes of one peak channel at a time, so a few spikes of a unit whose peak landed on a
 * neighbour's channel end up in that neighbour's cluster; compared with the means of all nearby
 * clusters on the same channels they find their way back (a step like Kilosort's template matching).
 */

export interface ReassignInput {
  /** Peak channel of each event. */
  channels: Int32Array;
  /** Per event, [slot][component] with slot s = channel - peak + radius. */
  features: Float32Array;
  radius: number;
  components: number;
  clusters: number[][];
  /** Clusters whose main peak channel is at most this far from a spike's are candidates. */
  searchRadius: number;
}

interface Template {
  /** Mean features per channel, [channel - first][component]; NaN where too few members cover it. */
  mean: Float64Array;
  first: number;
  count: number;
  mode: number;
}

function templateOf(m: ReassignInput, events: number[]): Template {
  const K = m.components, slots = 2 * m.radius + 1;
  let lo = Infinity, hi = -Infinity;
  const counts = new Map<number, number>();
  let mode = m.channels[events[0]], modeCount = 0;
  for (const e of events) {
    const p = m.channels[e];
    lo = Math.min(lo, p - m.radius); hi = Math.max(hi, p + m.radius);
    const k = (counts.get(p) ?? 0) + 1;
    counts.set(p, k);
    if (k > modeCount || (k === modeCount && p < mode)) { mode = p; modeCount = k; }
  }
  const width = hi - lo + 1;
  const sum = new Float64Array(width * K), cover = new Int32Array(width);
  for (const e of events) {
    const p = m.channels[e];
    for (let s = 0; s < slots; s++) {
      const c = p - m.radius + s - lo;
      cover[c]++;
      for (let k = 0; k < K; k++) sum[c * K + k] += m.features[(e * slots + s) * K + k];
    }
  }
  // A channel few members reach says little about the cluster: leave it out of comparisons.
  const minCover = Math.max(3, Math.ceil(0.3 * events.length));
  const mean = new Float64Array(width * K);
  for (let c = 0; c < width; c++) for (let k = 0; k < K; k++) mean[c * K + k] = cover[c] >= minCover ? sum[c * K + k] / cover[c] : NaN;
  return { mean, first: lo, count: events.length, mode };
}

export function reassignToNearestTemplate(m: ReassignInput): number[][] {
  const K = m.components, slots = 2 * m.radius + 1;
  const templates = m.clusters.map((c) => templateOf(m, c));
  const byMode = templates.map((t, k) => ({ mode: t.mode, k })).sort((a, b) => a.mode - b.mode);
  const out: number[][] = m.clusters.map(() => []);
  const value = (t: Template, channel: number, k: number) => {
    const c = channel - t.first;
    return c >= 0 && c * K < t.mean.length ? t.mean[c * K + k] : NaN;
  };
  m.clusters.forEach((events, own) => {
    for (const e of events) {
      const p = m.channels[e];
      const candidates: number[] = [];
      for (let i = lowerBound(byMode, p - m.searchRadius); i < byMode.length && byMode[i].mode <= p + m.searchRadius; i++) candidates.push(byMode[i].k);
      if (!candidates.includes(own)) candidates.push(own);
      // Compare on the slots every candidate's mean covers, so all distances use the same channels.
      const usable: number[] = [];
      for (let s = 0; s < slots; s++) {
        const ch = p - m.radius + s;
        if (candidates.every((k) => !Number.isNaN(value(templates[k], ch, 0)))) usable.push(s);
      }
      let best = own;
      if (usable.length > 0) {
        let bestD = Infinity;
        for (const k of candidates) {
          let d = 0;
          for (const s of usable) {
            for (let q = 0; q < K; q++) d += (m.features[(e * slots + s) * K + q] - value(templates[k], p - m.radius + s, q)) ** 2;
          }
          if (d < bestD || (d === bestD && k === own)) { bestD = d; best = k; }
        }
      }
      out[best].push(e);
    }
  });
  return out.filter((c) => c.length > 0).map((c) => c.sort((a, b) => a - b));
}

/**
 * Clustering and reassignment leave a few clusters of one or two spikes (a spike between two units,
 * a lone noise crossing): no unit, yet a row in every table downstream. Each spike of a cluster
 * with fewer than `minSpikes` goes to the nearest of the other clusters, compared as above on the
 * channels their means cover; a spike with no such cluster within the search radius is dropped.
 */
export function foldSmallClusters(m: ReassignInput, minSpikes: number): { clusters: number[][]; folded: number; dropped: number[] } {
  const K = m.components, slots = 2 * m.radius + 1;
  const big = m.clusters.filter((c) => c.length >= minSpikes);
  const small = m.clusters.filter((c) => c.length > 0 && c.length < minSpikes);
  if (small.length === 0) return { clusters: m.clusters, folded: 0, dropped: [] };
  const templates = big.map((c) => templateOf(m, c));
  const byMode = templates.map((t, k) => ({ mode: t.mode, k })).sort((a, b) => a.mode - b.mode);
  const out = big.map((c) => [...c]);
  const dropped: number[] = [];
  for (const events of small) {
    for (const e of events) {
      const p = m.channels[e];
      let best = -1, bestD = Infinity;
      for (let i = lowerBound(byMode, p - m.searchRadius); i < byMode.length && byMode[i].mode <= p + m.searchRadius; i++) {
        const t = templates[byMode[i].k];
        let d = 0, used = 0;
        for (let s = 0; s < slots; s++) {
          const c = p - m.radius + s - t.first;
          if (c < 0 || c * K >= t.mean.length || Number.isNaN(t.mean[c * K])) continue;
          used++;
          for (let q = 0; q < K; q++) d += (m.features[(e * slots + s) * K + q] - t.mean[c * K + q]) ** 2;
        }
        // Per channel compared, since clusters' means cover different channels.
        if (used > 0 && d / used < bestD) { bestD = d / used; best = byMode[i].k; }
      }
      if (best < 0) dropped.push(e);
      else out[best].push(e);
    }
  }
  return { clusters: out.map((c) => c.sort((a, b) => a - b)), folded: small.length, dropped: dropped.sort((a, b) => a - b) };
}

function lowerBound(sorted: Array<{ mode: number }>, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid].mode < v) lo = mid + 1; else hi = mid; }
  return lo;
}
