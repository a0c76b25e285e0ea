import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, timed } from './rig.js';
import { writeNpy } from '../lib/formats/npy.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { gaussianFilter1d } from '../lib/numeric/gaussianFilter1d.js';
import { stage, readParams, runNoiseTemplates } from '../stages/noise_templates/index.js';
import { findPeaks } from '../stages/noise_templates/findPeaks.js';
import { cwtRickerRow } from '../stages/noise_templates/cwt.js';
import { interpolateFrame, probeGrid } from '../stages/noise_templates/spatialPeaks.js';
import { delaunay } from '../stages/noise_templates/delaunay.js';

const python = '/usr/bin/python3';
const hasScipy = fs.existsSync(python) && spawnSync(python, ['-c', 'import numpy, scipy.signal, scipy.interpolate, scipy.ndimage'], { stdio: 'ignore' }).status === 0;
const skipNote = '  (skipped: /usr/bin/python3 with numpy and scipy not found; apt-get install python3-numpy python3-scipy)';

const padding = 21;
const samples = 61;
const channels = 384;

/** A synthetic unit: a spike waveform whose amplitude falls off with distance from a point on the probe. */
interface Unit {
  /** Site the unit sits next to. */
  channel: number;
  /** Distance (um) over which the amplitude falls to e^-1/2. */
  widthUm: number;
  troughSample?: number;
  /** Samples of delay per um away from the centre (propagation). */
  delayPerUm?: number;
  /** A second source, as a noise template spanning two places shows. */
  second?: { channel: number; widthUm: number; amplitude: number };
  /** Only this column carries signal. */
  singleChannel?: boolean;
  /** Per-site amplitude scatter (0 none, 1 up to +-50%), from this seed. */
  roughness?: { amount: number; seed: number };
}

const siteX = (ch: number) => [16, 48, 0, 32][ch % 4];
const siteY = (ch: number) => Math.floor(ch / 2) * 20;

function spike(s: number, t0: number): number {
  return -Math.exp(-((s - t0) ** 2) / (2 * 1.5 ** 2)) + 0.35 * Math.exp(-((s - t0 - 7) ** 2) / (2 * 4 ** 2));
}

function unitTemplate(u: Unit, channelMap: number[]): Float32Array {
  const c = channelMap.length;
  const out = new Float32Array((padding + samples) * c);
  const t0 = u.troughSample ?? 20;
  const blobs = [{ channel: u.channel, widthUm: u.widthUm, amplitude: 1 }, ...(u.second ? [u.second] : [])];
  const scatter = u.roughness ? seeded(u.roughness.seed) : () => 0.5;
  for (let col = 0; col < c; col++) {
    const ch = channelMap[col];
    if (u.singleChannel && ch !== u.channel) continue;
    const rough = 1 + (u.roughness?.amount ?? 0) * (scatter() - 0.5);
    for (const b of blobs) {
      const d = Math.hypot(siteX(ch) - 24, siteY(ch) - siteY(b.channel));
      const a = rough * b.amplitude * Math.exp(-(d * d) / (2 * b.widthUm ** 2));
      const delay = (u.delayPerUm ?? 0) * d;
      for (let s = 0; s < samples; s++) out[(padding + s) * c + col] += 80 * a * spike(s, t0 + delay);
    }
  }
  return out;
}

function makeFolder(dir: string, units: Unit[], channelMap: number[] = Array.from({ length: channels }, (_, i) => i)): void {
  fs.mkdirSync(dir, { recursive: true });
  const c = channelMap.length;
  const t = units.length;
  const templates = new Float32Array(t * (padding + samples) * c);
  units.forEach((u, k) => templates.set(unitTemplate(u, channelMap), k * (padding + samples) * c));
  const identity = new Float64Array(c * c);
  for (let i = 0; i < c; i++) identity[i * c + i] = 1;
  writeNpy(path.join(dir, 'templates.npy'), { dtype: 'float32', shape: [t, padding + samples, c], data: templates });
  writeNpy(path.join(dir, 'whitening_mat_inv.npy'), { dtype: 'float64', shape: [c, c], data: identity });
  writeNpy(path.join(dir, 'channel_map.npy'), { dtype: 'int32', shape: [c, 1], data: Int32Array.from(channelMap) });
  const n = t;
  writeNpy(path.join(dir, 'spike_times.npy'), { dtype: 'uint64', shape: [n, 1], data: BigUint64Array.from({ length: n }, (_, i) => BigInt(1000 * (i + 1))) });
  writeNpy(path.join(dir, 'spike_clusters.npy'), { dtype: 'uint32', shape: [n, 1], data: Uint32Array.from({ length: n }, (_, i) => i) });
  writeNpy(path.join(dir, 'spike_templates.npy'), { dtype: 'uint32', shape: [n, 1], data: Uint32Array.from({ length: n }, (_, i) => i) });
  writeNpy(path.join(dir, 'amplitudes.npy'), { dtype: 'float64', shape: [n, 1], data: new Float64Array(n).fill(20) });
}

