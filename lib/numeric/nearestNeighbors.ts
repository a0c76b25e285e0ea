/**
 * Exact k-nearest-neighbour search (Euclidean) for up to tens of thousands of points in a few
 * dozen dimensions, the regime of the nearest-neighbour quality metrics.
 *
 * Spike features have a high intrinsic dimension (noise in every channel and PC), where trees
 * prune little, so this is a brute-force search made fast: squared distances of centred points as
 * |a|^2 + |b|^2 - 2 a.b, each pair once, dot products in 4 x 4 register blocks. Each row keeps a
 * few more candidates than asked for; the candidates are then re-ranked by the exact sum of squared
 * differences in the original coordinates (dimension by dimension, as scikit-learn's trees sum), so
 * neighbours come out in the same order as scikit-learn's (ties excepted). A row whose re-ranked
 * k-th distance comes within the rounding bound of its dropped candidates is searched exactly.
 */

import { nearCandidatesWasm, type CandidateLists } from './nearCandidatesWasm.js';

const extra = 4;

/**
 * For each of the n rows of x (n x d, row-major), the indices of its k nearest other rows, nearest
 * first: row i of the result is out[i*k .. i*k+k). With fewer than k other rows, missing entries
 * are -1. Equal distances list the lower row index first.
 */
export function nearestNeighbors(x: Float64Array, n: number, d: number, k: number, useWasm = true): Int32Array {
  const out = new Int32Array(n * k).fill(-1);
  if (n < 2 || k < 1) return out;
  const kk = Math.min(k + extra, n - 1);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const c = new Float64Array(n * d);
  const norm = new Float64Array(n);
  let maxNorm = 0, meanNorm = 0;
  for (let j = 0; j < d; j++) meanNorm += mean[j] * mean[j];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) { const v = x[i * d + j] - mean[j]; c[i * d + j] = v; s += v * v; }
    norm[i] = s;
    if (s > maxNorm) maxNorm = s;
  }
  const cand = (useWasm ? nearCandidatesWasm(c, norm, n, d, kk) : undefined) ?? nearCandidatesJs(c, norm, n, d, kk);
  const candD = cand.distance;
  const candI = cand.index;

  const exact = (i: number, j: number): number => {
    let s = 0;
    for (let q = 0; q < d; q++) { const v = x[i * d + q] - x[j * d + q]; s += v * v; }
    return s;
  };
  const rankD = new Float64Array(n);
  const rankI = new Int32Array(n);
  const byDistanceThenIndex = (m: number) => {
    const idx = Array.from({ length: m }, (_, t) => t).sort((p, q) => rankD[p] - rankD[q] || rankI[p] - rankI[q]);
    return idx.map((t) => rankI[t]);
  };
  for (let i = 0; i < n; i++) {
    const base = i * kk;
    for (let t = 0; t < kk; t++) { rankI[t] = candI[base + t]; rankD[t] = exact(i, rankI[t]); }
    let chosen = byDistanceThenIndex(kk).slice(0, k);
    // Anything not kept has an approximate distance >= the last kept one; with rounding of at
    // most `err` in either, it cannot beat the k-th exact distance unless they come this close.
    const err = 1e-12 * (norm[i] + maxNorm + meanNorm);
    const kth = exact(i, chosen[chosen.length - 1]);
    if (kk < n - 1 && !(kth < candD[base + kk - 1] - 2 * err)) {
      let m = 0;
      for (let j = 0; j < n; j++) if (j !== i) { rankI[m] = j; rankD[m] = exact(i, j); m++; }
      chosen = byDistanceThenIndex(m).slice(0, k);
    }
    for (let t = 0; t < chosen.length; t++) out[i * k + t] = chosen[t];
  }
  return out;
}

/** The candidate search in plain JavaScript, where WebAssembly SIMD is unavailable. */
function nearCandidatesJs(c: Float64Array, norm: Float64Array, n: number, d: number, kk: number): CandidateLists {
  const candD = new Float64Array(n * kk).fill(Infinity);
  const candI = new Int32Array(n * kk).fill(-1);
  const worst = new Float64Array(n).fill(Infinity);
  const offer = (row: number, dist2: number, other: number) => {
    const base = row * kk;
    let pos = kk - 1;
    while (pos > 0 && candD[base + pos - 1] > dist2) {
      candD[base + pos] = candD[base + pos - 1];
      candI[base + pos] = candI[base + pos - 1];
      pos--;
    }
    candD[base + pos] = dist2;
    candI[base + pos] = other;
    worst[row] = candD[base + kk - 1];
  };
  const pair = (i: number, j: number, dot: number) => {
    const a = norm[i] + norm[j] - 2 * dot;
    if (a < worst[i]) offer(i, a, j);
    if (a < worst[j]) offer(j, a, i);
  };
  const n4 = n - (n % 4);
  for (let ib = 0; ib < n4; ib += 4) {
    const a0 = ib * d, a1 = a0 + d, a2 = a1 + d, a3 = a2 + d;
    for (let jb = ib; jb < n4; jb += 4) {
      const b0 = jb * d, b1 = b0 + d, b2 = b1 + d, b3 = b2 + d;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let q = 0; q < d; q++) {
        const x0 = c[a0 + q], x1 = c[a1 + q], x2 = c[a2 + q], x3 = c[a3 + q];
        const y0 = c[b0 + q], y1 = c[b1 + q], y2 = c[b2 + q], y3 = c[b3 + q];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
      }
      if (jb !== ib) {
        pair(ib, jb, s00); pair(ib, jb + 1, s01); pair(ib, jb + 2, s02); pair(ib, jb + 3, s03);
        pair(ib + 1, jb, s10); pair(ib + 1, jb + 1, s11); pair(ib + 1, jb + 2, s12); pair(ib + 1, jb + 3, s13);
      } else {
        pair(ib, jb + 1, s01); pair(ib, jb + 2, s02); pair(ib, jb + 3, s03);
        pair(ib + 1, jb + 2, s12); pair(ib + 1, jb + 3, s13);
      }
      if (jb !== ib) {
        pair(ib + 2, jb, s20); pair(ib + 2, jb + 1, s21); pair(ib + 2, jb + 2, s22); pair(ib + 2, jb + 3, s23);
        pair(ib + 3, jb, s30); pair(ib + 3, jb + 1, s31); pair(ib + 3, jb + 2, s32); pair(ib + 3, jb + 3, s33);
      } else {
        pair(ib + 2, jb + 3, s23);
      }
    }
  }
  // The rows left over from the blocks, against everything.
  for (let i = n4; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let q = 0; q < d; q++) s += c[i * d + q] * c[j * d + q];
      pair(i, j, s);
    }
  }

  return { distance: candD, index: candI };
}
