/**
 * The PC-based metrics of one unit on its feature rows (reference §1.8): isolation distance and
 * L-ratio (Schmitzer-Torbert 2005), d' of a Fisher discriminant (Hill 2011), and nearest-neighbour
 * hit and miss rates (Chung 2017), with the module's conditions, subsampling and NaN rules.
 */
import { invertMatrix, symmetricEigen } from '../../lib/numeric/linalg.js';
import { chiSquareCdf } from '../../lib/numeric/chiSquare.js';
import { pairwiseSum } from '../../lib/numeric/pairwiseSum.js';
import { arange } from '../../lib/numeric/numpyRange.js';
import { nearestNeighbors } from '../../lib/numeric/nearestNeighbors.js';
import { buildPcRows, type PcRows } from './pcFeatureRows.js';
import type { PcData, PcParams } from './pcData.js';

export interface UnitPcMetrics {
  isolationDistance: number;
  lRatio: number;
  dPrime: number;
  nnHitRate: number;
  nnMissRate: number;
}

const none: UnitPcMetrics = { isolationDistance: NaN, lRatio: NaN, dPrime: NaN, nnHitRate: NaN, nnMissRate: NaN };

/** Column means of the selected rows, summed row by row as numpy reduces axis 0. */
function columnMeans(x: Float64Array, d: number, rows: Int32Array): Float64Array {
  const m = new Float64Array(d);
  for (let i = 0; i < rows.length; i++) {
    const b = rows[i] * d;
    for (let k = 0; k < d; k++) m[k] += x[b + k];
  }
  for (let k = 0; k < d; k++) m[k] /= rows.length;
  return m;
}

/**
 * Isolation distance: squared Mahalanobis distance (metric from this unit's covariance) of the n-th
 * closest other spike, n = min(own, other) spikes; L-ratio: sum over other spikes of the chi-square
 * tail beyond their squared distance, per own spike. NaN when the covariance is singular or n < 2.
 */
export function mahalanobisMetrics(x: Float64Array, d: number, own: Int32Array, other: Int32Array): [number, number] {
  const mean = columnMeans(x, d, own);
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < own.length; i++) {
    const b = own[i] * d;
    for (let k = 0; k < d; k++) centred[k] = x[b + k] - mean[k];
    for (let a = 0; a < d; a++) {
      const ca = centred[a];
      for (let c = a; c < d; c++) cov[a * d + c] += ca * centred[c];
    }
  }
  const scale = 1 / (own.length - 1);
  for (let a = 0; a < d; a++) for (let c = a; c < d; c++) cov[c * d + a] = cov[a * d + c] *= scale;
  const vi = invertMatrix(cov, d);
  if (!vi) return [NaN, NaN];
  const delta = new Float64Array(d);
  // scipy's cdist('mahalanobis'): delta = mean - x, s = delta . (VI delta), row by row.
  const distance = (row: number): number => {
    const b = row * d;
    for (let k = 0; k < d; k++) delta[k] = mean[k] - x[b + k];
    let s = 0;
    for (let a = 0; a < d; a++) {
      let t = 0;
      const va = a * d;
      for (let c = 0; c < d; c++) t += delta[c] * vi[va + c];
      s += delta[a] * t;
    }
    return Math.sqrt(s);
  };
  const otherDistances = new Float64Array(other.length);
  for (let i = 0; i < other.length; i++) otherDistances[i] = distance(other[i]);
  otherDistances.sort();
  const n = Math.min(own.length, other.length);
  if (n < 2) return [NaN, NaN];
  const tails = new Float64Array(other.length);
  for (let i = 0; i < other.length; i++) {
    const dd = otherDistances[i];
    tails[i] = 1 - chiSquareCdf(dd * dd, d);
  }
  const lRatio = pairwiseSum(tails) / own.length;
  const dn = otherDistances[n - 1];
  return [dn * dn, lRatio];
}

/**
 * d' of a one-component linear discriminant (this unit against the rest), computed as
 * scikit-learn's 'svd' solver does: features scaled by their within-class standard deviation,
 * directions of the within-class scatter whose singular value is at most 1e-4 discarded, then the
 * Fisher direction in what remains. d' = (mean_this - mean_other) / sqrt((var_this + var_other) / 2)
 * of the projections, which is positive (scikit-learn's sign convention gives the same).
 */