const ctx: BuiltinContext = { progress() {}, log() {}, signal: new AbortController().signal };

function input(dir: string, params: Record<string, unknown> = {}, ephys: Record<string, unknown> = {}): Record<string, any> {
  return {
    directories: { kilosort_output_directory: dir },
    ephys_params: { sample_rate: 30000, cluster_group_file_name: 'cluster_group.tsv.v2', ...ephys },
    noise_waveform_params: { classifier_path: '/nonexistent/rf_classifier.pkl', ...params },
  };
}

function verdictsOf(units: Unit[], channelMap?: number[]) {
  const dir = tempDir();
  makeFolder(dir, units, channelMap);
  return runNoiseTemplates(readParams(input(dir))).verdicts;
}

const clean: Unit = { channel: 200, widthUm: 22 };

test('a clean spike over about 8 channels is good', timed(() => {
  const [v] = verdictsOf([clean]);
  assert.ok(v.spread.spreadRaw >= 6 && v.spread.spreadRaw <= 10, `raw spread ${v.spread.spreadRaw}`);
  assert.ok(v.spread.spreadSmoothed <= 16, `smoothed spread ${v.spread.spreadSmoothed}`);
  assert.is(v.temporal.peakSample, 20);
  assert.ok(v.spatial.peakLocations.length > 0 && v.spatial.std <= 3.5, `peaks ${v.spatial.peakLocations}`);
  assert.is(v.isNoise, false);
}));

test('spread: a template on a single channel is noise', timed(() => {
  const [v] = verdictsOf([{ channel: 200, widthUm: 22, singleChannel: true }]);
  assert.is(v.spread.spreadRaw, 1);
  assert.is(v.spread.isNoise, true);
  assert.is(v.temporal.isNoise, false);
  assert.is(v.isNoise, true);
}));

test('spread: a template over more than 25 channels is noise', timed(() => {
  const [v] = verdictsOf([{ channel: 200, widthUm: 90 }]);
  assert.ok(v.spread.spreadSmoothed > 25, `smoothed spread ${v.spread.spreadSmoothed}`);
  assert.is(v.spread.shape, undefined);
  assert.is(v.spread.isNoise, true);
  assert.is(v.temporal.isNoise, false);
}));

test('shape: a wide template is good only if its shape changes away from the peak', timed(() => {
  const [flat, travelling] = verdictsOf([{ channel: 200, widthUm: 48 }, { channel: 200, widthUm: 48, delayPerUm: 0.05 }]);
  for (const v of [flat, travelling]) {
    assert.ok(v.spread.spreadSmoothed > 16 && v.spread.spreadSmoothed <= 25, `smoothed spread ${v.spread.spreadSmoothed}`);
  }
  // The same waveform on every channel cancels against the centre channel: no positive wavelet peak.
  assert.is(flat.spread.shape!.isNoise, true);
  assert.ok(flat.spread.shape!.waveletPeakHeight <= 1e-6, `height ${flat.spread.shape!.waveletPeakHeight}`);
  // Later troughs away from the centre leave a positive bump at the centre's trough.
  assert.is(travelling.spread.shape!.isNoise, false);
  assert.ok(travelling.spread.shape!.waveletPeakLocation > 15 && travelling.spread.shape!.waveletPeakLocation < 25);
  assert.is(travelling.isNoise, false);
}));

