/**
 * The python-module runner end to end: the shipped pipeline.yaml on an Open Ephys recording, every
 * stage through python -m (the Allen median-subtraction program and quality_metrics module instead
 * of the shipped built-ins), with a small Python program standing in for each module.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { fixturesDir, runCli, timed } from './rig.js';
import { makeLab, type Lab } from './labs.js';

function fakeLab(): Lab {
  const lab = makeLab('openephys');
  const doc = YAML.parseDocument(fs.readFileSync(lab.pipeline, 'utf8'));
  doc.set('python', `python3 ${path.join(fixturesDir, 'fake_module.py')}`);
  doc.setIn(['stages', 'quality_metrics', 'run'], 'python-module');
  fs.writeFileSync(lab.pipeline, doc.toString());
  return lab;
}

const run = (lab: Lab, args: string[], options: object = {}) =>
  runCli([...args, '-f', lab.pipeline], { cwd: lab.dir, env: { FAKE_MODULE_OPTIONS: JSON.stringify(options) } });

test('the Allen chain runs through python -m, in order; raw data untouched; output JSON kept', timed(async () => {
  const lab = fakeLab();
  const raw = fs.readFileSync(lab.ap);
  const r = await run(lab, ['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const order = [...r.stdout.matchAll(/^done   \S+ (\S+)/gm)].map((m) => m[1]);
  assert.equal(order, ['depth_estimation', 'median_subtraction', 'kilosort', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics']);
  assert.ok(raw.equals(fs.readFileSync(lab.ap)), 'the recording itself is never modified');
  assert.not.ok(fs.readFileSync(path.join(lab.rec, 'continuous_ms.dat')).equals(raw), 'the module rewrote its copy');
  const ms = JSON.parse(fs.readFileSync(path.join(lab.rec, '.ephys-make', 'median_subtraction', 'input.json'), 'utf8'));
  assert.is(ms.ephys_params.ap_band_file, path.join(lab.rec, 'continuous_ms.dat'));
  const state = JSON.parse(fs.readFileSync(path.join(lab.rec, '.ephys-make', 'state.json'), 'utf8'));
  assert.ok(state.jobs.quality_metrics.outputJson.quality_metrics_output_file, 'the module\'s output JSON is kept with the record');
  assert.ok(JSON.parse(fs.readFileSync(path.join(lab.rec, '.ephys-make', 'quality_metrics', 'output.json'), 'utf8')).input_parameters);
  const again = await run(lab, ['all']);
  assert.match(again.stdout, /^nothing to do: 7 jobs up to date$/m);
  // Postprocessing reran on a fresh copy of Kilosort's folder: rerunning it never compounds.
  const before = fs.statSync(path.join(lab.rec, 'kilosort_postprocessed', 'spike_times.npy')).size;
  assert.is((await run(lab, ['all', '--force', 'kilosort_postprocessing'])).code, 0);
  assert.is(fs.statSync(path.join(lab.rec, 'kilosort_postprocessed', 'spike_times.npy')).size, before);
}, 120_000));

test('a rerun of the median-subtraction program starts from what the first run saw: residuals.dat does not grow', timed(async () => {
  const lab = fakeLab();
  assert.is((await run(lab, ['median_subtraction'])).code, 0);
  const residuals = path.join(lab.rec, 'residuals.dat');
  const first = fs.readFileSync(residuals);
  const ms = fs.readFileSync(path.join(lab.rec, 'continuous_ms.dat'));
  const r = await run(lab, ['median_subtraction', '-B']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.ok(fs.readFileSync(residuals).equals(first), `residuals.dat ${fs.statSync(residuals).size} bytes after the rerun, ${first.length} after the first run`);
  assert.ok(fs.readFileSync(path.join(lab.rec, 'continuous_ms.dat')).equals(ms));
  assert.match(fs.readFileSync(path.join(lab.rec, '.ephys-make', 'median_subtraction', 'log.txt'), 'utf8'), `removed ${residuals} (appends_to: the program appends to it)`);
}, 60_000));

test('a module that fails: exit 1, the reason and log tail shown, dependents not run', timed(async () => {
  const lab = fakeLab();
  const r = await run(lab, ['all', '-k'], { kilosort_helper: { fail: 3 } });
  assert.is(r.code, 1);
  assert.match(r.stdout, /^FAILED \S+ kilosort: exit status 3$/m);
  assert.not.match(r.stdout, /start  \S+ quality_metrics/);
}, 60_000));

test('exit 0 without an output JSON is a failure', timed(async () => {
  const lab = fakeLab();
  const r = await run(lab, ['all'], { quality_metrics: { no_output_json: true } });
  assert.is(r.code, 1);
  assert.match(r.stdout, /^FAILED \S+ quality_metrics: exited 0 but wrote no output JSON: .*quality_metrics\/output\.json$/m);
  const n = await run(lab, ['-n']);
  assert.match(n.stdout, /^would run \S+ quality_metrics: last run failed \(exit 0\)$/m);
}, 60_000));

test('exit 0 without a declared output is a failure', timed(async () => {
  const lab = fakeLab();
  const r = await run(lab, ['all'], { mean_waveforms: { skip_outputs: ['waveform_metrics.csv'] } });
  assert.is(r.code, 1);
  assert.match(r.stdout, /^FAILED \S+ mean_waveforms: exited 0 but did not make declared output .*kilosort_postprocessed\/waveform_metrics\.csv$/m);
}, 60_000));

test.run();
