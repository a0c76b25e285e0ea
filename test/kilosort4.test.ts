/**
 * The kilosort4 stage end to end: ephys-make's Python driver run by the engine (python-module,
 * the lab's interpreter), against the stand-in `kilosort` and `torch` packages in
 * test/fixtures/kilosort, on a synthetic SpikeGLX recording: what the driver passes Kilosort
 * (channel count with sync, rate, probe from the .meta, settings with Kilosort's defaults, device
 * from the gpu pool), the Kilosort-4-shaped folder it publishes, and its errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { fixturesDir, runCli, tempDir, timed, writeFile } from './rig.js';
import { synthesize, type SynthRecording } from '../lib/synth/generate.js';
import { readNpyHeader } from '../lib/formats/npy.js';
import { makeLab } from './labs.js';

const python = '/usr/bin/python3';
const standIn = { PYTHONPATH: path.join(fixturesDir, 'kilosort') };
const ksFiles = ['spike_times.npy', 'spike_clusters.npy', 'spike_templates.npy', 'amplitudes.npy', 'templates.npy', 'whitening_mat_inv.npy', 'channel_map.npy', 'channel_positions.npy', 'pc_features.npy', 'pc_feature_ind.npy', 'params.py'];

interface Lab { dir: string; rec: SynthRecording; pipeline: string; ks: string }

let shared: { dir: string; rec: SynthRecording } | undefined;
async function recording(): Promise<{ dir: string; rec: SynthRecording }> {
  if (!shared) {
    const dir = tempDir();
    const s = await synthesize({ outDir: dir, recordings: 1, seconds: 6, channels: 32, seed: 5, lfp: false });
    shared = { dir, rec: s.recordings[0] };
  }
  return shared;
}

/** A pipeline with one kilosort4 stage; `gpu` gives the machine a gpu pool the stage holds. */
async function lab(opts: { gpu?: boolean; params?: string } = {}): Promise<Lab> {
  const { rec } = await recording();
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const root = path.dirname(path.dirname(rec.dir));
  const ks = path.join(out, path.relative(root, rec.dir), 'kilosort');
  const pipeline = writeFile(dir, 'pipeline.yaml', [
    'version: 1',
    `recordings: { root: ${JSON.stringify(root)}, match: "**/*.ap.bin", output: ${JSON.stringify(out + '/{name}')} }`,
    `python: ${python}`,
    ...(opts.gpu ? ['resources: { gpu: 1 }'] : []),
    'stages:',
    '  kilosort:',
    '    run: python-module',
    '    module: kilosort4',
    ...(opts.gpu ? ['    resources: { gpu: 1 }'] : []),
    '    inputs: ["{marker}"]',
    `    outputs: ${JSON.stringify(ksFiles.map((f) => `{output}/kilosort/${f}`))}`,
    '    params:',
    '      directories: { kilosort_output_directory: "{output}/kilosort" }',
    '      ephys_params: { ap_band_file: "{marker}" }',
    ...(opts.params ? [`      kilosort4_params: ${opts.params}`] : []),
    '',
  ].join('\n'));
  return { dir, rec, pipeline, ks };
}

function call(l: Lab): any { return JSON.parse(fs.readFileSync(path.join(l.ks, 'standin_call.json'), 'utf8')); }

