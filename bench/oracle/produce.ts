/**
 * One producer per Allen module: run the real module on the fixed inputs of cases.ts and write
 * what it made under test/fixtures/golden/MODULE/. Called by golden.ts in dependency order, so a
 * later module reads what the earlier real module wrote, as in the Allen chain.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readNpy, writeNpy } from '../../lib/formats/npy.js';
import { parseCsv } from '../../stages/quality_metrics/metricsTable.js';
import { meanWaveformsOverOrders, runModule, runModuleOk, lastLines, type AllenEnv } from './allen.js';
import {
  copyFolder, depthInput, meanWaveformsInput, noiseInput, postprocessingInput, qualityInput, type RecordingFiles,
} from './cases.js';
import { csvValues } from './compare.js';
import { hashFiles, int16Windows, relDiff, sha256File, windowStarts, writeJson, type Stamp } from './fixtures.js';

export interface Context {
  allen: AllenEnv;
  stamp: Stamp;
  out: string;
  work: string;
  medianProgram?: string;
  medianRepo?: string;
  /** The JUCE commit the median program was compiled against, for its stamp. */
  juceCommit?: string;
  runs: number;
  log: (line: string) => void;
}

/** The files of a Kilosort folder a module reads; their hashes identify a fixture's input. */
export const ksInputFiles = [
  'spike_times.npy', 'spike_clusters.npy', 'spike_templates.npy', 'amplitudes.npy', 'templates.npy', 'whitening_mat_inv.npy',
  'channel_map.npy', 'pc_features.npy', 'pc_feature_ind.npy', 'cluster_group.tsv',
];

// ---------------------------------------------------------------------------------------------

export function depthEstimation(c: Context, name: string, files: RecordingFiles, variant = 'pipeline'): string {
  const work = path.join(c.work, 'depth_estimation', name);
  const probeJson = path.join(work, 'probe_info.json');
  const r = runModuleOk(c.allen, 'depth_estimation', depthInput(files, probeJson, work, variant), path.join(work, 'run'));
  const dir = path.join(c.out, 'depth_estimation');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(probeJson, path.join(dir, `${name}.probe_info.json`));
  writeJson(path.join(dir, `${name}.json`), {
    stamp: c.stamp, recording: name, variant, inputs: { ap: sha256File(files.ap), lfp: sha256File(files.lfp) },
    output: { surface_channel: r.output?.surface_channel, air_channel: r.output?.air_channel },
  });
  c.log(`depth_estimation ${name}: surface ${r.output?.surface_channel}, air ${r.output?.air_channel} (${r.seconds.toFixed(1)} s)`);
  return probeJson;
}

/** Usable channels per ADC group below max_channel, as the median program groups them. */
export function groupCounts(mask: boolean[], maxChannel: number): number[] {
  const counts = new Array(24).fill(0);
  for (let ch = 0; ch < Math.min(maxChannel, 384); ch++) if (mask[ch]) counts[ch % 24]++;
  return counts;
}

export const medianWindow = { count: 12, length: 32 };

