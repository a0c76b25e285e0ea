/**
 * Benchmark: built-in quality_metrics against the real Allen module (when ALLEN_PYTHON names an
 * interpreter that imports ecephys_spike_sorting; docs/fidelity.md) and against a numpy/scipy/
 * scikit-learn transcription of the same formulas fed the built-in's own subsamples
 * (bench/reference/quality_metrics.py), on one synthetic Kilosort folder of realistic size. Prints
 * the times, the ratios, and per column how far the values are apart: with the module, exact where
 * it is deterministic (spike-train metrics, silhouette, drift) and, for the PC metrics it draws
 * unseeded in joblib workers, the median relative difference.
 *
 *   node dist/bench/metrics.js
 * Environment: QM_BENCH_UNITS (300), QM_BENCH_SPIKES (5000000), QM_BENCH_SECONDS (7200),
 * QM_BENCH_DIR (where the folder is generated and kept for reruns; default under the temp folder),
 * ALLEN_PYTHON (the real module's interpreter; without it that comparison is skipped) or
 * ALLEN_ORACLE (a prepared environment folder, docs/fidelity.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeKsFolder } from './_ksFolder.js';
import { parseCsv } from '../stages/quality_metrics/metricsTable.js';
import { allenFromEnvironment, runModule, lastLines } from './oracle/allen.js';
import { qualityInput } from './oracle/cases.js';
import { csvValues, pcColumns } from './oracle/compare.js';
import { relDiff } from './oracle/fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const python = '/usr/bin/python3';

const units = Number(process.env.QM_BENCH_UNITS ?? 300);
const spikes = Number(process.env.QM_BENCH_SPIKES ?? 5_000_000);
const durationS = Number(process.env.QM_BENCH_SECONDS ?? 7200);
const root = process.env.QM_BENCH_DIR ?? path.join(os.tmpdir(), 'ephys-make-bench-qm');
const folder = path.join(root, `ks-${units}u-${spikes}s`);

function gib(bytes: number): string { return (bytes / 2 ** 30).toFixed(2) + ' GiB'; }

/** Relative differences per column of two metrics CSVs (same layout expected); NaN must match NaN. */
export function compareMetricsCsv(a: string, b: string): { columns: string[]; maxRel: Record<string, number>; nanMismatch: Record<string, number>; textMismatch: Record<string, number> } {
  const ra = parseCsv(a), rb = parseCsv(b);
  if (ra[0].join(',') !== rb[0].join(',')) throw new Error(`columns differ:\n  ${ra[0].join(',')}\n  ${rb[0].join(',')}`);
  if (ra.length !== rb.length) throw new Error(`row counts differ: ${ra.length - 1} and ${rb.length - 1}`);
  const columns = ra[0];
  const maxRel: Record<string, number> = {}, nanMismatch: Record<string, number> = {}, textMismatch: Record<string, number> = {};
  columns.forEach((name, c) => {
    maxRel[name] = 0; nanMismatch[name] = 0; textMismatch[name] = 0;
    for (let r = 1; r < ra.length; r++) {
      const x = ra[r][c], y = rb[r][c];
      if (x === y) continue;
      const fx = x === '' ? NaN : Number(x), fy = y === '' ? NaN : Number(y);
      if (Number.isNaN(fx) || Number.isNaN(fy)) {
        if (Number.isNaN(fx) !== Number.isNaN(fy) || x !== y) (Number.isNaN(fx) && Number.isNaN(fy) ? textMismatch : nanMismatch)[name]++;
        continue;
      }
      const rel = Math.abs(fx - fy) / Math.max(Math.abs(fy), 1e-300);
      if (rel > maxRel[name]) maxRel[name] = rel;
    }
  });
  return { columns, maxRel, nanMismatch, textMismatch };
}

