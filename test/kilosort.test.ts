import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, timed, writeFile } from './rig.js';
import { writeNpy, readNpy, npyHeaderBytes, type NpyArray } from '../lib/formats/npy.js';
import { StageError } from '../lib/builtin/stage.js';
import { readClusterGroupTsv, writeClusterGroupTsv } from '../lib/formats/clusterGroup.js';
import { loadKilosortFolder } from '../lib/formats/kilosort.js';

/** A tiny Kilosort folder: 6 spikes, 3 templates of 21 + 2 samples on 2 channels, 3 PCs on 2 channels. */
function makeFolder(overrides: Record<string, NpyArray | null> = {}): string {
  const dir = tempDir('ks-');
  const files: Record<string, NpyArray> = {
    'spike_times.npy': { dtype: 'uint64', shape: [6, 1], data: BigUint64Array.from([30n, 60n, 90n, 300n, 3000n, 30000n]) },
    'spike_clusters.npy': { dtype: 'uint32', shape: [6, 1], data: Uint32Array.from([0, 2, 0, 5, 2, 5]) },
    'spike_templates.npy': { dtype: 'uint32', shape: [6, 1], data: Uint32Array.from([0, 2, 0, 1, 2, 1]) },
    'amplitudes.npy': { dtype: 'float64', shape: [6, 1], data: Float64Array.from([10, 20, 11, 30, 21, 31]) },
    'templates.npy': { dtype: 'float32', shape: [3, 23, 2], data: templatesData() },
    'whitening_mat_inv.npy': { dtype: 'float64', shape: [2, 2], data: Float64Array.from([2, 1, 0, 3]) },
    'channel_map.npy': { dtype: 'int32', shape: [2, 1], data: Int32Array.from([4, 7]) },
    'pc_features.npy': { dtype: 'float32', shape: [6, 3, 2], data: Float32Array.from({ length: 36 }, (_, i) => i / 4) },
    'pc_feature_ind.npy': { dtype: 'uint32', shape: [3, 2], data: Uint32Array.from([0, 1, 1, 0, 0, 1]) },
  };
  for (const [name, arr] of Object.entries({ ...files, ...overrides })) {
    if (arr) writeNpy(path.join(dir, name), arr);
  }
  return dir;
}

/** Zeros in the 21 padding samples, then sample 21 = [1, 2] and sample 22 = [3, 4] (times template+1). */
function templatesData(): Float32Array {
  const d = new Float32Array(3 * 23 * 2);
  for (let t = 0; t < 3; t++) {
    const base = t * 46;
    d.set([(t + 1) * 1, (t + 1) * 2, (t + 1) * 3, (t + 1) * 4], base + 42);
  }
  return d;
}

function stageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof StageError) return err.message;
    throw err;
  }
  throw new Error('expected a StageError');
}

test('loads times in seconds, squeezes vectors, unwhitens trimmed templates', timed(() => {
  const dir = makeFolder();
  const ks = loadKilosortFolder(dir, { sampleRateHz: 30000, includePcs: true });
  assert.is(ks.spikeCount, 6);
  assert.equal(Array.from(ks.spikeTimes), [0.001, 0.002, 0.003, 0.01, 0.1, 1]);
  assert.equal(Array.from(ks.spikeClusters), [0, 2, 0, 5, 2, 5]);
  assert.equal(Array.from(ks.amplitudes), [10, 20, 11, 30, 21, 31]);
  assert.is(ks.templateSamples, 2);
  assert.is(ks.channelCount, 2);
  // [1 2] x [[2 1] [0 3]] = [2 7]; [3 4] x W = [6 15]
  assert.equal(Array.from(ks.templates!.subarray(0, 4)), [2, 7, 6, 15]);
  assert.equal(Array.from(ks.templates!.subarray(8, 12)), [6, 21, 18, 45]);
  assert.equal(Array.from(ks.channelMap), [4, 7]);
  assert.is(ks.pcCount, 3);
  assert.is(ks.pcChannelCount, 2);
  assert.is(ks.pcFeatures![35], 35 / 4);
  // No cluster_group.tsv: the distinct clusters, unsorted.
  assert.equal(ks.clusterIds, [0, 2, 5]);
  assert.equal(ks.clusterLabels, ['unsorted', 'unsorted', 'unsorted']);
  assert.equal(ks.layouts['spike_times.npy'], { dtype: 'uint64', shape: [6, 1] });
}));

test('sample times stay samples when not converted; templates can be skipped', timed(() => {
  const dir = makeFolder({ 'spike_times.npy': { dtype: 'int64', shape: [6], data: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]) } });
  const ks = loadKilosortFolder(dir, { sampleRateHz: 30000, convertToSeconds: false, includeTemplates: false, shared: true });
  assert.equal(Array.from(ks.spikeTimes), [1, 2, 3, 4, 5, 6]);
  assert.ok(ks.spikeTimes.buffer instanceof SharedArrayBuffer);
  assert.is(ks.templates, undefined);
  assert.is(ks.pcFeatures, undefined);
}));

