/**
 * Built-in quality_metrics: the Allen module's per-unit metrics (reference §1.8) from a Kilosort
 * folder, written as the same CSV (merged with waveform_metrics.csv when that exists).
 *
 * Random subsamples are numpy's: the silhouette sample is `np.random.permutation(n_spikes)` right
 * after `np.random.seed(9999)` (numpy's legacy MT19937), as the module draws it in its main
 * process; the PC-metric subsamples are those the module draws when its per-cluster loop runs on
 * one core (pcSubsamples.ts). On several cores the module draws those in unseeded joblib workers,
 * so its PC metrics of units above max_spikes_for_unit (and nearest-neighbour rates above
 * max_spikes_for_nn rows) vary from run to run; ours are one of its outcomes.
 *
 * Differences from the module, on purpose: a missing or malformed input is an error (the module
 * prints "Files not available." and exits 0 without output); fewer spikes than n_silhouette give
 * a silhouette over all of them (the module raises IndexError); the output file is written
 * atomically. Everything else, quirks included, follows the module.
 */
import path from 'node:path';
import fs from 'node:fs';
import { StageError, type BuiltinStage, type InputJson, type BuiltinContext } from '../../lib/builtin/stage.js';
import { writeFileAtomic } from '../../lib/base/atomicFile.js';
import { loadKilosortFolder } from '../../lib/formats/kilosort.js';
import { Mt19937 } from '../../lib/numeric/mt19937.js';
import { selectEpochSpikes, spikesOf, type UnitSpikes } from './unitSpikes.js';
import { firingRate, presenceRatio, isiViolations, amplitudeCutoff } from './spikeTrainMetrics.js';
import { templatePeakChannels, unitPeakChannels } from './peakChannels.js';
import { spikeDepths, driftIntervals, unitDrift } from './drift.js';
import { silhouetteScores, type SilhouetteInput } from './silhouette.js';
import { SubsampleDump } from './subsampleDump.js';
import { channelRange } from './pcFeatureRows.js';
import { drawPcSubsamples } from './pcSubsamples.js';
import { firstPcPolarity } from './pcPolarity.js';
import { formatCsv, readCsvTable, mergeTables, type Table } from './metricsTable.js';
import type { PcChannelRule, PcData, PcParams } from './pcData.js';
import { startPcPool, threadsFor, type WorkerTask } from './worker.js';

export const stage: BuiltinStage = {
  // 2: PC metrics on Kilosort 4 folders (sharedChannels.ts, pcPolarity.ts); Kilosort 2's unchanged.
  version: '2',
  run: runQualityMetrics,
};

/** The module's `np.random.seed`. */
export const subsampleSeed = 9999;

export interface QualityMetricsParams {
  isiThreshold: number;
  minIsi: number;
  numChannelsToCompare: number;
  maxSpikesForUnit: number;
  maxSpikesForNn: number;
  nNeighbors: number;
  nSilhouette: number;
  driftMinSpikesPerInterval: number;
  driftIntervalS: number;
  outputFile: string;
  includePcMetrics: boolean;
}

function param(section: Record<string, unknown>, key: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const v = section[key] ?? fallback;
  if (typeof v !== 'number' || !check(v)) {
    throw new StageError(`quality_metrics_params.${key} is ${JSON.stringify(v)}; expected ${what}`);
  }
  return v;
}

