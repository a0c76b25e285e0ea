/**
 * The post-sorting built-ins on a folder that holds only a Kilosort/phy output, run by the engine
 * from the input JSON it writes (examples/sorted-folder.pipeline.yaml).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, runCli, tempDir, timed, writeFile } from './rig.js';
import { synthesize } from '../lib/synth/generate.js';
import { loadBuiltin } from '../lib/builtin/host.js';

test('quality_metrics --dir on a Kilosort folder: mean waveforms first, then metrics merged with them', timed(async () => {
  const dir = tempDir();
  const s = await synthesize({ outDir: dir, recordings: 1, seconds: 8, channels: 64, seed: 3, lfp: false });
  const rec = s.recordings[0];
  const ks = path.join(dir, 'sorted', 'session1');
  const input = writeFile(dir, 'sort.json', JSON.stringify({
    ephys_params: { ap_band_file: rec.apFile, num_channels: rec.savedChannels, sample_rate: rec.sampleRateHz, bit_volts: rec.bitVolts },
    directories: { kilosort_output_directory: ks },
  }));
  const sorted = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js'), 'builtin_sorter', '--input_json', input, '--output_json', path.join(dir, 'sort.out.json')], { encoding: 'utf8' });
  assert.is(sorted.status, 0, sorted.stderr);
  writeFile(ks, 'ephys-make.yaml', `params:\n  ephys_params: { ap_band_file: ${JSON.stringify(rec.apFile)}, num_channels: ${rec.savedChannels}, bit_volts: ${rec.bitVolts} }\n`);
  const pipeline = path.join(repoRoot, 'examples', 'sorted-folder.pipeline.yaml');
  const r = await runCli(['quality_metrics', '-f', pipeline, '--dir', ks], { cwd: dir });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^done   session1 mean_waveforms /m);
  assert.match(r.stdout, /^done   session1 quality_metrics /m);
  const csv = fs.readFileSync(path.join(ks, 'metrics.csv'), 'utf8').split('\n');
  const header = csv[0].split(',');
  assert.equal(header.slice(0, 7), ['', 'cluster_id', 'firing_rate', 'presence_ratio', 'isi_viol', 'isi_viol_corrected', 'amplitude_cutoff']);
  assert.ok(header.includes('epoch_name_quality_metrics') && header.includes('epoch_name_waveform_metrics') && header.includes('snr'), header.join(','));
  const clusters = JSON.parse(fs.readFileSync(path.join(dir, 'sort.out.json'), 'utf8')).clusters;
  assert.ok(clusters > 0);
  assert.is(csv.filter(Boolean).length - 1, clusters, 'a row per unit');
  // Provenance: the record and runs.jsonl name the version each built-in declares.
  const state = JSON.parse(fs.readFileSync(path.join(ks, '.ephys-make', 'state.json'), 'utf8'));
  const runs = fs.readFileSync(path.join(ks, '.ephys-make', 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (const name of ['mean_waveforms', 'quality_metrics']) {
    const declared = (await loadBuiltin(name))!.version;
    assert.is(state.jobs[name].definition.version, declared, name);
    assert.is(runs.find((r) => r.stage === name).versions[name], declared, name);
  }
  const again = await runCli(['quality_metrics', '-f', pipeline, '--dir', ks], { cwd: dir });
  assert.match(again.stdout, /^nothing to do: 2 jobs up to date$/m);
}, 120_000));

test.run();
