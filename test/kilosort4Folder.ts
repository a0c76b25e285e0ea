/**
 * A folder laid out as Kilosort 4.1.5 writes it for Phy, made from a synthetic recording and its
 * ground truth, so that what the post-sorting stages report can be checked against what the
 * clusters really are. Each cluster is one ground-truth unit, or several merged into one cluster
 * as Kilosort 4 merges units it cannot tell apart (one template, one set of PC channels), or half
 * of a unit split in two.
 *
 * Kilosort 4's files, shapes and dtypes (../shared reference: kilosort4.md): templates (K, 61, C)
 * with the trough at sample 20 and no padding; pc_features (N, 6, 10): each spike projected on 6
 * PCs on the 10 channels nearest its cluster's largest, pc_feature_ind (K, 10) ordered by size;
 * spike_times int64 (N,); spike_clusters and spike_templates int32 (the same ids); amplitudes
 * float32 (N,), the norm of a spike's features; no template_features.npy. The PCs are the
 * recording's own: the leading eigenvectors of its spike snippets, the first negative at the trough
 * (as Kilosort 2 fixes it and as Kilosort 4 gets it with some scikit-learn versions), or positive
 * with `firstPcSign: -1`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readNpy, writeNpy } from '../lib/formats/npy.js';
import { symmetricEigen } from '../lib/numeric/linalg.js';

const nt = 61, troughAt = 20, pcs = 6, nearest = 10;

export interface Kilosort4FolderOptions {
  /** Groups of ground-truth units that become one cluster each. */
  merge?: number[][];
  /** Ground-truth units whose spikes alternate between two clusters, as a sorter splits a unit. */
  split?: number[];
  firstPcSign?: 1 | -1;
}

export interface Kilosort4Folder {
  /** Cluster id of each ground-truth unit (of its first half when split). */
  clusterOfUnit: number[];
  /** Cluster id of the second half of each split unit, in the order of `split`. */
  secondHalfOf: number[];
  spikesPerCluster: number[];
}

