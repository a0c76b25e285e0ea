/**
 * Every built-in stage against the real Allen module, run on the same inputs by `npm run golden`
 * (test/fixtures/golden/, stamped with the module commit; how they are made: docs/fidelity.md).
 * No Python here: the inputs are rebuilt from the same seeds with the project's own code, their
 * sha256 checked against the fixture's, and the built-ins' outputs compared with what the module
 * wrote.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot, tempDir, timed } from './rig.js';
import { readNpy } from '../lib/formats/npy.js';
import { stage as depthEstimation } from '../stages/depth_estimation/index.js';
import { stage as medianSubtraction } from '../stages/median_subtraction/index.js';
import { stage as postprocessing } from '../stages/kilosort_postprocessing/index.js';
import { stage as noiseTemplates } from '../stages/noise_templates/index.js';
import { stage as meanWaveforms } from '../stages/mean_waveforms/index.js';
import { stage as qualityMetrics } from '../stages/quality_metrics/index.js';
import {
  copyFolder, depthInput, depthVariants, ksFolders, makeKs, makeRecording, makeTemplates, meanWaveformsInput, noiseInput,
  postprocessingInput, qualityInput, quietContext, recordings, sortRecording, templateFolders, type RecordingFiles,
} from '../bench/oracle/cases.js';
import { goldenDir, int16Windows, readJson, relDiff, sha256File } from '../bench/oracle/fixtures.js';
import { compareWithModule, csvValues, type Values } from '../bench/oracle/compare.js';
import { ksInputFiles } from '../bench/oracle/produce.js';

const remake = 'remake the goldens with `npm run golden` (docs/fidelity.md)';

/** The inputs, made once for every test of this file. */
interface Inputs { root: string; rec: Record<string, RecordingFiles>; ks: Record<string, string> }
let made: Promise<Inputs> | undefined;
function inputs(): Promise<Inputs> {
  made ??= (async () => {
    const root = tempDir('ephys-make-fidelity-');
    const rec: Record<string, RecordingFiles> = {};
    for (const r of recordings) rec[r.name] = await makeRecording(r, root);
    const ks: Record<string, string> = {};
    await sortRecording(rec.synthA, path.join(root, 'sortedA'));
    ks.sortedA = path.join(root, 'sortedA');
    for (const k of ksFolders) ks[k.name] = makeKs(k, root);
    for (const t of templateFolders) ks[t.name] = makeTemplates(t, root);
    // The later stages read what postprocessing wrote (compared with the module's first).
    for (const name of ['sortedA', 'ksPostprocessing']) {
      const pp = path.join(root, `${name}-postprocessed`);
      copyFolder(ks[name], pp);
      await postprocessing.run(postprocessingInput(pp), quietContext);
      ks[`${name}-postprocessed`] = pp;
    }
    return { root, rec, ks };
  })();
  return made;
}

function sameInputs(what: string, golden: Record<string, string>, actual: Record<string, string>): void {
  for (const [name, hash] of Object.entries(golden)) {
    assert.is(actual[name], hash, `${what}: ${name} is not the file the fixture was made from (the synthetic recordings, `
      + `the built-in sorter or bench/_ksFolder.ts changed): ${remake}`);
  }
}

function ksHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of ksInputFiles) if (fs.existsSync(path.join(dir, n))) out[n] = sha256File(path.join(dir, n));
  return out;
}

