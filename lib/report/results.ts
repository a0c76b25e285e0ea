/**
 * What a lab checks before it trusts a sort, per recording: units found, units passing the
 * thresholds, the quality metrics per unit, each unit's depth, the mean waveforms of the best
 * units, the depth-estimation figure, and the ground-truth comparison where the recording has one.
 * Read only from declared outputs (found through the jobs' input JSON, by module), cached by
 * the files' signatures so an unchanged recording costs a few stats.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Job } from '../engine/job.js';
import type { Recording } from '../engine/recordings.js';
import { readNpy, toNumberArray } from '../formats/npy.js';
import { readClusterGroupTsv } from '../formats/clusterGroup.js';
import { statSignature } from '../base/signature.js';
import { passes, readMetricsTable, type Threshold } from './metricsTable.js';

export interface GroundTruthSummary {
  detectableUnits: number;
  wellSortedUnits: number;
  meanAccuracy: number;
  goodAccuracy: number;
  minSnr: number;
  foundClusters: number;
  units: Array<{ unit: number; snr: number; accuracy: number; cluster: number; detectable: boolean }>;
}

/** Scoring a sorting against ground truth lives with the synthetic data; the command passes it in. */
export type GroundTruthScorer = (sortedDir: string, groundTruthDir: string) => GroundTruthSummary;

export interface UnitWaveform { cluster: number; channel: number; snr: number; passes: boolean; uv: number[] }

export interface RecordingResults {
  recording: string;
  /** Units in the metrics table, those labelled noise, and non-noise units passing every threshold. */
  units: number;
  noise: number;
  passing: number;
  metricsFile?: string;
  /** Column -> one value per unit (cluster_id among them). */
  metrics: Record<string, number[]>;
  /** Per unit: its label from the cluster-group file (good, mua, noise), when there is one. */
  labels?: string[];
  /** Per unit: depth of its peak channel along the probe, µm. */
  depthUm?: number[];
  waveforms: UnitWaveform[];
  /** Milliseconds between waveform samples. */
  sampleMs: number;
  /** The depth-estimation figure (a declared output). */
  figure?: string;
  groundTruth?: GroundTruthSummary;
  /** What is not there yet, in words. */
  missing: string[];
}

const bestUnits = 8;

function byModule(jobs: Job[], module: string): Job | undefined {
  return jobs.find((j) => j.stage.module === module) ?? jobs.find((j) => j.stage.name === module);
}

