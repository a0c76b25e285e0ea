/**
 * `node dist/bench/kilosort4.js [--python PY] [--only NAME,...] [--seconds S] [--channels C] [--cache DIR]`:
 * the built-in quick-look sorter and the real Kilosort 4 (on the CPU, through the kilosort4 stage's
 * driver) on the standard synthetic recordings (lib/synth/benchmarkSet.ts: with and without
 * drift), scored against their ground truth side by side with their run times. Kilosort 4 runs only when an interpreter that imports it is given
 * (--python or EPHYS_MAKE_KS4_PYTHON); otherwise the benchmark says so and exits 0.
 *
 * A Kilosort 4 run takes minutes of both cores: with --cache (or EPHYS_MAKE_KS4_CACHE) its output
 * folder and output.json are kept per recording (name, seconds, channels, seed, drift) and reused, the run time reported
 * being the one measured when it ran. Recordings are byte-identical for the same options and seed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../lib/synth/generate.js';
import { benchmarkSet, type BenchmarkRecording } from '../lib/synth/benchmarkSet.js';
import { compareToGroundTruth, type GroundTruthComparison } from '../lib/synth/groundTruthMatch.js';
import { readSpikeGlxMeta } from '../lib/formats/spikeglx.js';
import { geometryFromSites } from '../lib/formats/probeGeometry.js';
import { readClusterGroupTsv } from '../lib/formats/clusterGroup.js';
import { parseCsv } from '../stages/quality_metrics/metricsTable.js';
import { pcColumns } from './oracle/compare.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, '..', '..');
const hostPath = path.join(packageRoot, 'dist', 'lib', 'builtin', 'host.js');
const driverPath = path.join(packageRoot, 'stages', 'kilosort4', 'driver.py');

const { values: o } = parseArgs({ options: {
  python: { type: 'string' }, only: { type: 'string' }, seconds: { type: 'string' }, channels: { type: 'string' }, cache: { type: 'string' },
} });
const python = o.python ?? process.env.EPHYS_MAKE_KS4_PYTHON;
const only = o.only?.split(',');
for (const name of only ?? []) if (!benchmarkSet.some((b) => b.name === name)) throw new Error(`--only: no recording '${name}' (the set: ${benchmarkSet.map((b) => b.name).join(', ')})`);
const cache = o.cache ?? process.env.EPHYS_MAKE_KS4_CACHE;

function run(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, encoding: 'utf8', cwd: os.tmpdir() });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${path.basename(argv[1] ?? argv[0])} failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  return s;
}

/** A built-in stage run by its host on an input JSON written to `work/NAME.json`; its run time in seconds. */
function builtin(module: string, input: object, work: string, name = module): number {
  const inFile = path.join(work, `${name}.json`);
  fs.writeFileSync(inFile, JSON.stringify(input));
  return run([process.execPath, hostPath, module, '--input_json', inFile, '--output_json', path.join(work, `${name}.out.json`)]);
}

/**
 * The built-in post-sorting stages on a sorter's folder (a copy: noise_templates writes into it):
 * how many clusters noise_templates calls noise, and for how many quality_metrics fills the PC metrics.
 */
function postSorting(ksDir: string, work: string, name: string, sampleRate: number, bitVolts: number, truth: GroundTruthComparison): string {
  const dir = path.join(work, `post-${name}`);
  fs.cpSync(ksDir, dir, { recursive: true });
  builtin('noise_templates', {
    ephys_params: { sample_rate: sampleRate, cluster_group_file_name: 'cluster_group.tsv.v2' },
    directories: { kilosort_output_directory: dir }, noise_waveform_params: { classifier_path: '/nonexistent/rf_classifier.pkl' },
  }, work, `${name}-noise_templates`);
  const { clusterIds, labels } = readClusterGroupTsv(path.join(dir, 'cluster_group.tsv.v2'));
  const noise = labels.filter((l) => l === 'noise').length;
  const labelOf = new Map(clusterIds.map((id, i) => [id, labels[i]]));
  const sorted = truth.units.filter((u) => u.detectable && u.accuracy >= truth.goodAccuracy);
  const sortedNoise = sorted.filter((u) => labelOf.get(u.cluster) === 'noise').length;
  const metrics = path.join(dir, 'metrics.csv');
  builtin('quality_metrics', {
    directories: { kilosort_output_directory: dir }, ephys_params: { sample_rate: sampleRate, bit_volts: bitVolts },
    waveform_metrics: { waveform_metrics_file: path.join(dir, 'no_waveform_metrics.csv') },
    quality_metrics_params: { quality_metrics_output_file: metrics, include_pc_metrics: true },
  }, work, `${name}-quality_metrics`);
  const [header, ...rows] = parseCsv(fs.readFileSync(metrics, 'utf8'));
  const pcAt = pcColumns.map((c) => header.indexOf(c));
  const has = (r: string[], i: number) => i >= 0 && r[i] !== '' && r[i] !== 'nan';
  // Isolation distance needs as many other spikes as the cluster's own (the Allen rule): it is the one most often empty.
  const some = rows.filter((r) => pcAt.some((i) => has(r, i))).length;
  const isolation = rows.filter((r) => has(r, header.indexOf('isolation_distance'))).length;
  return `noise_templates: ${noise}/${labels.length} noise (${sortedNoise} of the ${sorted.length} sorted units' clusters); quality_metrics: PC metrics for ${some}/${rows.length} clusters (isolation distance for ${isolation})`;
}