test('temporal: a template peaking off time is noise', timed(() => {
  const [early, late] = verdictsOf([{ ...clean, troughSample: 6 }, { ...clean, troughSample: 40 }]);
  assert.equal([early.temporal.peakSample, early.temporal.isNoise, early.spread.isNoise], [6, true, false]);
  assert.equal([late.temporal.peakSample, late.temporal.isNoise, late.spread.isNoise], [40, true, false]);
}));

test('spatial: two separate peaks along the probe are noise', timed(() => {
  const [v] = verdictsOf([{ channel: 200, widthUm: 14, second: { channel: 220, widthUm: 14, amplitude: 0.9 } }]);
  assert.is(v.spread.isNoise, false);
  assert.is(v.temporal.isNoise, false);
  assert.ok(v.spatial.std > 3.5, `peaks ${v.spatial.peakLocations}`);
  assert.is(v.spatial.isNoise, true);
}));

test('writes cluster_id/group for every cluster, as good or noise', timed(async () => {
  const dir = tempDir();
  makeFolder(dir, [clean, { ...clean, troughSample: 40 }, { ...clean, channel: 100 }]);
  await stage.run(input(dir), ctx);
  assert.is(fs.readFileSync(path.join(dir, 'cluster_group.tsv.v2'), 'utf8'), 'cluster_id\tgroup\n0\tgood\n1\tnoise\n2\tgood\n');
  // Cluster ids come from cluster_group.tsv when Kilosort wrote one (KSLabel header in newer Kilosort).
  fs.writeFileSync(path.join(dir, 'cluster_group.tsv'), 'cluster_id\tKSLabel\n1\tmua\n2\tgood\n');
  await stage.run(input(dir, {}, { cluster_group_file_name: 'cluster_group.tsv' }), ctx);
  assert.is(fs.readFileSync(path.join(dir, 'cluster_group.tsv'), 'utf8'), 'cluster_id\tgroup\n1\tnoise\n2\tgood\n');
}));

test('bad input: StageErrors that say what is wrong', timed(async () => {
  const dir = tempDir();
  makeFolder(dir, [clean]);
  const errorOf = async (inp: Record<string, any>) => {
    try { await stage.run(inp, ctx); } catch (err) { assert.instance(err, StageError); return (err as Error).message; }
    throw new Error('expected a StageError');
  };
  const noClassifier = input(dir);
  delete noClassifier.noise_waveform_params.classifier_path;
  assert.match(await errorOf(noClassifier), 'noise_waveform_params.classifier_path: missing');
  const wide = tempDir();
  makeFolder(wide, [{ channel: 200, widthUm: 48 }]);
  assert.is(await errorOf(input(wide, { wavelet_index: 40 })), 'noise_waveform_params.wavelet_index: 40; the wavelet transform of 61-sample templates has 30 rows (widths 1, 3, ..., 59)');
  fs.writeFileSync(path.join(dir, 'cluster_group.tsv'), 'cluster_id\tgroup\n0\tgood\n7\tgood\n');
  assert.is(await errorOf(input(dir)), `${dir}: cluster 7 has no template (templates.npy has 1); noise_templates labels Kilosort's clusters before any merge`);
  fs.rmSync(path.join(dir, 'cluster_group.tsv'));
  writeNpy(path.join(dir, 'whitening_mat_inv.npy'), { dtype: 'float64', shape: [2, 2], data: new Float64Array(4) });
  assert.is(await errorOf(input(dir)), `${path.join(dir, 'whitening_mat_inv.npy')}: shape (2, 2); expected (384, 384) to match the 384 channels of templates.npy`);
}));

test('Delaunay triangulation of the full Neuropixels layout: 572 counter-clockwise triangles', timed(() => {
  const cm = Array.from({ length: channels }, (_, i) => i);
  const tri = delaunay(cm.map(siteX), cm.map(siteY));
  assert.is(tri.simplices.length / 3, 572);
  for (let t = 0; t < tri.simplices.length; t += 3) {
    const [a, b, c] = [tri.simplices[t], tri.simplices[t + 1], tri.simplices[t + 2]];
    const area = (tri.x[b] - tri.x[a]) * (tri.y[c] - tri.y[a]) - (tri.y[b] - tri.y[a]) * (tri.x[c] - tri.x[a]);
    assert.ok(area > 0, `triangle ${t / 3} is not counter-clockwise`);
  }
}));