function section(job: Job | undefined, name: string): Record<string, unknown> {
  const v = (job?.input.json as Record<string, unknown> | undefined)?.[name];
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

/** A value of the job's input JSON that names one of its declared outputs (else undefined). */
function declaredOutput(job: Job | undefined, sectionName: string, key: string, fallbackName?: string): string | undefined {
  if (!job) return undefined;
  const v = section(job, sectionName)[key];
  if (typeof v === 'string' && job.outputs.includes(path.resolve(v))) return path.resolve(v);
  return fallbackName ? job.outputs.find((o) => path.basename(o) === fallbackName) : undefined;
}

export interface ResultSources {
  metrics?: string;
  clusterGroups?: string;
  probeInfo?: string;
  waveforms?: string;
  figure?: string;
  sortedDir?: string;
  groundTruthDir?: string;
  sampleRateHz: number;
}

export function resultSources(rec: Recording, jobs: Job[]): ResultSources {
  const qm = byModule(jobs, 'quality_metrics');
  const mw = byModule(jobs, 'mean_waveforms');
  const de = byModule(jobs, 'depth_estimation');
  const nt = byModule(jobs, 'noise_templates');
  const ks = section(qm, 'directories').kilosort_output_directory;
  const rate = Number(section(qm ?? mw, 'ephys_params').sample_rate);
  const gt = path.join(rec.dir, 'ground_truth');
  return {
    metrics: declaredOutput(qm, 'quality_metrics_params', 'quality_metrics_output_file', 'metrics.csv'),
    clusterGroups: nt?.outputs.find((o) => /cluster_group\.tsv/.test(path.basename(o))),
    probeInfo: de?.outputs.find((o) => path.basename(o) === 'probe_info.json'),
    waveforms: declaredOutput(mw, 'mean_waveform_params', 'mean_waveforms_file', 'mean_waveforms.npy'),
    figure: declaredOutput(de, 'depth_estimation_params', 'figure_location') ?? de?.outputs.find((o) => o.endsWith('.png')),
    sortedDir: typeof ks === 'string' ? path.resolve(ks) : undefined,
    groundTruthDir: fs.existsSync(path.join(gt, 'info.json')) ? gt : undefined,
    sampleRateHz: Number.isFinite(rate) && rate > 0 ? rate : 30000,
  };
}

export interface UnitCounts { units: number; noise: number; passing: number; hasMetrics: boolean }

export class ResultsCache {
  private cache = new Map<string, { key: string; value: RecordingResults }>();
  private countCache = new Map<string, { key: string; value: UnitCounts }>();

  constructor(private thresholds: Threshold[], private scoreGroundTruth?: GroundTruthScorer) {}

  get(rec: Recording, jobs: Job[], display: (p: string) => string): RecordingResults {
    const src = resultSources(rec, jobs);
    const files = [src.metrics, src.clusterGroups, src.probeInfo, src.waveforms, src.figure, src.sortedDir && path.join(src.sortedDir, 'spike_clusters.npy')];
    const key = files.map((f) => (f ? statSignature(f) ?? '-' : '')).join('|');
    const hit = this.cache.get(rec.name);
    if (hit && hit.key === key) return hit.value;
    const value = this.read(rec, src, display);
    this.cache.set(rec.name, { key, value });
    return value;
  }

  /** Units, noise and passing units only: what the table across recordings needs, without waveforms. */
  counts(rec: Recording, jobs: Job[]): UnitCounts {
    const src = resultSources(rec, jobs);
    const key = [src.metrics, src.clusterGroups].map((f) => (f ? statSignature(f) ?? '-' : '')).join('|');
    const hit = this.countCache.get(rec.name);
    if (hit && hit.key === key) return hit.value;
    const value: UnitCounts = { units: 0, noise: 0, passing: 0, hasMetrics: false };
    try {
      if (src.metrics && fs.existsSync(src.metrics)) {
        const r = this.unitTable(src, []);
        Object.assign(value, { units: r.units, noise: r.noise, passing: r.passing, hasMetrics: true });
      }
    } catch { /* unreadable: counted as no metrics */ }
    this.countCache.set(rec.name, { key, value });
    return value;
  }

  /** The metrics table with labels and the passing count. */
  private unitTable(src: ResultSources, missing: string[]): { columns: Record<string, number[]>; units: number; labels?: string[]; noise: number; passing: number; ids: number[] } {
    const table = readMetricsTable(src.metrics!);
    const ids = table.columns.cluster_id ?? table.columns[Object.keys(table.columns)[0]] ?? [];
    let labels: string[] | undefined;
    if (src.clusterGroups && fs.existsSync(src.clusterGroups)) {
      const groups = tryRead(() => readClusterGroupTsv(src.clusterGroups!), missing, 'cluster labels');
      if (groups) {
        const byId = new Map(groups.clusterIds.map((id, i) => [id, groups.labels[i]]));
        labels = ids.map((id) => byId.get(id) ?? 'unsorted');
      }
    }
    let passing = 0;
    for (let i = 0; i < table.rows; i++) if (this.isPassing(table.columns, labels, i)) passing++;
    return { columns: table.columns, units: table.rows, labels, noise: labels?.filter((l) => l === 'noise').length ?? 0, passing, ids };
  }

  private isPassing(columns: Record<string, number[]>, labels: string[] | undefined, i: number): boolean {
    return labels?.[i] !== 'noise' && this.thresholds.every((t) => passes(t, columns[t.metric]?.[i] ?? NaN));
  }

  private read(rec: Recording, src: ResultSources, display: (p: string) => string): RecordingResults {
    const out: RecordingResults = { recording: rec.name, units: 0, noise: 0, passing: 0, metrics: {}, waveforms: [], sampleMs: 1000 / src.sampleRateHz, missing: [] };
    const has = (p: string | undefined) => !!p && fs.existsSync(p);
    if (has(src.figure)) out.figure = display(src.figure!);
    else out.missing.push('depth-estimation figure: not made yet');
    if (!has(src.metrics)) {
      out.missing.push(src.metrics ? `quality metrics: ${path.basename(src.metrics)} not made yet` : 'quality metrics: no stage makes them');
      return out;
    }
    out.metricsFile = display(src.metrics!);
    const table = tryRead(() => this.unitTable(src, out.missing), out.missing, 'quality metrics');
    if (!table) return out;
    const ids = table.ids;
    Object.assign(out, { metrics: table.columns, units: table.units, labels: table.labels, noise: table.noise, passing: table.passing });
    const peak = table.columns.peak_channel;
    if (peak && has(src.probeInfo)) {
      const info = tryRead(() => JSON.parse(fs.readFileSync(src.probeInfo!, 'utf8')), out.missing, 'channel depths');
      const vertical: unknown = info?.vertical_pos;
      if (Array.isArray(vertical)) out.depthUm = peak.map((c) => (Number.isInteger(c) && c >= 0 && c < vertical.length ? Number(vertical[c]) : NaN));
    }
    if (has(src.waveforms)) tryRead(() => { out.waveforms = this.best(src.waveforms!, out, ids); return true; }, out.missing, 'mean waveforms');
    else out.missing.push('mean waveforms: not made yet');
    if (src.groundTruthDir && this.scoreGroundTruth && src.sortedDir && has(path.join(src.sortedDir, 'spike_clusters.npy'))) {
      out.groundTruth = tryRead(() => this.scoreGroundTruth!(src.sortedDir!, src.groundTruthDir!), out.missing, 'ground-truth comparison');
    }
    return out;
  }

  /** The peak-channel mean waveforms of the best units: passing ones, then others, by SNR. */
  private best(file: string, r: RecordingResults, ids: number[]): UnitWaveform[] {
    const arr = readNpy(file);
    if (arr.shape.length !== 3) return [];
    const [units, channels, samples] = arr.shape;
    const data = toNumberArray(arr);
    const snr = r.metrics.snr ?? ids.map(() => 0);
    const peak = r.metrics.peak_channel ?? [];
    // Waveform rows follow the sorted cluster ids, as the mean_waveforms module writes them.
    const order = [...ids].sort((a, b) => a - b);
    const rowOf = new Map(order.map((id, i) => [id, i]));
    // Passing units first; when fewer than eight pass, the best of the others (never noise) fill in.
    const passing = new Set(ids.map((_, i) => i).filter((i) => this.isPassing(r.metrics, r.labels, i)));
    const pool = ids.map((_, i) => i).filter((i) => r.labels?.[i] !== 'noise');
    pool.sort((a, b) => Number(passing.has(b)) - Number(passing.has(a)) || (snr[b] || 0) - (snr[a] || 0));
    const out: UnitWaveform[] = [];
    for (const i of pool.slice(0, bestUnits)) {
      const row = rowOf.get(ids[i]);
      const ch = peak[i];
      if (row === undefined || row >= units || !Number.isInteger(ch) || ch < 0 || ch >= channels) continue;
      const base = (row * channels + ch) * samples;
      out.push({ cluster: ids[i], channel: ch, snr: snr[i], passes: passing.has(i), uv: Array.from(data.subarray(base, base + samples), (v) => Math.round(v * 100) / 100) });
    }
    return out;
  }
}

function tryRead<T>(fn: () => T, missing: string[], what: string): T | undefined {
  try {
    return fn();
  } catch (err: any) {
    missing.push(`${what}: cannot read (${err.message})`);
    return undefined;
  }
}
