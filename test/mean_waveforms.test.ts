import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, testUnless, timed } from './rig.js';
import { readNpy, writeNpy } from '../lib/formats/npy.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { stage, runMeanWaveforms, readSettings, type MeanWaveformSettings } from '../stages/mean_waveforms/index.js';
import {
  waveformDuration, waveformHalfwidth, waveformPtRatio, repolarizationSlope, recoverySlope,
  features2d, isNotOutlier, snrFromSums, linspace, waveformMetrics,
} from '../stages/mean_waveforms/metrics.js';
import { chooseSpikes, groupSpikesByUnit } from '../stages/mean_waveforms/select.js';
import { planReads } from '../stages/mean_waveforms/gather.js';
import { metricsCsvText } from '../stages/mean_waveforms/metricsCsv.js';
import { resampleFft } from '../lib/numeric/resample.js';
import { linregress } from '../lib/numeric/linregress.js';
import { synthesize } from '../lib/synth/generate.js';

const python = '/usr/bin/python3';
const hasScipy = fs.existsSync(python) && spawnSync(python, ['-c', 'import numpy, scipy'], { stdio: 'ignore' }).status === 0;
// The built-in against the real Allen module: test/fidelity.test.ts. Here, scipy's own functions.
const scipyTest = testUnless(hasScipy ? undefined : '/usr/bin/python3 lacks numpy or scipy (apt-get install python3-numpy python3-scipy)');

function quietContext(progress: Array<[number, number, string | undefined]> = []): BuiltinContext {
  return { progress: (d, t, u) => { progress.push([d, t, u]); }, log: () => {}, signal: new AbortController().signal };
}

function close(actual: number, expected: number, rel = 1e-9, what = ''): void {
  const ok = Math.abs(actual - expected) <= rel * Math.max(Math.abs(expected), 1e-300);
  assert.ok(ok, `${what} ${actual} != ${expected}`);
}

// ---------------------------------------------------------------- 1-D metrics, known answers

/** Upsampled-domain test waveform: trough -100 at 50, peak +40 at 90, linear pieces between. */
function troughFirst(): Float64Array {
  const w = new Float64Array(200);
  for (let i = 0; i < 200; i++) {
    if (i >= 40 && i <= 50) w[i] = -10 * (i - 40);
    else if (i > 50 && i <= 70) w[i] = -100 + 5 * (i - 50);
    else if (i > 70 && i <= 90) w[i] = 2 * (i - 70);
    else if (i > 90 && i <= 110) w[i] = 40 - 2 * (i - 90);
  }
  return w;
}

const ts = linspace(0, 82 / 30000, 200);
const dt = ts[1];

test('duration, halfwidth, PT ratio and slopes of a hand-made waveform', () => {
  const w = troughFirst();
  close(waveformDuration(w, ts), (ts[90] - ts[50]) * 1e3, 1e-12, 'duration');
  // Half of -100 is -50: first sample below it is 46 (-60), first after the trough above it 61 (-45).
  close(waveformHalfwidth(w, ts), (ts[61] - ts[46]) * 1e3, 1e-12, 'halfwidth');
  close(waveformPtRatio(w), 0.4, 1e-15, 'PT ratio');
  // Samples 50..69 rise by 5 per sample; 90..109 fall by 2 per sample (µV/s * 1e-6 = V/s).
  close(repolarizationSlope(w, ts), (5 / dt) * 1e-6, 1e-9, 'repolarization');
  close(recoverySlope(w, ts), (-2 / dt) * 1e-6, 1e-9, 'recovery');
});

test('a peak-dominated waveform is measured from its peak and flipped for the slopes', () => {
  const w = troughFirst().map((v) => -v);
  close(waveformDuration(w, ts), (ts[90] - ts[50]) * 1e3, 1e-12, 'duration');
  close(waveformHalfwidth(w, ts), (ts[61] - ts[46]) * 1e3, 1e-12, 'halfwidth');
  close(waveformPtRatio(w), 2.5, 1e-15, 'PT ratio');
  close(repolarizationSlope(w, ts), (5 / dt) * 1e-6, 1e-9, 'repolarization');
  close(recoverySlope(w, ts), (-2 / dt) * 1e-6, 1e-9, 'recovery');
});

