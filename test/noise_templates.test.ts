import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, testUnless, timed } from './rig.js';
import { writeNpy } from '../lib/formats/npy.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { gaussianFilter1d } from '../lib/numeric/gaussianFilter1d.js';
import { stage, readParams, runNoiseTemplates } from '../stages/noise_templates/index.js';
import { findPeaks } from '../stages/noise_templates/findPeaks.js';
import { cwtRickerRow } from '../stages/noise_templates/cwt.js';
import { interpolateFrame, probeGrid } from '../stages/noise_templates/spatialPeaks.js';
import { delaunay } from '../stages/noise_templates/delaunay.js';
import { clean, makeTemplateFolder, randomUnits, seeded, siteX, siteY, type Unit } from '../bench/oracle/templateUnits.js';

// The labels against the real Allen module: test/fidelity.test.ts. Here, scipy's own functions.
const python = '/usr/bin/python3';
const hasScipy = fs.existsSync(python) && spawnSync(python, ['-c', 'import numpy, scipy.signal, scipy.interpolate, scipy.ndimage'], { stdio: 'ignore' }).status === 0;
const scipyTest = testUnless(hasScipy ? undefined : '/usr/bin/python3 lacks numpy or scipy (apt-get install python3-numpy python3-scipy)');

const samples = 61;
const channels = 384;

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
  makeTemplateFolder(dir, units, channelMap);
  return runNoiseTemplates(readParams(input(dir))).verdicts;
}


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
  makeTemplateFolder(dir, [clean, { ...clean, troughSample: 40 }, { ...clean, channel: 100 }]);
  await stage.run(input(dir), ctx);
  assert.is(fs.readFileSync(path.join(dir, 'cluster_group.tsv.v2'), 'utf8'), 'cluster_id\tgroup\n0\tgood\n1\tnoise\n2\tgood\n');
  // Cluster ids come from cluster_group.tsv when Kilosort wrote one (KSLabel header in newer Kilosort).
  fs.writeFileSync(path.join(dir, 'cluster_group.tsv'), 'cluster_id\tKSLabel\n1\tmua\n2\tgood\n');
  await stage.run(input(dir, {}, { cluster_group_file_name: 'cluster_group.tsv' }), ctx);
  assert.is(fs.readFileSync(path.join(dir, 'cluster_group.tsv'), 'utf8'), 'cluster_id\tgroup\n1\tnoise\n2\tgood\n');
}));

test('bad input: StageErrors that say what is wrong', timed(async () => {
  const dir = tempDir();
  makeTemplateFolder(dir, [clean]);
  const errorOf = async (inp: Record<string, any>) => {
    try { await stage.run(inp, ctx); } catch (err) { assert.instance(err, StageError); return (err as Error).message; }
    throw new Error('expected a StageError');
  };
  const noClassifier = input(dir);
  delete noClassifier.noise_waveform_params.classifier_path;
  assert.match(await errorOf(noClassifier), 'noise_waveform_params.classifier_path: missing');
  const wide = tempDir();
  makeTemplateFolder(wide, [{ channel: 200, widthUm: 48 }]);
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

/** scipy's primitives on given arrays (bench/reference/scipy_primitives.py). */
function scipyPrimitives(cases: Record<string, unknown>): any {
  const r = spawnSync(python, [path.join(repoRoot, 'bench', 'reference', 'scipy_primitives.py')], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}


scipyTest('gaussian_filter1d, find_peaks and cwt/ricker agree with scipy', timed(() => {
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

scipyTest('griddata cubic on the virtual grid agrees with scipy for a full channel map', timed(() => {
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


test.run();
