/**
 * quality_metrics on Kilosort 4 folders (pc_features (N, 6, 10): 10 PC channels per cluster),
 * written from a synthetic recording's ground truth (kilosort4Folder.ts), so the PC metrics can be
 * checked against what each cluster really is: a whole unit is isolated, half of a split unit is
 * not. Kilosort 2 folders are the module's case (test/quality_metrics.test.ts and the goldens).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, timed } from './rig.js';
import { synthesize, type SynthRecording } from '../lib/synth/generate.js';
import { readNpy, writeNpy } from '../lib/formats/npy.js';
import { parseCsv } from '../stages/quality_metrics/metricsTable.js';
import { writeKilosort4Folder, type Kilosort4FolderOptions } from './kilosort4Folder.js';

const host = path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js');
const pcColumns = ['isolation_distance', 'l_ratio', 'd_prime', 'nn_hit_rate', 'nn_miss_rate'];

let recording: { dir: string; rec: SynthRecording } | undefined;
async function synthRecording() {
  if (recording) return recording;
  const dir = tempDir();
  // 60 s: every unit has the module's 20 spikes and more.
  const s = await synthesize({ outDir: dir, recordings: 1, seconds: 60, channels: 48, seed: 7, lfp: false });
  recording = { dir, rec: s.recordings[0] };
  return recording;
}

interface Metrics { log: string; csv: string; rows: Map<number, Record<string, number>> }

function qualityMetrics(ks: string): Metrics {
  const input = path.join(ks, 'qm.input.json');
  fs.writeFileSync(input, JSON.stringify({
    directories: { kilosort_output_directory: ks },
    ephys_params: { sample_rate: 30000, bit_volts: 0.195 },
    waveform_metrics: { waveform_metrics_file: path.join(ks, 'no_waveform_metrics.csv') },
    quality_metrics_params: { quality_metrics_output_file: path.join(ks, 'metrics.csv'), include_pc_metrics: true },
  }));
  const r = spawnSync(process.execPath, [host, 'quality_metrics', '--input_json', input, '--output_json', path.join(ks, 'qm.output.json')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const csv = fs.readFileSync(path.join(ks, 'metrics.csv'), 'utf8');
  const [header, ...lines] = parseCsv(csv);
  const rows = new Map<number, Record<string, number>>();
  for (const line of lines) {
    const row: Record<string, number> = {};
    header.forEach((name, i) => { row[name] = line[i] === '' ? NaN : Number(line[i]); });
    rows.set(row.cluster_id, row);
  }
  return { log: r.stdout + r.stderr, csv, rows };
}

async function folder(name: string, opts: Kilosort4FolderOptions = {}) {
  const { dir, rec } = await synthRecording();
  const ks = path.join(dir, name);
  return { ks, rec, ...writeKilosort4Folder(rec, ks, opts) };
}

test('every cluster with neighbours gets all five PC metrics, and whole units score as isolated', timed(async () => {
  const { ks, clusterOfUnit, spikesPerCluster } = await folder('whole');
  const m = qualityMetrics(ks);
  assert.match(m.log, /PC features: Kilosort 4 layout \(6 PCs on 10 channels per template\)/);
  // A cluster lacks PC metrics only where the module's conditions leave it none: no other unit's
  // peak within num_channels_to_compare (7) of its own.
  const peak = new Map<number, number>();
  const ind = readNpy(path.join(ks, 'pc_feature_ind.npy')).data as Uint32Array;
  for (const k of clusterOfUnit) peak.set(k, ind[k * 10]);
  let withMetrics = 0;
  const hitRates: number[] = [];
  for (const k of clusterOfUnit) {
    const row = m.rows.get(k)!;
    const alone = [...peak].every(([j, c]) => j === k || Math.abs(c - peak.get(k)!) > 7);
    if (alone) continue;
    withMetrics++;
    // Isolation distance and L-ratio need more own spikes than features (6 PCs x up to 13
    // channels), else the unit's covariance is singular.
    const needed = spikesPerCluster[k] > 6 * 13 ? pcColumns : pcColumns.slice(2);
    for (const col of needed) assert.ok(Number.isFinite(row[col]), `cluster ${k} (${spikesPerCluster[k]} spikes): ${col} ${row[col]}`);
    // A small unit beside large ones is not perfectly isolated even when its cluster is exactly its spikes.
    assert.ok(row.nn_hit_rate > 0.6, `cluster ${k}: nn_hit_rate ${row.nn_hit_rate}`);
    assert.ok(row.d_prime > 2, `cluster ${k}: d_prime ${row.d_prime}`);
    hitRates.push(row.nn_hit_rate);
  }
  hitRates.sort((a, b) => a - b);
  assert.ok(hitRates[hitRates.length >> 1] > 0.95, `median nn_hit_rate ${hitRates[hitRates.length >> 1]}`);
  assert.ok(withMetrics >= clusterOfUnit.length - 2, `${withMetrics} of ${clusterOfUnit.length} clusters have neighbours`);
  assert.match(m.log, new RegExp(`PC metrics for (\\d+) of ${clusterOfUnit.length} units`));
}));

test('a unit split in two: each half scores as not isolated from the other', timed(async () => {
  const whole = qualityMetrics((await folder('whole-again')).ks).rows.get(3)!;
  const { ks, clusterOfUnit, secondHalfOf } = await folder('split', { split: [3] });
  const m = qualityMetrics(ks);
  for (const k of [clusterOfUnit[3], secondHalfOf[0]]) {
    const row = m.rows.get(k)!;
    for (const col of pcColumns) assert.ok(Number.isFinite(row[col]), `half ${k}: ${col} ${row[col]}`);
    const text = `half ${k}: ${pcColumns.map((c) => `${c} ${row[c].toPrecision(3)}`).join(', ')}; whole: ${pcColumns.map((c) => `${c} ${whole[c].toPrecision(3)}`).join(', ')}`;
    assert.ok(whole.nn_hit_rate > 0.95 && row.nn_hit_rate < 0.75, text);
    assert.ok(row.d_prime < whole.d_prime / 3, text);
    assert.ok(row.isolation_distance < whole.isolation_distance * 0.75, text);
    assert.ok(whole.l_ratio < 0.01 && row.l_ratio > 0.1, text);
  }
}));

test('the first PC\'s sign, which depends on the scikit-learn that Kilosort 4 ran with, changes nothing', timed(async () => {
  const a = qualityMetrics((await folder('positive')).ks);
  const b = qualityMetrics((await folder('negative', { firstPcSign: -1 })).ks);
  assert.match(b.log, /first PC negative on the largest channel of 12 of 12 templates: its sign is turned for peak channels and depths/);
  assert.is(b.csv, a.csv);
}));

test('pc_features with PCs and channels swapped is refused, naming the file and the layout expected', timed(async () => {
  const { ks } = await folder('swapped');
  const pc = readNpy(path.join(ks, 'pc_features.npy'));
  const [n, p, c] = pc.shape;
  const swapped = new Float32Array(n * p * c);
  for (let i = 0; i < n; i++) for (let a = 0; a < p; a++) for (let b = 0; b < c; b++) swapped[(i * c + b) * p + a] = (pc.data as Float32Array)[(i * p + a) * c + b];
  writeNpy(path.join(ks, 'pc_features.npy'), { dtype: 'float32', shape: [n, c, p], data: swapped });
  const input = path.join(ks, 'qm.input.json');
  fs.writeFileSync(input, JSON.stringify({
    directories: { kilosort_output_directory: ks }, ephys_params: { sample_rate: 30000 },
    quality_metrics_params: { quality_metrics_output_file: path.join(ks, 'metrics.csv') },
  }));
  const r = spawnSync(process.execPath, [host, 'quality_metrics', '--input_json', input, '--output_json', path.join(ks, 'qm.output.json')], { encoding: 'utf8' });
  assert.is(r.status, 1);
  assert.ok(r.stderr.includes(`${path.join(ks, 'pc_features.npy')}: shape (${n}, 10, 6) has the 10 channels of pc_feature_ind.npy (12, 10) on its second axis: PCs and channels swapped; expected (spikes, PCs, channels)`), r.stderr);
  assert.not.ok(fs.existsSync(path.join(ks, 'metrics.csv')));
}));

test.run();