export function ldaDPrime(x: Float64Array, d: number, own: Int32Array, other: Int32Array): number {
  const n = own.length + other.length;
  const m1 = columnMeans(x, d, own);
  const m0 = columnMeans(x, d, other);
  // Within-class centred data: its column standard deviation (np.std, ddof 0) and Gram matrix.
  const colMean = new Float64Array(d);
  const each = (fn: (row: number, mean: Float64Array) => void) => {
    for (let i = 0; i < own.length; i++) fn(own[i], m1);
    for (let i = 0; i < other.length; i++) fn(other[i], m0);
  };
  each((row, mean) => { const b = row * d; for (let k = 0; k < d; k++) colMean[k] += x[b + k] - mean[k]; });
  for (let k = 0; k < d; k++) colMean[k] /= n;
  const variance = new Float64Array(d);
  each((row, mean) => {
    const b = row * d;
    for (let k = 0; k < d; k++) { const v = x[b + k] - mean[k] - colMean[k]; variance[k] += v * v; }
  });
  const std = new Float64Array(d);
  for (let k = 0; k < d; k++) { const s = Math.sqrt(variance[k] / n); std[k] = s === 0 ? 1 : s; }
  const fac = 1 / (n - 2);
  const gram = new Float64Array(d * d);
  const z = new Float64Array(d);
  each((row, mean) => {
    const b = row * d;
    for (let k = 0; k < d; k++) z[k] = (x[b + k] - mean[k]) / std[k];
    for (let a = 0; a < d; a++) {
      const za = z[a];
      for (let c = a; c < d; c++) gram[a * d + c] += za * z[c];
    }
  });
  for (let a = 0; a < d; a++) for (let c = a; c < d; c++) gram[c * d + a] = gram[a * d + c] *= fac;
  const { values, vectors } = symmetricEigen(gram, d);
  const delta = new Float64Array(d);
  for (let k = 0; k < d; k++) delta[k] = (m1[k] - m0[k]) / std[k];
  const w = new Float64Array(d);
  let rank = 0;
  for (let e = 0; e < d; e++) {
    // Singular value of the scaled data above scikit-learn's tol (1e-4).
    if (!(Math.sqrt(Math.max(values[e], 0)) > 1e-4)) continue;
    rank++;
    let proj = 0;
    for (let k = 0; k < d; k++) proj += vectors[k * d + e] * delta[k];
    const coef = proj / values[e];
    for (let k = 0; k < d; k++) w[k] += coef * vectors[k * d + e];
  }
  if (rank === 0) return NaN;
  for (let k = 0; k < d; k++) w[k] /= std[k];
  // Projections of x - xbar (the class means weighted by class size), as scikit-learn transforms.
  const xbar = new Float64Array(d);
  for (let k = 0; k < d; k++) xbar[k] = (own.length / n) * m1[k] + (other.length / n) * m0[k];
  const project = (rows: Int32Array): Float64Array => {
    const p = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const b = rows[i] * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += (x[b + k] - xbar[k]) * w[k];
      p[i] = s;
    }
    return p;
  };
  const [meanThis, stdThis] = meanStd(project(own));
  const [meanOther, stdOther] = meanStd(project(other));
  return (meanThis - meanOther) / Math.sqrt(0.5 * (stdThis ** 2 + stdOther ** 2));
}

function meanStd(p: Float64Array): [number, number] {
  const mean = pairwiseSum(p) / p.length;
  const sq = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) sq[i] = (p[i] - mean) ** 2;
  return [mean, Math.sqrt(pairwiseSum(sq) / p.length)];
}

/**
 * Nearest-neighbour hit and miss rates. Rows are this unit's first, then the others; above
 * max_spikes_for_nn rows, every (total / max)-th row is kept (numpy's float arange, truncated) and
 * the boundary between the two groups is moved to int(n_this * ratio), as the module does even
 * where that is off by one from the rows actually kept. Each row's n_neighbors - 1 nearest others
 * (the module asks for n_neighbors including the row itself).
 */
export function nearestNeighborMetrics(x: Float64Array, d: number, own: Int32Array, other: Int32Array, maxSpikesForNn: number, nNeighbors: number): [number, number] {
  const total = own.length + other.length;
  const ratio = maxSpikesForNn / total;
  let order = new Int32Array(total);
  order.set(own, 0);
  order.set(other, own.length);
  let nThis = own.length;
  if (ratio < 1) {
    const picks = arange(0, total - 1, 1 / ratio);
    const kept = new Int32Array(picks.length);
    for (let i = 0; i < picks.length; i++) kept[i] = order[Math.trunc(picks[i])];
    order = kept;
    nThis = Math.trunc(nThis * ratio);
  }
  const n = order.length;
  const pts = new Float64Array(n * d);
  for (let i = 0; i < n; i++) pts.set(x.subarray(order[i] * d, order[i] * d + d), i * d);
  const k = nNeighbors - 1;
  const nn = nearestNeighbors(pts, n, d, k);
  let hits = 0, hitTotal = 0, misses = 0, missTotal = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const isThis = nn[i * k + j] < nThis ? 1 : 0;
      if (i < nThis) { hits += isThis; hitTotal++; } else { misses += isThis; missTotal++; }
    }
  }
  return [hits / hitTotal, misses / missTotal];
}

/** All five metrics of unit u, or NaN where the module's conditions are not met. */
export function unitPcMetrics(data: PcData, params: PcParams, u: number, draws: Array<{ unit: number; spikes: Int32Array }>): { metrics: UnitPcMetrics; rows: PcRows } {
  const rows = buildPcRows(data, params, u, draws);
  const ownList: number[] = [];
  const otherList: number[] = [];
  for (let r = 0; r < rows.nRows; r++) (rows.unitOfRow[r] === u ? ownList : otherList).push(r);
  // The module's conditions: more than 10 rows, not all from this unit, more than 20 from it.
  if (!(rows.nRows > 10 && otherList.length > 0 && ownList.length > 20 && rows.channelCount > 0)) {
    return { metrics: none, rows };
  }
  const own = Int32Array.from(ownList);
  const other = Int32Array.from(otherList);
  const d = rows.nFeatures;
  // Beyond the module, on Kilosort 4 folders only: with no more own spikes than features the
  // unit's covariance is singular and the Mahalanobis metrics meaningless (near 1e17). Kilosort 2's
  // 3 PCs x 7 channels are about the module's 20 spikes; 6 PCs on up to 13 channels are 78.
  const [isolationDistance, lRatio] = data.channelRule === 'shared' && own.length <= d
    ? [NaN, NaN]
    : mahalanobisMetrics(rows.rows, d, own, other);
  const dPrime = ldaDPrime(rows.rows, d, own, other);
  const [nnHitRate, nnMissRate] = nearestNeighborMetrics(rows.rows, d, own, other, params.maxSpikesForNn, params.nNeighbors);
  return { metrics: { isolationDistance, lRatio, dPrime, nnHitRate, nnMissRate }, rows };
}