export function readParams(input: InputJson): QualityMetricsParams {
  const q = (input.quality_metrics_params ?? {}) as Record<string, unknown>;
  const positive = (v: number) => v > 0;
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  const outputFile = q.quality_metrics_output_file;
  if (typeof outputFile !== 'string' || outputFile === '') {
    throw new StageError('quality_metrics_params.quality_metrics_output_file is missing; expected the path of the metrics CSV');
  }
  const includePcMetrics = q.include_pc_metrics ?? true;
  if (typeof includePcMetrics !== 'boolean') throw new StageError(`quality_metrics_params.include_pc_metrics is ${JSON.stringify(includePcMetrics)}; expected true or false`);
  return {
    isiThreshold: param(q, 'isi_threshold', 0.0015, positive, 'a positive number of seconds'),
    minIsi: param(q, 'min_isi', 0, (v) => v >= 0, 'a non-negative number of seconds'),
    numChannelsToCompare: param(q, 'num_channels_to_compare', 13, (v) => positiveInt(v) && v % 2 === 1, 'an odd positive integer'),
    maxSpikesForUnit: param(q, 'max_spikes_for_unit', 500, positiveInt, 'a positive integer'),
    maxSpikesForNn: param(q, 'max_spikes_for_nn', 10000, positiveInt, 'a positive integer'),
    // Counts the spike itself: 1 leaves no neighbours, and NaN hit and miss rates, as in the module.
    nNeighbors: param(q, 'n_neighbors', 4, positiveInt, 'a positive integer'),
    nSilhouette: param(q, 'n_silhouette', 10000, positiveInt, 'a positive integer'),
    driftMinSpikesPerInterval: param(q, 'drift_metrics_min_spikes_per_interval', 10, positiveInt, 'a positive integer'),
    driftIntervalS: param(q, 'drift_metrics_interval_s', 100, positive, 'a positive number of seconds'),
    outputFile,
    includePcMetrics,
  };
}

interface SpikeTrainColumns { firingRate: Float64Array; presenceRatio: Float64Array; isiViol: Float64Array; isiViolCorrected: Float64Array; amplitudeCutoff: Float64Array }

function spikeTrainMetrics(s: UnitSpikes, p: QualityMetricsParams): SpikeTrainColumns {
  const units = s.clusterIds.length;
  const out: SpikeTrainColumns = {
    firingRate: new Float64Array(units), presenceRatio: new Float64Array(units), isiViol: new Float64Array(units),
    isiViolCorrected: new Float64Array(units), amplitudeCutoff: new Float64Array(units),
  };
  for (let u = 0; u < units; u++) {
    const idx = spikesOf(s, u);
    const times = new Float64Array(idx.length);
    const amps = new Float64Array(idx.length);
    for (let i = 0; i < idx.length; i++) { times[i] = s.times[idx[i]]; amps[i] = s.amplitudes[idx[i]]; }
    out.firingRate[u] = firingRate(idx.length, s.minTime, s.maxTime);
    out.presenceRatio[u] = presenceRatio(times, s.minTime, s.maxTime);
    const isi = isiViolations(times, s.minTime, s.maxTime, p.isiThreshold, p.minIsi);
    out.isiViol[u] = isi.fpRate;
    out.isiViolCorrected[u] = isi.fpRateCorrected;
    out.amplitudeCutoff[u] = amplitudeCutoff(amps);
  }
  return out;
}

interface PcColumns {
  isolationDistance: Float64Array; lRatio: Float64Array; dPrime: Float64Array; nnHitRate: Float64Array;
  nnMissRate: Float64Array; silhouetteScore: Float64Array; maxDrift: Float64Array; cumulativeDrift: Float64Array;
}

/** Rough cost of unit u's PC metrics, to start the expensive units first. */
function unitCost(s: UnitSpikes, peaks: Int32Array, p: QualityMetricsParams, maxChannel: number, u: number): number {
  const [lo, hi] = channelRange(peaks[u], p.numChannelsToCompare, maxChannel);
  const nThis = s.unitStart[u + 1] - s.unitStart[u];
  let rows = 0;
  for (let v = 0; v < peaks.length; v++) {
    if (peaks[v] < lo || peaks[v] > hi) continue;
    const nV = s.unitStart[v + 1] - s.unitStart[v];
    rows += nThis > p.maxSpikesForUnit ? (nV / nThis) * p.maxSpikesForUnit : nV;
  }
  const nn = Math.min(rows, p.maxSpikesForNn);
  return rows * 30 + nn * nn * 0.1;
}