test('the fixtures name the module commit that made them', () => {
  const manifest = readJson(path.join(goldenDir, 'argschema_defaults.json'));
  assert.match(manifest.stamp.commit, /^[0-9a-f]{40}$/);
  for (const stageDir of ['depth_estimation', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics', 'median_subtraction']) {
    assert.ok(fs.existsSync(path.join(goldenDir, stageDir)), `${stageDir} fixtures missing: ${remake}`);
  }
});

test('the inputs are made: two recordings, their sort, the Kilosort and template folders (each comparison checks their sha256)', timed(async () => {
  // Made once here, under a timeout of their own (two recordings, a sort, six folders), so that
  // a loaded machine does not charge them to the first comparison.
  const { rec } = await inputs();
  for (const r of recordings) assert.ok(fs.existsSync(rec[r.name].ap));
}, 600_000));

// ---------------------------------------------------------------------------------------------

for (const r of recordings) for (const variant of Object.keys(depthVariants)) {
  const name = variant === 'pipeline' ? r.name : `${r.name}-${variant}`;
  test(`depth_estimation ${name}: probe_info.json equal to the module's`, timed(async () => {
    const { rec, root } = await inputs();
    const golden = readJson(path.join(goldenDir, 'depth_estimation', `${name}.json`));
    sameInputs(name, golden.inputs, { ap: sha256File(rec[r.name].ap), lfp: sha256File(rec[r.name].lfp) });
    const probe = path.join(root, `${name}-probe_info.json`);
    await depthEstimation.run(depthInput(rec[r.name], probe, root, variant), quietContext);
    const want = fs.readFileSync(path.join(goldenDir, 'depth_estimation', `${name}.probe_info.json`), 'utf8');
    assert.equal(JSON.parse(fs.readFileSync(probe, 'utf8')), JSON.parse(want));
    assert.is(fs.readFileSync(probe, 'utf8'), want, 'laid out as json.dump(indent=4) writes it');
  }, 120_000));
}

for (const name of ['synthA', 'synthB-all-channels']) {
  test(`median_subtraction ${name}: the AP band and residuals.dat byte-identical to the program's`, timed(async () => {
    const { rec, root } = await inputs();
    const dir = path.join(goldenDir, 'median_subtraction', name);
    const golden = readJson(path.join(dir, 'golden.json'));
    const files = rec[golden.recording];
    sameInputs(name, { ap: golden.input.ap }, { ap: sha256File(files.ap) });
    const out = path.join(root, `${name}-ms.dat`), residuals = path.join(root, `${name}-residuals.dat`);
    await medianSubtraction.run({
      ephys_params: { ap_band_file: files.ap, num_channels: 384, sample_rate: 30000, bit_volts: 0.195 },
      common_files: { probe_json: path.join(dir, golden.input.probe_json) },
      median_subtraction_params: { output_file: out, residuals_file: residuals },
    }, quietContext);
    // The sampled windows first: they say where a difference is.
    for (const [file, channels, npy] of [[out, 384, golden.windows.file], [residuals, 24, golden.windows.residuals_file]] as const) {
      const want = readNpy(path.join(dir, npy)).data as Int16Array;
      const got = int16Windows(file, channels, golden.windows.starts, golden.windows.length);
      const at = got.findIndex((v, i) => v !== want[i]);
      if (at >= 0) {
        const w = Math.floor(at / (golden.windows.length * channels)), k = at % (golden.windows.length * channels);
        assert.unreachable(`${path.basename(file)}: sample ${golden.windows.starts[w] + Math.floor(k / channels)}, channel ${k % channels}: ${got[at]} vs program ${want[at]}`);
      }
    }
    assert.is(sha256File(out), golden.output.sha256, 'the median-subtracted AP band');
    assert.is(sha256File(residuals), golden.residuals.sha256, 'residuals.dat');
  }, 120_000));
}

for (const name of ['sortedA', 'ksPostprocessing']) {
  test(`kilosort_postprocessing ${name}: every array identical to the module's, dtype and shape included`, timed(async () => {
    const { ks, root } = await inputs();
    const golden = readJson(path.join(goldenDir, 'kilosort_postprocessing', `${name}.json`));
    sameInputs(name, golden.inputs, ksHashes(ks[name]));
    const dir = path.join(root, `${name}-pp-test`);
    copyFolder(ks[name], dir);
    await postprocessing.run(postprocessingInput(dir), quietContext);
    for (const [file, want] of Object.entries<any>(golden.arrays)) {
      const got = readNpy(path.join(dir, file));
      assert.is(got.dtype, want.dtype, `${file} dtype`);
      assert.equal(got.shape, want.shape, `${file} shape`);
      assert.is(sha256File(path.join(dir, file)), want.sha256, `${file} contents`);
    }
  }, 120_000));

  test(`mean_waveforms ${name}: means and waveform metrics within 1e-9 of the module's`, timed(async () => {
    const { ks, rec } = await inputs();
    const pp = ks[`${name}-postprocessed`];
    const dir = path.join(goldenDir, 'mean_waveforms', name);
    const golden = readJson(path.join(dir, 'golden.json'));
    const ap = name === 'sortedA' ? rec.synthA.ap : rec.synthB.ap;
    sameInputs(name, golden.inputs, { ...ksHashes(pp), ap: sha256File(ap) });
    const work = `${pp}-mean`;
    copyFolder(pp, work);
    await meanWaveforms.run(meanWaveformsInput(work, ap, golden.spikes_per_epoch), quietContext);
    // Waveform metrics: every numeric column within 1e-9 relative of the module's run (or 1e-12
    // absolute), text equal.
    // Where the module's own computation gives other values in other spike orders (its shuffle is
    // unseeded; a trough tie broken by rounding), ours must be what it gives in file order.
    const ours = csvValues(fs.readFileSync(path.join(work, 'waveform_metrics.csv'), 'utf8'));
    const theirs = csvValues(fs.readFileSync(path.join(dir, 'waveform_metrics.csv'), 'utf8'));
    const orders: Array<Array<Array<number | string>>> = golden.orders.runs;
    assert.equal(ours.columns, theirs.columns);
    assert.is(ours.rows.length, theirs.rows.length);
    const bad: string[] = [];
    ours.rows.forEach((row, i) => row.forEach((v, c) => {
      const w = theirs.rows[i][c];
      if (typeof v !== 'number' || typeof w !== 'number') { if (v !== w) bad.push(`cluster ${row[1]} ${ours.columns[c]}: ${v} vs module ${w}`); return; }
      const byOrder = orders.map((run) => run[i][c] as number);
      const dependsOnOrder = byOrder.some((x) => relDiff(x, byOrder[0]) > 1e-9);
      const want = dependsOnOrder ? byOrder[0] : w;
      // 1e-12 absolute as well: a velocity whose trough times are all equal is 0 up to rounding.
      if (relDiff(v, want) > 1e-9 && !(Math.abs(v - want) <= 1e-12)) bad.push(`cluster ${row[1]} ${ours.columns[c]}: ${v} vs module ${want}${dependsOnOrder ? ' (in file order)' : ''}`);
    }));
    assert.equal(bad, [], 'waveform metrics');
    // Mean waveforms: shape and dtype, per-unit sums over the whole array, and the rows around
    // each peak channel, each within 1e-9 of the unit's largest |value|.
    const mean = readNpy(path.join(work, 'mean_waveforms.npy'));
    assert.is(mean.dtype, golden.mean_waveforms.dtype);
    assert.equal(mean.shape, golden.mean_waveforms.shape);
    const [units, channels, samples] = mean.shape;
    const data = mean.data as Float64Array;
    const windows = readNpy(path.join(dir, golden.mean_waveforms.window_file)).data as Float64Array;
    const rows = golden.mean_waveforms.window_rows;
    for (let u = 0; u < units; u++) {
      const s = golden.mean_waveforms.units[u];
      let absSum = 0, squareSum = 0, maxAbs = 0;
      for (let i = u * channels * samples; i < (u + 1) * channels * samples; i++) {
        const v = Math.abs(data[i]); absSum += v; squareSum += v * v; if (v > maxAbs) maxAbs = v;
      }
      assert.ok(relDiff(absSum, s.abs_sum) <= 1e-9 && relDiff(squareSum, s.square_sum) <= 1e-9 && relDiff(maxAbs, s.max_abs) <= 1e-9,
        `unit ${u}: sums ${absSum}, ${squareSum}, max ${maxAbs} vs module ${s.abs_sum}, ${s.square_sum}, ${s.max_abs}`);
      for (let k = 0; k < rows * samples; k++) {
        const got = data[(u * channels + s.first_row) * samples + k];
        const want = windows[u * rows * samples + k];
        if (Math.abs(got - want) > 1e-9 * Math.max(s.max_abs, 1e-300)) {
          assert.unreachable(`unit ${u}, channel ${s.first_row + Math.floor(k / samples)}, sample ${k % samples}: ${got} vs module ${want}`);
        }
      }
    }
  }, 120_000));
}

for (const name of ['sortedA', 'ksPostprocessing', ...templateFolders.map((t) => t.name)]) {
  test(`noise_templates ${name}: every label equal to the module's`, timed(async () => {
    const { ks } = await inputs();
    const folder = ks[`${name}-postprocessed`] ?? ks[name];
    const golden = readJson(path.join(goldenDir, 'noise_templates', `${name}.json`));
    sameInputs(name, golden.inputs, ksHashes(folder));
    const dir = `${folder}-noise`;
    copyFolder(folder, dir);
    await noiseTemplates.run(noiseInput(dir), quietContext);
    const want = fs.readFileSync(path.join(goldenDir, 'noise_templates', `${name}.cluster_group.tsv.v2`), 'utf8');
    assert.fixture(fs.readFileSync(path.join(dir, 'cluster_group.tsv.v2'), 'utf8'), want);
  }, 120_000));
}

// ---------------------------------------------------------------------------------------------

const qualityCases: Array<{ name: string; folder: string; params: Record<string, unknown>; merged?: string }> = [
  { name: 'sortedA', folder: 'sortedA-postprocessed', params: { n_silhouette: 1000 }, merged: 'mean_waveforms/sortedA/waveform_metrics.csv' },
  { name: 'ksEdges', folder: 'ksEdges', params: {} },
  { name: 'ksDense', folder: 'ksDense', params: {} },
  { name: 'ksShort', folder: 'ksShort', params: {} },
];

for (const q of qualityCases) {
  test(`quality_metrics ${q.name}: every column as the module's where it is deterministic, within its spread where not`, timed(async () => {
    const { ks } = await inputs();
    const dir = path.join(goldenDir, 'quality_metrics', q.name);
    const golden = readJson(path.join(dir, 'golden.json'));
    const merged = q.merged && path.join(goldenDir, q.merged);
    sameInputs(q.name, golden.inputs, { ...ksHashes(ks[q.folder]), ...(merged ? { 'waveform_metrics.csv': sha256File(merged) } : {}) });
    assert.equal(golden.params, q.params);
    const out = path.join(ks[q.folder] + '-metrics', 'metrics.csv');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await qualityMetrics.run(qualityInput(ks[q.folder], out, q.params, merged), quietContext);
    const ours = csvValues(fs.readFileSync(out, 'utf8'));
    const oneCore: Values = csvValues(fs.readFileSync(path.join(dir, 'metrics_one_core.csv'), 'utf8'));
    const { reports, layout } = compareWithModule(ours, golden.runs, golden.columns, oneCore);
    assert.equal(layout, []);
    const failures = reports.flatMap((r) => r.failures.map((f) => `${r.column}: ${f}`));
    assert.equal(failures, [], 'cells that differ from the module');
  }, 180_000));
}

test('quality_metrics: with fewer spikes than n_silhouette the module fails; the built-in uses every spike', () => {
  const golden = readJson(path.join(goldenDir, 'quality_metrics', 'ksShort', 'golden.json'));
  assert.ok(golden.default_run.exit_code !== 0 && !golden.default_run.wrote_output, 'the module wrote no metrics');
  assert.match(golden.default_run.error, /IndexError/);
});

test('the shipped pipelines run quality metrics built in, so a short recording does not meet the module\'s IndexError', () => {
  const files = ['pipeline.yaml', ...fs.readdirSync(path.join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => `examples/${f}`)];
  for (const file of files) {
    const stages = YAML.parse(fs.readFileSync(path.join(repoRoot, file), 'utf8')).stages ?? {};
    for (const [name, st] of Object.entries<any>(stages)) {
      if ((st.module ?? name) === 'quality_metrics') assert.is(st.run, 'builtin', `${file}: stage ${name}`);
    }
  }
});

test('the comparison rule: deterministic cells exact, unseeded ones within the runs, singular ones only of the same kind', () => {
  const columns = ['cluster_id', 'isolation_distance'];
  const failures = (mine: number, runs: number[]) => compareWithModule(
    { columns, rows: [[1, mine]] }, runs.map((v) => [[1, v]]), columns, undefined,
  ).reports.find((r) => r.column === 'isolation_distance')!.failures.length;
  assert.is(failures(30, [30, 30]), 0);
  assert.is(failures(30.001, [30, 30]), 1);
  assert.is(failures(31, [30, 32]), 0);
  assert.is(failures(33, [30, 32]), 1);
  // Fewer spikes than PC features: the module gives 1e15 one run and NaN the next.
  assert.is(failures(9e14, [1.5e15, NaN, 2.7e15]), 0);
  assert.is(failures(NaN, [1.5e15, NaN, 2.7e15]), 0);
  assert.is(failures(40, [1.5e15, NaN, 2.7e15]), 1, 'an ordinary value where the module has only noise');
  assert.is(failures(9e14, [1.5e15, 2.7e15]), 1, 'without a NaN run the range holds');
});

test.run();