test('a job runs the shipped driver with the lab interpreter: channels with sync, rate and probe from the .meta, Kilosort defaults, CPU without a gpu pool', timed(async () => {
  const l = await lab();
  writeFile(l.ks, 'my_notes.txt', 'a lab file in the results folder');
  const r = await runCli(['all', '-f', l.pipeline], { cwd: l.dir, env: standIn });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const c = call(l);
  assert.is(c.settings.n_chan_bin, l.rec.savedChannels, 'every channel in the file, sync included');
  assert.is(l.rec.savedChannels, 33);
  assert.is(c.settings.fs, l.rec.sampleRateHz);
  assert.equal(c.chanMap, Array.from({ length: 32 }, (_, i) => i), 'the AP sites, not the sync channel');
  assert.is(c.filename, l.rec.apFile);
  assert.is(c.device, 'cpu');
  assert.is(c.settings.Th_universal, 9);
  assert.is(c.settings.nblocks, 1);
  assert.is(c.settings.nt, 61);
  assert.ok(c.tmax_is_inf, 'tmax null is Kilosort\'s infinity');
  assert.is(c.settings.nt0min, null);
  const out = JSON.parse(fs.readFileSync(path.join(path.dirname(l.ks), '.ephys-make', 'kilosort', 'output.json'), 'utf8'));
  assert.is(out.device, 'cpu (no gpu pool slot held by this job)');
  assert.match(out.probe, /synth01_g0_t0\.imec0\.ap\.meta \(~snsGeomMap\)/);
  assert.ok(out.clusters > 3 && out.spikes > 100, JSON.stringify(out));
  // The Kilosort 4 layout, published whole; the lab's own file is still there.
  const t = readNpyHeader(path.join(l.ks, 'templates.npy'));
  assert.equal(t.shape.slice(1), [61, 32]);
  assert.is(t.dtype, 'float32');
  const pcf = readNpyHeader(path.join(l.ks, 'pc_features.npy'));
  assert.equal(pcf.shape.slice(1), [6, 10]);
  assert.equal(readNpyHeader(path.join(l.ks, 'pc_feature_ind.npy')).shape, [t.shape[0], 10]);
  assert.is(readNpyHeader(path.join(l.ks, 'spike_times.npy')).dtype, 'int64');
  assert.is(readNpyHeader(path.join(l.ks, 'spike_clusters.npy')).dtype, 'int32');
  assert.is(fs.readFileSync(path.join(l.ks, 'my_notes.txt'), 'utf8'), 'a lab file in the results folder');
  assert.not.ok(fs.existsSync(l.ks + '.kilosort4-partial'));
  const again = await runCli(['all', '-f', l.pipeline], { cwd: l.dir, env: standIn });
  assert.match(again.stdout, /^nothing to do: 1 job up to date$/m);
}));

test('the gpu pool slot chooses the device: CUDA_VISIBLE_DEVICES when torch has CUDA; a clear failure when it has not; device: cpu overrides', timed(async () => {
  const l = await lab({ gpu: true });
  const r = await runCli(['all', '-f', l.pipeline], { cwd: l.dir, env: { ...standIn, STAND_IN_CUDA: '1' } });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(call(l).device, 'cuda');
  assert.is(call(l).CUDA_VISIBLE_DEVICES, '0');

  const noCuda = await lab({ gpu: true });
  const f = await runCli(['all', '-f', noCuda.pipeline], { cwd: noCuda.dir, env: standIn });
  assert.is(f.code, 1);
  assert.match(f.stdout + f.stderr, /error: this job holds gpu slot 0 \(CUDA_VISIBLE_DEVICES=0\), but torch 0\.0\+stand-in sees no CUDA device \(a CPU-only build, or no driver\)\. Install a CUDA build of torch in this environment, or set kilosort4_params\.device: cpu to sort on the CPU \(slow\)/);
  assert.not.ok(fs.existsSync(path.join(noCuda.ks, 'spike_times.npy')));

  const cpu = await lab({ gpu: true, params: '{ device: cpu, settings: { Th_universal: 10, tmax: 4 } }' });
  const c = await runCli(['all', '-f', cpu.pipeline], { cwd: cpu.dir, env: standIn });
  assert.is(c.code, 0, c.stdout + c.stderr);
  assert.is(call(cpu).device, 'cpu');
  assert.is(call(cpu).settings.Th_universal, 10);
  assert.is(call(cpu).settings.tmax, 4);
}));

test('a misspelt Kilosort setting is a configuration error with a did-you-mean hint, before anything runs', timed(async () => {
  const l = await lab({ params: '{ settings: { Th_univeral: 8 } }' });
  const r = await runCli(['all', '-f', l.pipeline], { cwd: l.dir, env: standIn });
  assert.is(r.code, 2);
  assert.match(r.stderr, /error: unknown key 'Th_univeral' in input JSON of 'kilosort' \(.*\) at \/kilosort4_params\/settings \(did you mean 'Th_universal'\?\)/);
  assert.not.ok(fs.existsSync(l.ks));
}));

