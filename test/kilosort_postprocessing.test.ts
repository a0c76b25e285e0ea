import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, timed } from './rig.js';
import { readNpy, writeNpy, type NpyArray } from '../lib/formats/npy.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { statSignature } from '../lib/base/signature.js';
import { stage } from '../stages/kilosort_postprocessing/index.js';
import { keptDir } from '../stages/kilosort_postprocessing/keptOriginals.js';
import { retargetParamsPy } from '../stages/kilosort_postprocessing/phyFolder.js';

// The built-in against the real Allen module: test/fidelity.test.ts.

const padding = 21;
const samples = 61;

interface Fixture {
  /** Template column of each template's peak. */
  peakColumns: number[];
  channels: number;
  /** channel_map (default 0..channels-1). */
  channelMap?: number[];
  times: number[];
  clusters: number[];
  templatesOfSpikes?: number[];
  pcs?: boolean;
  templateFeatures?: boolean;
}

/** A Kilosort folder as Kilosort 2 writes it: column vectors (N, 1), whitened float32 templates. */
function makeKilosortFolder(dir: string, f: Fixture): void {
  fs.mkdirSync(dir, { recursive: true });
  const n = f.times.length;
  const t = f.peakColumns.length;
  const c = f.channels;
  const templates = new Float32Array(t * (padding + samples) * c);
  for (let k = 0; k < t; k++) {
    for (let s = 0; s < samples; s++) {
      const x = s - 20;
      const shape = -Math.exp(-(x * x) / 8) + 0.3 * Math.exp(-((x - 8) ** 2) / 30);
      for (let ch = 0; ch < c; ch++) {
        const fall = Math.exp(-Math.abs(ch - f.peakColumns[k]) / 1.5);
        templates[(k * (padding + samples) + padding + s) * c + ch] = shape * fall;
      }
    }
  }
  const identity = new Float64Array(c * c);
  for (let i = 0; i < c; i++) identity[i * c + i] = 1;
  const save = (name: string, arr: NpyArray) => writeNpy(path.join(dir, name), arr);
  save('templates.npy', { dtype: 'float32', shape: [t, padding + samples, c], data: templates });
  save('whitening_mat_inv.npy', { dtype: 'float64', shape: [c, c], data: identity });
  save('channel_map.npy', { dtype: 'int32', shape: [c, 1], data: Int32Array.from(f.channelMap ?? Array.from({ length: c }, (_, i) => i)) });
  save('spike_times.npy', { dtype: 'uint64', shape: [n, 1], data: BigUint64Array.from(f.times.map(BigInt)) });
  save('spike_clusters.npy', { dtype: 'uint32', shape: [n, 1], data: Uint32Array.from(f.clusters) });
  save('spike_templates.npy', { dtype: 'uint32', shape: [n, 1], data: Uint32Array.from(f.templatesOfSpikes ?? f.clusters) });
  save('amplitudes.npy', { dtype: 'float64', shape: [n, 1], data: Float64Array.from(f.times.map((_, i) => 10 + i)) });
  if (f.pcs) {
    const pcs = new Float32Array(n * 3 * 4);
    for (let i = 0; i < n; i++) for (let j = 0; j < 12; j++) pcs[i * 12 + j] = i + j / 100;
    save('pc_features.npy', { dtype: 'float32', shape: [n, 3, 4], data: pcs });
    save('pc_feature_ind.npy', { dtype: 'uint32', shape: [t, 4], data: new Uint32Array(t * 4) });
  }
  if (f.templateFeatures) {
    save('template_features.npy', { dtype: 'float32', shape: [n, 2], data: Float32Array.from({ length: n * 2 }, (_, i) => Math.floor(i / 2)) });
  }
  fs.writeFileSync(path.join(dir, 'params.py'), "dat_path = 'continuous.dat'\nn_channels_dat = 384\ndtype = 'int16'\noffset = 0\nsample_rate = 30000.\nhp_filtered = False\n");
}

const ctx: BuiltinContext = { progress() {}, log() {}, signal: new AbortController().signal };

function input(dir: string, params: Record<string, unknown> = {}): Record<string, any> {
  return {
    directories: { kilosort_output_directory: dir },
    ephys_params: { sample_rate: 30000 },
    ks_postprocessing_params: { within_unit_overlap_window: 0.000166, between_unit_overlap_window: 0.000166, between_unit_channel_distance: 5, ...params },
  };
}

const values = (dir: string, name: string) => Array.from(readNpy(path.join(dir, name)).data as ArrayLike<number | bigint>, Number);

async function stageErrorOf(fn: () => Promise<unknown>): Promise<StageError> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, StageError);
    return err as StageError;
  }
  throw new Error('expected a StageError');
}

