import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, timed, repoRoot } from './rig.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { newAjv } from '../lib/engine/ajv.js';
import { loadKilosortFolder } from '../lib/formats/kilosort.js';
import { readNpy, readNpyHeader, writeNpy, toNumberArray } from '../lib/formats/npy.js';
import { synthesize, type SynthRecording } from '../lib/synth/generate.js';
import { stage as medianSubtraction } from '../stages/median_subtraction/index.js';
import { stage as sorter } from '../stages/builtin_sorter/index.js';
import { compareToGroundTruth, countMatches, formatComparison } from '../lib/synth/groundTruthMatch.js';
import { defaultParams } from '../stages/builtin_sorter/params.js';
import { foldSmallClusters } from '../stages/builtin_sorter/reassign.js';

function context(): BuiltinContext {
  return { signal: new AbortController().signal, log: () => {}, progress: () => {} };
}

interface Prepared { dir: string; rec: SynthRecording; medianSubtracted: string }

/** One synthetic recording, median-subtracted by the built-in stage, shared by the tests below. */
async function prepare(seconds: number, channels: number, seed: number): Promise<Prepared> {
  const dir = tempDir('ephys-make-sorter-');
  const summary = await synthesize({ outDir: dir, recordings: 1, seconds, channels, seed, lfp: false });
  const rec = summary.recordings[0];
  const medianSubtracted = path.join(dir, 'median_subtracted.dat');
  await medianSubtraction.run({
    ephys_params: { ap_band_file: rec.apFile, num_channels: rec.savedChannels, sample_rate: rec.sampleRateHz, reference_channels: [] },
    median_subtraction_params: { output_file: medianSubtracted },
  }, context());
  return { dir, rec, medianSubtracted };
}

let demoLike: Promise<Prepared> | undefined;
const demoRecording = () => (demoLike ??= prepare(20, 128, 1));

function sortInput(p: Prepared, outDir: string, params: Record<string, unknown> = {}) {
  return {
    ephys_params: {
      ap_band_file: p.medianSubtracted, num_channels: p.rec.savedChannels, sample_rate: p.rec.sampleRateHz,
      bit_volts: p.rec.bitVolts, reference_channels: [],
    },
    directories: { kilosort_output_directory: outDir },
    builtin_sorter_params: params,
  };
}

test('finds the units of a synthetic recording like the demo\'s (20 s, 128 channels, median-subtracted)', timed(async () => {
  const p = await demoRecording();
  const ks = path.join(p.dir, 'kilosort');
  const started = Date.now();
  const out = await sorter.run(sortInput(p, ks), context());
  const seconds = (Date.now() - started) / 1000;
  const c = compareToGroundTruth(ks, p.rec.groundTruthDir);
  console.log(formatComparison(c).split('\n').map((l) => `    ${l}`).join('\n'));
  console.log(`    sorted ${out.spikes} spikes into ${out.clusters} clusters in ${seconds.toFixed(1)} s`);
  assert.ok(c.detectableUnits >= 20, `only ${c.detectableUnits} detectable units`);
  assert.ok(c.wellSortedFraction >= 0.8, `${(100 * c.wellSortedFraction).toFixed(0)}% of detectable units reach accuracy 0.8`);
  assert.match(String(out.note), /not a Kilosort replacement/i);
  // No leftover clusters of one or two spikes (min_unit_spikes 3).
  const perCluster = new Map<number, number>();
  for (const k of toNumberArray(readNpy(path.join(ks, 'spike_clusters.npy')))) perCluster.set(k, (perCluster.get(k) ?? 0) + 1);
  const tiny = [...perCluster].filter(([, n]) => n < 3);
  assert.equal(tiny, [], `clusters of fewer than 3 spikes: ${tiny.map(([k, n]) => `${k} (${n})`).join(', ')}`);
}, 300_000));