test('a wrong channel count, and an environment without Kilosort, fail with what to do', timed(async () => {
  const l = await lab();
  const r = await runCli(['all', '-f', l.pipeline, '--set', 'params.ephys_params.num_channels=31'], { cwd: l.dir, env: standIn });
  assert.is(r.code, 1);
  assert.match(r.stdout + r.stderr, /is not a whole number of int16 samples of 31 channels \(ephys_params\.num_channels counts every channel in the file, the sync channel included\)/);
  const bare = await runCli(['all', '-f', l.pipeline], { cwd: l.dir, env: { PYTHONPATH: '' } });
  assert.is(bare.code, 1);
  assert.match(bare.stdout + bare.stderr, /cannot import (torch|kilosort): install Kilosort 4 \(pip install kilosort\) and torch into the environment pipeline\.yaml names in `python:`/);
}));

test('doctor says whether kilosort and torch import and which device jobs will use', timed(async () => {
  const l = await lab({ gpu: true });
  const ok = await runCli(['doctor', '-f', l.pipeline], { cwd: l.dir, env: { ...standIn, STAND_IN_CUDA: '1' } });
  assert.match(ok.stdout, /^ok       kilosort: kilosort 4\.1\.5\+stand-in and torch 0\.0\+stand-in import; jobs will run on cuda \(CUDA_VISIBLE_DEVICES=0\)$/m);
  const noCuda = await runCli(['doctor', '-f', l.pipeline], { cwd: l.dir, env: standIn });
  assert.is(noCuda.code, 1);
  assert.match(noCuda.stdout, /^MISSING  kilosort: kilosort 4\.1\.5\+stand-in and torch 0\.0\+stand-in import, but this job holds gpu slot 0/m);
  assert.match(noCuda.stdout, /fix: set kilosort4_params\.device: cpu in pipeline\.yaml, or install a CUDA build of torch/);
  const cpu = await lab();
  const c = await runCli(['doctor', '-f', cpu.pipeline], { cwd: cpu.dir, env: standIn });
  assert.match(c.stdout, /^ok       kilosort: .* import; jobs will run on cpu \(no gpu pool slot held by this job\)$/m);
  const bare = await runCli(['doctor', '-f', cpu.pipeline], { cwd: cpu.dir, env: { PYTHONPATH: '' } });
  assert.match(bare.stdout, /^MISSING  kilosort: \/usr\/bin\/python3 cannot import (torch|kilosort)$/m);
}));

test('the shipped pipeline sorts with Kilosort 4: its input JSON carries the probe from the .meta, or the NP1.0 layout for Open Ephys', timed(async () => {
  for (const layout of ['spikeglx', 'openephys'] as const) {
    const l = makeLab(layout, false, 'kilosort4');
    const r = await runCli(['input-json', 'kilosort', '-f', l.pipeline], { cwd: l.dir });
    assert.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.is(j.ephys_params.ap_band_file, path.join(l.rec, 'continuous_ms.dat'));
    assert.is(j.ephys_params.num_channels, layout === 'spikeglx' ? 385 : 384);
    assert.is(j.directories.kilosort_output_directory, path.join(l.rec, 'kilosort'));
    assert.is(j.kilosort4_params.device, 'auto');
    assert.equal([j.kilosort4_params.settings.nblocks, j.kilosort4_params.settings.Th_learned, j.kilosort4_params.settings.batch_size], [1, 8, 60000]);
    const g = j.probe_geometry;
    assert.is(g.channels.length, 383, 'reference site 191 left out');
    assert.not.ok(g.channels.includes(191));
    assert.equal([g.x_um[0], g.y_um[0], g.x_um[2], g.y_um[2]], [27, 0, 11, 20]);
    assert.match(g.source, layout === 'spikeglx' ? /SC048_122920_ex_g0_t0\.imec0\.ap\.meta/ : /standard Neuropixels 1\.0 layout \(384 channels in structure\.oebin\)/);
  }
}));

test.run();