test('cluster_group.tsv: group column, KSLabel fallback, round trip', timed(() => {
  const dir = makeFolder();
  writeFile(dir, 'cluster_group.tsv', 'cluster_id\tgroup\n0\tgood\n2\tnoise\n5\tmua\n');
  let ks = loadKilosortFolder(dir, { sampleRateHz: 30000 });
  assert.equal(ks.clusterIds, [0, 2, 5]);
  assert.equal(ks.clusterLabels, ['good', 'noise', 'mua']);
  writeFile(dir, 'cluster_group.tsv', 'cluster_id\tKSLabel\n0\tgood\n5\tmua\n');
  ks = loadKilosortFolder(dir, { sampleRateHz: 30000 });
  assert.equal(ks.clusterLabels, ['good', 'mua']);
  const out = path.join(dir, 'cluster_group.tsv.v2');
  writeClusterGroupTsv(out, [3, 1], ['noise', 'good']);
  assert.is(fs.readFileSync(out, 'utf8'), 'cluster_id\tgroup\n3\tnoise\n1\tgood\n');
  assert.equal(readClusterGroupTsv(out), { clusterIds: [3, 1], labels: ['noise', 'good'] });
  writeFile(dir, 'cluster_group.tsv', 'id\tlabel\n0\tgood\n');
  assert.match(stageError(() => loadKilosortFolder(dir, { sampleRateHz: 30000 })), /cluster_group.tsv: header 'id\tlabel'; expected columns 'cluster_id' and 'group' \(or 'KSLabel'\)/);
}));

test('Fortran-order pc_features (npy-matlab) read in C order', timed(() => {
  const dir = makeFolder();
  const c = Float32Array.from({ length: 36 }, (_, i) => i / 4);
  // Fortran order: axis 0 fastest, then axis 1, then axis 2.
  const f = new Float32Array(36);
  for (let n = 0; n < 6; n++) for (let p = 0; p < 3; p++) for (let k = 0; k < 2; k++) f[n + 6 * (p + 3 * k)] = c[(n * 3 + p) * 2 + k];
  const head = Buffer.from(npyHeaderBytes('float32', [6, 3, 2]).toString('latin1').replace("'fortran_order': False,", "'fortran_order': True, "), 'latin1');
  fs.writeFileSync(path.join(dir, 'pc_features.npy'), Buffer.concat([head, Buffer.from(f.buffer)]));
  const ks = loadKilosortFolder(dir, { sampleRateHz: 30000, includePcs: true });
  assert.equal(Array.from(ks.pcFeatures!), Array.from(c));
}));

test('malformed folders are StageErrors naming the file and what was expected', timed(() => {
  const load = (dir: string) => stageError(() => loadKilosortFolder(dir, { sampleRateHz: 30000, includePcs: true }));
  let dir = makeFolder({ 'amplitudes.npy': null });
  assert.match(load(dir), /amplitudes\.npy: missing; expected floating-point template scaling factors/);
  dir = makeFolder({ 'spike_clusters.npy': { dtype: 'float32', shape: [6], data: new Float32Array(6) } });
  assert.match(load(dir), /spike_clusters\.npy: dtype float32; expected integer cluster ids/);
  dir = makeFolder({ 'spike_templates.npy': { dtype: 'uint32', shape: [3, 2], data: new Uint32Array(6) } });
  assert.match(load(dir), /spike_templates\.npy: shape \(3, 2\); expected a vector of shape \(N,\) or \(N, 1\)/);
  dir = makeFolder({ 'amplitudes.npy': { dtype: 'float64', shape: [5], data: new Float64Array(5) } });
  assert.match(load(dir), /amplitudes\.npy: 5 spikes; expected 6, as in spike_times\.npy/);
  dir = makeFolder({ 'channel_map.npy': { dtype: 'int32', shape: [3], data: Int32Array.from([0, 1, 2]) } });
  assert.match(load(dir), /templates\.npy: 2 channels; expected 3, the length of channel_map\.npy/);
  dir = makeFolder({ 'whitening_mat_inv.npy': { dtype: 'float64', shape: [3, 3], data: new Float64Array(9) } });
  assert.match(load(dir), /whitening_mat_inv\.npy: shape \(3, 3\); expected \(2, 2\)/);
  dir = makeFolder({ 'spike_templates.npy': { dtype: 'uint32', shape: [6], data: Uint32Array.from([0, 1, 2, 3, 0, 0]) } });
  assert.match(load(dir), /spike_templates\.npy: template id 3 at spike 3; expected ids below 3/);
  dir = makeFolder({ 'spike_clusters.npy': { dtype: 'int32', shape: [6], data: Int32Array.from([0, 1, -1, 0, 0, 0]) } });
  assert.match(load(dir), /spike_clusters\.npy: value -1 at index 2; expected ids from 0/);
  dir = makeFolder({ 'pc_feature_ind.npy': { dtype: 'uint32', shape: [3, 2], data: Uint32Array.from([0, 1, 1, 9, 0, 1]) } });
  assert.match(load(dir), /pc_feature_ind\.npy: channel index 9 at template 1; expected indices below 2/);
  dir = makeFolder({ 'pc_feature_ind.npy': { dtype: 'uint32', shape: [2, 2], data: new Uint32Array(4) } });
  assert.match(load(dir), /pc_feature_ind\.npy: shape \(2, 2\); expected \(3, 2\)/);
  dir = makeFolder({ 'pc_features.npy': { dtype: 'float32', shape: [6, 6], data: new Float32Array(36) } });
  assert.match(load(dir), /pc_features\.npy: shape \(6, 6\); expected 3 dimensions/);
  dir = makeFolder({ 'templates.npy': { dtype: 'float32', shape: [3, 20, 2], data: new Float32Array(120) } });
  assert.match(load(dir), /templates\.npy: 20 samples per template; expected more than the 21 leading zero samples/);
  dir = makeFolder();
  fs.writeFileSync(path.join(dir, 'spike_times.npy'), 'not numpy');
  assert.match(load(dir), /spike_times\.npy: not a \.npy file/);
  dir = makeFolder();
  fs.truncateSync(path.join(dir, 'pc_features.npy'), 200);
  assert.match(load(dir), /pc_features\.npy: truncated/);
  assert.match(load(path.join(dir, 'nope')), /nope: Kilosort output folder does not exist/);
}));

