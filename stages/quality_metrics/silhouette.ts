/**
 * The module's silhouette score (reference §1.8): n_silhouette random spikes of the whole probe,
 * each a vector of nPCs x (max(pc_feature_ind) + 1) features holding its PCs on its template's
 * channels and zeros elsewhere; for every pair of units with more than 2 of those spikes between
 * them, scikit-learn's silhouette_score on just those spikes; a unit's value is its lowest score.
 *
 * Computed without the dense vectors or per-pair distance matrices: two spikes' vectors overlap only
 * on the channels their templates share, so each distance is one short dot product (with
 * scikit-learn's |x|^2 - 2 x.y + |y|^2 arithmetic), and the sum of distances from every spike to
 * every unit is accumulated once. A pair's score then needs only those sums.
 */
import { pairwiseSum } from '../../lib/numeric/pairwiseSum.js';

export interface SilhouetteInput {
  /** Sampled spikes: their template, pc_features row and unit (0..units-1). */
  templates: Int32Array;
  sourceRows: Int32Array;
  units: Int32Array;
  unitCount: number;
  pcFeatures: Float32Array;
  pcCount: number;
  pcChannelCount: number;
  pcFeatureInd: Uint32Array;
}

/** Per template: (channel, column) for each channel it holds; a repeated channel keeps its last column, as numpy's fancy assignment does. */
function templateChannels(pcFeatureInd: Uint32Array, pcChannelCount: number, t: number): Array<[number, number]> {
  const last = new Map<number, number>();
  for (let k = 0; k < pcChannelCount; k++) last.set(pcFeatureInd[t * pcChannelCount + k], k);
  return Array.from(last.entries()).sort((a, b) => a[0] - b[0]);
}

/** Column pairs (in template a, in template b) of the channels both hold. */
function sharedColumns(a: Array<[number, number]>, b: Array<[number, number]>): Int32Array {
  const out: number[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    if (a[i][0] === b[j][0]) { out.push(a[i][1], b[j][1]); i++; j++; }
    else if (a[i][0] < b[j][0]) i++;
    else j++;
  }
  return Int32Array.from(out);
}

export interface SampleBlocks {
  /** Sample positions grouped by template: blocks[b] = positions with template blockTemplate[b]. */
  blocks: Int32Array[];
  blockTemplate: number[];
}

export function groupSamplesByTemplate(templates: Int32Array): SampleBlocks {
  const byTemplate = new Map<number, number[]>();
  templates.forEach((t, i) => { let l = byTemplate.get(t); if (!l) byTemplate.set(t, l = []); l.push(i); });
  const keys = Array.from(byTemplate.keys()).sort((a, b) => a - b);
  return { blocks: keys.map((k) => Int32Array.from(byTemplate.get(k)!)), blockTemplate: keys };
}

/**
 * Sums of distances from each sampled spike to every unit's sampled spikes (samples x units,
 * row-major), over the block pairs (a <= b) for which `takes(a, b)` is true, so worker threads can
 * split the work and add their results.
 */