/** The real program on a copy of the AP band with the given probe_info.json. */
export function medianSubtraction(c: Context, name: string, recording: string, files: RecordingFiles, probe: Record<string, any>, note: string): void {
  if (!c.medianProgram || !c.medianRepo) throw new Error('median_subtraction needs --median-program and --median-repo');
  const work = path.join(c.work, 'median_subtraction', name);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const ap = path.join(work, 'continuous.dat');
  fs.copyFileSync(files.ap, ap);
  const probeJson = path.join(work, 'probe_info.json');
  fs.writeFileSync(probeJson, JSON.stringify(probe, null, 4));
  const r = runModuleOk(c.allen, 'median_subtraction', {
    directories: { extracted_data_directory: work, kilosort_output_directory: work },
    common_files: { probe_json: probeJson, settings_json: path.join(work, 'open-ephys.json') },
    ephys_params: { ap_band_file: ap, num_channels: 384, sample_rate: 30000, bit_volts: 0.195 },
    median_subtraction_params: { median_subtraction_executable: c.medianProgram, median_subtraction_repo: c.medianRepo },
  }, path.join(work, 'run'));
  const residuals = path.join(work, 'residuals.dat');
  const samples = fs.statSync(ap).size / (384 * 2);
  const dir = path.join(c.out, 'median_subtraction', name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const starts = windowStarts(samples, medianWindow.length, medianWindow.count);
  const w = int16Windows(ap, 384, starts, medianWindow.length);
  writeNpy(path.join(dir, 'windows.npy'), { dtype: 'int16', shape: [starts.length, medianWindow.length, 384], data: w });
  const rw = int16Windows(residuals, 24, starts, medianWindow.length);
  writeNpy(path.join(dir, 'residual_windows.npy'), { dtype: 'int16', shape: [starts.length, medianWindow.length, 24], data: rw });
  fs.writeFileSync(path.join(dir, 'probe_info.json'), JSON.stringify(probe, null, 4));
  writeJson(path.join(dir, 'golden.json'), {
    stamp: c.stamp, program: `modules/median_subtraction/SpikeBandMedianSubtraction/Source/Main.cpp, compiled against juce_core${c.juceCommit ? ` of juce-framework/JUCE ${c.juceCommit}` : ''}`,
    note, recording, input: { ap: sha256File(files.ap), bytes: fs.statSync(files.ap).size, channels: 384, samples, probe_json: 'probe_info.json' },
    max_channel: Math.trunc(probe.air_channel), usable_per_group: groupCounts(probe.mask, Math.trunc(probe.air_channel)),
    output: { sha256: sha256File(ap), bytes: fs.statSync(ap).size },
    residuals: { sha256: sha256File(residuals), bytes: fs.statSync(residuals).size, per_sample: 24 },
    windows: { starts, length: medianWindow.length, file: 'windows.npy', residuals_file: 'residual_windows.npy' },
  });
  c.log(`median_subtraction ${name}: ${samples} samples (${r.seconds.toFixed(1)} s)`);
}

// ---------------------------------------------------------------------------------------------

/** The module on a copy of `ksDir`; returns the copy (its postprocessed folder). */
export function kilosortPostprocessing(c: Context, name: string, ksDir: string): string {
  const work = path.join(c.work, 'kilosort_postprocessing', name);
  const folder = path.join(work, 'ks');
  copyFolder(ksDir, folder);
  const r = runModuleOk(c.allen, 'kilosort_postprocessing', postprocessingInput(folder), path.join(work, 'run'));
  const written = ['spike_times.npy', 'spike_clusters.npy', 'spike_templates.npy', 'amplitudes.npy', 'pc_features.npy', 'overlap_matrix.npy'];
  const arrays: Record<string, unknown> = {};
  for (const f of written) {
    const a = readNpy(path.join(folder, f));
    arrays[f] = { dtype: a.dtype, shape: a.shape, sha256: sha256File(path.join(folder, f)), bytes: fs.statSync(path.join(folder, f)).size };
  }
  writeJson(path.join(c.out, 'kilosort_postprocessing', `${name}.json`), { stamp: c.stamp, case: name, inputs: hashFiles(ksDir, ksInputFiles), arrays });
  const before = readNpy(path.join(ksDir, 'spike_times.npy')).shape[0];
  const after = (arrays['spike_times.npy'] as { shape: number[] }).shape[0];
  c.log(`kilosort_postprocessing ${name}: ${before} -> ${after} spikes (${r.seconds.toFixed(1)} s)`);
  return folder;
}

export function noiseTemplates(c: Context, name: string, ksDir: string): void {
  const work = path.join(c.work, 'noise_templates', name);
  const folder = path.join(work, 'ks');
  copyFolder(ksDir, folder);
  const r = runModuleOk(c.allen, 'noise_templates', noiseInput(folder), path.join(work, 'run'));
  const dir = path.join(c.out, 'noise_templates');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(folder, 'cluster_group.tsv.v2'), path.join(dir, `${name}.cluster_group.tsv.v2`));
  writeJson(path.join(dir, `${name}.json`), { stamp: c.stamp, case: name, inputs: hashFiles(ksDir, ksInputFiles) });
  const noise = fs.readFileSync(path.join(folder, 'cluster_group.tsv.v2'), 'utf8').split('\n').filter((l) => l.endsWith('\tnoise')).length;
  c.log(`noise_templates ${name}: ${noise} noise (${r.seconds.toFixed(1)} s)`);
}

