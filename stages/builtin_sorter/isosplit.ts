/**
 * Clustering without a preset number of clusters, after ISO-SPLIT (Magland & Barnett 2015):
 * over-cluster with k-means, then repeatedly take the closest pair of clusters not yet compared,
 * project both onto the direction that best separates them (Fisher's discriminant), and either
 * merge them (the projection is unimodal, see isocut.ts) or re-split their points at the dip.
 * Stops when every pair of neighbouring clusters has been compared since it last changed.
 */
import { invertMatrix, symmetricEigen } from '../../lib/numeric/linalg.js';
import { SeededRandom } from '../../lib/numeric/seededRandom.js';
import { isocut } from './isocut.js';

export interface IsoSplitOptions {
  /** Dip score above which a pair is kept apart (ISO-SPLIT's isocut threshold). */
  isocutThreshold: number;
  /** Separation (d') above which a pair is kept apart whatever its dip score. */
  separationThreshold: number;
  /** Most clusters k-means starts from. */
  initialClusters: number;
  /** Clusters are never made smaller than this; k-means starts with about this many points each. */
  minClusterSize: number;
  seed: number;
}

/** Points are rows of a row-major matrix. */
export interface Points { data: Float64Array; n: number; d: number }

export function rows(p: Points, idx: ArrayLike<number>): Points {
  const out = new Float64Array(idx.length * p.d);
  for (let i = 0; i < idx.length; i++) out.set(p.data.subarray(idx[i] * p.d, (idx[i] + 1) * p.d), i * p.d);
  return { data: out, n: idx.length, d: p.d };
}

/** Projects centred points on their `dims` leading principal axes. */
export function principalAxes(p: Points, dims: number): Points {
  const { n, d } = p;
  const k = Math.min(dims, d);
  if (n === 0 || k === d) return p;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += p.data[i * d + j] / n;
  const cov = covariance(p, mean);
  const eig = symmetricEigen(cov, d);
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < k; a++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (p.data[i * d + j] - mean[j]) * eig.vectors[j * d + a];
      out[i * k + a] = s;
    }
  }
  return { data: out, n, d: k };
}

function covariance(p: Points, mean: Float64Array): Float64Array {
  const { n, d } = p;
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[j] = p.data[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[a * d + b] += x[a] * x[b];
  }
  const div = Math.max(1, n - 1);
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) { cov[a * d + b] /= div; cov[b * d + a] = cov[a * d + b]; }
  return cov;
}

function meanOf(p: Points): Float64Array {
  const m = new Float64Array(p.d);
  for (let i = 0; i < p.n; i++) for (let j = 0; j < p.d; j++) m[j] += p.data[i * p.d + j] / p.n;
  return m;
}

export interface PairTest {
  dipScore: number;
  /**
   * Separation of the two clusters on that direction: distance of their means over their pooled
   * spread (d'). Halves of one Gaussian cluster are about 2.7 apart; the dip test alone misses
   * two well separated clusters when one has only a dozen points.
   */
  separation: number;
  /** Per point of a then b: true when it falls on b's side of the cut. */
  sideB: Uint8Array;
}

/** Whether a pair should stay apart: a dip between them, or too far apart to be one cluster. */
export function isSeparate(t: PairTest, isocutThreshold: number, separationThreshold: number): boolean {
  return t.dipScore >= isocutThreshold || t.separation >= separationThreshold;
}

/**
 * Projects two clusters on Fisher's direction (pooled covariance) and runs isocut on the projection.
 * The cut is isocut's when its dip reaches `isocutThreshold`, else between the two means.
 */
export function testPair(a: Points, b: Points, isocutThreshold = Infinity): PairTest {
  const d = a.d;
  const ma = meanOf(a), mb = meanOf(b);
  const ca = covariance(a, ma), cb = covariance(b, mb);
  // Few points per dimension overfit the discriminant (two halves of one cluster would look
  // separable), so the covariance is shrunk towards its mean variance by d / n, and floored at a
  // tenth of the noise (features are in noise units).
  const pooled = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) pooled[i] = (ca[i] + cb[i]) / 2;
  let trace = 0;
  for (let i = 0; i < d; i++) trace += pooled[i * d + i];
  const shrink = Math.min(1, d / (a.n + b.n));
  for (let i = 0; i < d * d; i++) pooled[i] *= 1 - shrink;
  for (let i = 0; i < d; i++) pooled[i * d + i] += shrink * (trace / d) + 0.1;
  const inv = invertMatrix(pooled, d);
  const diff = Float64Array.from(mb, (v, j) => v - ma[j]);
  const dir = new Float64Array(d);
  if (inv) for (let i = 0; i < d; i++) { let s = 0; for (let j = 0; j < d; j++) s += inv[i * d + j] * diff[j]; dir[i] = s; }
  else dir.set(diff);
  const z = new Float64Array(a.n + b.n);
  for (let i = 0; i < a.n + b.n; i++) {
    const src = i < a.n ? a : b, r = i < a.n ? i : i - a.n;
    let s = 0;
    for (let j = 0; j < d; j++) s += src.data[r * d + j] * dir[j];
    z[i] = s;
  }
  const stats = (from: number, to: number) => {
    let m = 0;
    for (let i = from; i < to; i++) m += z[i] / (to - from);
    let v = 0;
    for (let i = from; i < to; i++) v += (z[i] - m) ** 2;
    return { m, v: v / Math.max(1, to - from - 1) };
  };
  const sa = stats(0, a.n), sb = stats(a.n, a.n + b.n);
  const spread = Math.sqrt((sa.v + sb.v) / 2);
  const separation = spread > 0 ? Math.abs(sb.m - sa.m) / spread : 0;
  const cut = isocut(z);
  let cutPoint = cut.cutPoint;
  if (cut.dipScore < isocutThreshold || cutPoint <= Math.min(sa.m, sb.m) || cutPoint >= Math.max(sa.m, sb.m)) {
    // No real valley (the pair is apart by separation alone): isocut's cut point is then
    // arbitrary, so cut between the means, closer to the tighter cluster.
    const da = Math.sqrt(sa.v), db = Math.sqrt(sb.v);
    cutPoint = da + db > 0 ? (sa.m * db + sb.m * da) / (da + db) : (sa.m + sb.m) / 2;
  }
  const bHigh = sb.m >= sa.m;
  return { dipScore: cut.dipScore, separation, sideB: Uint8Array.from(z, (v) => ((v >= cutPoint) === bHigh ? 1 : 0)) };
}

