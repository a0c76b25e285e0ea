/**
 * Writes a synthetic Kilosort output folder with the file set, dtypes and shapes of Kilosort 2
 * (reference §3.2), realistic enough that every quality metric has work to do: lognormal firing
 * rates, refractory periods with a few violating units, truncated amplitude distributions, PC
 * features concentrated around each template's peak channel with amplitude scaling and noise, slow
 * drift, and some units merged from two templates (spike_clusters differs from spike_templates).
 *
 * Used by bench/metrics.ts (millions of spikes), by the tests (thousands) and, with the options
 * that make the cases a sorter rarely gives (one-spike units, coincident spikes, a channel left
 * out), by the golden fixtures of the real Allen modules (bench/oracle/cases.ts). Options left out
 * give the same files as before they existed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeNpy, npyHeaderBytes } from '../lib/formats/npy.js';
import { PartialFile } from '../lib/base/atomicFile.js';
import { SeededRandom } from '../lib/numeric/seededRandom.js';

export interface KsFolderOptions {
  units: number;
  spikes: number;
  durationS: number;
  channels?: number;
  pcChannels?: number;
  pcs?: number;
  sampleRateHz?: number;
  seed?: number;
  /** Spikes written per pc_features chunk (memory bound while writing). */
  chunkSpikes?: number;
  /** Probe channels left out of the sorted set (channel_map skips them, as Kilosort 2 drops reference sites). */
  skipChannels?: number[];
  /** Exact spike counts of the last units (e.g. [1, 1, 2]: two one-spike units and a two-spike unit). */
  fewSpikeCounts?: number[];
  /** Spikes copied onto the unit with the nearest peak channel, 0 to 5 samples later. */
  coincidentSpikes?: number;
  /** Spikes repeated at the same time in the same unit. */
  duplicateSpikes?: number;
  /** One template per unit and cluster id = template id = unit index (what several Allen modules assume). */
  clustersAreTemplates?: boolean;
  /** Peak channels drawn from [from, to) instead of the whole probe. */
  peakChannelRange?: [number, number];
}

export interface KsFolderSummary { spikes: number; units: number; templates: number; bytes: number }