test('within a unit, the earlier spike of a pair closer than 4 samples goes', timed(async () => {
  const dir = tempDir();
  // gaps: 2 (drop 100), 98, 3 (drop 200), 1 (drop 203), 96, 4 (kept: not < 4)
  makeKilosortFolder(dir, { peakColumns: [3], channels: 8, times: [100, 102, 200, 203, 204, 300, 304], clusters: [0, 0, 0, 0, 0, 0, 0] });
  await stage.run(input(dir), ctx);
  assert.equal(values(dir, 'spike_times.npy'), [102, 204, 300, 304]);
  assert.equal(values(dir, 'amplitudes.npy'), [11, 14, 15, 16]);
  assert.equal(values(dir, 'overlap_matrix.npy'), [3]);
}));

test('between nearby units the later spike goes, whichever unit it belongs to', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, {
    peakColumns: [10, 12], channels: 24,
    times: [1000, 1002, 2000, 2003, 3000, 3010],
    clusters: [0, 1, 1, 0, 0, 1],
  });
  await stage.run(input(dir), ctx);
  assert.equal(values(dir, 'spike_times.npy'), [1000, 2000, 3000, 3010]);
  assert.equal(values(dir, 'spike_clusters.npy'), [0, 1, 0, 1]);
  // Unit 0 comes first in peak-channel order; both removals count on the pair's entry.
  assert.equal(values(dir, 'overlap_matrix.npy'), [0, 2, 0, 0]);
}));

test('units compare only when their peak channels differ by less than between_unit_channel_distance', timed(async () => {
  const dir = tempDir();
  // channel_map doubles the column, so columns 2, 4, 5 are channels 4, 8, 10: distances 4 (near) and 6 (far) from 4.
  makeKilosortFolder(dir, {
    peakColumns: [2, 4, 5], channels: 12, channelMap: Array.from({ length: 12 }, (_, i) => 2 * i),
    times: [1000, 1001, 5000, 5001],
    clusters: [0, 1, 0, 2],
  });
  await stage.run(input(dir), ctx);
  assert.equal(values(dir, 'spike_times.npy'), [1000, 5000, 5001]);
  assert.equal(values(dir, 'overlap_matrix.npy'), [0, 1, 0, 0, 0, 0, 0, 0, 0]);
  // With a distance of 7, channels 4 and 10 are near too.
  const dir2 = tempDir();
  makeKilosortFolder(dir2, {
    peakColumns: [2, 4, 5], channels: 12, channelMap: Array.from({ length: 12 }, (_, i) => 2 * i),
    times: [1000, 1001, 5000, 5001], clusters: [0, 1, 0, 2],
  });
  await stage.run(input(dir2, { between_unit_channel_distance: 7 }), ctx);
  assert.equal(values(dir2, 'spike_times.npy'), [1000, 5000]);
  assert.equal(values(dir2, 'overlap_matrix.npy'), [0, 1, 1, 0, 0, 0, 0, 0, 0]);
}));

test('overlap_matrix rows follow peak-channel order, not unit ids', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, {
    peakColumns: [20, 2, 11], channels: 24,
    // unit 1 (column 2) loses two within-unit spikes, unit 0 (column 20) one, unit 2 none
    times: [100, 101, 102, 500, 501, 900],
    clusters: [1, 1, 1, 0, 0, 2],
  });
  await stage.run(input(dir), ctx);
  const m = values(dir, 'overlap_matrix.npy');
  assert.equal([m[0], m[4], m[8]], [2, 0, 1]);
  assert.equal(readNpy(path.join(dir, 'overlap_matrix.npy')).shape, [3, 3]);
}));

test('dtypes and shapes: 1-D times and ids, amplitudes (N, 1) as Kilosort wrote them, pc_features filtered by row', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, { peakColumns: [3, 4], channels: 8, times: [10, 12, 50, 90, 91], clusters: [0, 0, 1, 1, 0], pcs: true, templateFeatures: true });
  await stage.run(input(dir), ctx);
  const layout = (name: string) => { const a = readNpy(path.join(dir, name)); return [a.dtype, a.shape]; };
  assert.equal(layout('spike_times.npy'), ['uint64', [3]]);
  assert.equal(layout('spike_clusters.npy'), ['uint32', [3]]);
  assert.equal(layout('spike_templates.npy'), ['uint32', [3]]);
  assert.equal(layout('amplitudes.npy'), ['float64', [3, 1]]);
  assert.equal(layout('pc_features.npy'), ['float32', [3, 3, 4]]);
  assert.equal(layout('overlap_matrix.npy'), ['float64', [2, 2]]);
  assert.equal(values(dir, 'spike_times.npy'), [12, 50, 90]);
  const pcs = values(dir, 'pc_features.npy');
  assert.equal([pcs[0], pcs[12], pcs[24]], [1, 2, 3]);
  // In place, template_features is left as the module leaves it.
  assert.equal(readNpy(path.join(dir, 'template_features.npy')).shape, [5, 2]);
}));