export function writeKilosort4Folder(
  rec: { apFile: string; savedChannels: number; groundTruthDir: string }, dir: string, opts: Kilosort4FolderOptions = {},
): Kilosort4Folder {
  const info = JSON.parse(fs.readFileSync(path.join(rec.groundTruthDir, 'info.json'), 'utf8'));
  const C: number = info.channel_count;
  const x: number[] = info.site_x_um, y: number[] = info.site_y_um;
  const gtTimes = readNpy(path.join(rec.groundTruthDir, 'spike_times.npy')).data as BigUint64Array;
  const gtUnits = readNpy(path.join(rec.groundTruthDir, 'spike_clusters.npy')).data as Uint32Array;
  const unitCount: number = info.unit_count;

  // Clusters numbered by their first unit, as Kilosort numbers what it keeps: 0..K-1.
  const leader = Array.from({ length: unitCount }, (_, u) => u);
  for (const group of opts.merge ?? []) for (const u of group) leader[u] = Math.min(...group);
  const leaders = Array.from(new Set(leader)).sort((a, b) => a - b);
  const clusterOfUnit = leader.map((l) => leaders.indexOf(l));
  const split = opts.split ?? [];
  const secondHalfOf = split.map((_, i) => leaders.length + i);
  const K = leaders.length + split.length;

  // Snippets of every spike that fits in the file, on every probe channel, less each channel's median.
  const S = rec.savedChannels;
  const fd = fs.openSync(rec.apFile, 'r');
  const samples = fs.fstatSync(fd).size / (2 * S);
  const baseline = new Float64Array(C);
  const head = Buffer.alloc(Math.min(samples, 30000) * S * 2);
  fs.readSync(fd, head, 0, head.length, 0);
  const headValues = new Int16Array(head.buffer, head.byteOffset, head.length / 2);
  for (let c = 0; c < C; c++) {
    const v = Float64Array.from({ length: headValues.length / S }, (_, i) => headValues[i * S + c]).sort();
    baseline[c] = v[v.length >> 1];
  }
  const order = Array.from(gtTimes.keys()).filter((i) => gtTimes[i] >= troughAt && Number(gtTimes[i]) + nt - troughAt <= samples)
    .sort((a, b) => Number(gtTimes[a] - gtTimes[b]) || a - b);
  const N = order.length;
  const snippets = new Float32Array(N * nt * C);
  const buf = Buffer.alloc(nt * S * 2);
  const row = new Int16Array(buf.buffer, buf.byteOffset, nt * S);
  order.forEach((i, n) => {
    fs.readSync(fd, buf, 0, buf.length, (Number(gtTimes[i]) - troughAt) * S * 2);
    for (let s = 0; s < nt; s++) for (let c = 0; c < C; c++) snippets[(n * nt + s) * C + c] = row[s * S + c] - baseline[c];
  });
  fs.closeSync(fd);
  const seen = new Map<number, number>();
  const clusterOf = Int32Array.from(order, (i) => {
    const u = gtUnits[i], half = split.indexOf(u);
    if (half < 0) return clusterOfUnit[u];
    const n = seen.get(u) ?? 0;
    seen.set(u, n + 1);
    return n % 2 ? secondHalfOf[half] : clusterOfUnit[u];
  });

  // Templates: each cluster's mean snippet; its largest channel and the 10 nearest that one.
  const templates = new Float32Array(K * nt * C);
  const counts = new Array<number>(K).fill(0);
  const sums = new Float64Array(K * nt * C);
  for (let n = 0; n < N; n++) {
    counts[clusterOf[n]]++;
    for (let q = 0; q < nt * C; q++) sums[clusterOf[n] * nt * C + q] += snippets[n * nt * C + q];
  }
  for (let q = 0; q < sums.length; q++) templates[q] = sums[q] / Math.max(1, counts[Math.floor(q / (nt * C))]);
  const norm = (k: number, c: number) => { let e = 0; for (let s = 0; s < nt; s++) e += templates[(k * nt + s) * C + c] ** 2; return e; };
  const pcFeatureInd = new Uint32Array(K * nearest);
  const largest = new Int32Array(K);
  for (let k = 0; k < K; k++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (norm(k, c) > norm(k, best)) best = c;
    largest[k] = best;
    const near = Array.from({ length: C }, (_, c) => c)
      .sort((a, b) => ((x[a] - x[best]) ** 2 + (y[a] - y[best]) ** 2) - ((x[b] - x[best]) ** 2 + (y[b] - y[best]) ** 2) || a - b)
      .slice(0, nearest).sort((a, b) => norm(k, b) - norm(k, a) || a - b);
    pcFeatureInd.set(near, k * nearest);
  }

  // PCs: leading eigenvectors of the snippets on their cluster's largest channel.
  const cov = new Float64Array(nt * nt);
  const w = new Float64Array(nt);
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < nt; s++) w[s] = snippets[(n * nt + s) * C + largest[clusterOf[n]]];
    for (let a = 0; a < nt; a++) for (let b = 0; b < nt; b++) cov[a * nt + b] += w[a] * w[b];
  }
  const { vectors } = symmetricEigen(cov, nt);
  const basis = new Float64Array(pcs * nt);
  for (let p = 0; p < pcs; p++) {
    const flip = p === 0 ? (vectors[troughAt * nt] < 0 ? 1 : -1) * (opts.firstPcSign ?? 1) : 1;
    for (let s = 0; s < nt; s++) basis[p * nt + s] = flip * vectors[s * nt + p];
  }

  const pcFeatures = new Float32Array(N * pcs * nearest);
  const amplitudes = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let energy = 0;
    for (let p = 0; p < pcs; p++) {
      for (let j = 0; j < nearest; j++) {
        const c = pcFeatureInd[clusterOf[n] * nearest + j];
        let v = 0;
        for (let s = 0; s < nt; s++) v += basis[p * nt + s] * snippets[(n * nt + s) * C + c];
        pcFeatures[(n * pcs + p) * nearest + j] = v;
        energy += Math.fround(v) ** 2;
      }
    }
    amplitudes[n] = Math.sqrt(energy);
  }

  fs.mkdirSync(dir, { recursive: true });
  const save = (name: string, dtype: Parameters<typeof writeNpy>[1]['dtype'], shape: number[], data: Parameters<typeof writeNpy>[1]['data']) =>
    writeNpy(path.join(dir, `${name}.npy`), { dtype, shape, data });
  save('spike_times', 'int64', [N], BigInt64Array.from(order, (i) => BigInt(gtTimes[i])));
  save('spike_clusters', 'int32', [N], clusterOf);
  save('spike_templates', 'int32', [N], Int32Array.from(clusterOf));
  save('amplitudes', 'float32', [N], amplitudes);
  save('templates', 'float32', [K, nt, C], templates);
  save('pc_features', 'float32', [N, pcs, nearest], pcFeatures);
  save('pc_feature_ind', 'uint32', [K, nearest], pcFeatureInd);
  save('channel_map', 'int64', [C], BigInt64Array.from({ length: C }, (_, c) => BigInt(c)));
  save('channel_positions', 'float64', [C, 2], Float64Array.from({ length: 2 * C }, (_, i) => (i % 2 ? y : x)[i >> 1]));
  const eye = Float32Array.from({ length: C * C }, (_, i) => (i % (C + 1) === 0 ? 1 : 0));
  for (const name of ['whitening_mat', 'whitening_mat_dat', 'whitening_mat_inv']) save(name, 'float32', [C, C], eye);
  save('similar_templates', 'float32', [K, K], Float32Array.from({ length: K * K }, (_, i) => (i % (K + 1) === 0 ? 1 : 0)));
  fs.writeFileSync(path.join(dir, 'cluster_KSLabel.tsv'), `cluster_id\tKSLabel\n${counts.map((_, k) => `${k}\tgood\n`).join('')}`);
  fs.writeFileSync(path.join(dir, 'params.py'), `n_channels_dat = ${S}\noffset = 0\nsample_rate = 30000.0\ndtype = 'int16'\nhp_filtered = False\ndat_path = [${JSON.stringify(rec.apFile)}]\n`);
  return { clusterOfUnit, secondHalfOf, spikesPerCluster: counts };
}