test('NaN rules: no crossing before the extremum, all-NaN means, too few points', () => {
  const w = new Float64Array(200);
  w[0] = -100;
  for (let i = 1; i < 10; i++) w[i] = -100 + 10 * i;
  assert.ok(Number.isNaN(waveformHalfwidth(w, ts)), 'extremum at sample 0 has no crossing before it');
  const nan = new Float64Array(82).fill(NaN);
  const m = waveformMetrics({ mean2d: new Float64Array(5 * 82).fill(NaN), rows: 5, samples: 82, localPeak: 2, snr: NaN,
    sampleRateHz: 30000, upsamplingFactor: 200 / 82, spreadThreshold: 0.12, siteRange: 16, siteSpacingM: 20e-6 });
  for (const [k, v] of Object.entries(m)) {
    if (k === 'spread') assert.is(v, 0, 'no site passes a NaN amplitude');
    else assert.ok(Number.isNaN(v), `${k} is NaN for an all-NaN mean`);
  }
  assert.ok(Number.isNaN(waveformDuration(nan, ts)));
  assert.ok(Number.isNaN(snrFromSums([1, 2], [1, 4], 0, 0.195)), 'no whole snippet: NaN SNR');
  // The last sample as the largest deflection leaves one point to regress: NaN, as scipy gives.
  const tail = new Float64Array(200);
  tail[199] = -50;
  assert.ok(Number.isNaN(repolarizationSlope(tail, ts)));
});

test('resampling is scipy.signal.resample: a band-limited periodic signal is reproduced', () => {
  const x = Array.from({ length: 82 }, (_, n) => Math.cos((2 * Math.PI * 3 * n) / 82) + 0.5 * Math.sin((2 * Math.PI * 7 * n) / 82));
  const y = resampleFft(x, 200);
  for (let m = 0; m < 200; m++) {
    close(y[m], Math.cos((2 * Math.PI * 3 * m) / 200) + 0.5 * Math.sin((2 * Math.PI * 7 * m) / 200), 1e-12, `sample ${m}`);
  }
});