test('clusters of fewer than min_unit_spikes go to their nearest cluster; a spike with none near is dropped', () => {
  // Features of one component per slot, radius 1 (3 slots): unit A peaks on channel 10 with
  // slots (1, -5, 1), unit B on channel 12 with (2, -8, 2); leftovers between and far away.
  const spikes: Array<[number, number[]]> = [];
  for (let i = 0; i < 10; i++) spikes.push([10, [1, -5, 1]], [12, [2, -8, 2]]);
  spikes.push([11, [-5, 1, 0]], [11, [-4.5, 1.2, 0]]); // A's spikes seen from channel 11: A's slots shifted
  spikes.push([12, [2, -7.5, 2.1]]); // a B spike in a cluster of its own
  spikes.push([60, [0, -6, 0]]); // far from every cluster
  const channels = Int32Array.from(spikes, (s) => s[0]);
  const features = Float32Array.from(spikes.flatMap((s) => s[1]));
  const a = Array.from({ length: 10 }, (_, i) => 2 * i), b = a.map((e) => e + 1);
  const input = { channels, features, radius: 1, components: 1, searchRadius: 4, clusters: [a, b, [20, 21], [22], [23]] };
  const r = foldSmallClusters(input, 3);
  assert.equal(r.clusters, [[...a, 20, 21], [...b, 22]]);
  assert.is(r.folded, 3);
  assert.equal(r.dropped, [23]);
  assert.is(foldSmallClusters(input, 1).clusters, input.clusters, 'min_unit_spikes 1 keeps every cluster');
});

test('writes the Kilosort 2 file set with its dtypes and shapes, readable as the modules read it', timed(async () => {
  const p = await demoRecording();
  const ks = path.join(p.dir, 'kilosort');
  if (!fs.existsSync(path.join(ks, 'spike_times.npy'))) await sorter.run(sortInput(p, ks), context());
  const h = (name: string) => readNpyHeader(path.join(ks, name));
  const N = h('spike_times.npy').shape[0];
  const T = h('templates.npy').shape[0];
  const C = h('channel_map.npy').shape[0];
  assert.equal(C, 128, 'the sync channel is not sorted');
  const expect: Record<string, [string, number[]]> = {
    'spike_times.npy': ['uint64', [N, 1]],
    'spike_clusters.npy': ['uint32', [N, 1]],
    'spike_templates.npy': ['uint32', [N, 1]],
    'amplitudes.npy': ['float64', [N, 1]],
    'templates.npy': ['float32', [T, 82, C]],
    'templates_ind.npy': ['float64', [T, C]],
    'channel_map.npy': ['int32', [C, 1]],
    'channel_positions.npy': ['float64', [C, 2]],
    'pc_features.npy': ['float32', [N, 3, 32]],
    'pc_feature_ind.npy': ['uint32', [T, 32]],
    'whitening_mat.npy': ['float64', [C, C]],
    'whitening_mat_inv.npy': ['float64', [C, C]],
  };
  for (const [name, [dtype, shape]] of Object.entries(expect)) {
    assert.is(h(name).dtype, dtype, `${name} dtype`);
    assert.equal(h(name).shape, shape, `${name} shape`);
  }
  const files = fs.readdirSync(ks).sort();
  assert.equal(files, [...Object.keys(expect), 'cluster_Amplitude.tsv', 'cluster_ContamPct.tsv', 'cluster_KSLabel.tsv', 'cluster_group.tsv', 'params.py'].sort());

  const times = toNumberArray(readNpy(path.join(ks, 'spike_times.npy')));
  for (let i = 1; i < N; i++) if (times[i] < times[i - 1]) assert.unreachable(`spike_times not ascending at ${i}`);
  const templates = readNpy(path.join(ks, 'templates.npy')).data as Float32Array;
  for (let t = 0; t < T; t++) for (let k = 0; k < 21 * C; k++) if (templates[t * 82 * C + k] !== 0) assert.unreachable(`template ${t} has no 21 leading zeros`);
  const w = toNumberArray(readNpy(path.join(ks, 'whitening_mat.npy'))), wi = toNumberArray(readNpy(path.join(ks, 'whitening_mat_inv.npy')));
  for (let i = 0; i < C; i++) assert.ok(Math.abs(w[i * C + i] * wi[i * C + i] - 1) < 1e-12, 'whitening_mat_inv is the inverse');
  const positions = toNumberArray(readNpy(path.join(ks, 'channel_positions.npy')));
  assert.equal(Array.from(positions.slice(0, 8)), [43, 0, 11, 0, 59, 20, 27, 20]);

  const labels = fs.readFileSync(path.join(ks, 'cluster_KSLabel.tsv'), 'utf8').trim().split('\n');
  assert.is(labels[0], 'cluster_id\tKSLabel');
  assert.is(labels.length, T + 1);
  for (const l of labels.slice(1)) assert.match(l, /^\d+\t(good|mua)$/);
  assert.is(fs.readFileSync(path.join(ks, 'cluster_group.tsv'), 'utf8'), fs.readFileSync(path.join(ks, 'cluster_KSLabel.tsv'), 'utf8'));
  const params = fs.readFileSync(path.join(ks, 'params.py'), 'utf8');
  assert.is(params, `dat_path = '${p.medianSubtracted}'\nn_channels_dat = 129\ndtype = 'int16'\noffset = 0\nsample_rate = 30000.0\nhp_filtered = False\n`);

  // As load_kilosort_data reads it: unwhitened templates are in µV, so a well-sorted unit's
  // template trough is close to its ground-truth amplitude.
  const folder = loadKilosortFolder(ks, { sampleRateHz: 30000, includePcs: true });
  assert.is(folder.spikeCount, N);
  const c = compareToGroundTruth(ks, p.rec.groundTruthDir);
  const clusters = toNumberArray(readNpy(path.join(ks, 'spike_clusters.npy')));
  let checked = 0;
  for (const u of c.units.filter((x) => x.accuracy >= 0.9 && x.amplitudeUv > 80)) {
    let trough = 0;
    const S = folder.templateSamples;
    for (let k = 0; k < S * C; k++) trough = Math.min(trough, folder.templates![u.cluster * S * C + k]);
    assert.ok(Math.abs(-trough / u.amplitudeUv - 1) < 0.3, `unit ${u.unit}: template trough ${trough.toFixed(0)} µV, ground truth ${u.amplitudeUv} µV`);
    assert.ok(clusters.includes(u.cluster));
    checked++;
  }
  assert.ok(checked >= 10, `only ${checked} units checked`);
}, 300_000));

