/**
 * `ephys-make init`: real recordings in temp folders (synth's NP1.0 SpikeGLX and Open Ephys, and
 * NP2.0 metadata written here with SpikeGLX's and Open Ephys' own keys, since synth writes NP1.0
 * only), the real CLI, and the pipeline it writes checked by `-n` and `doctor` as a user would.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { binPath, fixturesDir, repoRoot, runCli, tempDir, timed, writeFile } from './rig.js';

/** No Python on PATH and no venv: init must fall back to the built-in chain. */
const noPython = () => ({ PATH: tempDir('empty-path-'), VIRTUAL_ENV: undefined, CONDA_PREFIX: undefined, npm_command: undefined });
const prog = `node ${binPath}`;

async function synth(dir: string, args: string[]): Promise<void> {
  const r = await runCli(['synth', '--out', dir, '--seconds', '4', '--channels', '32', '--units', '4', '--workers', '1', ...args]);
  assert.is(r.code, 0, r.stdout + r.stderr);
}

/** A sparse file of `bytes`: its size is what init reads. */
function sparse(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
  fs.truncateSync(file, bytes);
}

/** An NP2.0 single-shank probe folder as SpikeGLX writes it: 384 AP channels + sync, one wide band, no .lf.bin. */
function np2SpikeGlx(dataDir: string, run: string, seconds: number): string {
  const dir = path.join(dataDir, `${run}_g0`, `${run}_g0_imec0`);
  const base = path.join(dir, `${run}_g0_t0.imec0.ap`);
  const bytes = 385 * 2 * 30000 * seconds;
  sparse(`${base}.bin`, bytes);
  let geom = '(PRB2_1_2_0640_0,1,0,70)';
  let shank = '(1,2,480)';
  let imro = '(21,384)';
  for (let c = 0; c < 384; c++) {
    geom += `(0:${27 + 32 * (c % 2)}:${15 * Math.floor(c / 2)}:1)`;
    shank += `(0:${c % 2}:${Math.floor(c / 2)}:1)`;
    imro += `(${c} 0 1 ${c})`;
  }
  const meta = {
    acqApLfSy: '384,0,1', appVersion: '20230815', fileCreateTime: '2024-03-01T10:00:00', fileName: `${run}_g0_t0.imec0.ap.bin`,
    fileSizeBytes: bytes, fileTimeSecs: seconds, firstSample: 0, imAiRangeMax: 0.5, imAiRangeMin: -0.5, imChan0apGain: 80,
    imDatPrb_pn: 'PRB2_1_2_0640_0', imDatPrb_port: 1, imDatPrb_slot: 2, imDatPrb_sn: 19011111111, imDatPrb_type: 21, imMaxInt: 8192,
    imSampRate: 30000, nSavedChans: 385, snsApLfSy: '384,0,1', snsSaveChanSubset: 'all', typeImEnabled: 1, typeThis: 'imec',
    '~imroTbl': imro, '~snsGeomMap': geom, '~snsShankMap': shank,
  };
  fs.writeFileSync(`${base}.meta`, Object.entries(meta).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return dir;
}

/** An NP2.0 recording from the Open Ephys GUI 0.6: one wide-band stream per probe, named for it. */
function np2OpenEphys(dataDir: string, run: string, seconds: number): string {
  const dir = path.join(dataDir, run);
  const folder = 'Neuropix-PXI-100.ProbeA';
  sparse(path.join(dir, 'continuous', folder, 'continuous.dat'), 384 * 2 * 30000 * seconds);
  const channels = Array.from({ length: 384 }, (_, c) => ({ channel_name: `CH${c + 1}`, bit_volts: 0.1949999928474426, units: 'uV' }));
  writeFile(dir, 'structure.oebin', JSON.stringify({ 'GUI version': '0.6.4', continuous: [{ folder_name: `${folder}/`, sample_rate: 30000, num_channels: 384, channels }], events: [], spikes: [] }));
  return dir;
}

function lines(out: string): string[] { return out.split('\n'); }

test('SpikeGLX NP1.0 and NP2.0, no Python: a table of what was found, the built-in chain written, and it passes -n and doctor', timed(async () => {
  const dir = tempDir();
  await synth(path.join(dir, 'raw'), ['--recordings', '2']);
  const data = path.join(dir, 'raw', 'data');
  np2SpikeGlx(data, 'np2', 2);
  const r = await runCli(['init', 'raw/data'], { cwd: dir, env: noPython() });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const out = lines(r.stdout);
  assert.match(out[0], /^found 3 SpikeGLX recordings under raw\/data \(\d+\.\d MB of AP band\):$/);
  assert.match(out[1], /^ {2}recording +probe +channels +sample rate +length +LFP band$/);
  assert.match(r.stdout, /^ {2}np2_g0\/np2_g0_imec0 +NP2\.0 1-shank \(PRB2_1_2_0640_0\) +385 \(384 AP \+ 1 sync\) +30000 Hz +2\.0 s +none \(wide band\)$/m);
  assert.match(r.stdout, /^ {2}synth01_g0\/synth01_g0_imec0 +NP1\.0 \(PRB_1_4_0480_1\) +33 \(32 AP \+ 1 sync\) +30000 Hz +4\.0 s +synth01_g0_t0\.imec0\.lf\.bin$/m);
  assert.match(r.stdout, /^wrote pipeline\.yaml: the built-in chain \(no Python that imports ecephys_spike_sorting: tried python3 \(not found\), python \(not found\); give one with --python\)$/m);
  assert.match(r.stdout, /^left to set \(in pipeline\.yaml\):\n {2}- depth_estimation_params\.channel_range \[22,32\]: /m);
  assert.match(r.stdout, /^ {2}- depth estimation: 1 pass of 2 s \(the Allen values need 105 s of data; the shortest recording has 2\.0 s\)$/m);
  assert.match(r.stdout, /^ {2}- NP2\.0 recordings have no separate LFP band: depth estimation reads the low frequencies from the AP file/m);
  assert.match(r.stdout, /^checked: 21 jobs for 3 recordings, 21 to run$/m);
  assert.match(r.stdout, new RegExp(`^next:\n {2}${prog.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} -n +what would run, and why$`, 'm'));

  const p = YAML.parse(fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8'));
  assert.equal(p.recordings, { root: './raw/data', match: '**/*.ap.bin', output: '{recording}', layout: 'auto', ready: { settle_seconds: 30, when: '*.ap.meta' } });
  assert.ok(Object.values<any>(p.stages).every((s) => s.run === 'builtin'));
  assert.is(p.python, undefined);

  // As the user goes on: the hints it printed, run as printed in the same folder.
  const env = { ...process.env, NO_COLOR: '1', npm_command: undefined };
  const n = spawnSync('sh', ['-c', `${prog} -n`], { cwd: dir, encoding: 'utf8', env });
  assert.is(n.status, 0, n.stdout + n.stderr);
  assert.match(n.stdout, /^21 of 21 jobs would run$/m);
  const doctor = spawnSync('sh', ['-c', `${prog} doctor`], { cwd: dir, encoding: 'utf8', env });
  assert.is(doctor.status, 0, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /^everything the pipeline needs is here$/m);
  // NP2.0: depth estimation reads the wide band; NP1.0 its own .lf.bin, from its metadata.
  const np2 = JSON.parse((await runCli(['input-json', 'depth_estimation', '--dir', 'raw/data/np2_g0'], { cwd: dir })).stdout);
  assert.is(np2.ephys_params.lfp_band_file, path.join(data, 'np2_g0', 'np2_g0_imec0', 'np2_g0_t0.imec0.ap.bin'));
  assert.is(np2.ephys_params.lfp_sample_rate, 30000);
  const np1 = JSON.parse((await runCli(['input-json', 'depth_estimation', '--dir', 'raw/data/synth01_g0'], { cwd: dir })).stdout);
  assert.match(np1.ephys_params.lfp_band_file, /synth01_g0_t0\.imec0\.lf\.bin$/);
  assert.is(np1.ephys_params.lfp_sample_rate, 2500);
}, 180_000));

test('an existing pipeline.yaml is never written over: exit 2 naming it; -o writes elsewhere', timed(async () => {
  const dir = tempDir();
  np2SpikeGlx(path.join(dir, 'data'), 'run1', 1);
  writeFile(dir, 'pipeline.yaml', '# my own pipeline\n');
  const r = await runCli(['init', 'data'], { cwd: dir, env: noPython() });
  assert.is(r.code, 2);
  assert.is(r.stderr, 'ephys-make init: pipeline.yaml already exists; nothing written (write the new pipeline elsewhere with -o FILE, or move that one away first)\n');
  assert.is(fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8'), '# my own pipeline\n');
  const o = await runCli(['init', 'data', '-o', 'sorting/np2.yaml'], { cwd: dir, env: noPython() });
  assert.is(o.code, 0, o.stdout + o.stderr);
  assert.match(o.stdout, /^wrote sorting\/np2\.yaml: the built-in chain/m);
  assert.match(o.stdout, /^ {2}node \S+ -f sorting\/np2\.yaml -n +what would run, and why$/m);
  assert.is(YAML.parse(fs.readFileSync(path.join(dir, 'sorting', 'np2.yaml'), 'utf8')).recordings.root, '../data');
  const n = await runCli(['-f', 'sorting/np2.yaml', '-n'], { cwd: dir });
  assert.is(n.code, 0, n.stdout + n.stderr);
  assert.match(n.stdout, /^7 of 7 jobs would run$/m);
  assert.is(fs.readdirSync(path.join(dir, 'sorting')).join(), 'np2.yaml', 'no temporary file left behind');
}));

test('Open Ephys NP1.0 and NP2.0: the match pattern takes both AP folder names; -n and doctor pass', timed(async () => {
  const dir = tempDir();
  await synth(path.join(dir, 'oe'), ['--recordings', '1', '--layout', 'openephys']);
  const data = path.join(dir, 'oe', 'data');
  np2OpenEphys(data, '2024-03-01_10-00-00', 3);
  const r = await runCli(['init', data], { cwd: dir, env: noPython() });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^found 2 Open Ephys recordings under oe\/data /m);
  assert.match(r.stdout, /^ {2}2024-03-01_10-00-00 +NP2\.0 +384 +30000 Hz +3\.0 s +none \(wide band\)$/m);
  assert.match(r.stdout, /^ {2}synth01 +NP1\.0 +32 +30000 Hz +4\.0 s +Neuropix-PXI-100\.1\/continuous\.dat$/m);
  const p = YAML.parse(fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8'));
  assert.is(p.recordings.match, '**/continuous/{Neuropix-*-100.0,Neuropix-PXI-100.ProbeA}/continuous.dat');
  assert.equal(p.recordings.ready, { settle_seconds: 60 });
  const n = await runCli(['-n'], { cwd: dir });
  assert.is(n.code, 0, n.stdout + n.stderr);
  assert.match(n.stdout, /^14 of 14 jobs would run$/m);
  const doctor = await runCli(['doctor'], { cwd: dir });
  assert.is(doctor.code, 0, doctor.stdout + doctor.stderr);
}, 180_000));

test('a Python that imports ecephys_spike_sorting: the Allen chain, stages it cannot run built in; found in an active venv too', timed(async () => {
  const dir = tempDir();
  np2SpikeGlx(path.join(dir, 'data'), 'run1', 1);
  // A stand-in for an environment with the modules: the package folders on PYTHONPATH of a real python3.
  const lib = path.join(dir, 'pylib');
  for (const m of ['', 'modules', ...['depth_estimation', 'median_subtraction', 'kilosort_helper', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics'].map((x) => `modules/${x}`)]) {
    writeFile(lib, path.join('ecephys_spike_sorting', m, '__init__.py'), '');
  }
  const venv = path.join(dir, 'venv');
  // The interpreter itself, not a shim that needs PATH.
  const python3 = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  writeFile(venv, 'bin/python', `#!/bin/sh\nPYTHONPATH=${lib} exec ${python3} "$@"\n`);
  fs.chmodSync(path.join(venv, 'bin', 'python'), 0o755);
  const python = path.join(venv, 'bin', 'python');

  const r = await runCli(['init', 'data', '--python', python], { cwd: dir, env: { npm_command: undefined } });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^wrote pipeline\\.yaml: the Allen chain, with ${python} \\(no Python with kilosort and torch: the built-in sorter stands in for Kilosort\\)$`, 'm'));
  assert.match(r.stdout, /^ {2}- median_subtraction runs built in; /m);
  const p = YAML.parse(fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8'));
  assert.is(p.python, python);
  // The shipped chain's runners, but for the two this machine cannot run through Python.
  const runners = (stages: Record<string, any>) => Object.fromEntries(Object.entries(stages).map(([k, s]) => [k, s.run === 'builtin' ? `builtin ${s.module ?? k}` : s.run]));
  const shipped = runners(YAML.parse(fs.readFileSync(path.join(repoRoot, 'pipeline.yaml'), 'utf8')).stages);
  assert.equal(runners(p.stages), { ...shipped, median_subtraction: 'builtin median_subtraction', kilosort: 'builtin builtin_sorter' });
  assert.is(shipped.depth_estimation, 'python-module');
  assert.is(p.stages.median_subtraction.in_place, undefined);
  const n = await runCli(['-n'], { cwd: dir });
  assert.is(n.code, 0, n.stdout + n.stderr);
  const doctor = await runCli(['doctor'], { cwd: dir });
  assert.is(doctor.code, 0, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /^ok       depth_estimation: module ecephys_spike_sorting\.modules\.depth_estimation$/m);

  // Not given: an active venv is tried first, and written by its path.
  fs.rmSync(path.join(dir, 'pipeline.yaml'));
  const found = await runCli(['init', 'data'], { cwd: dir, env: { ...noPython(), VIRTUAL_ENV: venv } });
  assert.is(found.code, 0, found.stdout + found.stderr);
  assert.is(YAML.parse(fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8')).python, python);

  // Kilosort 4 importable (the stand-in packages of its tests), torch without CUDA: it sorts on the CPU.
  fs.rmSync(path.join(dir, 'pipeline.yaml'));
  const ksVenv = path.join(dir, 'ksvenv');
  writeFile(ksVenv, 'bin/python', `#!/bin/sh\nPYTHONPATH=${path.join(fixturesDir, 'kilosort')} exec ${python3} "$@"\n`);
  fs.chmodSync(path.join(ksVenv, 'bin', 'python'), 0o755);
  const ks = await runCli(['init', 'data', '--python', python], { cwd: dir, env: { ...noPython(), VIRTUAL_ENV: ksVenv } });
  assert.is(ks.code, 0, ks.stdout + ks.stderr);
  assert.match(ks.stdout, new RegExp(`^wrote pipeline\\.yaml: the Allen chain, with ${python}; Kilosort 4 with ${ksVenv}/bin/python$`, 'm'));
  assert.match(ks.stdout, /^ {2}- kilosort: Kilosort 4 with \S+ on the CPU \(its torch sees no CUDA device\): slow; /m);
  const kp = YAML.parse(fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8'));
  assert.is(kp.stages.kilosort.module, 'kilosort4');
  assert.is(kp.stages.kilosort.python, path.join(ksVenv, 'bin', 'python'));
  assert.is(kp.stages.kilosort.params.kilosort4_params.device, 'cpu');
  const ksDoctor = await runCli(['doctor'], { cwd: dir });
  assert.is(ksDoctor.code, 0, ksDoctor.stdout + ksDoctor.stderr);
  assert.match(ksDoctor.stdout, /^ok       kilosort: kilosort \S+ and torch \S+ import; jobs will run on cpu/m);

  // Given, but without the modules: an error, nothing written.
  fs.rmSync(path.join(dir, 'pipeline.yaml'));
  const bad = await runCli(['init', 'data', '--python', 'python3'], { cwd: dir, env: { PYTHONPATH: undefined } });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /^ephys-make init: --python python3 cannot import ecephys_spike_sorting: ModuleNotFoundError: No module named 'ecephys_spike_sorting'; nothing written$/m);
  assert.not.ok(fs.existsSync(path.join(dir, 'pipeline.yaml')));
}));

test('no recordings, no such folder, or the other layout beside: clear words, exit 2 where nothing is written', timed(async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'empty'));
  const none = await runCli(['init', 'empty'], { cwd: dir, env: noPython() });
  assert.is(none.code, 2);
  assert.match(none.stderr, /^ephys-make init: no recordings under empty: looked for SpikeGLX probe folders \(\*\*\/\*\.ap\.bin\) and Open Ephys recordings \(\*\*\/continuous\/Neuropix-\*\/continuous\.dat\)\n {2}to start before the first recording, copy the shipped pipeline and set recordings\.root: cp \S+\/pipeline\.yaml pipeline\.yaml\n$/);
  const cp = /cp (\S+) /.exec(none.stderr)![1];
  assert.ok(fs.existsSync(cp), `the file it names exists: ${cp}`);
  const missing = await runCli(['init', 'nowhere'], { cwd: dir, env: noPython() });
  assert.is(missing.code, 2);
  assert.is(missing.stderr, 'ephys-make init: nowhere: no such folder\n');
  assert.not.ok(fs.existsSync(path.join(dir, 'pipeline.yaml')));

  np2SpikeGlx(path.join(dir, 'mixed'), 'a', 1);
  np2SpikeGlx(path.join(dir, 'mixed'), 'b', 1);
  np2OpenEphys(path.join(dir, 'mixed'), 'oe1', 1);
  const mixed = await runCli(['init', 'mixed'], { cwd: dir, env: noPython() });
  assert.is(mixed.code, 0, mixed.stdout + mixed.stderr);
  assert.match(mixed.stdout, /^ {2}- 1 Open Ephys recording is not matched \(e\.g\. mixed\/oe1\) by this pipeline, which takes one layout: give them their own, e\.g\. node \S+ init mixed\/oe1 -o openephys\.pipeline\.yaml$/m);
}));

test.run();