scipyTest('resample and linregress match scipy on arbitrary input', timed(() => {
  const xs = [82, 81, 61].map((n) => Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 50 + ((i * 7919) % 13) - 6));
  const targets = [200, 199, 41];
  const script = [
    'import json, sys, numpy as np',
    'from scipy.signal import resample',
    'from scipy.stats import linregress',
    'd = json.load(sys.stdin)',
    'r = [resample(np.array(x), n).tolist() for x in d["xs"] for n in d["targets"]]',
    'l = linregress(np.arange(20) * 0.001, np.array(d["xs"][0][:20]))[0]',
    'json.dump({"r": r, "l": l}, sys.stdout)',
  ].join('\n');
  const py = spawnSync(python, ['-c', script], { input: JSON.stringify({ xs, targets }), encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  const ref = JSON.parse(py.stdout);
  let k = 0;
  for (const x of xs) {
    for (const n of targets) {
      const y = resampleFft(x, n);
      y.forEach((v, i) => assert.ok(Math.abs(v - ref.r[k][i]) < 1e-11, `resample ${x.length} -> ${n} at ${i}: ${v} vs ${ref.r[k][i]}`));
      k++;
    }
  }
  const xsReg = Array.from({ length: 20 }, (_, i) => i * 0.001);
  close(linregress(xsReg, xs[0].slice(0, 20)).slope, ref.l, 1e-12, 'slope');
}));

// ---------------------------------------------------------------- SNR, 2-D features

test('SNR of a known noise level: amplitude over twice the noise SD', () => {
  // 4 snippets of a template t[j] with noise +-3 counts (sign alternating by snippet): e = +-3.
  const template = [0, -40, -100, -20, 30, 10, 0];
  const sum = template.map((v) => 4 * v);
  const sumSq = template.map((v) => 2 * (v + 3) ** 2 + 2 * (v - 3) ** 2);
  close(snrFromSums(sum, sumSq, 4, 0.195), 130 / (2 * 3), 1e-12, 'snr');
});

test('spread, amplitude and velocities of a known 2-D mean', () => {
  const rows = 40, S = 82, peak = 20;
  const m = new Float64Array(rows * S);
  for (let r = 0; r < rows; r++) {
    const d = r - peak;
    // Amplitude falls off by exp(-|d|/4); the trough moves one sample later per channel above.
    const trough = 30 + Math.max(0, d);
    m[r * S + trough] = -100 * Math.exp(-Math.abs(d) / 4);
  }
  const f = features2d(m, rows, S, ts, peak, 0.12, 16, 20e-6);
  assert.is(f.amplitude, 100);
  // Sites d = -8..8 (every other channel) exceed 12% of 100; none is an outlier.
  close(f.spread, 9 * 20e-6 * 1e6, 1e-12, 'spread');
  // Trough times are read from the 200-point time base with 82-sample indices (the module's
  // quirk), so one sample per channel above gives dt200 per channel, not 1/fs.
  close(f.velocity_above, dt / 20e-6, 1e-9, 'velocity above');
  assert.is(f.velocity_below, 0);
});

test('site 0 never counts (the module keeps sites > 0) and outliers are dropped', () => {
  const rows = 20, S = 82;
  const m = new Float64Array(rows * S);
  m[0 * S + 30] = -1000; // row 0: would dominate if it were sampled
  m[2 * S + 30] = -100;
  m[4 * S + 31] = -60;
  const f = features2d(m, rows, S, ts, 2, 0.12, 16, 20e-6);
  assert.is(f.amplitude, 100);
  close(f.spread, 2 * 20, 1e-12, 'spread of two sites');
  assert.equal(isNotOutlier([0, 1, 2, 3, 10]), [true, true, true, true, false]);
  assert.equal(isNotOutlier([4, 5]), [true, true]);
});

// ---------------------------------------------------------------- selection and reads

test('spike choice is seeded: reproducible, without repeats, all spikes when few', () => {
  const n = 5000;
  const times = Float64Array.from({ length: n }, (_, i) => i + 1);
  const clusters = Uint32Array.from({ length: n }, (_, i) => i % 3);
  times[0] = 0; // sample 0 is outside the epoch (0 < t)
  const g = groupSpikesByUnit(times, clusters, 3);
  assert.is(g.offsets[1] - g.offsets[0], 1666);
  const a = chooseSpikes(g, 1, 100), b = chooseSpikes(g, 1, 100);
  assert.equal(Array.from(a), Array.from(b));
  assert.is(new Set(a).size, 100);
  assert.ok(Array.from(a).every((i) => clusters[i] === 1));
  assert.not.equal(Array.from(a), Array.from(g.spikes.subarray(g.offsets[1], g.offsets[1] + 100)), 'not simply the first');
  assert.not.equal(Array.from(chooseSpikes(g, 2, 100)).map((i) => i - 1), Array.from(a), 'each unit draws its own');
  assert.is(chooseSpikes(g, 0, 10000).length, 1666);
});

test('reads merge close snippets up to 16 MiB and skip long gaps', () => {
  const rowBytes = 768;
  const starts = Float64Array.from([0, 100, 200, 1e6, 1e6 + 50, 5e6]);
  const ranges = planReads(starts, 82, rowBytes);
  assert.equal(ranges.map((r) => [r.start, r.rows, r.first, r.end]), [[0, 282, 0, 3], [1e6, 132, 3, 5], [5e6, 82, 5, 6]]);
  const dense = Float64Array.from({ length: 100000 }, (_, i) => i * 10);
  const big = planReads(dense, 82, rowBytes);
  assert.ok(big.every((r) => r.rows * rowBytes <= 16 << 20));
  assert.is(big.reduce((a, r) => a + r.end - r.first, 0), 100000);
  assert.ok(big.length < 50, `${big.length} reads`);
});

// ---------------------------------------------------------------- the stage on a hand-made folder

interface Folder { dir: string; settings: MeanWaveformSettings; input: Record<string, any> }

/**
 * C channels (default 32), 4000 samples. Unit 0: 6 spikes of a known waveform on channels 10-12 with +-3
 * counts of noise alternating between spikes. Unit 1: spikes only at sample 0 (outside the
 * epoch), 5 and 3990 (snippets cut off). Unit 2: no spikes. Unit 3: 2 spikes, 50 counts on
 * channel 20. Template peaks: unit 0 at column 11, unit 1 at 5, unit 3 at 20.
 */
function handMade(C = 32): Folder {
  const dir = tempDir();
  const N = 4000, S = 82, pre = 20;
  const shape = [0, -10, -60, -120, -60, -10, 20, 40, 30, 10];
  const ap = new Int16Array(N * C);
  const put = (t: number, ch: number, v: number[], scale = 1) => v.forEach((x, k) => { ap[(t - pre + 30 + k) * C + ch] += Math.round(x * scale); });
  const unit0 = [300, 700, 1100, 1500, 1900, 2300];
  unit0.forEach((t, i) => {
    put(t, 11, shape); put(t, 10, shape, 0.5); put(t, 12, shape, 0.5);
    for (let s = 0; s < S; s++) ap[(t - pre + s) * C + 11] += i % 2 ? -3 : 3;
  });
  const unit3 = [2800, 3300];
  for (const t of unit3) for (let s = 0; s < S; s++) ap[(t - pre + s) * C + 20] += 50;
  const times = [0, 5, ...unit0, 2800, 3300, 3990].sort((a, b) => a - b);
  const clusterOf = new Map<number, number>([[0, 1], [5, 1], [3990, 1], ...unit0.map((t) => [t, 0] as [number, number]), [2800, 3], [3300, 3]]);
  const apFile = path.join(dir, 'continuous.dat');
  fs.writeFileSync(apFile, new Uint8Array(ap.buffer));
  const ks = path.join(dir, 'kilosort');
  fs.mkdirSync(ks);
  const n = times.length;
  writeNpy(path.join(ks, 'spike_times.npy'), { dtype: 'uint64', shape: [n, 1], data: BigUint64Array.from(times, (t) => BigInt(t)) });
  const clusters = Uint32Array.from(times, (t) => clusterOf.get(t)!);
  writeNpy(path.join(ks, 'spike_clusters.npy'), { dtype: 'uint32', shape: [n, 1], data: clusters });
  writeNpy(path.join(ks, 'spike_templates.npy'), { dtype: 'uint32', shape: [n, 1], data: clusters });
  writeNpy(path.join(ks, 'amplitudes.npy'), { dtype: 'float64', shape: [n, 1], data: new Float64Array(n).fill(1) });
  const T = 4;
  const tpl = new Float32Array(T * 82 * C);
  const peakColumn = [11, 5, 0, 20];
  if (C <= 20) throw new Error('handMade needs more than 20 channels');
  for (let t = 0; t < T; t++) if (t !== 2) tpl[(t * 82 + 40) * C + peakColumn[t]] = -1;
  writeNpy(path.join(ks, 'templates.npy'), { dtype: 'float32', shape: [T, 82, C], data: tpl });
  const eye = new Float32Array(C * C);
  for (let i = 0; i < C; i++) eye[i * C + i] = 1;
  writeNpy(path.join(ks, 'whitening_mat_inv.npy'), { dtype: 'float32', shape: [C, C], data: eye });
  writeNpy(path.join(ks, 'channel_map.npy'), { dtype: 'int32', shape: [C, 1], data: Int32Array.from({ length: C }, (_, i) => i) });
  const input = {
    ephys_params: { ap_band_file: apFile, num_channels: C, bit_volts: 0.195, sample_rate: 30000, vertical_site_spacing: 20e-6 },
    directories: { kilosort_output_directory: ks },
    waveform_metrics: { waveform_metrics_file: path.join(ks, 'waveform_metrics.csv') },
    mean_waveform_params: {
      samples_per_spike: S, pre_samples: pre, num_epochs: 1, spikes_per_epoch: 100, upsampling_factor: 200 / 82,
      spread_threshold: 0.12, site_range: 16, mean_waveforms_file: path.join(ks, 'mean_waveforms.npy'),
    },
  };
  return { dir, settings: readSettings(input), input };
}

test('means, NaN rules and the CSV on a hand-made recording', timed(async () => {
  const f = handMade();
  const progress: Array<[number, number, string | undefined]> = [];
  const out = await stage.run(f.input, quietContext(progress));
  assert.equal(out, {});
  const npy = readNpy(f.settings.meanWaveformsFile);
  assert.is(npy.dtype, 'float64');
  assert.equal(npy.shape, [4, 32, 82]);
  const m = npy.data as Float64Array;
  const at = (u: number, c: number, s: number) => m[(u * 32 + c) * 82 + s];
  // Unit 0: the +-3 noise cancels over its 6 spikes; the shape starts at sample 30.
  const shape = [0, -10, -60, -120, -60, -10, 20, 40, 30, 10];
  for (let s = 0; s < 82; s++) {
    const expected = s >= 30 && s < 40 ? shape[s - 30] * 0.195 : 0;
    close(at(0, 11, s), expected, 1e-12, `unit 0 sample ${s}`);
  }
  close(at(0, 10, 33), Math.round(-120 * 0.5) * 0.195, 1e-12, 'neighbour channel');
  // Unit 1: every snippet cut off by the file's ends (sample 0 is not in the epoch at all).
  assert.ok(Number.isNaN(at(1, 0, 0)) && Number.isNaN(at(1, 31, 81)));
  // Unit 2: no spikes, all zeros.
  assert.ok(Array.from(m.subarray(2 * 32 * 82, 3 * 32 * 82)).every((v) => v === 0));
  // Unit 3: a flat 50-count step is removed by the baseline correction.
  assert.is(at(3, 20, 40), 0);

  const csv = fs.readFileSync(f.settings.metricsFile, 'utf8').split('\n');
  assert.is(csv[0], ',cluster_id,epoch_name,peak_channel,snr,duration,halfwidth,PT_ratio,repolarization_slope,recovery_slope,amplitude,spread,velocity_above,velocity_below');
  assert.is(csv.length, 5, 'three rows and a final newline');
  assert.ok(csv[1].startsWith('0,0,complete_session,11,'));
  assert.is(csv[2], '0,1,complete_session,5,,,,,,,,0.0,,');
  assert.ok(csv[3].startsWith('0,3,complete_session,20,'));
  const row0 = csv[1].split(',');
  // SNR: (max - min of the mean) / (2 * SD of the +-3 noise) = (40 + 120) / 6.
  close(Number(row0[4]), 160 / 6, 1e-12, 'snr');
  close(Number(row0[10]), 120 * 0.195 + 40 * 0.195, 1e-12, "amplitude (µV, peak - trough)");
  close(Number(row0[11]), 20, 1e-12, "spread: one site (its neighbours are not sampled)");
  const last = progress[progress.length - 1];
  assert.is(last[0], last[1]);
  assert.is(last[2], 'bytes');
}));

test('through the built-in host: the output JSON holds only execution_time, as the module\'s', timed(async () => {
  const f = handMade();
  const inputPath = path.join(f.dir, 'input.json');
  const outputPath = path.join(f.dir, 'output.json');
  fs.writeFileSync(inputPath, JSON.stringify(f.input));
  const host = path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js');
  const run = spawnSync(process.execPath, [host, 'mean_waveforms', '--input_json', inputPath, '--output_json', outputPath], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  const out = JSON.parse(fs.readFileSync(outputPath, 'utf8'));
  assert.equal(Object.keys(out), ['execution_time', 'input_parameters']);
  assert.ok(fs.existsSync(f.settings.meanWaveformsFile) && fs.existsSync(f.settings.metricsFile));
  assert.equal(fs.readdirSync(path.dirname(f.settings.metricsFile)).filter((n) => n.includes('.partial')), [], 'no partial files left');
}));

test('worker threads and this thread give identical files', timed(async () => {
  const f = handMade();
  await runMeanWaveforms({ ...f.settings, workers: 0 }, quietContext());
  const a = fs.readFileSync(f.settings.meanWaveformsFile);
  const ac = fs.readFileSync(f.settings.metricsFile, 'utf8');
  await runMeanWaveforms({ ...f.settings, workers: 2 }, quietContext());
  assert.ok(a.equals(fs.readFileSync(f.settings.meanWaveformsFile)));
  assert.is(fs.readFileSync(f.settings.metricsFile, 'utf8'), ac);
}));

test('odd channel counts (SpikeGLX 385) and float64 sums give the same means', timed(async () => {
  const even = handMade();
  await runMeanWaveforms(even.settings, quietContext());
  const ref = readNpy(even.settings.meanWaveformsFile).data as Float64Array;
  // 33 channels: 82 x 33 values per snippet is not a multiple of the kernel's 8-value groups.
  const odd = handMade(33);
  await runMeanWaveforms({ ...odd.settings, workers: 2 }, quietContext());
  const m = readNpy(odd.settings.meanWaveformsFile).data as Float64Array;
  for (const [u, c] of [[0, 11], [0, 10], [3, 20]]) {
    for (let s = 0; s < 82; s++) assert.is(m[(u * 33 + c) * 82 + s], ref[(u * 32 + c) * 82 + s], `unit ${u} channel ${c} sample ${s}`);
  }
  // More than 65,535 spikes per unit could overflow int32 sums: plain float64 arrays take over.
  await runMeanWaveforms({ ...even.settings, spikesPerEpoch: 70000, workers: 0 }, quietContext());
  assert.ok(Buffer.from((readNpy(even.settings.meanWaveformsFile).data as Float64Array).buffer).equals(Buffer.from(ref.buffer)));
}));

test('inputs the module would crash on are errors that say why', timed(async () => {
  const f = handMade();
  const ks = f.settings.kilosortDir;
  const fail = async (settings: MeanWaveformSettings, re: RegExp) => {
    try {
      await runMeanWaveforms(settings, quietContext());
      assert.unreachable(`should fail: ${re}`);
    } catch (err) {
      assert.instance(err, StageError);
      assert.match((err as Error).message, re);
    }
  };
  await fail({ ...f.settings, numChannels: 30 }, /whole number of samples|outside the AP file's 30 channels/);
  await fail({ ...f.settings, numChannels: 31 }, /channel 31 at index 31 is outside the AP file's 31 channels/);
  const clusters = readNpy(path.join(ks, 'spike_clusters.npy'));
  (clusters.data as Uint32Array)[3] = 7;
  writeNpy(path.join(ks, 'spike_clusters.npy'), clusters);
  await fail(f.settings, /cluster 7 has spikes but templates.npy has only 4 templates/);
  assert.throws(() => readSettings({ ...f.input, mean_waveform_params: { ...f.input.mean_waveform_params, site_range: 15 } }), /site_range must be even/);
  assert.throws(() => readSettings({ ...f.input, waveform_metrics: {} }), /waveform_metrics_file must be a path \(missing\)/);
}));

test('the CSV writes floats as pandas does', () => {
  const text = metricsCsvText([{ cluster_id: 4, epoch_name: 'complete_session', peak_channel: 12, snr: 3, duration: 0.1, halfwidth: NaN,
    PT_ratio: 1e-5, repolarization_slope: -2.5e-7, recovery_slope: 1e16, amplitude: 123.456, spread: 40, velocity_above: Infinity, velocity_below: -0 }]);
  assert.is(text.split('\n')[1], '0,4,complete_session,12,3.0,0.1,,1e-05,-2.5e-07,1e+16,123.456,40.0,inf,-0.0');
});

// ---------------------------------------------------------------- synthetic recordings

interface SynthFolder {
  settings: MeanWaveformSettings; input: Record<string, any>; gtTemplates: Float32Array;
  units: number; peaks: number[]; spikeCounts: number[]; noiseUv: number[];
}

/** A synthetic recording and a Kilosort folder made from its ground truth (identity whitening). */
async function synthetic(spikesPerEpoch: number): Promise<SynthFolder> {
  const out = tempDir();
  const summary = await synthesize({ outDir: out, recordings: 1, seconds: 12, channels: 384, units: 16, layout: 'openephys', lfp: false, workers: 0, seed: 11 });
  const rec = summary.recordings[0];
  const gt = rec.groundTruthDir;
  const ks = path.join(out, 'kilosort');
  fs.mkdirSync(ks);
  const times = readNpy(path.join(gt, 'spike_times.npy'));
  const clusters = readNpy(path.join(gt, 'spike_clusters.npy'));
  const tpl = readNpy(path.join(gt, 'templates.npy'));
  const [U, T, C] = tpl.shape;
  writeNpy(path.join(ks, 'spike_times.npy'), times);
  writeNpy(path.join(ks, 'spike_clusters.npy'), clusters);
  writeNpy(path.join(ks, 'spike_templates.npy'), clusters);
  writeNpy(path.join(ks, 'amplitudes.npy'), { dtype: 'float64', shape: [times.shape[0]], data: new Float64Array(times.shape[0]).fill(1) });
  const padded = new Float32Array(U * (T + 21) * C);
  for (let u = 0; u < U; u++) padded.set(tpl.data.subarray(u * T * C, (u + 1) * T * C) as Float32Array, (u * (T + 21) + 21) * C);
  writeNpy(path.join(ks, 'templates.npy'), { dtype: 'float32', shape: [U, T + 21, C], data: padded });
  const eye = new Float32Array(C * C);
  for (let i = 0; i < C; i++) eye[i * C + i] = 1;
  writeNpy(path.join(ks, 'whitening_mat_inv.npy'), { dtype: 'float32', shape: [C, C], data: eye });
  writeNpy(path.join(ks, 'channel_map.npy'), { dtype: 'int32', shape: [C], data: Int32Array.from({ length: C }, (_, i) => i) });
  const info = JSON.parse(fs.readFileSync(path.join(gt, 'info.json'), 'utf8'));
  const input = {
    ephys_params: { ap_band_file: rec.apFile, num_channels: rec.savedChannels, bit_volts: rec.bitVolts, sample_rate: rec.sampleRateHz, vertical_site_spacing: 10e-6 },
    directories: { kilosort_output_directory: ks },
    waveform_metrics: { waveform_metrics_file: path.join(ks, 'waveform_metrics.csv') },
    mean_waveform_params: {
      samples_per_spike: 82, pre_samples: 20, num_epochs: 1, spikes_per_epoch: spikesPerEpoch, upsampling_factor: 200 / 82,
      spread_threshold: 0.12, site_range: 16, mean_waveforms_file: path.join(ks, 'mean_waveforms.npy'),
    },
  };
  return {
    settings: readSettings(input), input, gtTemplates: tpl.data as Float32Array, units: U,
    peaks: info.peak_channels, spikeCounts: info.spike_counts, noiseUv: info.noise_rms_uv,
  };
}

test('synthetic recording: each mean waveform is its ground-truth template', timed(async () => {
  const s = await synthetic(1000);
  await stage.run(s.input, quietContext());
  const m = readNpy(s.settings.meanWaveformsFile).data as Float64Array;
  const C = s.settings.numChannels;
  for (let u = 0; u < s.units; u++) {
    const pc = s.peaks[u];
    // Ground truth: 61 samples, trough at 20 (= the spike time, as pre_samples puts it), both
    // baseline-corrected by their first sample.
    const truth = Array.from({ length: 61 }, (_, k) => s.gtTemplates[(u * 61 + k) * C + pc] - s.gtTemplates[u * 61 * C + pc]);
    const mean = Array.from({ length: 61 }, (_, k) => m[(u * C + pc) * 82 + k]);
    // What is left of the noise after averaging n spikes: the channel's own noise plus the
    // common noise (25 µV broadband, 8 µV hum) over sqrt(n), once more for the baseline sample.
    const n = Math.min(s.spikeCounts[u], 1000);
    const noise = Math.sqrt(s.noiseUv[pc] ** 2 + 25 ** 2 + 8 ** 2 / 2);
    const expected = (noise / Math.sqrt(n)) * Math.SQRT2;
    const rms = Math.sqrt(mean.reduce((a, v, k) => a + (v - truth[k]) ** 2, 0) / 61);
    const trough = Math.min(...truth);
    assert.ok(rms < 4 * expected, `unit ${u}: mean differs from the template by ${rms.toFixed(2)} µV rms, noise after averaging ${n} spikes ${expected.toFixed(2)} µV`);
    assert.ok(Math.abs(mean[20] - trough) < 5 * expected, `unit ${u}: trough ${mean[20]} vs ${trough}`);
  }
  const rows = fs.readFileSync(s.settings.metricsFile, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.is(rows.length, s.units);
  assert.equal(rows.map((r) => Number(r[3])), s.peaks, 'peak channels from the templates');
}, 180_000));

test.run();
