/**
 * The quick-look sort of one recording, pass by pass:
 *   1. levels: per-channel DC and robust noise on a few windows (noise.ts);
 *   2. basis: temporal PCs of peak-channel snippets from windows spread over the recording;
 *   3. detect: every chunk, in parallel: spikes and their neighbourhood features;
 *   4. cluster: each peak-channel neighbourhood on its own, in parallel (isosplit.ts), then
 *      clusters of neighbouring neighbourhoods merged when they are one unit (merge.ts);
 *   5. templates: the mean of up to max_spikes_per_template spikes of each cluster;
 *   6. project: each spike's amplitude and PC features on its template's channels;
 *   7. the Kilosort/Phy files (phyFiles.ts).
 * Memory holds per-spike features, not samples: the file is only ever read in chunks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PartialFile } from '../../lib/atomicFile.js';
import { StageError } from '../../lib/builtin.js';
import { npyHeaderBytes } from '../../lib/npy.js';
import { binomialKernel } from './block.js';
import { temporalBasis, type Window } from './features.js';
import { contamination, label, type LabelOptions } from './labels.js';
import { mergeAcrossNeighbourhoods } from './merge.js';
import { reassignToNearestTemplate } from './reassign.js';
import { measureLevels } from './noise.js';
import type { SorterParams } from './params.js';
import { writePhyFolder, templateLength, templatePadding } from './phyFiles.js';
import { TaskPool } from './pool.js';
import { templateWindow, type SorterSetup, type Task, type TaskResult, type TemplateChannels } from './tasks.js';

export interface SortRequest {
  apFile: string;
  numChannels: number;
  sampleRateHz: number;
  bitVolts: number;
  referenceChannels: number[];
  outDir: string;
  params: SorterParams;
  signal?: AbortSignal;
  log?(message: string): void;
  progress?(doneBytes: number, totalBytes: number): void;
}

export interface SortSummary {
  spikes: number;
  clusters: number;
  goodClusters: number;
  sortedChannels: number;
  peakChannels: number;
  medianNoiseUv: number;
  files: string[];
  phaseSeconds: Record<string, number>;
}

/** Kilosort writes 32 channels per template into pc_features. */
const pcChannelsWanted = 32;
const maxBasisSnippets = 20000;

type Detected = Extract<TaskResult, { kind: 'detect' }>;

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return 0;
  return v.length % 2 ? v[v.length >> 1] : (v[(v.length >> 1) - 1] + v[v.length >> 1]) / 2;
}

function concat<T extends Float64Array | Float32Array | Int32Array>(parts: T[], make: (n: number) => T): T {
  const out = make(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p as any, at); at += p.length; }
  return out;
}

/** First index with times[i] >= v. */
function lowerBound(times: Float64Array, v: number): number {
  let lo = 0, hi = times.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (times[mid] < v) lo = mid + 1; else hi = mid; }
  return lo;
}

function evenlySpaced(n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  if (k === 1) return [Math.floor((n - 1) / 2)];
  return Array.from({ length: k }, (_, i) => Math.round((i * (n - 1)) / (k - 1)));
}

function modeChannel(events: number[], channels: Int32Array): number {
  const counts = new Map<number, number>();
  let best = channels[events[0]], bestCount = 0;
  for (const e of events) {
    const k = (counts.get(channels[e]) ?? 0) + 1;
    counts.set(channels[e], k);
    if (k > bestCount || (k === bestCount && channels[e] < best)) { best = channels[e]; bestCount = k; }
  }
  return best;
}

