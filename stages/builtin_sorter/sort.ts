/**
 * The quick-look sort of one recording, pass by pass:
 *   1. levels: per-channel DC and robust noise on a few windows (noise.ts);
 *   2. basis: temporal PCs of peak-channel snippets from windows spread over the recording;
 *   3. detect: every chunk, in parallel: spikes and their neighbourhood features;
 *   4. cluster: each peak-channel neighbourhood on its own, then across neighbourhoods
 *      (clusterSpikes.ts);
 *   5. templates: the mean of up to max_spikes_per_template spikes of each cluster (templates.ts);
 *   6. project: each spike's amplitude and PC features on its template's channels;
 *   7. labels (labels.ts) and the Kilosort/Phy files (phyFiles.ts).
 * Memory holds per-spike features, not samples: the file is only ever read in chunks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PartialFile } from '../../lib/base/atomicFile.js';
import { StageError } from '../../lib/builtin/stage.js';
import { npyHeaderBytes } from '../../lib/formats/npy.js';
import { binomialKernel } from './block.js';
import { temporalBasis, type Window } from './features.js';
import { chooseChannels } from './channels.js';
import { clusterSpikes } from './clusterSpikes.js';
import { contamination, label, type LabelOptions } from './labels.js';
import { measureLevels } from './noise.js';
import type { SorterParams } from './params.js';
import { writePhyFolder } from './phyFiles.js';
import type { SorterSetup, Task, TaskResult } from './tasks.js';
import { averageTemplates, kilosortTemplates, templateLayout } from './templates.js';
import { startSorterPool } from './worker.js';

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
  const { sortable, sortedChannels, noiseRaw, noiseSmooth, threshold, peakChannels, medianNoiseRaw } = chooseChannels(levels, req.referenceChannels, p.detect_threshold);
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

  const pool = startSorterPool(setup, p.workers > 0 ? p.workers : os.availableParallelism(), req.signal);
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
    const detected = await pool.runAll<Detected>(chunks.map(([from, to]) => ({ kind: 'detect', from, to, basis })), (_, i) => advance(bytesOf(chunks[i])));
    stopped();
    let times = concat(detected.map((r) => r.times), (n) => new Float64Array(n));
    const channels = concat(detected.map((r) => r.channels), (n) => new Int32Array(n));
    let offsets = concat(detected.map((r) => r.offsets), (n) => new Float32Array(n));
    const features = concat(detected.map((r) => r.features), (n) => new Float32Array(n));
    let N = times.length;
    log(`detected ${N} spikes on ${peakChannels} channels`);
    phase('detect');

    // 4. Clustering per neighbourhood, then across neighbourhoods.
    const clustering = await clusterSpikes(pool, { channels, features }, p, sortable);
    stopped();
    let clusters = clustering.clusters;
    if (clustering.dropped.length > 0) {
      // Spikes in no cluster leave every per-spike array, as Kilosort drops what it cannot assign.
      const keep = new Uint8Array(N).fill(1);
      for (const e of clustering.dropped) keep[e] = 0;
      const index = new Int32Array(N);
      for (let e = 0, k = 0; e < N; e++) if (keep[e]) index[e] = k++;
      times = times.filter((_, e) => keep[e]);
      offsets = offsets.filter((_, e) => keep[e]);
      clusters = clusters.map((events) => events.map((e) => index[e]));
      N = times.length;
    }
    if (clustering.folded > 0) log(`${clustering.folded} clusters of fewer than ${p.min_unit_spikes} spikes folded into their nearest cluster, ${clustering.dropped.length} spikes with none near dropped`);
    const T = clusters.length;
    const spikeCluster = new Uint32Array(N);
    clusters.forEach((events, k) => { for (const e of events) spikeCluster[e] = k; });
    log(`${clustering.localClusters} clusters in ${clustering.neighbourhoods} neighbourhoods, ${T} after merging`);
    phase('cluster');

    // 5. Templates on the channels nearest each cluster's peak.
    const P = Math.min(pcChannelsWanted, sortedChannels.length);
    const layout = templateLayout(clustering.peaks, sortedChannels, P);
    const include = new Uint8Array(N);
    for (const events of clusters) for (const i of evenlySpaced(events.length, p.max_spikes_per_template)) include[events[i]] = 1;
    const eventRange = (c: [number, number]) => [lowerBound(times, c[0]), lowerBound(times, c[1])] as const;
    const sumTasks: Task[] = chunks.map((c) => {
      const [a, b] = eventRange(c);
      return { kind: 'template-sums', from: c[0], to: c[1], times: times.slice(a, b), templates: Int32Array.from(spikeCluster.subarray(a, b)), include: include.slice(a, b), layout };
    });
    const sums = await pool.runAll<Extract<TaskResult, { kind: 'template-sums' }>>(sumTasks, (_, i) => advance(bytesOf(chunks[i])));
    stopped();
    const means = averageTemplates(sums, layout);
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
    const projected = await pool.runAll<Extract<TaskResult, { kind: 'project' }>>(projectTasks, (_, i) => advance(bytesOf(chunks[i])));
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
    const made = kilosortTemplates(means, layout, sortedChannels, noiseRaw, req.bitVolts);
    const positions = new Float64Array(sortedChannels.length * 2);
    sortedChannels.forEach((c, i) => { positions[2 * i] = [43, 11, 59, 27][c % 4]; positions[2 * i + 1] = 20 * Math.floor(c / 2); });
    const files = writePhyFolder({
      dir: req.outDir, times, clusters: spikeCluster, amplitudes, templates: made.templates, templateCount: T,
      channelMap: Int32Array.from(sortedChannels), positions, pcFeatureInd: made.pcFeatureInd, pcChannels: P,
      whitening: made.whitening, whiteningInv: made.whiteningInv, labels,
      contaminationPct: trains.map((t) => 100 * Math.min(1, contamination(t, labelOptions))), amplitudeUv: made.amplitudeUv,
      datPath: path.resolve(req.apFile), numChannelsDat: C, sampleRateHz: fs_,
    });
    pcFile.commit();
    files.push('pc_features.npy');
    phase('write');
    return {
      spikes: N, clusters: T, goodClusters: labels.filter((l) => l === 'good').length,
      sortedChannels: sortedChannels.length, peakChannels, medianNoiseUv: medianNoiseRaw * req.bitVolts, files: files.sort(), phaseSeconds,
    };
  } catch (err) {
    pcFile.abort();
    if (req.signal?.aborted) throw new StageError(`sorting of ${req.apFile} stopped before it finished`);
    throw err;
  } finally {
    await pool.close();
  }
}