test('the output does not depend on the number of worker threads', timed(async () => {
  const p = await prepare(4, 64, 7);
  const digest = async (workers: number) => {
    const ks = path.join(p.dir, `ks-${workers}`);
    await sorter.run(sortInput(p, ks, { workers }), context());
    return ['spike_times.npy', 'spike_clusters.npy', 'amplitudes.npy', 'templates.npy', 'pc_features.npy']
      .map((f) => fs.readFileSync(path.join(ks, f)).toString('base64')).join('|');
  };
  const one = await digest(1);
  assert.ok(one === await digest(2), 'one and two workers differ');
}, 300_000));

test('a truncated AP file is a StageError naming it, and nothing is written', timed(async () => {
  const dir = tempDir();
  const ap = path.join(dir, 'median_subtracted.dat');
  fs.writeFileSync(ap, Buffer.alloc(129 * 2 * 3000 + 7));
  const ks = path.join(dir, 'kilosort');
  const err = await sorter.run({ ephys_params: { ap_band_file: ap, num_channels: 129 }, directories: { kilosort_output_directory: ks } }, context()).catch((e) => e);
  assert.instance(err, StageError);
  assert.match(err.message, ap);
  assert.match(err.message, 'not a multiple of 2 x num_channels');
  assert.equal(fs.existsSync(ks) ? fs.readdirSync(ks) : [], []);
}, 30_000));