/** Runs the reference script's primitives mode. */
function scipyPrimitives(cases: Record<string, unknown>): any {
  const r = spawnSync(python, [path.join(repoRoot, 'bench', 'reference', 'noise_templates.py'), 'primitives'], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
}

test('gaussian_filter1d, find_peaks and cwt/ricker agree with scipy', timed(() => {
  if (!hasScipy) { console.log(skipNote); return; }
  const rand = seeded(7);
  const gauss = [
    { x: Array.from({ length: 384 }, () => rand()), sigma: 2 },
    { x: Array.from({ length: 5 }, () => rand()), sigma: 2 },
    { x: Array.from({ length: 30 }, () => rand()), sigma: 0.7 },
  ];
  // Plateaus, equal neighbours and negative stretches exercise the peak rules.
  const peaks = [
    { x: Array.from({ length: 200 }, (_, i) => Math.round(Math.sin(i / 5) * 4 + rand() * 2) / 4), height: 0.2, prominence: 0.2 },
    { x: [0, 1, 1, 1, 0, 2, 2, 0.5, 3, 3, 3, 3, 0, -1, 0.4, 0.1], height: 0.2, prominence: 0.2 },
    { x: Array.from({ length: 100 }, () => rand() * 2 - 1), height: 0.2, prominence: 0.2 },
  ];
  const cwt = [0, 1, 2, 5, 29].map((row) => ({ x: Array.from({ length: samples }, (_, i) => Math.sin(i / 4) + rand() * 0.3), row }))
    .concat([{ x: Array.from({ length: 12 }, () => rand()), row: 2 }]);
  const want = scipyPrimitives({ gauss, peaks, cwt });
  gauss.forEach((c, i) => {
    const got = gaussianFilter1d(c.x, c.sigma);
    got.forEach((v, j) => assert.ok(Math.abs(v - want.gauss[i][j]) < 1e-14, `gauss ${i}[${j}]`));
  });
  peaks.forEach((c, i) => assert.equal(findPeaks(c.x, c.height, c.prominence), want.peaks[i], `peaks ${i}`));
  cwt.forEach((c, i) => {
    const got = cwtRickerRow(c.x, 1 + 2 * c.row);
    got.forEach((v, j) => assert.ok(Math.abs(v - want.cwt[i][j]) < 1e-12, `cwt ${i}[${j}]: ${v} vs ${want.cwt[i][j]}`));
  });
}));

test('griddata cubic on the virtual grid agrees with scipy for a full channel map', timed(() => {
  if (!hasScipy) { console.log(skipNote); return; }
  const cm = Array.from({ length: channels }, (_, i) => i);
  const rand = seeded(11);
  const frames = [0, 1, 2].map(() => {
    const c0 = rand() * 384;
    return cm.map((ch) => -100 * Math.exp(-((ch - c0) ** 2) / 200) + (rand() - 0.5) * 5);
  });
  const want = scipyPrimitives({ griddata: frames.map((frame) => ({ channel_map: cm, frame })) }).griddata;
  const grid = probeGrid(cm);
  frames.forEach((f, k) => {
    const got = interpolateFrame(grid, f);
    let worst = 0;
    got.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - want[k][i])); });
    assert.ok(worst < 1e-9, `frame ${k}: largest difference ${worst}`);
  });
}));

function randomUnits(seed: number, count: number): Unit[] {
  const rand = seeded(seed);
  return Array.from({ length: count }, () => {
    const r = rand();
    const u: Unit = { channel: 10 + Math.floor(rand() * 360), widthUm: 8 + rand() * 70, troughSample: 5 + Math.floor(rand() * 35) };
    if (r < 0.3) u.delayPerUm = rand() * 0.08;
    if (r > 0.5 && r < 0.8) u.roughness = { amount: rand(), seed: Math.floor(rand() * 1e6) };
    if (r > 0.6) {
      const at = Math.min(373, Math.max(10, u.channel + Math.round((rand() - 0.5) * 60)));
      u.second = { channel: at, widthUm: 8 + rand() * 30, amplitude: 0.3 + rand() * 0.7 };
    }
    if (r > 0.97) u.singleChannel = true;
    return u;
  });
}