/** How many units have PC metrics, and on how many channels: a folder the rules fit badly shows here. */
function pcCoverage(nnHitRate: Float64Array, isolationDistance: Float64Array, channels: Int32Array): string {
  const units = nnHitRate.length;
  const used: number[] = [];
  let isolated = 0;
  for (let u = 0; u < units; u++) {
    if (Number.isNaN(nnHitRate[u])) continue;
    used.push(channels[u]);
    if (!Number.isNaN(isolationDistance[u])) isolated++;
  }
  used.sort((a, b) => a - b);
  const spread = used.length ? `, on ${used[0]} to ${used[used.length - 1]} channels (median ${used[used.length >> 1]})` : '';
  return `PC metrics for ${used.length} of ${units} units${spread}; isolation distance for ${isolated}; the others have too few spikes or no neighbours`;
}

async function pcMetrics(
  s: UnitSpikes, ks: ReturnType<typeof loadKilosortFolder>, p: QualityMetricsParams, ctx: BuiltinContext,
  report: (units: number) => void,
): Promise<PcColumns> {
  const units = s.clusterIds.length;
  const pcFeatures = ks.pcFeatures!;
  const pcFeatureInd = ks.pcFeatureInd!;
  const { pcCount, pcChannelCount } = ks;
  let maxChannel = 0;
  for (let i = 0; i < pcFeatureInd.length; i++) if (pcFeatureInd[i] > maxChannel) maxChannel = pcFeatureInd[i];
  // The sorter is recognised from templates.npy (lib/formats/kilosort.ts): Kilosort 2's folders
  // are read exactly as the module reads them; Kilosort 4's need the rules it lacks.
  const channelRule: PcChannelRule = ks.templateLayout.sorter === 'kilosort4' ? 'shared' : 'module';
  let firstPcSign: 1 | -1 = 1;
  const layout = `${pcCount} PCs on ${pcChannelCount} channels per template`;
  if (channelRule === 'shared') {
    const polarity = firstPcPolarity(s, pcFeatures, pcCount, pcChannelCount, ks.templateCount);
    firstPcSign = polarity.sign;
    ctx.log(`PC features: Kilosort 4 layout (${layout}): each unit compared on the channels of its window that it and the neighbours sharing its peak channel all have (docs/kilosort4.md)`);
    ctx.log(`first PC ${firstPcSign < 0 ? 'negative' : 'positive'} on the largest channel of ${firstPcSign < 0 ? polarity.negativeTemplates : polarity.templates - polarity.negativeTemplates} of ${polarity.templates} templates${firstPcSign < 0 ? ': its sign is turned for peak channels and depths' : ''}`);
  } else {
    ctx.log(`PC features: Kilosort 2 layout (${layout}): channels compared as the Allen module does`);
  }
  const templatePeaks = templatePeakChannels(s, pcFeatures, pcCount, pcChannelCount, pcFeatureInd, ks.templateCount, firstPcSign);
  const unitPeakChannel = unitPeakChannels(s, templatePeaks);
  const pc: PcData = {
    spikes: { templates: s.templates, sourceRow: s.sourceRow, unitOf: s.unitOf, clusterIds: s.clusterIds, unitStart: s.unitStart, spikesByUnit: s.spikesByUnit },
    pcFeatures, pcCount, pcChannelCount, pcFeatureInd, unitPeakChannel, maxChannel, channelRule,
  };
  const params: PcParams = {
    numChannelsToCompare: p.numChannelsToCompare, maxSpikesForUnit: p.maxSpikesForUnit,
    maxSpikesForNn: p.maxSpikesForNn, nNeighbors: p.nNeighbors, seed: subsampleSeed,
  };
  const dumpDir = process.env.EPHYS_MAKE_QM_DUMP_DIR;
  const dump = dumpDir ? new SubsampleDump(dumpDir) : undefined;
  const out: PcColumns = {
    isolationDistance: new Float64Array(units), lRatio: new Float64Array(units), dPrime: new Float64Array(units),
    nnHitRate: new Float64Array(units), nnMissRate: new Float64Array(units), silhouetteScore: new Float64Array(units),
    maxDrift: new Float64Array(units), cumulativeDrift: new Float64Array(units),
  };
  // Small inputs are faster without thread start-up.
  const threads = s.times.length < 50_000 ? 0 : threadsFor(units);
  const drawStart = Date.now();
  const subsamples = drawPcSubsamples(pc, params);
  ctx.log(`PC subsamples: ${((Date.now() - drawStart) / 1000).toFixed(1)} s`);
  if (dump) subsamples.forEach((draws, u) => dump.addUnit(u, draws));
  const pool = startPcPool({ pc, params }, threads, ctx.signal);
  try {
    const order = Array.from({ length: units }, (_, u) => u);
    const cost = order.map((u) => unitCost(s, unitPeakChannel, p, maxChannel, u));
    order.sort((a, b) => cost[b] - cost[a]);
    let done = 0;
    let phaseStart = Date.now();
    const channelsUsed = new Int32Array(units);
    // One task at a time per worker: units come most expensive first, so none is left to wait
    // behind a big one at the end.
    await pool.runAll(order.map((u): WorkerTask => ({ type: 'unit', unit: u, draws: subsamples[u] })), (reply) => {
      if (reply.type !== 'unit') return;
      const u = reply.unit;
      [out.isolationDistance[u], out.lRatio[u], out.dPrime[u], out.nnHitRate[u], out.nnMissRate[u]] = reply.values;
      channelsUsed[u] = reply.channels;
      report(++done);
    }, 1);
    ctx.log(`PC metrics of ${units} units: ${((Date.now() - phaseStart) / 1000).toFixed(1)} s on ${Math.max(1, pool.size)} thread(s)`);
    ctx.log(pcCoverage(out.nnHitRate, out.isolationDistance, channelsUsed));
    phaseStart = Date.now();

    // Silhouette: a random sample of the epoch's spikes, distance sums split into a fixed number
    // of shares (not one per thread), added in share order: the sums, to the last bit, do not
    // depend on how many cores the machine has.
    // The module's sample; with fewer spikes than n_silhouette it raises IndexError, here all are used.
    const sample = new Mt19937(subsampleSeed).permutation(s.times.length).subarray(0, p.nSilhouette);
    const input: SilhouetteInput = {
      templates: Int32Array.from(sample, (e) => s.templates[e]),
      sourceRows: Int32Array.from(sample, (e) => s.sourceRow[e]),
      units: Int32Array.from(sample, (e) => s.unitOf[e]),
      unitCount: units, pcFeatures, pcCount, pcChannelCount, pcFeatureInd,
    };
    const shares = 4;
    const parts: Float64Array[] = [];
    await pool.runAll(Array.from({ length: shares }, (_, share): WorkerTask => ({ type: 'silhouette', share, shares, input })), (reply) => {
      if (reply.type === 'silhouette') parts[reply.share] = reply.sums;
    }, 1);
    const sums = new Float64Array(sample.length * units);
    for (const part of parts) for (let i = 0; i < sums.length; i++) sums[i] += part[i];
    out.silhouetteScore.set(silhouetteScores(input.units, units, sums));
    ctx.log(`silhouette scores of ${sample.length} spikes: ${((Date.now() - phaseStart) / 1000).toFixed(1)} s`);
    dump?.write(sample);
  } finally {
    await pool.close();
  }
  const driftStart = Date.now();

  const depths = spikeDepths(s, pcFeatures, pcCount, pcChannelCount, pcFeatureInd, firstPcSign);
  const { starts, ends } = driftIntervals(s.minTime, s.maxTime, p.driftIntervalS);
  for (let u = 0; u < units; u++) {
    const idx = spikesOf(s, u);
    const times = new Float64Array(idx.length);
    const d = new Float64Array(idx.length);
    for (let i = 0; i < idx.length; i++) { times[i] = s.times[idx[i]]; d[i] = depths[idx[i]]; }
    [out.maxDrift[u], out.cumulativeDrift[u]] = unitDrift(times, d, starts, ends, p.driftIntervalS, p.driftMinSpikesPerInterval);
  }
  ctx.log(`drift metrics: ${((Date.now() - driftStart) / 1000).toFixed(1)} s`);
  return out;
}