test('running twice gives what running once gives; originals are kept beside the folder', timed(async () => {
  const dir = tempDir();
  const fixture: Fixture = { peakColumns: [3, 4], channels: 8, times: [100, 102, 104, 106, 200, 201, 202], clusters: [0, 0, 0, 0, 1, 0, 1], pcs: true };
  makeKilosortFolder(dir, fixture);
  await stage.run(input(dir), ctx);
  const once = ['spike_times.npy', 'spike_clusters.npy', 'amplitudes.npy', 'pc_features.npy', 'overlap_matrix.npy'].map((n) => fs.readFileSync(path.join(dir, n)));
  // Kilosort's (N, 1) arrays are kept unchanged.
  assert.equal(readNpy(path.join(keptDir(dir), 'spike_times.npy')).shape, [7, 1]);
  await stage.run(input(dir), ctx);
  const twice = ['spike_times.npy', 'spike_clusters.npy', 'amplitudes.npy', 'pc_features.npy', 'overlap_matrix.npy'].map((n) => fs.readFileSync(path.join(dir, n)));
  for (let i = 0; i < once.length; i++) assert.ok(once[i].equals(twice[i]), `file ${i} differs after a second run`);
  assert.equal(values(dir, 'spike_times.npy'), [106, 201]);
}));

test('a Kilosort rerun replaces the kept originals', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, { peakColumns: [3], channels: 8, times: [100, 101, 300], clusters: [0, 0, 0] });
  await stage.run(input(dir), ctx);
  assert.equal(values(dir, 'spike_times.npy'), [101, 300]);
  // Kilosort deletes its .npy files and writes new ones.
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.npy')) fs.rmSync(path.join(dir, f));
  makeKilosortFolder(dir, { peakColumns: [3], channels: 8, times: [500, 600, 601, 700], clusters: [0, 0, 0, 0] });
  await stage.run(input(dir), ctx);
  assert.equal(values(dir, 'spike_times.npy'), [500, 601, 700]);
  assert.equal(readNpy(path.join(keptDir(dir), 'spike_times.npy')).shape, [4, 1]);
}));

test('a rerun interrupted between its renames leaves a folder the next run accepts', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, { peakColumns: [3, 4], channels: 8, times: [100, 102, 104, 106, 200, 201, 202], clusters: [0, 0, 0, 0, 1, 0, 1] });
  await stage.run(input(dir), ctx);
  const manifestFile = path.join(keptDir(dir), 'manifest.json');
  const first = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const firstTimes = path.join(dir, 'first-spike_times');
  fs.linkSync(path.join(dir, 'spike_times.npy'), firstTimes);
  await stage.run(input(dir), ctx);
  const second = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  // The state a crash after the other renames leaves: spike_times.npy still the first run's
  // output, the manifest naming both runs' outputs.
  fs.renameSync(firstTimes, path.join(dir, 'spike_times.npy'));
  for (const [name, entry] of Object.entries<any>(second.files)) {
    if (entry.outputs) entry.outputs = [...first.files[name].outputs, ...entry.outputs];
  }
  fs.writeFileSync(manifestFile, JSON.stringify(second));
  await stage.run(input(dir), ctx);
  assert.equal(values(dir, 'spike_times.npy'), [106, 201]);
  assert.equal(JSON.parse(fs.readFileSync(manifestFile, 'utf8')).files['spike_times.npy'].outputs.length, 1);
}));

test('cleaned arrays mixed with new ones: refuse rather than clean twice', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, { peakColumns: [3], channels: 8, times: [100, 101, 300], clusters: [0, 0, 0] });
  await stage.run(input(dir), ctx);
  writeNpy(path.join(dir, 'spike_clusters.npy'), { dtype: 'uint32', shape: [2], data: new Uint32Array(2) });
  const err = await stageErrorOf(() => stage.run(input(dir), ctx));
  assert.match(err.message, `${dir}: spike_times.npy, spike_templates.npy, amplitudes.npy are this stage's cleaned output, but spike_clusters.npy changed`);
}));