function compareWithScipy(units: Unit[], channelMap?: number[]): { same: number; total: number; mismatches: string[] } {
  const dir = tempDir();
  makeFolder(dir, units, channelMap);
  const paramsPath = path.join(dir, 'params.json');
  const rules = readParams(input(dir)).rules;
  fs.writeFileSync(paramsPath, JSON.stringify(rules));
  const r = spawnSync(python, [path.join(repoRoot, 'bench', 'reference', 'noise_templates.py'), 'folder', dir, paramsPath], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.is(r.status, 0, r.stderr);
  const want: any[] = JSON.parse(r.stdout);
  const got = runNoiseTemplates(readParams(input(dir))).verdicts;
  const mismatches: string[] = [];
  got.forEach((v, k) => {
    const w = want[k];
    const mine = {
      spread_smoothed: v.spread.spreadSmoothed, spread_raw: v.spread.spreadRaw, peak_index: v.temporal.peakSample,
      wavelet_loc: v.spread.shape?.waveletPeakLocation, peak_locations: v.spatial.peakLocations,
      spread_noise: v.spread.isNoise, temporal_noise: v.temporal.isNoise, spatial_noise: v.spatial.isNoise, is_noise: v.isNoise,
    };
    const theirs = {
      spread_smoothed: w.spread_smoothed, spread_raw: w.spread_raw, peak_index: w.peak_index,
      wavelet_loc: w.wavelet_loc, peak_locations: w.peak_locations,
      spread_noise: w.spread_noise, temporal_noise: w.temporal_noise, spatial_noise: w.spatial_noise, is_noise: w.is_noise,
    };
    if (JSON.stringify(mine) !== JSON.stringify(theirs)) mismatches.push(`template ${k}: ${JSON.stringify(mine)} vs scipy ${JSON.stringify(theirs)}`);
    if (v.spread.shape && w.wavelet_height !== undefined) assert.ok(Math.abs(v.spread.shape.waveletPeakHeight - w.wavelet_height) < 1e-9, `template ${k} wavelet height`);
    if (w.std !== null && JSON.stringify(v.spatial.peakLocations) === JSON.stringify(w.peak_locations)) {
      assert.ok(Math.abs(v.spatial.std - w.std) < 1e-12, `template ${k} std`);
    }
  });
  const count = (f: (v: (typeof got)[number]) => boolean) => got.filter(f).length;
  console.log(`  ${got.length} templates: ${count((v) => !v.isNoise)} good; noise by spread ${count((v) => v.spread.isNoise)}, ` +
    `temporal ${count((v) => v.temporal.isNoise)}, spatial ${count((v) => v.spatial.isNoise)}; shape test run on ${count((v) => !!v.spread.shape)}`);
  return { same: got.length - mismatches.length, total: got.length, mismatches };
}

test('every intermediate result matches a numpy/scipy implementation, full channel map', timed(() => {
  if (!hasScipy) { console.log(skipNote); return; }
  const units = [clean, { channel: 200, widthUm: 22, singleChannel: true }, { channel: 200, widthUm: 90 },
    { channel: 200, widthUm: 48 }, { channel: 200, widthUm: 48, delayPerUm: 0.05 }, { ...clean, troughSample: 40 },
    { channel: 200, widthUm: 14, second: { channel: 220, widthUm: 14, amplitude: 0.9 } }, ...randomUnits(3, 60)];
  const { mismatches } = compareWithScipy(units);
  assert.equal(mismatches, []);
}));

test('with the 3A reference channels missing, labels still agree with scipy', timed(() => {
  if (!hasScipy) { console.log(skipNote); return; }
  const refs = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];
  const cm = Array.from({ length: channels }, (_, i) => i).filter((i) => !refs.includes(i));
  // Units centred on the missing sites, where the triangulation can differ from Qhull's.
  const units = [...refs.map((ch) => ({ channel: ch, widthUm: 20 })), ...randomUnits(5, 40)];
  const { same, total, mismatches } = compareWithScipy(units, cm);
  console.log(`  3A map: ${same} of ${total} templates identical in every intermediate result${mismatches.length ? `; differing:\n    ${mismatches.join('\n    ')}` : ''}`);
  assert.ok(same >= total - 2, mismatches.join('\n'));
}));

test.run();