function kMeans(p: Points, k: number, rng: SeededRandom, iterations = 20): Int32Array {
  const { n, d, data } = p;
  const labels = new Int32Array(n);
  if (k <= 1) return labels;
  // k-means++ seeding.
  const centres = new Float64Array(k * d);
  const dist = new Float64Array(n).fill(Infinity);
  let pick = rng.nextInt(n);
  for (let c = 0; c < k; c++) {
    centres.set(data.subarray(pick * d, (pick + 1) * d), c * d);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) { const e = data[i * d + j] - centres[c * d + j]; s += e * e; }
      if (s < dist[i]) dist[i] = s;
      total += dist[i];
    }
    let r = rng.nextFloat() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) { r -= dist[i]; if (r <= 0) { pick = i; break; } }
  }
  const counts = new Int32Array(k);
  for (let it = 0; it < iterations; it++) {
    let changed = false;
    for (let i = 0; i < n; i++) {
      let best = 0, bestS = Infinity;
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) { const e = data[i * d + j] - centres[c * d + j]; s += e * e; }
        if (s < bestS) { bestS = s; best = c; }
      }
      if (labels[i] !== best || it === 0) { changed ||= labels[i] !== best; labels[i] = best; }
    }
    if (!changed && it > 0) break;
    centres.fill(0); counts.fill(0);
    for (let i = 0; i < n; i++) { counts[labels[i]]++; for (let j = 0; j < d; j++) centres[labels[i] * d + j] += data[i * d + j]; }
    for (let c = 0; c < k; c++) if (counts[c] > 0) for (let j = 0; j < d; j++) centres[c * d + j] /= counts[c];
  }
  return labels;
}

/** Labels 0..k-1, numbered by decreasing cluster size (ties by first member). */
export function isoSplit(p: Points, o: IsoSplitOptions): Int32Array {
  const n = p.n;
  const rng = new SeededRandom(o.seed);
  const k0 = Math.max(1, Math.min(o.initialClusters, Math.floor(n / Math.max(1, o.minClusterSize))));
  const labels = kMeans(p, k0, rng);
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    if (!members.has(labels[i])) members.set(labels[i], []);
    members.get(labels[i])!.push(i);
  }
  const centre = new Map<number, Float64Array>();
  const refresh = (c: number) => centre.set(c, meanOf(rows(p, members.get(c)!)));
  for (const c of members.keys()) refresh(c);
  const compared = new Set<string>();
  const key = (a: number, b: number) => (a < b ? `${a},${b}` : `${b},${a}`);

  for (let pass = 0; pass < 200; pass++) {
    const ids = [...members.keys()].sort((a, b) => a - b);
    const pairs: Array<[number, number, number]> = [];
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        if (compared.has(key(ids[i], ids[j]))) continue;
        const ca = centre.get(ids[i])!, cb = centre.get(ids[j])!;
        let s = 0;
        for (let t = 0; t < p.d; t++) s += (ca[t] - cb[t]) ** 2;
        pairs.push([s, ids[i], ids[j]]);
      }
    }
    if (pairs.length === 0) break;
    pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
    const used = new Set<number>();
    for (const [, a, b] of pairs) {
      if (used.has(a) || used.has(b)) continue;
      used.add(a); used.add(b);
      const ma = members.get(a)!, mb = members.get(b)!;
      const t = testPair(rows(p, ma), rows(p, mb), o.isocutThreshold);
      const all = [...ma, ...mb];
      const nb = t.sideB.reduce((s, v) => s + v, 0);
      const forget = (c: number) => { for (const k of [...compared]) if (k.split(',').map(Number).includes(c)) compared.delete(k); };
      if (!isSeparate(t, o.isocutThreshold, o.separationThreshold) || nb < o.minClusterSize || all.length - nb < o.minClusterSize) {
        members.set(a, all.sort((x, y) => x - y));
        members.delete(b);
        centre.delete(b);
        forget(a); forget(b);
        refresh(a);
        continue;
      }
      const newA = all.filter((_, i) => !t.sideB[i]).sort((x, y) => x - y);
      const newB = all.filter((_, i) => t.sideB[i]).sort((x, y) => x - y);
      const moved = newA.length !== ma.length || newA.some((v, i) => v !== ma[i]);
      members.set(a, newA); members.set(b, newB);
      if (moved) { forget(a); forget(b); refresh(a); refresh(b); }
      compared.add(key(a, b));
    }
  }
  const groups = [...members.values()].sort((x, y) => y.length - x.length || x[0] - y[0]);
  const out = new Int32Array(n);
  groups.forEach((g, c) => { for (const i of g) out[i] = c; });
  return out;
}
