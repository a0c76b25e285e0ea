/**
 * Benchmark: depth estimation and the post-sorting built-ins (postprocessing, noise templates, mean
 * waveforms) against the real Allen modules, on one synthetic recording long enough for the Allen
 * depth-estimation values (110 s x 384 channels, Open Ephys) and the built-in sorter's output of
 * it. Prints each side's time, the ratio, and whether the outputs agree. The modules run when
 * ALLEN_PYTHON names an interpreter that imports ecephys_spike_sorting (docs/fidelity.md);
 * without it only the built-ins are timed. (quality_metrics has its own benchmark, bench/metrics.)
 *
 *   node dist/bench/modules.js
 * Environment: MODULES_BENCH_DIR (inputs, kept for reruns; default under the temp folder), ALLEN_PYTHON
 * or ALLEN_ORACLE (a prepared environment folder, docs/fidelity.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../lib/synth/generate.js';
import { readNpy } from '../lib/formats/npy.js';
import type { BuiltinStage, InputJson } from '../lib/builtin/stage.js';
import { stage as depthEstimation } from '../stages/depth_estimation/index.js';
import { stage as postprocessing } from '../stages/kilosort_postprocessing/index.js';
import { stage as noiseTemplates } from '../stages/noise_templates/index.js';
import { stage as meanWaveforms } from '../stages/mean_waveforms/index.js';
import { copyFolder, meanWaveformsInput, noiseInput, postprocessingInput, quietContext, sortRecording, type RecordingFiles } from './oracle/cases.js';
import { allenFromEnvironment, runModuleOk } from './oracle/allen.js';
import { csvValues } from './oracle/compare.js';
import { relDiff, sha256File } from './oracle/fixtures.js';

const root = process.env.MODULES_BENCH_DIR ?? path.join(os.tmpdir(), 'ephys-make-bench-modules');
const allen = allenFromEnvironment().python;

async function timed(what: string, fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = Date.now();
  await fn();
  const s = (Date.now() - t) / 1000;
  console.log(`  ${what}: ${s.toFixed(1)} s`);
  return s;
}

function depthJson(files: RecordingFiles, probe: string, dir: string): InputJson {
  // The shipped pipeline's (create_input_json.py's) values: 10 passes over 105 s.
  return {
    directories: { extracted_data_directory: dir, kilosort_output_directory: dir },
    common_files: { probe_json: probe, settings_json: path.join(dir, 'open-ephys.json') },
    ephys_params: { sample_rate: 30000, lfp_sample_rate: 2500, bit_volts: 0.195, num_channels: 384, reference_channels: [191], reorder_lfp_channels: false, ap_band_file: files.ap, lfp_band_file: files.lfp },
    depth_estimation_params: {
      hi_noise_thresh: 50.0, lo_noise_thresh: 3.0, save_figure: true, figure_location: path.join(dir, 'probe_depth.png'), smoothing_amount: 5,
      power_thresh: 2.5, diff_thresh: -0.06, freq_range: [0, 10], max_freq: 150, channel_range: [374, 384], n_passes: 10, skip_s_per_pass: 10,
      start_time: 10, time_interval: 5, air_gap: 25,
    },
  };
}

interface Row { stage: string; builtinS: number; moduleS?: number; agreement?: string }

async function compare(row: Row, name: string, builtin: BuiltinStage, input: (dir: string) => InputJson, src: string, check: (ours: string, theirs: string) => string): Promise<void> {
  const ours = path.join(root, 'work', `${name}-builtin`);
  const theirs = path.join(root, 'work', `${name}-module`);
  copyFolder(src, ours);
  row.builtinS = await timed(`${name}, built-in`, () => builtin.run(input(ours), quietContext));
  if (!allen) return;
  copyFolder(src, theirs);
  row.moduleS = await timed(`${name}, Allen module`, () => runModuleOk({ python: allen }, name, input(theirs), path.join(root, 'work', `${name}-run`)));
  row.agreement = check(ours, theirs);
}

async function main(): Promise<number> {
  fs.mkdirSync(root, { recursive: true });
  const marker = path.join(root, 'inputs-complete.json');
  if (!fs.existsSync(marker)) {
    fs.rmSync(path.join(root, 'rec'), { recursive: true, force: true });
    const s = await synthesize({ outDir: path.join(root, 'rec'), recordings: 1, seconds: 110, channels: 384, layout: 'openephys', seed: 7 });
    const r = s.recordings[0];
    const files: RecordingFiles = { ap: r.apFile, lfp: r.lfFile!, dir: r.dir };
    await sortRecording(files, path.join(root, 'sorted'));
    fs.writeFileSync(marker, JSON.stringify(files));
  }
  const files: RecordingFiles = JSON.parse(fs.readFileSync(marker, 'utf8'));
  const spikes = readNpy(path.join(root, 'sorted', 'spike_times.npy')).shape[0];
  console.log(`recording: 110 s x 384 channels (${(fs.statSync(files.ap).size / 2 ** 30).toFixed(2)} GiB AP); sorted: ${spikes} spikes; ${os.availableParallelism()} cores`);
  if (!allen) console.log('Allen modules: skipped (set ALLEN_PYTHON to an interpreter that imports ecephys_spike_sorting, or ALLEN_ORACLE; docs/fidelity.md)');
  const rows: Row[] = [];
  fs.mkdirSync(path.join(root, 'work'), { recursive: true });

  const depth: Row = { stage: 'depth_estimation', builtinS: 0 };
  rows.push(depth);
  const probe = (side: string) => path.join(root, 'work', `probe_info-${side}.json`);
  depth.builtinS = await timed('depth_estimation, built-in', () => depthEstimation.run(depthJson(files, probe('builtin'), path.join(root, 'work')), quietContext));
  if (allen) {
    depth.moduleS = await timed('depth_estimation, Allen module', () => runModuleOk({ python: allen }, 'depth_estimation', depthJson(files, probe('module'), path.join(root, 'work')), path.join(root, 'work', 'depth-run')));
    depth.agreement = fs.readFileSync(probe('builtin'), 'utf8') === fs.readFileSync(probe('module'), 'utf8') ? 'probe_info.json identical' : 'probe_info.json DIFFERS';
  }

  const pp: Row = { stage: 'kilosort_postprocessing', builtinS: 0 };
  rows.push(pp);
  await compare(pp, 'kilosort_postprocessing', postprocessing, postprocessingInput, path.join(root, 'sorted'), (a, b) => {
    const names = ['spike_times.npy', 'spike_clusters.npy', 'spike_templates.npy', 'amplitudes.npy', 'pc_features.npy', 'overlap_matrix.npy'];
    const differ = names.filter((n) => sha256File(path.join(a, n)) !== sha256File(path.join(b, n)));
    return differ.length ? `DIFFER: ${differ.join(', ')}` : `${names.length} arrays identical`;
  });
  // The later stages read the module's postprocessed folder when there is one, as in the Allen chain.
  const post = path.join(root, 'work', allen ? 'kilosort_postprocessing-module' : 'kilosort_postprocessing-builtin');

  const noise: Row = { stage: 'noise_templates', builtinS: 0 };
  rows.push(noise);
  await compare(noise, 'noise_templates', noiseTemplates, noiseInput, post, (a, b) => {
    const la = fs.readFileSync(path.join(a, 'cluster_group.tsv.v2'), 'utf8').trim().split('\n');
    const lb = fs.readFileSync(path.join(b, 'cluster_group.tsv.v2'), 'utf8').trim().split('\n');
    const same = la.filter((l, i) => l === lb[i]).length - 1;
    return `${same} of ${lb.length - 1} labels equal`;
  });

  const mean: Row = { stage: 'mean_waveforms', builtinS: 0 };
  rows.push(mean);
  // spikes_per_epoch 1000 (the pipeline's): above it the module averages an unseeded subset.
  const clusters = readNpy(path.join(post, 'spike_clusters.npy')).data as Uint32Array;
  const counts = new Map<number, number>();
  for (const id of clusters) counts.set(id, (counts.get(id) ?? 0) + 1);
  await compare(mean, 'mean_waveforms', meanWaveforms, (dir) => meanWaveformsInput(dir, files.ap, 1000), post, (a, b) => {
    const x = csvValues(fs.readFileSync(path.join(a, 'waveform_metrics.csv'), 'utf8'));
    const y = csvValues(fs.readFileSync(path.join(b, 'waveform_metrics.csv'), 'utf8'));
    let units = 0, agree = 0;
    x.rows.forEach((row, i) => {
      if ((counts.get(row[1] as number) ?? 0) > 1000) return;
      units++;
      if (row.every((v, k) => (typeof v === 'number' ? relDiff(v, y.rows[i][k] as number) <= 1e-9 : v === y.rows[i][k]))) agree++;
    });
    return `metrics of ${agree} of ${units} units with <= 1000 spikes within 1e-9 (the others: a trough tie the module's spike order decides)`;
  });

  console.log('\nstage                     built-in    module    ratio   agreement');
  for (const r of rows) {
    const ratio = r.moduleS !== undefined ? `${(r.moduleS / r.builtinS).toFixed(1)}x` : '-';
    console.log(`${r.stage.padEnd(24)} ${r.builtinS.toFixed(1).padStart(7)} s ${r.moduleS !== undefined ? `${r.moduleS.toFixed(1).padStart(7)} s` : '        -'} ${ratio.padStart(8)}   ${r.agreement ?? ''}`);
  }
  const bad = rows.some((r) => /DIFFER/.test(r.agreement ?? ''));
  return bad ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err) => { console.error(err); process.exitCode = 1; });