export function distanceSums(input: SilhouetteInput, takes: (a: number, b: number) => boolean): Float64Array {
  const { templates, sourceRows, units, unitCount, pcFeatures, pcCount, pcChannelCount, pcFeatureInd } = input;
  const n = templates.length;
  const sums = new Float64Array(n * unitCount);
  const { blocks, blockTemplate } = groupSamplesByTemplate(templates);
  const channels = blockTemplate.map((t) => templateChannels(pcFeatureInd, pcChannelCount, t));
  const rowSize = pcCount * pcChannelCount;
  // The sampled spikes' features copied together in block order: the inner loops then read
  // contiguous memory instead of scattered rows of a multi-GB pc_features.
  const slot = new Int32Array(n);
  const packed = new Float64Array(n * rowSize);
  const norms = new Float64Array(n);
  let next = 0;
  blocks.forEach((block, b) => {
    for (const s of block) {
      slot[s] = next;
      const src = sourceRows[s] * rowSize;
      const dst = next * rowSize;
      for (let q = 0; q < rowSize; q++) packed[dst + q] = pcFeatures[src + q];
      // Squared norm over the dense vector: each channel counted once.
      let acc = 0;
      for (let p = 0; p < pcCount; p++) for (const [, k] of channels[b]) { const v = packed[dst + p * pcChannelCount + k]; acc += v * v; }
      norms[next] = acc;
      next++;
    }
  });
  // The unit of a block when all its spikes share one (the usual case: a template belongs to one
  // unit): distances to that block then add up in a local sum before one write.
  const blockUnit = blocks.map((block) => (block.every((t) => units[t] === units[block[0]]) ? units[block[0]] : -1));
  const column = new Float64Array(n);
  let largest = 0;
  for (const block of blocks) largest = Math.max(largest, block.length);
  const gatherA = new Float64Array(largest * rowSize);
  const gatherB = new Float64Array(largest * rowSize);
  for (let a = 0; a < blocks.length; a++) {
    for (let b = a; b < blocks.length; b++) {
      if (!takes(a, b)) continue;
      const shared = sharedColumns(channels[a], channels[b]);
      // Offsets of the shared entries for every PC: positions in row a and row b.
      const offA = new Int32Array((shared.length / 2) * pcCount);
      const offB = new Int32Array(offA.length);
      for (let p = 0, m = 0; p < pcCount; p++) {
        for (let q = 0; q < shared.length; q += 2, m++) {
          offA[m] = p * pcChannelCount + shared[q];
          offB[m] = p * pcChannelCount + shared[q + 1];
        }
      }
      const ba = blocks[a], bb = blocks[b];
      const same = a === b;
      const ua = blockUnit[a], ub = blockUnit[b];
      const firstA = slot[ba[0]], firstB = slot[bb[0]];
      // The shared entries of both blocks gathered into contiguous rows of length m, so the dot
      // products run over adjacent memory.
      const m = offA.length;
      for (let i = 0; i < ba.length; i++) for (let q = 0; q < m; q++) gatherA[i * m + q] = packed[(firstA + i) * rowSize + offA[q]];
      for (let j = 0; j < bb.length; j++) for (let q = 0; q < m; q++) gatherB[j * m + q] = packed[(firstB + j) * rowSize + offB[q]];
      column.fill(0, 0, bb.length);
      for (let i = 0; i < ba.length; i++) {
        const s = ba[i];
        const normS = norms[firstA + i];
        const rowA = i * m;
        let rowSum = 0;
        for (let j = same ? i + 1 : 0; j < bb.length; j++) {
          const rowB = j * m;
          let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
          let q = 0;
          for (; q + 3 < m; q += 4) {
            d0 += gatherA[rowA + q] * gatherB[rowB + q];
            d1 += gatherA[rowA + q + 1] * gatherB[rowB + q + 1];
            d2 += gatherA[rowA + q + 2] * gatherB[rowB + q + 2];
            d3 += gatherA[rowA + q + 3] * gatherB[rowB + q + 3];
          }
          for (; q < m; q++) d0 += gatherA[rowA + q] * gatherB[rowB + q];
          const dot = (d0 + d1) + (d2 + d3);
          const sq = -2 * dot + normS + norms[firstB + j];
          const dist = sq > 0 ? Math.sqrt(sq) : 0;
          if (ub >= 0) rowSum += dist; else sums[s * unitCount + units[bb[j]]] += dist;
          if (ua >= 0) column[j] += dist; else sums[bb[j] * unitCount + units[s]] += dist;
        }
        if (ub >= 0) sums[s * unitCount + ub] += rowSum;
      }
      if (ua >= 0) for (let j = 0; j < bb.length; j++) sums[bb[j] * unitCount + ua] += column[j];
    }
  }
  return sums;
}

/**
 * Per unit, the lowest silhouette score over the pairs it is in (NaN if none). Each pair's score is
 * the mean over its spikes of (b - a) / max(a, b), a = mean distance to the own unit's other spikes,
 * b = mean distance to the other unit's; NaN terms (a unit of one spike) count as 0, as in
 * scikit-learn.
 */
export function silhouetteScores(units: Int32Array, unitCount: number, sums: Float64Array): Float64Array {
  const n = units.length;
  const members: number[][] = Array.from({ length: unitCount }, () => []);
  for (let s = 0; s < n; s++) members[units[s]].push(s);
  const best = new Float64Array(unitCount).fill(NaN);
  const values = new Float64Array(n);
  for (let i = 0; i < unitCount; i++) {
    const mi = members[i];
    if (mi.length === 0) continue;
    for (let j = i + 1; j < unitCount; j++) {
      const mj = members[j];
      if (mj.length === 0 || mi.length + mj.length <= 2) continue;
      // Spikes of the pair in sample order, as scikit-learn sees them.
      let p = 0, q = 0, m = 0;
      while (p < mi.length || q < mj.length) {
        const takeI = q >= mj.length || (p < mi.length && mi[p] < mj[q]);
        const s = takeI ? mi[p++] : mj[q++];
        const own = takeI ? i : j, otherUnit = takeI ? j : i;
        const ownCount = takeI ? mi.length : mj.length, otherCount = takeI ? mj.length : mi.length;
        const intra = sums[s * unitCount + own] / (ownCount - 1);
        const inter = sums[s * unitCount + otherUnit] / otherCount;
        const v = (inter - intra) / Math.max(intra, inter);
        values[m++] = Number.isNaN(v) || Number.isNaN(intra) ? 0 : v;
      }
      const score = pairwiseSum(values, 0, m) / m;
      if (!(score >= best[i])) best[i] = score;
      if (!(score >= best[j])) best[j] = score;
    }
  }
  return best;
}