test("sorter output is checked before use: unsorted times, spikes past the recording's end, NaN amplitudes, cluster ids out of range", timed(() => {
  const load = (dir: string, o: Partial<Parameters<typeof loadKilosortFolder>[1]> = {}) => stageError(() => loadKilosortFolder(dir, { sampleRateHz: 30000, ...o }));
  let dir = makeFolder({ 'spike_times.npy': { dtype: 'uint64', shape: [6], data: BigUint64Array.from([30n, 60n, 90n, 3000n, 300n, 30000n]) } });
  assert.is(load(dir), `${dir}/spike_times.npy: not sorted: value 300 at index 4 is below 3000 at index 3; expected spike times in increasing order, as Kilosort writes them`);
  dir = makeFolder({ 'amplitudes.npy': { dtype: 'float32', shape: [6], data: Float32Array.from([1, 2, 3, NaN, 5, Infinity]) } });
  assert.is(load(dir), `${dir}/amplitudes.npy: value NaN at index 3; expected finite template scaling factors`);
  dir = makeFolder({ 'spike_clusters.npy': { dtype: 'uint32', shape: [6], data: Uint32Array.from([0, 2, 4000000000, 5, 2, 5]) } });
  assert.is(load(dir), `${dir}/spike_clusters.npy: cluster id 4000000000 at index 2 is out of range; expected ids below 65539 (templates.npy has 3 templates, and Phy numbers new clusters after them)`);
  // The recording's length: given, or from params.py's dat_path (30,000 samples of 2 channels here).
  dir = makeFolder();
  assert.is(load(dir, { recordingSamples: { samples: 3001, source: 'the AP file' } }), `${dir}/spike_times.npy: value 30000 at index 5 is past the end of the recording (3001 samples in the AP file); is this the sorting of another recording?`);
  fs.writeFileSync(path.join(dir, 'params.py'), "dat_path = r'continuous.dat'\nn_channels_dat = 2\ndtype = 'int16'\noffset = 0\nsample_rate = 30000.\n");
  fs.writeFileSync(path.join(dir, 'continuous.dat'), Buffer.alloc(30000 * 2 * 2));
  assert.is(load(dir), `${dir}/spike_times.npy: value 30000 at index 5 is past the end of the recording (30000 samples in ${dir}/continuous.dat); is this the sorting of another recording?`);
  fs.writeFileSync(path.join(dir, 'continuous.dat'), Buffer.alloc(30001 * 2 * 2));
  assert.is(loadKilosortFolder(dir, { sampleRateHz: 30000 }).spikeCount, 6);
  // No dat file where params.py says, or an empty stand-in: not checked (it may be a removed temporary).
  fs.writeFileSync(path.join(dir, 'continuous.dat'), '');
  assert.is(loadKilosortFolder(dir, { sampleRateHz: 30000 }).spikeCount, 6);
  fs.rmSync(path.join(dir, 'continuous.dat'));
  assert.is(loadKilosortFolder(dir, { sampleRateHz: 30000 }).spikeCount, 6);
}));

test.run();