test('unknown or invalid builtin_sorter_params are StageErrors', timed(async () => {
  const dir = tempDir();
  const ap = path.join(dir, 'ap.dat');
  fs.writeFileSync(ap, Buffer.alloc(129 * 2 * 3000));
  const run = (params: Record<string, unknown>) => sorter.run({
    ephys_params: { ap_band_file: ap, num_channels: 129 }, directories: { kilosort_output_directory: path.join(dir, 'ks') }, builtin_sorter_params: params,
  }, context()).catch((e) => e);
  const unknown = await run({ detect_treshold: 6 });
  assert.instance(unknown, StageError);
  assert.match(unknown.message, "unknown key 'detect_treshold'");
  const even = await run({ smoothing_taps: 4 });
  assert.match(even.message, 'smoothing_taps must be odd');
}, 30_000));

test('a recording without spikes gives an empty but well-formed file set', timed(async () => {
  const dir = tempDir();
  const ap = path.join(dir, 'ap.dat');
  fs.writeFileSync(ap, Buffer.alloc(64 * 2 * 30000));
  const ks = path.join(dir, 'ks');
  const out = await sorter.run({ ephys_params: { ap_band_file: ap, num_channels: 64, reference_channels: [] }, directories: { kilosort_output_directory: ks } }, context());
  assert.is(out.spikes, 0);
  assert.equal(readNpyHeader(path.join(ks, 'spike_times.npy')).shape, [0, 1]);
  assert.equal(readNpyHeader(path.join(ks, 'templates.npy')).shape, [0, 82, 64]);
  assert.equal(readNpyHeader(path.join(ks, 'pc_features.npy')).shape, [0, 3, 32]);
}, 30_000));

test('schema.json: draft-07 with the shared definitions, defaults matching the stage\'s, unknown keys rejected', () => {
  const stagesDir = path.join(repoRoot, 'stages');
  const ajv = newAjv();
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(stagesDir, 'common.schema.json'), 'utf8')));
  const schema = JSON.parse(fs.readFileSync(path.join(stagesDir, 'builtin_sorter', 'schema.json'), 'utf8'));
  assert.is(schema.$id, 'https://ephys-make/stages/builtin_sorter/schema.json');
  const validate = ajv.compile(schema);
  const input: Record<string, any> = { ephys_params: { ap_band_file: '/x.dat' }, directories: { kilosort_output_directory: '/ks' }, builtin_sorter_params: {} };
  assert.ok(validate(input), JSON.stringify(validate.errors));
  assert.equal(input.builtin_sorter_params, defaultParams());
  for (const [key, prop] of Object.entries<any>(schema.properties.builtin_sorter_params.properties)) {
    assert.ok(prop.type && prop.default !== undefined && prop.description, `${key} needs type, default and description`);
  }
  assert.not.ok(validate({ ...input, builtin_sorter_params: { detect_treshold: 6 } }));
});

test('compareToGroundTruth: the ground truth itself scores 1 for every unit', () => {
  const dir = tempDir();
  const gt = path.join(dir, 'gt');
  fs.mkdirSync(gt);
  const times = BigUint64Array.from([10n, 100n, 200n, 300n, 305n, 400n]);
  const units = Uint32Array.from([0, 1, 0, 1, 0, 1]);
  writeNpy(path.join(gt, 'spike_times.npy'), { dtype: 'uint64', shape: [6], data: times });
  writeNpy(path.join(gt, 'spike_clusters.npy'), { dtype: 'uint32', shape: [6], data: units });
  fs.writeFileSync(path.join(gt, 'info.json'), JSON.stringify({ sample_rate_hz: 30000, unit_count: 2, peak_channels: [0, 1], peak_amplitudes_uv: [100, 30], noise_rms_uv: [10, 10] }));
  const c = compareToGroundTruth(gt, gt);
  assert.equal(c.units.map((u) => u.accuracy), [1, 1]);
  assert.equal(c.units.map((u) => u.detectable), [true, false]);
  assert.is(c.wellSortedFraction, 1);
  assert.is(countMatches(Float64Array.from([0, 20, 40]), Float64Array.from([5, 21, 100]), 12), 2);
});

test.run();