/** Standard normal values, reused through random offsets: fast enough for billions of draws. */
function normalTable(rng: SeededRandom, size: number): Float32Array {
  const t = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const u1 = rng.nextFloat() || 1e-12, u2 = rng.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    t[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < size) t[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return t;
}

export function makeKsFolder(dir: string, opts: KsFolderOptions): KsFolderSummary {
  const C = opts.channels ?? 384;
  const K = opts.pcChannels ?? 32;
  const P = opts.pcs ?? 3;
  const fs_ = opts.sampleRateHz ?? 30000;
  const rng = new SeededRandom(opts.seed ?? 1, 0);
  const normal = normalTable(rng, 1 << 20);
  let ni = 0;
  const gauss = () => normal[(ni = (ni + 1 + (rng.nextUint32() & 1023)) & 0xfffff)];
  fs.mkdirSync(dir, { recursive: true });

  // Units: cluster ids with gaps (merges renumber), 1 or 2 templates each.
  const U = opts.units;
  const clusterIds: number[] = [];
  if (opts.clustersAreTemplates) for (let id = 0; id < U; id++) clusterIds.push(id);
  else for (let id = 0; clusterIds.length < U; id++) if (rng.nextFloat() > 0.15) clusterIds.push(id);
  const unitTemplates: number[][] = [];
  let T = 0;
  for (let u = 0; u < U; u++) unitTemplates.push(!opts.clustersAreTemplates && rng.nextFloat() < 0.1 ? [T++, T++] : [T++]);
  const peakChannel = new Int32Array(T);
  const templateAmp = new Float64Array(T);
  const [peakFrom, peakTo] = opts.peakChannelRange ?? [0, C];
  for (let u = 0; u < U; u++) {
    const pk = peakFrom + rng.nextInt(peakTo - peakFrom);
    for (const t of unitTemplates[u]) {
      peakChannel[t] = Math.min(C - 1, Math.max(0, pk + (t === unitTemplates[u][0] ? 0 : rng.nextInt(3) - 1)));
      templateAmp[t] = 20 + 60 * rng.nextFloat();
    }
  }
  // pc_feature_ind: the 32 channels nearest the peak, nearest first (Kilosort's iNeigh order).
  const pcFeatureInd = new Uint32Array(T * K);
  for (let t = 0; t < T; t++) {
    const byDistance = Array.from({ length: C }, (_, c) => c)
      .sort((a, b) => Math.abs(a - peakChannel[t]) - Math.abs(b - peakChannel[t]) || a - b);
    for (let k = 0; k < K; k++) pcFeatureInd[t * K + k] = byDistance[k];
  }

  // Spike counts from lognormal rates, scaled to the requested total.
  const weights = Array.from({ length: U }, () => Math.exp(1.2 * gauss()));
  const wsum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.max(3, Math.round((w / wsum) * opts.spikes)));
  const few = opts.fewSpikeCounts ?? [];
  few.forEach((n, i) => { counts[U - few.length + i] = n; });
  const extra = (opts.coincidentSpikes ?? 0) + (opts.duplicateSpikes ?? 0);
  const N = counts.reduce((a, b) => a + b, 0) + extra;
  const durationSamples = Math.round(opts.durationS * fs_);
  // Times: uniform then sorted per unit, refractory 1.5 ms except in "contaminated" units.
  const keys = new Float64Array(N);
  let at = 0;
  for (let u = 0; u < U; u++) {
    const n = counts[u];
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) t[i] = 1 + Math.floor(rng.nextFloat() * (durationSamples - 2));
    t.sort();
    const contaminated = rng.nextFloat() < 0.2;
    for (let i = 1; i < n; i++) {
      if (!contaminated && t[i] - t[i - 1] < 45) t[i] = Math.min(durationSamples - 1, t[i - 1] + 45 + Math.floor(rng.nextFloat() * 30));
    }
    // Sort key: time then unit, packed exactly in a double (time < 2^40, unit < 2^12).
    for (let i = 0; i < n; i++) keys[at++] = t[i] * 4096 + u;
  }
  const made = at;
  const unitPeak = (u: number) => peakChannel[unitTemplates[u][0]];
  for (let i = 0; i < (opts.coincidentSpikes ?? 0); i++) {
    const k = keys[rng.nextInt(made)];
    const u = k % 4096;
    let best = -1;
    for (let w = 0; w < U; w++) {
      if (w === u || counts[w] < 3) continue;
      if (best < 0 || Math.abs(unitPeak(w) - unitPeak(u)) < Math.abs(unitPeak(best) - unitPeak(u))) best = w;
    }
    const t = Math.min(durationSamples - 1, (k - u) / 4096 + rng.nextInt(6));
    keys[at++] = t * 4096 + best;
  }
  for (let i = 0; i < (opts.duplicateSpikes ?? 0); i++) {
    let k: number;
    do k = keys[rng.nextInt(made)]; while (counts[k % 4096] < 3); // units of 1 or 2 spikes stay so
    keys[at++] = k;
  }
  keys.sort();
  const spikeTimes = new BigUint64Array(N);
  const spikeUnit = new Int32Array(N);
  const spikeTemplates = new Uint32Array(N);
  const spikeClusters = new Uint32Array(N);
  const amplitudes = new Float64Array(N);
  const scale = new Float32Array(N);
  const unitAmp = Array.from({ length: U }, () => 10 + 40 * rng.nextFloat());
  for (let i = 0; i < N; i++) {
    const u = keys[i] % 4096;
    const tpl = unitTemplates[u];
    const t = tpl[tpl.length === 1 ? 0 : rng.nextInt(2)];
    spikeTimes[i] = BigInt((keys[i] - u) / 4096);
    spikeUnit[i] = u;
    spikeTemplates[i] = t;
    spikeClusters[i] = clusterIds[u];
    // Amplitudes below a detection threshold are missing: redraw (a truncated distribution).
    let a: number;
    do a = unitAmp[u] * (1 + 0.3 * gauss()); while (a < 12);
    amplitudes[i] = a;
    scale[i] = a / unitAmp[u];
  }
  const col = (n: number) => [n, 1];
  writeNpy(path.join(dir, 'spike_times.npy'), { dtype: 'uint64', shape: col(N), data: spikeTimes });
  writeNpy(path.join(dir, 'spike_templates.npy'), { dtype: 'uint32', shape: col(N), data: spikeTemplates });
  writeNpy(path.join(dir, 'spike_clusters.npy'), { dtype: 'uint32', shape: col(N), data: spikeClusters });
  writeNpy(path.join(dir, 'amplitudes.npy'), { dtype: 'float64', shape: col(N), data: amplitudes });
  writeNpy(path.join(dir, 'pc_feature_ind.npy'), { dtype: 'uint32', shape: [T, K], data: pcFeatureInd });
  const skip = new Set(opts.skipChannels ?? []);
  const probeChannels: number[] = [];
  for (let ch = 0; probeChannels.length < C; ch++) if (!skip.has(ch)) probeChannels.push(ch);
  writeNpy(path.join(dir, 'channel_map.npy'), { dtype: 'int32', shape: [C, 1], data: Int32Array.from(probeChannels) });
  const white = new Float32Array(C * C);
  for (let c = 0; c < C; c++) { white[c * C + c] = 2; if (c + 1 < C) { white[c * C + c + 1] = 0.1; white[(c + 1) * C + c] = 0.1; } }
  writeNpy(path.join(dir, 'whitening_mat_inv.npy'), { dtype: 'float32', shape: [C, C], data: white });
  const nt = 82;
  const templates = new Float32Array(T * nt * C);
  for (let t = 0; t < T; t++) {
    for (let s = 21; s < nt; s++) {
      const w = Math.sin(((s - 21) / 61) * 2 * Math.PI) * Math.exp(-((s - 40) ** 2) / 80);
      for (let dc = -4; dc <= 4; dc++) {
        const c = peakChannel[t] + dc;
        if (c >= 0 && c < C) templates[(t * nt + s) * C + c] = w * Math.exp(-(dc * dc) / 8);
      }
    }
  }
  writeNpy(path.join(dir, 'templates.npy'), { dtype: 'float32', shape: [T, nt, C], data: templates });
  const labels = clusterIds.map(() => (rng.nextFloat() < 0.7 ? 'good' : 'mua'));
  fs.writeFileSync(path.join(dir, 'cluster_KSLabel.tsv'), 'cluster_id\tKSLabel\n' + clusterIds.map((id, u) => `${id}\t${labels[u]}\n`).join(''));

  // pc_features, streamed: PC p on column k is amp-scaled template pattern plus noise; PC1 is
  // positive near the peak, which is what depth estimation assumes. Each unit drifts slowly.
  const drift = Array.from({ length: U }, () => 1.5 * rng.nextFloat());
  const pattern = (t: number, p: number, dist: number) => {
    const g = Math.exp(-(dist * dist) / 6);
    return p === 0 ? templateAmp[t] * g : (p === 1 ? 0.4 : -0.25) * templateAmp[t] * g * (dist % 2 ? -1 : 1);
  };
  const out = new PartialFile(path.join(dir, 'pc_features.npy'));
  try {
    out.write(npyHeaderBytes('float32', [N, P, K]));
    const chunk = opts.chunkSpikes ?? 100_000;
    const buf = new Float32Array(chunk * P * K);
    for (let start = 0; start < N; start += chunk) {
      const n = Math.min(chunk, N - start);
      for (let i = 0; i < n; i++) {
        const e = start + i;
        const t = spikeTemplates[e];
        const u = spikeUnit[e];
        const shift = drift[u] * Math.sin((2 * Math.PI * Number(spikeTimes[e])) / durationSamples);
        const noise = 0.08 * templateAmp[t];
        for (let k = 0; k < K; k++) {
          const dist = pcFeatureInd[t * K + k] - (peakChannel[t] + shift);
          for (let p = 0; p < P; p++) buf[(i * P + p) * K + k] = scale[e] * pattern(t, p, dist) + noise * gauss();
        }
      }
      out.write(new Uint8Array(buf.buffer, 0, n * P * K * 4));
    }
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
  let bytes = 0;
  for (const f of fs.readdirSync(dir)) bytes += fs.statSync(path.join(dir, f)).size;
  return { spikes: N, units: U, templates: T, bytes };
}