/** Cells of the module's metrics table that none of the fixed-order runs gives (within 1e-9). */
function unseenModuleValues(moduleCsv: string, orderCsvs: string[]): string[] {
  const m = csvValues(moduleCsv);
  const runs = orderCsvs.map(csvValues);
  const out: string[] = [];
  m.rows.forEach((row, i) => row.forEach((v, k) => {
    const seen = runs.some((o) => (typeof v === 'number' ? relDiff(v, o.rows[i][k] as number) <= 1e-9 : v === o.rows[i][k]));
    if (!seen) out.push(`cluster ${row[1]} ${m.columns[k]} ${v}`);
  }));
  return out;
}

/** Rows kept of mean_waveforms.npy per unit: the peak channel and this many on each side. */
export const meanWindowHalf = 3;

export function meanWaveforms(c: Context, name: string, ksDir: string, apFile: string): void {
  const work = path.join(c.work, 'mean_waveforms', name);
  const folder = path.join(work, 'ks');
  copyFolder(ksDir, folder);
  const clusters = readNpy(path.join(folder, 'spike_clusters.npy')).data as Uint32Array;
  const counts = new Map<number, number>();
  for (const id of clusters) counts.set(id, (counts.get(id) ?? 0) + 1);
  const spikesPerEpoch = Math.max(...counts.values());
  const r = runModuleOk(c.allen, 'mean_waveforms', meanWaveformsInput(folder, apFile, spikesPerEpoch), path.join(work, 'run'));
  // The same computation in fixed spike orders (file order first): where they differ, the module's
  // own run is not reproducible, and its value must be one of theirs.
  let orders = 8;
  let csvs: string[];
  let unseen: string[];
  for (;;) {
    csvs = meanWaveformsOverOrders(c.allen, path.join(work, 'run', 'input.json'), orders);
    unseen = unseenModuleValues(fs.readFileSync(path.join(folder, 'waveform_metrics.csv'), 'utf8'), csvs);
    if (!unseen.length || orders >= 64) break;
    orders *= 2;
  }
  if (unseen.length) throw new Error(`mean_waveforms ${name}: the module's run gave values no fixed order gives: ${unseen.join('; ')}`);
  const byOrder = csvs.map(csvValues);
  const dir = path.join(c.out, 'mean_waveforms', name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const csv = fs.readFileSync(path.join(folder, 'waveform_metrics.csv'), 'utf8');
  fs.writeFileSync(path.join(dir, 'waveform_metrics.csv'), csv);
  const mean = readNpy(path.join(folder, 'mean_waveforms.npy'));
  const [units, channels, samples] = mean.shape;
  const data = mean.data as Float64Array;
  // Peak channel per cluster id from the module's own table.
  const rows = parseCsv(csv);
  const idCol = rows[0].indexOf('cluster_id'), peakCol = rows[0].indexOf('peak_channel');
  const peakOf = new Map<number, number>(rows.slice(1).map((row) => [Number(row[idCol]), Number(row[peakCol])]));
  const width = 2 * meanWindowHalf + 1;
  const window = new Float64Array(units * width * samples);
  const stats: Array<{ abs_sum: number; square_sum: number; max_abs: number; first_row: number }> = [];
  for (let u = 0; u < units; u++) {
    const first = Math.min(Math.max(0, (peakOf.get(u) ?? 0) - meanWindowHalf), channels - width);
    window.set(data.subarray((u * channels + first) * samples, (u * channels + first + width) * samples), u * width * samples);
    let absSum = 0, squareSum = 0, maxAbs = 0;
    for (let i = u * channels * samples; i < (u + 1) * channels * samples; i++) {
      const v = Math.abs(data[i]);
      absSum += v; squareSum += v * v; if (v > maxAbs) maxAbs = v;
    }
    stats.push({ abs_sum: absSum, square_sum: squareSum, max_abs: maxAbs, first_row: first });
  }
  writeNpy(path.join(dir, 'mean_windows.npy'), { dtype: 'float64', shape: [units, width, samples], data: window });
  writeJson(path.join(dir, 'golden.json'), {
    stamp: c.stamp, case: name, inputs: { ...hashFiles(ksDir, ksInputFiles), ap: sha256File(apFile) }, spikes_per_epoch: spikesPerEpoch,
    mean_waveforms: { dtype: mean.dtype, shape: mean.shape, window_file: 'mean_windows.npy', window_rows: width, units: stats },
    orders: { note: 'extract_waveforms with np.random.shuffle replaced: run 0 keeps the file order, runs 1.. are seeded permutations', columns: byOrder[0].columns, runs: byOrder.map((v) => v.rows) },
  });
  const sensitive = byOrder[0].rows.filter((row, i) => byOrder.some((o) => o.rows[i].some((v, k) => typeof v === 'number' && relDiff(v, row[k] as number) > 1e-9))).length;
  c.log(`mean_waveforms ${name}: ${units} units, ${sensitive} whose metrics depend on the spike order (${r.seconds.toFixed(1)} s)`);
}

// ---------------------------------------------------------------------------------------------

/**
 * The module `runs` times on several cores (joblib's workers: PC subsamples unseeded) and once on
 * one core (LOKY_MAX_CPU_COUNT=1: every draw from the seeded main generator). With
 * `nSilhouetteForModule`, the module gets that n_silhouette instead (see the short case).
 */
export function qualityMetrics(c: Context, name: string, ksDir: string, params: Record<string, unknown>, note: string, nSilhouetteForModule?: number, waveformMetrics?: string): void {
  const work = path.join(c.work, 'quality_metrics', name);
  fs.rmSync(work, { recursive: true, force: true });
  const dir = path.join(c.out, 'quality_metrics', name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const moduleParams = nSilhouetteForModule === undefined ? params : { ...params, n_silhouette: nSilhouetteForModule };
  let defaultRun: Record<string, unknown> | undefined;
  if (nSilhouetteForModule !== undefined) {
    // What the module does with the parameters the built-in is compared at.
    const out = path.join(work, 'default', 'metrics.csv');
    const r = runModule(c.allen, 'quality_metrics', qualityInput(ksDir, out, params, waveformMetrics), path.join(work, 'default'));
    defaultRun = { params, exit_code: r.code, error: lastLines(r.log, 1), wrote_output: fs.existsSync(out) };
    c.log(`quality_metrics ${name} with ${JSON.stringify(params)}: exit ${r.code}: ${lastLines(r.log, 1)}`);
  }
  const runs: Array<{ csv: string; seconds: number }> = [];
  for (let i = 0; i <= c.runs; i++) {
    const oneCore = i === c.runs;
    const sub = path.join(work, oneCore ? 'one-core' : `run${i + 1}`);
    const out = path.join(sub, 'metrics.csv');
    const r = runModuleOk(c.allen, 'quality_metrics', qualityInput(ksDir, out, moduleParams, waveformMetrics), sub, oneCore ? { LOKY_MAX_CPU_COUNT: '1' } : {});
    runs.push({ csv: fs.readFileSync(out, 'utf8'), seconds: r.seconds });
    c.log(`quality_metrics ${name} ${oneCore ? 'one core' : `run ${i + 1}`}: ${r.seconds.toFixed(1)} s`);
  }
  fs.writeFileSync(path.join(dir, 'metrics.csv'), runs[0].csv);
  fs.writeFileSync(path.join(dir, 'metrics_one_core.csv'), runs[c.runs].csv);
  const parsed = runs.slice(0, c.runs).map((r) => csvValues(r.csv));
  writeJson(path.join(dir, 'golden.json'), {
    stamp: c.stamp, case: name, note, inputs: { ...hashFiles(ksDir, ksInputFiles), ...(waveformMetrics ? { 'waveform_metrics.csv': sha256File(waveformMetrics) } : {}) },
    params, module_params: moduleParams, merged: waveformMetrics ? path.relative(c.out, waveformMetrics) : undefined,
    default_run: defaultRun, cores_used: 'joblib n_jobs=-1 on this machine\'s cores; metrics_one_core.csv with LOKY_MAX_CPU_COUNT=1',
    seconds: runs.map((r) => r.seconds), columns: parsed[0].columns, runs: parsed.map((p) => p.rows),
  });
}