async function runQualityMetrics(input: InputJson, ctx: BuiltinContext): Promise<Record<string, unknown>> {
  const p = readParams(input);
  const dir = input.directories?.kilosort_output_directory;
  if (typeof dir !== 'string' || dir === '') {
    throw new StageError('directories.kilosort_output_directory is missing; expected the Kilosort output folder');
  }
  const sampleRateHz = input.ephys_params?.sample_rate ?? 30000;
  if (typeof sampleRateHz !== 'number' || !(sampleRateHz > 0)) {
    throw new StageError(`ephys_params.sample_rate is ${JSON.stringify(sampleRateHz)}; expected a positive number of Hz`);
  }
  const started = Date.now();
  const ks = loadKilosortFolder(dir, { sampleRateHz, includePcs: p.includePcMetrics, includeTemplates: false, shared: true });
  ctx.log(`loaded ${ks.spikeCount} spikes, ${ks.templateCount} templates from ${dir}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const s = selectEpochSpikes(ks.spikeTimes, ks.spikeClusters, ks.spikeTemplates, ks.amplitudes);
  if (s.times.length === 0) throw new StageError(`${path.join(dir, 'spike_times.npy')}: no spikes after time 0; expected at least one`);
  const units = s.clusterIds.length;
  const phases = p.includePcMetrics ? 2 : 1;
  ctx.progress(0, units * phases, 'items');
  const trainStart = Date.now();
  const train = spikeTrainMetrics(s, p);
  ctx.log(`spike-train metrics: ${((Date.now() - trainStart) / 1000).toFixed(1)} s`);
  ctx.progress(units, units * phases, 'items');

  const table: Table = [
    { name: 'cluster_id', kind: 'int', values: Array.from(s.clusterIds) },
    { name: 'firing_rate', kind: 'float', values: Array.from(train.firingRate) },
    { name: 'presence_ratio', kind: 'float', values: Array.from(train.presenceRatio) },
    { name: 'isi_viol', kind: 'float', values: Array.from(train.isiViol) },
    { name: 'isi_viol_corrected', kind: 'float', values: Array.from(train.isiViolCorrected) },
    { name: 'amplitude_cutoff', kind: 'float', values: Array.from(train.amplitudeCutoff) },
  ];
  if (p.includePcMetrics) {
    const pcs = await pcMetrics(s, ks, p, ctx, (done) => ctx.progress(units + done, units * phases, 'items'));
    table.push(
      { name: 'isolation_distance', kind: 'float', values: Array.from(pcs.isolationDistance) },
      { name: 'l_ratio', kind: 'float', values: Array.from(pcs.lRatio) },
      { name: 'd_prime', kind: 'float', values: Array.from(pcs.dPrime) },
      { name: 'nn_hit_rate', kind: 'float', values: Array.from(pcs.nnHitRate) },
      { name: 'nn_miss_rate', kind: 'float', values: Array.from(pcs.nnMissRate) },
      { name: 'silhouette_score', kind: 'float', values: Array.from(pcs.silhouetteScore) },
      { name: 'max_drift', kind: 'float', values: Array.from(pcs.maxDrift) },
      { name: 'cumulative_drift', kind: 'float', values: Array.from(pcs.cumulativeDrift) },
    );
  }
  table.push({ name: 'epoch_name', kind: 'string', values: Array.from({ length: units }, () => 'complete_session') });

  let result = table;
  const waveformFile = input.waveform_metrics?.waveform_metrics_file;
  if (typeof waveformFile === 'string' && waveformFile !== '' && fs.existsSync(waveformFile)) {
    result = mergeTables(table, readCsvTable(waveformFile), 'cluster_id', ['_quality_metrics', '_waveform_metrics'], waveformFile);
    ctx.log(`merged with ${waveformFile}`);
  }
  writeFileAtomic(p.outputFile, formatCsv(result));
  ctx.progress(units * phases, units * phases, 'items');
  return { quality_metrics_output_file: p.outputFile };
}