function row(name: string, secs: number, c: GroundTruthComparison, note = ''): string {
  return `  ${name.padEnd(24)} ${secs.toFixed(1).padStart(7)} s  ${String(c.foundClusters).padStart(8)}  ${`${c.wellSortedUnits}/${c.detectableUnits}`.padStart(11)}  ${c.meanAccuracy.toFixed(3).padStart(13)}${note}`;
}

async function main(): Promise<void> {
  for (const b of benchmarkSet) {
    if (only && !only.includes(b.name)) continue;
    await benchmark({ ...b, seconds: Number(o.seconds ?? b.seconds), channels: Number(o.channels ?? b.channels) });
  }
  console.log('accuracy >= 0.8 counts as sorted (units over 5x noise); the machine is shared: run times vary');
}

async function benchmark(b: BenchmarkRecording): Promise<void> {
  const { seconds, channels, seed, driftUm } = b;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-ks4-'));
  try {
    const s = await synthesize({ outDir: work, recordings: 1, seconds, channels, seed, driftUm, lfp: false });
    const rec = s.recordings[0];
    console.log(`\n${b.name}: ${seconds} s, ${channels} channels, ${rec.units} units, seed ${seed}, drift ${driftUm} µm (${b.note})`);
    const ephys = { ap_band_file: rec.apFile, num_channels: rec.savedChannels, sample_rate: rec.sampleRateHz, bit_volts: rec.bitVolts };

    // The built-in sorter sorts what the chain gives it: the AP band after median subtraction
    // (Kilosort 4 subtracts its own common average). Both stages are timed.
    const builtinDir = path.join(work, 'builtin');
    const subtracted = path.join(work, 'median_subtracted.dat');
    const bSecs = builtin('median_subtraction', { ephys_params: { ...ephys, reference_channels: [] }, median_subtraction_params: { output_file: subtracted } }, work)
      + builtin('builtin_sorter', { ephys_params: { ...ephys, ap_band_file: subtracted, reference_channels: [] }, directories: { kilosort_output_directory: builtinDir } }, work);
    const lines = [`  ${'sorter'.padEnd(24)} ${'run time'.padStart(9)}  ${'clusters'.padStart(8)}  ${'sorted'.padStart(11)}  ${'mean accuracy'.padStart(13)}`];
    const bTruth = compareToGroundTruth(builtinDir, rec.groundTruthDir);
    lines.push(row('median sub. + built-in', bSecs, bTruth));
    const post = [`  then, built-in:  ${postSorting(builtinDir, work, 'builtin', rec.sampleRateHz, rec.bitVolts, bTruth)}`];

    if (!python) {
      lines.push('  Kilosort 4               not run: give --python or EPHYS_MAKE_KS4_PYTHON (an interpreter that imports kilosort)');
    } else {
      const key = `synth-${b.name}-${seconds}s-${channels}ch-seed${seed}-drift${driftUm}`;
      const ksDir = cache ? path.join(cache, key, 'kilosort') : path.join(work, 'kilosort4');
      const outJson = cache ? path.join(cache, key, 'output.json') : path.join(work, 'kilosort4.out.json');
      let note = '';
      let kSecs: number;
      if (fs.existsSync(outJson) && fs.existsSync(path.join(ksDir, 'spike_times.npy'))) {
        kSecs = JSON.parse(fs.readFileSync(outJson, 'utf8')).execution_time;
        note = `  (reused from ${path.dirname(outJson)})`;
      } else {
        const meta = readSpikeGlxMeta(rec.metaFiles[0]);
        if (!meta.ok) throw new Error(meta.diagnostics.map((d) => d.message).join('\n'));
        const kIn = path.join(work, 'kilosort4.json');
        fs.mkdirSync(path.dirname(outJson), { recursive: true });
        fs.writeFileSync(kIn, JSON.stringify({
          ephys_params: ephys, directories: { kilosort_output_directory: ksDir },
          probe_geometry: geometryFromSites(meta.value.sites, path.basename(rec.metaFiles[0])),
          kilosort4_params: { device: 'cpu', settings: {} },
        }));
        kSecs = run([python, driverPath, '--input_json', kIn, '--output_json', outJson]);
      }
      const kTruth = compareToGroundTruth(ksDir, rec.groundTruthDir);
      lines.push(row('Kilosort 4 (CPU)', kSecs, kTruth, note));
      post.push(`  then, Kilosort 4: ${postSorting(ksDir, work, 'kilosort4', rec.sampleRateHz, rec.bitVolts, kTruth)}`);
    }
    console.log([...lines, ...post].join('\n'));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e?.message ?? e); process.exitCode = 1; });