function main(): number {
  fs.mkdirSync(root, { recursive: true });
  const marker = path.join(folder, 'bench-complete.json');
  let t = Date.now();
  if (!fs.existsSync(marker)) {
    fs.rmSync(folder, { recursive: true, force: true });
    const summary = makeKsFolder(folder, { units, spikes, durationS, seed: 7 });
    fs.writeFileSync(marker, JSON.stringify(summary));
    console.log(`generated ${folder} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const summary = JSON.parse(fs.readFileSync(marker, 'utf8'));
  console.log(`folder: ${summary.units} units, ${summary.templates} templates, ${summary.spikes} spikes, pc_features (${summary.spikes}, 3, 32) float32, ${gib(summary.bytes)} in all`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-qm-run-'));
  const dumpDir = path.join(work, 'subsamples');
  fs.mkdirSync(dumpDir);
  // The shipped pipeline's parameters (create_input_json.py's), for all three.
  const inputFor = (out: string) => qualityInput(folder, out);
  const builtinCsv = path.join(work, 'metrics_builtin.csv');
  const pythonCsv = path.join(work, 'metrics_python.csv');
  fs.writeFileSync(path.join(work, 'in_builtin.json'), JSON.stringify(inputFor(builtinCsv)));
  fs.writeFileSync(path.join(work, 'in_python.json'), JSON.stringify(inputFor(pythonCsv)));

  t = Date.now();
  const b = spawnSync(process.execPath, [path.join(repo, 'dist', 'lib', 'builtin', 'host.js'), 'quality_metrics',
    '--input_json', path.join(work, 'in_builtin.json'), '--output_json', path.join(work, 'out_builtin.json')],
  { env: { ...process.env, EPHYS_MAKE_QM_DUMP_DIR: dumpDir }, encoding: 'utf8' });
  const builtinS = (Date.now() - t) / 1000;
  if (b.status !== 0) { console.error(b.stdout, b.stderr); return 1; }
  console.log(`built-in:  ${builtinS.toFixed(1)} s (host process, ${os.availableParallelism()} cores, subsample dump on)`);

  let status = 0;
  const allen = allenFromEnvironment().python;
  if (!allen) {
    console.log('Allen module: skipped (set ALLEN_PYTHON to an interpreter that imports ecephys_spike_sorting, or ALLEN_ORACLE; docs/fidelity.md)');
  } else {
    const moduleCsv = path.join(work, 'metrics_module.csv');
    const r = runModule({ python: allen }, 'quality_metrics', qualityInput(folder, moduleCsv), path.join(work, 'module'));
    if (r.code !== 0) { console.error(lastLines(r.log, 15)); return 1; }
    console.log(`Allen module: ${r.seconds.toFixed(1)} s (python -m ecephys_spike_sorting.modules.quality_metrics, joblib on ${os.availableParallelism()} cores)`);
    console.log(`ratio:     built-in is ${(r.seconds / builtinS).toFixed(2)}x faster than the module (target >= 3x)`);
    const ours = csvValues(fs.readFileSync(builtinCsv, 'utf8'));
    const theirs = csvValues(fs.readFileSync(moduleCsv, 'utf8'));
    console.log('per column, against the module (PC metrics: its subsamples are unseeded, so a median is shown):');
    let worstDeterministic = 0;
    ours.columns.forEach((name, c) => {
      if (name === '' || name === 'epoch_name' || name === 'cluster_id') return;
      const d = ours.rows.map((row, i) => relDiff(row[c] as number, theirs.rows[i][c] as number));
      if (pcColumns.includes(name)) {
        const finite = d.filter(Number.isFinite).sort((a, b) => a - b);
        console.log(`  ${name.padEnd(20)} median ${(finite[finite.length >> 1] ?? 0).toExponential(2)}, NaN in one only: ${d.length - finite.length}`);
      } else {
        const worst = Math.max(...d);
        worstDeterministic = Math.max(worstDeterministic, worst);
        console.log(`  ${name.padEnd(20)} max ${worst.toExponential(2)}`);
      }
    });
    const ok = worstDeterministic <= 1e-9;
    console.log(`agreement with the module where it is deterministic: ${ok ? 'ok' : 'FAILED'} (tolerance 1e-9 relative)`);
    if (!ok) status = 1;
  }

  const hasPython = spawnSync(python, ['-c', 'import numpy, scipy, sklearn, pandas, joblib'], { stdio: 'ignore' }).status === 0;
  if (!hasPython) {
    console.log('transcription: skipped (/usr/bin/python3 lacks numpy, scipy, scikit-learn or pandas; apt-get install python3-numpy python3-scipy python3-sklearn python3-pandas)');
    return status;
  }
  t = Date.now();
  const p = spawnSync(python, [path.join(repo, 'bench', 'reference', 'quality_metrics.py'), path.join(work, 'in_python.json'), '--subsamples', dumpDir], { encoding: 'utf8' });
  const pythonS = (Date.now() - t) / 1000;
  if (p.status !== 0) { console.error(p.stdout, p.stderr); return 1; }
  console.log(`transcription: ${pythonS.toFixed(1)} s (numpy/scipy/scikit-learn, joblib over units, the built-in's subsamples)`);
  console.log(`ratio:     built-in is ${(pythonS / builtinS).toFixed(2)}x faster than the transcription`);

  const cmp = compareMetricsCsv(fs.readFileSync(builtinCsv, 'utf8'), fs.readFileSync(pythonCsv, 'utf8'));
  let worst = 0;
  console.log('max relative difference per column (NaN placement must match):');
  for (const name of cmp.columns) {
    if (name === '' || name === 'epoch_name' || name === 'cluster_id') continue;
    worst = Math.max(worst, cmp.maxRel[name]);
    console.log(`  ${name.padEnd(20)} ${cmp.maxRel[name].toExponential(2)}${cmp.nanMismatch[name] ? `  NaN mismatches: ${cmp.nanMismatch[name]}` : ''}`);
  }
  const nanTotal = Object.values(cmp.nanMismatch).reduce((s, v) => s + v, 0);
  console.log(`agreement with the transcription: ${worst <= 1e-6 && nanTotal === 0 ? 'ok' : 'FAILED'} (tolerance 1e-6 relative)`);
  fs.rmSync(work, { recursive: true, force: true });
  return worst <= 1e-6 && nanTotal === 0 ? status : 1;
}

// Importable (the tests use compareMetricsCsv) without running the benchmark.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) process.exitCode = main();
