/**
 * The built-in post-sorting stages on a Kilosort-4-shaped folder (written by the stand-in package
 * of test/fixtures/kilosort through the kilosort4 driver): the template layout is recognised from
 * the files, so units that match the ground truth are not labelled noise; layouts the rules cannot
 * read are refused with a message.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixturesDir, repoRoot, tempDir, timed } from './rig.js';
import { synthesize, type SynthRecording } from '../lib/synth/generate.js';
import { readSpikeGlxMeta } from '../lib/formats/spikeglx.js';
import { geometryFromSites } from '../lib/formats/probeGeometry.js';
import { loadKilosortFolder } from '../lib/formats/kilosort.js';
import { readNpy, writeNpy } from '../lib/formats/npy.js';
import { readClusterGroupTsv } from '../lib/formats/clusterGroup.js';
import { compareToGroundTruth } from '../lib/synth/groundTruthMatch.js';

const host = path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js');

function runJson(argv: string[], input: object, dir: string, name: string, env: NodeJS.ProcessEnv = process.env) {
  const inFile = path.join(dir, `${name}.input.json`);
  fs.writeFileSync(inFile, JSON.stringify(input));
  const r = spawnSync(argv[0], [...argv.slice(1), '--input_json', inFile, '--output_json', path.join(dir, `${name}.output.json`)], { encoding: 'utf8', env });
  return r;
}

let made: { dir: string; rec: SynthRecording; ks: string } | undefined;
async function kilosort4Folder() {
  if (made) return made;
  const dir = tempDir();
  const s = await synthesize({ outDir: dir, recordings: 1, seconds: 12, channels: 48, seed: 7, lfp: false });
  const rec = s.recordings[0];
  const meta = readSpikeGlxMeta(rec.metaFiles[0]);
  if (!meta.ok) throw new Error('meta');
  const ks = path.join(dir, 'kilosort4');
  const r = runJson(['/usr/bin/python3', path.join(repoRoot, 'stages', 'kilosort4', 'driver.py')], {
    ephys_params: { ap_band_file: rec.apFile, num_channels: rec.savedChannels, sample_rate: rec.sampleRateHz },
    directories: { kilosort_output_directory: ks },
    probe_geometry: geometryFromSites(meta.value.sites, 'test'),
    kilosort4_params: { device: 'cpu', settings: {} },
  }, dir, 'ks4', { ...process.env, PYTHONPATH: path.join(fixturesDir, 'kilosort') });
  assert.is(r.status, 0, r.stdout + r.stderr);
  made = { dir, rec, ks };
  return made;
}

test('the template layout is read from the files: Kilosort 4 (61 samples, no padding) is not cut', timed(async () => {
  const { ks } = await kilosort4Folder();
  const f = loadKilosortFolder(ks, { sampleRateHz: 30000 });
  assert.equal(f.templateLayout, { sorter: 'kilosort4', paddingSamples: 0 });
  assert.is(f.templateSamples, 61);
}));

test('noise_templates on Kilosort 4 output labels as the same templates in Kilosort 2\'s layout do; units that match the ground truth are good', timed(async () => {
  const { dir, rec, ks } = await kilosort4Folder();
  // The same templates as Kilosort 2 lays them out: 21 zero samples first, which the Allen code cuts.
  const ks2 = path.join(dir, 'as-kilosort2');
  fs.cpSync(ks, ks2, { recursive: true });
  const t = readNpy(path.join(ks, 'templates.npy'));
  const [k, , c] = t.shape;
  const padded = new Float32Array(k * 82 * c);
  for (let i = 0; i < k; i++) padded.set((t.data as Float32Array).subarray(i * 61 * c, (i + 1) * 61 * c), (i * 82 + 21) * c);
  writeNpy(path.join(ks2, 'templates.npy'), { dtype: 'float32', shape: [k, 82, c], data: padded });
  const labelsOf = (folder: string, name: string) => {
    const r = runJson([process.execPath, host, 'noise_templates'], {
      ephys_params: { sample_rate: rec.sampleRateHz, cluster_group_file_name: 'cluster_group.tsv.v2' },
      directories: { kilosort_output_directory: folder },
      noise_waveform_params: { classifier_path: '/nonexistent/rf_classifier.pkl' },
    }, dir, name);
    assert.is(r.status, 0, r.stdout + r.stderr);
    return { log: r.stdout, ...readClusterGroupTsv(path.join(folder, 'cluster_group.tsv.v2')) };
  };
  const four = labelsOf(ks, 'noise4');
  const two = labelsOf(ks2, 'noise2');
  assert.match(four.log, /templates: Kilosort 4 layout \(61 samples, trough at 20, no padding\): nothing cut/);
  assert.match(two.log, /templates: Kilosort 2 layout: the first 21 samples cut, as the Allen module does/);
  assert.equal(four.labels, two.labels);
  assert.ok(four.labels.filter((l) => l === 'good').length > four.labels.length / 2, four.labels.join(' '));
  const label = new Map(four.clusterIds.map((id, i) => [id, four.labels[i]]));
  const matched = compareToGroundTruth(ks, rec.groundTruthDir).units.filter((u) => u.detectable && u.accuracy >= 0.8);
  assert.ok(matched.length >= 1);
  for (const u of matched) assert.is(label.get(u.cluster), 'good', `unit ${u.unit} (accuracy ${u.accuracy.toFixed(2)}) -> cluster ${u.cluster}`);
}));

test('templates no rule can read (Kilosort 4 with another nt) are refused with what would work', timed(async () => {
  const { dir, rec, ks } = await kilosort4Folder();
  const odd = path.join(dir, 'nt81');
  fs.cpSync(ks, odd, { recursive: true });
  const t = readNpy(path.join(ks, 'templates.npy'));
  const [k, , c] = t.shape;
  const longer = new Float32Array(k * 81 * c);
  for (let i = 0; i < k; i++) for (let s = 0; s < 81; s++) for (let ch = 0; ch < c; ch++) longer[(i * 81 + s) * c + ch] = (t.data as Float32Array)[(i * 61 + (s % 61)) * c + ch] || 1;
  writeNpy(path.join(odd, 'templates.npy'), { dtype: 'float32', shape: [k, 81, c], data: longer });
  const r = runJson([process.execPath, host, 'noise_templates'], {
    ephys_params: { sample_rate: rec.sampleRateHz }, directories: { kilosort_output_directory: odd },
    noise_waveform_params: { classifier_path: '/nonexistent/rf_classifier.pkl' },
  }, dir, 'noise81');
  assert.is(r.status, 1);
  assert.match(r.stderr, /templates\.npy: 81 samples per template, 0 leading zero samples: neither Kilosort 2's layout \(82 samples, the first 21 zero\) nor Kilosort 4's \(61 samples, no padding; Kilosort 4 run with nt 61\)\. The noise rules and waveform metrics need 61-sample templates with the trough at sample 20/);
  assert.not.ok(fs.existsSync(path.join(odd, 'cluster_group.tsv')) && readClusterGroupTsv(path.join(odd, 'cluster_group.tsv')).labels.includes('noise'), 'nothing labelled');
}));

test.run();