test('output_directory: Kilosort folder untouched, a complete Phy folder elsewhere', timed(async () => {
  const root = tempDir();
  const ks = path.join(root, 'kilosort');
  const out = path.join(root, 'kilosort_postprocessed');
  makeKilosortFolder(ks, { peakColumns: [3, 4], channels: 8, times: [10, 12, 50, 90, 91], clusters: [0, 0, 1, 1, 0], pcs: true, templateFeatures: true });
  fs.writeFileSync(path.join(ks, 'cluster_KSLabel.tsv'), 'cluster_id\tKSLabel\n0\tgood\n1\tmua\n');
  fs.writeFileSync(path.join(ks, 'continuous.dat'), Buffer.alloc(64));
  const before = Object.fromEntries(fs.readdirSync(ks).map((n) => [n, statSignature(path.join(ks, n))]));
  await stage.run(input(ks, { output_directory: out }), ctx);
  const after = Object.fromEntries(fs.readdirSync(ks).map((n) => [n, statSignature(path.join(ks, n))]));
  assert.equal(after, before);
  assert.equal(values(out, 'spike_times.npy'), [12, 50, 90]);
  assert.equal(readNpy(path.join(out, 'template_features.npy')).shape, [3, 2]);
  assert.equal(values(out, 'template_features.npy'), [1, 1, 2, 2, 3, 3]);
  for (const n of ['templates.npy', 'channel_map.npy', 'whitening_mat_inv.npy', 'pc_feature_ind.npy', 'cluster_KSLabel.tsv']) {
    assert.ok(fs.readFileSync(path.join(out, n)).equals(fs.readFileSync(path.join(ks, n))), n);
  }
  assert.not.ok(fs.existsSync(path.join(out, 'continuous.dat')));
  assert.match(fs.readFileSync(path.join(out, 'params.py'), 'utf8'), /^dat_path = "\.\.\/kilosort\/continuous\.dat"$/m);
  assert.not.ok(fs.existsSync(keptDir(ks)));
}));

test('params.py: relative dat_path retargeted, absolute and list forms handled', timed(() => {
  assert.is(retargetParamsPy("dat_path = r'a.dat'\nx = 1", '/d/ks', '/d/ks/post'), 'dat_path = "../a.dat"\nx = 1');
  assert.is(retargetParamsPy("dat_path = ['/abs/a.dat', 'b.dat']", '/d/ks', '/d/out'), 'dat_path = ["/abs/a.dat", "../ks/b.dat"]');
}));

test('malformed input: a StageError naming the file', timed(async () => {
  const dir = tempDir();
  makeKilosortFolder(dir, { peakColumns: [3], channels: 8, times: [100, 101, 300], clusters: [0, 0, 0], pcs: true });
  writeNpy(path.join(dir, 'spike_clusters.npy'), { dtype: 'uint32', shape: [2, 1], data: new Uint32Array(2) });
  let err = await stageErrorOf(() => stage.run(input(dir), ctx));
  assert.is(err.message, `${path.join(keptDir(dir), 'spike_clusters.npy')}: 2 spikes; expected 3, as in spike_times.npy`);

  const dir2 = tempDir();
  makeKilosortFolder(dir2, { peakColumns: [3], channels: 8, times: [100, 101, 300], clusters: [0, 0, 0], pcs: true });
  writeNpy(path.join(dir2, 'pc_features.npy'), { dtype: 'float32', shape: [2, 3, 4], data: new Float32Array(24) });
  err = await stageErrorOf(() => stage.run(input(dir2, { output_directory: path.join(dir2, 'out') }), ctx));
  assert.is(err.message, `${path.join(dir2, 'pc_features.npy')}: 2 rows; expected 3, one per spike of spike_times.npy`);
  assert.not.ok(fs.existsSync(path.join(dir2, 'out', 'spike_times.npy')), 'nothing written on failure');

  const dir3 = tempDir();
  makeKilosortFolder(dir3, { peakColumns: [3], channels: 8, times: [100], clusters: [0] });
  fs.writeFileSync(path.join(dir3, 'templates.npy'), 'not numpy');
  err = await stageErrorOf(() => stage.run(input(dir3, { output_directory: path.join(dir3, 'out') }), ctx));
  assert.match(err.message, `${path.join(dir3, 'templates.npy')}: not a .npy file`);

  err = await stageErrorOf(() => stage.run({ ephys_params: {} }, ctx));
  assert.match(err.message, 'directories.kilosort_output_directory: missing');
}));

test('the built-in host reports a StageError on one line and exits 1', timed(() => {
  const dir = tempDir();
  makeKilosortFolder(dir, { peakColumns: [3], channels: 8, times: [100], clusters: [0] });
  fs.rmSync(path.join(dir, 'channel_map.npy'));
  const inputPath = path.join(dir, 'input.json');
  fs.writeFileSync(inputPath, JSON.stringify(input(dir, { output_directory: path.join(dir, 'out') })));
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js'), 'kilosort_postprocessing', '--input_json', inputPath], { encoding: 'utf8' });
  assert.is(r.status, 1);
  assert.is(r.stderr, `error: ${path.join(dir, 'channel_map.npy')}: missing; expected the channel map (int32) in the Kilosort output folder\n`);
}));

test.run();