export async function sortRecording(req: SortRequest): Promise<SortSummary> {
  const p = req.params;
  const C = req.numChannels, fs_ = req.sampleRateHz;
  const log = req.log ?? (() => {});
  const phaseSeconds: Record<string, number> = {};
  let phaseStart = process.hrtime.bigint();
  const phase = (name: string) => {
    const now = process.hrtime.bigint();
    phaseSeconds[name] = Number(now - phaseStart) / 1e9;
    phaseStart = now;
    log(`${name}: ${phaseSeconds[name].toFixed(2)} s`);
  };

  const sizeBytes = fs.statSync(req.apFile).size;
  if (sizeBytes % (2 * C) !== 0) {
    throw new StageError(`${req.apFile}: size ${sizeBytes} bytes is not a multiple of 2 x num_channels (${2 * C}); the file is truncated or num_channels is wrong`);
  }
  const totalSamples = sizeBytes / (2 * C);
  const kernel = binomialKernel(p.smoothing_taps);

  // 1. Levels, and which channels take part.
  const fd = fs.openSync(req.apFile, 'r');
  let levels;
  try {
    levels = measureLevels({ fd, path: req.apFile, numChannels: C, totalSamples, kernel }, p.noise_windows, Math.round(p.noise_window_seconds * fs_));
  } finally {
    fs.closeSync(fd);
  }
  const reference = new Set(req.referenceChannels);
  const sortable = new Uint8Array(C);
  for (let c = 0; c < C; c++) {
    // SpikeGLX saves the probe's channels plus one sync channel last: an odd count means that one.
    const isSync = levels.digital[c] || (C % 2 === 1 && c === C - 1);
    sortable[c] = reference.has(c) || isSync ? 0 : 1;
  }
  const sortedChannels = [...sortable.keys()].filter((c) => sortable[c]);
  const medianRaw = median(sortedChannels.map((c) => levels.noiseRaw[c]));
  const medianSmooth = median(sortedChannels.map((c) => levels.noiseSmooth[c]));
  const noiseRaw = Float32Array.from(levels.noiseRaw, (v) => Math.max(v, 0.05 * medianRaw, 1e-6));
  const noiseSmooth = Float32Array.from(levels.noiseSmooth, (v) => Math.max(v, 0.05 * medianSmooth, 1e-6));
  const threshold = new Float32Array(C).fill(Infinity);
  let peakChannels = 0;
  for (const c of sortedChannels) {
    // Broken channels are never a spike's peak: far noisier than the rest, or nearly silent.
    const ratio = levels.noiseSmooth[c] / medianSmooth;
    if (ratio > 4 || ratio < 0.1) continue;
    threshold[c] = p.detect_threshold * noiseSmooth[c];
    peakChannels++;
  }
  phase('levels');

  const window: Window = { pre: p.snippet_pre_samples, length: p.snippet_samples };
  const setup: SorterSetup = {
    path: req.apFile, numChannels: C, totalSamples, dc: levels.dc, kernel, threshold, noiseSmooth, noiseRaw, sortable,
    dedupSamples: Math.round((p.dedup_window_ms / 1000) * fs_), radius: p.neighbourhood_radius, window, components: p.pca_components,
  };
  const chunkSamples = Math.max(1, Math.round(p.chunk_seconds * fs_));
  const chunks: Array<[number, number]> = [];
  for (let t = 0; t < totalSamples; t += chunkSamples) chunks.push([t, Math.min(totalSamples, t + chunkSamples)]);
  const bytesOf = (c: [number, number]) => (c[1] - c[0]) * 2 * C;
  const passBytes = 3 * sizeBytes;
  let doneBytes = 0;
  const advance = (bytes: number) => { doneBytes += bytes; req.progress?.(doneBytes, passBytes); };

  const pool = new TaskPool(setup, p.workers > 0 ? p.workers : os.availableParallelism());
  const onAbort = () => { void pool.terminate(); };
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const pcFile = new PartialFile(path.join(req.outDir, 'pc_features.npy'));
  try {
    const stopped = () => { if (req.signal?.aborted) throw new StageError(`sorting of ${req.apFile} stopped before it finished`); };

    // 2. Temporal basis.
    const basisChunks = evenlySpaced(chunks.length, Math.max(1, Math.ceil(p.basis_seconds / p.chunk_seconds))).map((i) => chunks[i]);
    const snippetResults = await pool.runAll<Extract<TaskResult, { kind: 'snippets' }>>(basisChunks.map(([from, to]) => ({ kind: 'snippets', from, to })));
    stopped();
    const allSnippets = concat(snippetResults.map((r) => r.snippets), (n) => new Float32Array(n));
    const snippetCount = allSnippets.length / window.length;
    const picked = evenlySpaced(snippetCount, maxBasisSnippets);
    const chosen = new Float32Array(picked.length * window.length);
    picked.forEach((s, i) => chosen.set(allSnippets.subarray(s * window.length, (s + 1) * window.length), i * window.length));
    let basis: Float32Array;
    if (picked.length > 0) basis = temporalBasis(chosen, picked.length, window, p.pca_components);
    else {
      // No spike to learn from: delta functions at the trough and after it are still a basis.
      basis = new Float32Array(p.pca_components * window.length);
      for (let k = 0; k < p.pca_components; k++) basis[k * window.length + Math.min(window.length - 1, window.pre + k)] = 1;
    }
    phase('basis');

    // 3. Detection and features.
    const detected = await pool.runAll<Detected>(chunks.map(([from, to]) => ({ kind: 'detect', from, to, basis })), (i) => advance(bytesOf(chunks[i])));
    stopped();
    const times = concat(detected.map((r) => r.times), (n) => new Float64Array(n));
    const channels = concat(detected.map((r) => r.channels), (n) => new Int32Array(n));
    const offsets = concat(detected.map((r) => r.offsets), (n) => new Float32Array(n));
    const features = concat(detected.map((r) => r.features), (n) => new Float32Array(n));
    const N = times.length;
    log(`detected ${N} spikes on ${peakChannels} channels`);
    phase('detect');

    // 4. Clustering per neighbourhood, then across neighbourhoods.
    const slots = 2 * p.neighbourhood_radius + 1, perEvent = slots * p.pca_components;
    const groups = new Map<number, number[]>();
    for (let i = 0; i < N; i++) {
      if (!groups.has(channels[i])) groups.set(channels[i], []);
      groups.get(channels[i])!.push(i);
    }
    const groupList = [...groups.entries()].sort((a, b) => a[0] - b[0]);
    const clusterTasks: Task[] = groupList.map(([channel, events]) => ({
      kind: 'cluster',
      data: Float64Array.from({ length: events.length * perEvent }, (_, k) => features[events[Math.floor(k / perEvent)] * perEvent + (k % perEvent)]),
      n: events.length, d: perEvent, dims: p.cluster_dimensions,
      options: { isocutThreshold: p.isocut_threshold, separationThreshold: p.separation_threshold, initialClusters: p.initial_clusters, minClusterSize: p.min_cluster_spikes, seed: (p.seed ^ Math.imul(channel + 1, 0x9e3779b1)) >>> 0 },
    }));
    const labelled = await pool.runAll<Extract<TaskResult, { kind: 'cluster' }>>(clusterTasks);
    stopped();
    const local: number[][] = [];
    groupList.forEach(([, events], g) => {
      const byLabel = new Map<number, number[]>();
      events.forEach((e, i) => {
        const l = labelled[g].labels[i];
        if (!byLabel.has(l)) byLabel.set(l, []);
        byLabel.get(l)!.push(e);
      });
      for (const l of [...byLabel.keys()].sort((a, b) => a - b)) local.push(byLabel.get(l)!);
    });
    const merged = mergeAcrossNeighbourhoods({
      channels, features, radius: p.neighbourhood_radius, components: p.pca_components, clusters: local, sortable,
      mergeRadius: p.merge_radius, dims: p.cluster_dimensions, isocutThreshold: p.isocut_threshold, separationThreshold: p.separation_threshold,
      maxDifference: p.merge_max_difference,
    });
    const reassigned = reassignToNearestTemplate({
      channels, features, radius: p.neighbourhood_radius, components: p.pca_components, clusters: merged, searchRadius: p.merge_radius,
    });
    // Number clusters by depth (peak channel), as Phy users expect to scroll them.
    const peakOf = reassigned.map((events) => modeChannel(events, channels));
    const order = reassigned.map((_, i) => i).sort((a, b) => peakOf[a] - peakOf[b] || reassigned[a][0] - reassigned[b][0]);
    const clusters = order.map((i) => reassigned[i]);
    const clusterPeak = order.map((i) => peakOf[i]);
    const T = clusters.length;
    const spikeCluster = new Uint32Array(N);
    clusters.forEach((events, k) => { for (const e of events) spikeCluster[e] = k; });
    log(`${local.length} clusters in ${groupList.length} neighbourhoods, ${T} after merging`);
    phase('cluster');

    // 5. Templates on the channels nearest each cluster's peak.
    const P = Math.min(pcChannelsWanted, sortedChannels.length);
    const layout: TemplateChannels = { templateCount: T, perTemplate: P, channels: new Int32Array(T * P) };
    clusterPeak.forEach((peak, k) => {
      const near = [...sortedChannels].sort((a, b) => Math.abs(a - peak) - Math.abs(b - peak) || a - b).slice(0, P);
      layout.channels.set(near, k * P);
    });
    const include = new Uint8Array(N);
    for (const events of clusters) for (const i of evenlySpaced(events.length, p.max_spikes_per_template)) include[events[i]] = 1;
    const eventRange = (c: [number, number]) => [lowerBound(times, c[0]), lowerBound(times, c[1])] as const;
    const sumTasks: Task[] = chunks.map((c) => {
      const [a, b] = eventRange(c);
      return { kind: 'template-sums', from: c[0], to: c[1], times: times.slice(a, b), templates: Int32Array.from(spikeCluster.subarray(a, b)), include: include.slice(a, b), layout };
    });
    const sums = await pool.runAll<Extract<TaskResult, { kind: 'template-sums' }>>(sumTasks, (i) => advance(bytesOf(chunks[i])));
    stopped();
    const W = templateWindow.length;
    const means = new Float32Array(T * W * P);
    const counts = new Int32Array(T);
    const total = new Float64Array(T * W * P);
    for (const r of sums) { for (let i = 0; i < total.length; i++) total[i] += r.sums[i]; for (let t = 0; t < T; t++) counts[t] += r.counts[t]; }
    for (let t = 0; t < T; t++) for (let i = 0; i < W * P; i++) means[t * W * P + i] = counts[t] ? total[t * W * P + i] / counts[t] : 0;
    phase('templates');

    // 6. Amplitudes and PC features, pc_features.npy rows written by the tasks.
    const K = p.pca_components;
    const header = npyHeaderBytes('float32', [N, K, P]);
    pcFile.write(header);
    const projectTasks: Task[] = chunks.map((c) => {
      const [a, b] = eventRange(c);
      return {
        kind: 'project', from: c[0], to: c[1], firstSpike: a, times: times.slice(a, b), offsets: offsets.slice(a, b), templates: Int32Array.from(spikeCluster.subarray(a, b)),
        layout, templateData: means, basis, pcFile: pcFile.tmpPath, pcOffset: header.length,
      };
    });
    const projected = await pool.runAll<Extract<TaskResult, { kind: 'project' }>>(projectTasks, (i) => advance(bytesOf(chunks[i])));
    stopped();
    const amplitudes = concat(projected.map((r) => r.amplitudes), (n) => new Float64Array(n));
    phase('project');

    // 7. Labels and files.
    const labelOptions: LabelOptions = {
      refractorySamples: (p.refractory_ms / 1000) * fs_, durationSamples: Math.max(1, totalSamples),
      maxContamination: p.max_contamination, minSpikes: p.min_good_spikes,
    };
    const trains = clusters.map((events) => Float64Array.from(events, (e) => times[e]));
    const labels = trains.map((t) => label(t, labelOptions));
    const channelMap = Int32Array.from(sortedChannels);
    const column = new Map(sortedChannels.map((c, i) => [c, i]));
    const Cs = sortedChannels.length;
    const templates = new Float32Array(T * templateLength * Cs);
    const amplitudeUv: number[] = [];
    for (let t = 0; t < T; t++) {
      let ptp = 0;
      for (let j = 0; j < P; j++) {
        const c = layout.channels[t * P + j];
        let lo = Infinity, hi = -Infinity;
        for (let k = 0; k < W; k++) {
          const v = means[(t * W + k) * P + j];
          templates[(t * templateLength + templatePadding + k) * Cs + column.get(c)!] = v;
          lo = Math.min(lo, v); hi = Math.max(hi, v);
        }
        ptp = Math.max(ptp, (hi - lo) * noiseRaw[c] * req.bitVolts);
      }
      amplitudeUv.push(ptp);
    }
    const whitening = new Float64Array(Cs * Cs), whiteningInv = new Float64Array(Cs * Cs);
    sortedChannels.forEach((c, i) => {
      // Templates are in units of each channel's noise; the inverse brings them back to µV.
      whiteningInv[i * Cs + i] = noiseRaw[c] * req.bitVolts;
      whitening[i * Cs + i] = 1 / whiteningInv[i * Cs + i];
    });
    const positions = new Float64Array(Cs * 2);
    sortedChannels.forEach((c, i) => { positions[2 * i] = [43, 11, 59, 27][c % 4]; positions[2 * i + 1] = 20 * Math.floor(c / 2); });
    const pcFeatureInd = Uint32Array.from(layout.channels, (c) => column.get(c)!);
    const files = writePhyFolder({
      dir: req.outDir, times, clusters: spikeCluster, amplitudes, templates, templateCount: T, channelMap, positions,
      pcFeatureInd, pcChannels: P, whitening, whiteningInv, labels,
      contaminationPct: trains.map((t) => 100 * Math.min(1, contamination(t, labelOptions))), amplitudeUv,
      datPath: path.resolve(req.apFile), numChannelsDat: C, sampleRateHz: fs_,
    });
    pcFile.commit();
    files.push('pc_features.npy');
    phase('write');
    return {
      spikes: N, clusters: T, goodClusters: labels.filter((l) => l === 'good').length,
      sortedChannels: Cs, peakChannels, medianNoiseUv: medianRaw * req.bitVolts, files: files.sort(), phaseSeconds,
    };
  } catch (err) {
    pcFile.abort();
    if (req.signal?.aborted) throw new StageError(`sorting of ${req.apFile} stopped before it finished`);
    throw err;
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    await pool.close();
  }
}
