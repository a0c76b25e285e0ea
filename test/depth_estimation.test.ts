import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, testUnless, timed } from './rig.js';
import { stage, readSettings } from '../stages/depth_estimation/index.js';
import { computeChannelOffsets } from '../stages/depth_estimation/offsets.js';
import { Int16File } from '../lib/formats/int16File.js';
import { lfpChannelOrder } from '../stages/depth_estimation/surface.js';
import { probeInfoText } from '../stages/depth_estimation/probeJson.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { crc32, pngSignature } from '../lib/formats/png.js';
import { welch } from '../lib/numeric/welch.js';
import { gaussianFilter1d } from '../lib/numeric/gaussianFilter1d.js';
import { findSurfaceChannel } from '../stages/depth_estimation/surface.js';
import { mulberry32 } from '../lib/numeric/mulberry32.js';

const python = '/usr/bin/python3';
const hasScipy = fs.existsSync(python) && spawnSync(python, ['-c', 'import numpy, scipy'], { stdio: 'ignore' }).status === 0;
// The built-in against the real Allen module: test/fidelity.test.ts. Here, scipy's own functions.
const scipyTest = testUnless(hasScipy ? undefined : '/usr/bin/python3 lacks numpy or scipy (apt-get install python3-numpy python3-scipy)');

function quietContext(progress: Array<[number, number]> = []): BuiltinContext {
  return { progress: (d, t) => { progress.push([d, t]); }, log: () => {}, signal: new AbortController().signal };
}

interface Synthetic {
  C?: number;
  apRate?: number;
  apSeconds?: number;
  lfpSeconds?: number;
  /** Last channel (after the LFP order is undone) with strong low-frequency power. */
  surface?: number;
  reorder?: boolean;
  /** Per-channel square-wave noise amplitude of the AP band in counts (default 50). */
  apNoise?: (ch: number) => number;
  dc?: (ch: number) => number;
  params?: Record<string, unknown>;
}

const lfpRate = 2500;

/**
 * AP band: DC + a square wave of +-a counts, so each window's median is exactly the DC and its RMS
 * exactly a * bit_volts. LFP band: a 4 Hz wave of 1000 counts (phase varying with channel) plus
 * +-3 counts of noise up to `surface`, the noise alone above it.
 */
function makeRecording(dir: string, o: Synthetic = {}): Record<string, any> {
  const C = o.C ?? 384;
  const apRate = o.apRate ?? 3000;
  const apSamples = Math.round((o.apSeconds ?? 6) * apRate);
  const ap = new Int16Array(apSamples * C);
  const dc = o.dc ?? ((ch: number) => ((ch * 37) % 200) - 100);
  const noise = o.apNoise ?? (() => 50);
  for (let ch = 0; ch < C; ch++) {
    const d = dc(ch), a = noise(ch);
    for (let s = 0; s < apSamples; s++) ap[s * C + ch] = d + (s % 2 ? -a : a);
  }
  const lfpSamples = Math.round((o.lfpSeconds ?? 5) * lfpRate);
  const lfp = new Int16Array(lfpSamples * C);
  const order = o.reorder ? lfpChannelOrder() : Array.from({ length: C }, (_, i) => i);
  const surface = o.surface ?? 250;
  const rand = mulberry32(7);
  for (let s = 0; s < lfpSamples; s++) {
    for (let ch = 0; ch < C; ch++) {
      let v = Math.round((rand() - 0.5) * 6);
      if (ch <= surface) v += Math.round(1000 * Math.sin((2 * Math.PI * 4 * s) / lfpRate + ch * 0.05));
      lfp[s * C + order[ch]] = v;
    }
  }
  const apFile = path.join(dir, 'continuous', 'ap', 'continuous.dat');
  const lfpFile = path.join(dir, 'continuous', 'lfp', 'continuous.dat');
  fs.mkdirSync(path.dirname(apFile), { recursive: true });
  fs.mkdirSync(path.dirname(lfpFile), { recursive: true });
  fs.writeFileSync(apFile, new Uint8Array(ap.buffer));
  fs.writeFileSync(lfpFile, new Uint8Array(lfp.buffer));
  return {
    ephys_params: {
      num_channels: C, sample_rate: apRate, lfp_sample_rate: lfpRate, bit_volts: 0.195,
      reference_channels: [36, 75, 112, 151, 188, 227, 264, 303, 340, 379],
      reorder_lfp_channels: o.reorder ?? false, ap_band_file: apFile, lfp_band_file: lfpFile,
    },
    common_files: { probe_json: path.join(dir, 'probe_info.json') },
    depth_estimation_params: {
      hi_noise_thresh: 50, lo_noise_thresh: 3, save_figure: true, figure_location: path.join(dir, 'probe_depth.png'),
      smoothing_amount: 5, power_thresh: 2.5, diff_thresh: -0.07, freq_range: [0, 10], max_freq: 150,
      channel_range: [370, 380], n_passes: 3, skip_s_per_pass: 2, start_time: 1, time_interval: 1, nfft: 4096, air_gap: 25,
      ...o.params,
    },
  };
}

test('offsets are the known DC; dead, noisy and reference channels are masked', timed(async () => {
  const dir = tempDir();
  const noisy = new Set([10, 200]);
  const dead = new Set([20, 300]);
  const input = makeRecording(dir, {
    apNoise: (ch) => (noisy.has(ch) ? 600 : dead.has(ch) ? 0 : ch === 30 ? 15 : ch === 31 ? 16 : 50),
  });
  const progress: Array<[number, number]> = [];
  const out = await stage.run(input, quietContext(progress));
  const probe = JSON.parse(fs.readFileSync(input.common_files.probe_json, 'utf8'));
  assert.equal(Object.keys(probe), ['channel', 'offset', 'scaling', 'mask', 'surface_channel', 'air_channel', 'vertical_pos', 'horizontal_pos']);
  assert.equal(probe.offset, Array.from({ length: 384 }, (_, ch) => ((ch * 37) % 200) - 100));
  const refs = new Set(input.ephys_params.reference_channels);
  // 15 counts * 0.195 = 2.925 µV is below lo_noise_thresh 3; 16 counts = 3.12 µV is not.
  const expectedMask = Array.from({ length: 384 }, (_, ch) => !(refs.has(ch) || noisy.has(ch) || dead.has(ch) || ch === 30));
  assert.equal(probe.mask, expectedMask);
  assert.equal(probe.scaling, new Array(384).fill(1));
  assert.equal(probe.channel.slice(0, 3), [0, 1, 2]);
  assert.equal(probe.vertical_pos.slice(0, 5), [20, 20, 40, 40, 60]);
  assert.equal(probe.horizontal_pos.slice(0, 5), [43, 11, 59, 27, 43]);
  assert.is(out.probe_json, input.common_files.probe_json);
  const last = progress[progress.length - 1];
  assert.is(last[0], last[1], 'progress ends at the total');
  assert.is(last[1], 2 * 384 * (3 * 3000 + 3 * 2500));
}));

test('two threads and one give the same offsets and mask', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir, { apNoise: (ch) => (ch % 7) * 12, dc: (ch) => ch * 3 - 500 });
  const s = readSettings(input);
  const file = new Int16File(s.apFile, 384, 'AP band file');
  try {
    const one = await computeChannelOffsets(file, s.offsets, () => {}, undefined, 0);
    let bytes = 0;
    const two = await computeChannelOffsets(file, s.offsets, (b) => { bytes += b; }, undefined, 2);
    assert.equal(Array.from(two.offsets), Array.from(one.offsets));
    assert.equal(two.mask, one.mask);
    assert.equal(Array.from(two.rmsUv), Array.from(one.rmsUv));
    assert.equal(Array.from(one.offsets.subarray(0, 3)), [-500, -497, -494]);
    assert.is(bytes, 3 * 3000 * 384 * 2, 'progress counts each byte once');
  } finally {
    file.close();
  }
}));

test('the surface channel is where LFP power drops (exact with a sharp threshold)', timed(async () => {
  for (const surface of [250, 290]) {
    const dir = tempDir();
    // smoothing sigma 1 spreads the step over a few channels; only the steepest step, between
    // `surface` and surface+1 (a drop of about 0.38 of the ~6.5 step), is below diff_thresh -2.
    const input = makeRecording(dir, { surface, params: { smoothing_amount: 1, diff_thresh: -2, power_thresh: 10 } });
    const out = await stage.run(input, quietContext());
    assert.is(out.surface_channel, surface);
    assert.is(out.air_channel, surface + 25);
    const probe = JSON.parse(fs.readFileSync(input.common_files.probe_json, 'utf8'));
    assert.is(probe.surface_channel, surface);
    assert.ok(fs.readFileSync(input.common_files.probe_json, 'utf8').includes(`"surface_channel": ${surface}.0,`), 'written as a Python float');
  }
}));

test('the 3A LFP channel order is undone before the profile is taken', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir, { surface: 250, reorder: true, params: { smoothing_amount: 1, diff_thresh: -2, power_thresh: 10 } });
  input.ephys_params.reorder_lfp_channels = true;
  const out = await stage.run(input, quietContext());
  assert.is(out.surface_channel, 250);
  const order = lfpChannelOrder();
  assert.is(order.length, 384);
  assert.equal(order.slice(0, 6), [0, 12, 1, 13, 2, 14]);
  assert.equal(order.slice(24, 27), [24, 36, 25]);
  assert.equal([...order].sort((a, b) => a - b), Array.from({ length: 384 }, (_, i) => i));
}));

test('default thresholds put the surface just above the power drop; air channel capped', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir, { surface: 250, params: { air_gap: 200 } });
  const out = await stage.run(input, quietContext()) as { surface_channel: number; air_channel: number };
  assert.ok(out.surface_channel >= 250 && out.surface_channel <= 262, `surface ${out.surface_channel}`);
  assert.is(out.air_channel, 384);
}));

test('a recording too short for the passes is an error naming the seconds', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir, { apSeconds: 4 });
  try {
    await stage.run(input, quietContext());
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, StageError);
    assert.match((err as Error).message, /AP band file .* holds 4 s \(12000 samples at 3000 Hz\); depth estimation needs 6 s: start_time 1 \+ skip_s_per_pass 2 x \(n_passes 3 - 1\) \+ time_interval 1 s/);
  }
  const dir2 = tempDir();
  const input2 = makeRecording(dir2, { lfpSeconds: 4.5 });
  try {
    await stage.run(input2, quietContext());
    assert.unreachable('should fail');
  } catch (err) {
    assert.match((err as Error).message, /LFP band file .* holds 4\.5 s .*needs 5 s: skip_s_per_pass 2 x \(n_passes 3 - 1\) \+ 1 s/);
  }
  assert.not.ok(fs.existsSync(input.common_files.probe_json));
}));

test('bad inputs are errors up front', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir);
  const cases: Array<[(i: any) => void, RegExp]> = [
    [(i) => { i.ephys_params.num_channels = 383; }, /reorder_lfp_channels|whole number of samples/],
    [(i) => { i.ephys_params.reorder_lfp_channels = true; i.ephys_params.num_channels = 385; }, /384 LFP channels/],
    [(i) => { i.ephys_params.reference_channels = [400]; }, /reference_channels has channel 400/],
    [(i) => { i.depth_estimation_params.channel_range = [390, 400]; }, /selects no saline/],
    [(i) => { i.ephys_params.lfp_band_file = path.join(dir, 'nope.dat'); }, /LFP band file .*nope\.dat: cannot open: ENOENT/],
    [(i) => { delete i.depth_estimation_params.figure_location; }, /figure_location must be a path/],
  ];
  for (const [edit, re] of cases) {
    const copy = JSON.parse(JSON.stringify(input));
    edit(copy);
    try {
      await stage.run(copy, quietContext());
      assert.unreachable(`should fail: ${re}`);
    } catch (err) {
      assert.instance(err, StageError);
      assert.match((err as Error).message, re);
    }
  }
}));

function pngChunks(buf: Buffer): Array<{ type: string; data: Buffer; crcOk: boolean }> {
  assert.ok(buf.subarray(0, 8).equals(pngSignature), 'PNG signature');
  const out = [];
  for (let off = 8; off < buf.length;) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    out.push({ type, data, crcOk: crc32(buf, off + 4, off + 8 + len) === buf.readUInt32BE(off + 8 + len) });
    off += 12 + len;
  }
  return out;
}

test('the figure is a valid 500 x 1000 PNG with the four panels drawn', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir);
  await stage.run(input, quietContext());
  const chunks = pngChunks(fs.readFileSync(input.depth_estimation_params.figure_location));
  assert.equal(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
  assert.ok(chunks.every((c) => c.crcOk), 'CRCs');
  const ihdr = chunks[0].data;
  assert.is(ihdr.readUInt32BE(0), 500);
  assert.is(ihdr.readUInt32BE(4), 1000);
  assert.equal([...ihdr.subarray(8)], [8, 2, 0, 0, 0]);
  const raw = zlib.inflateSync(chunks[1].data);
  assert.is(raw.length, 1000 * (500 * 3 + 1));
  // Undo the 'up' filters and count non-white pixels in the middle of each panel.
  const rgb = Buffer.alloc(1000 * 1500);
  for (let y = 0; y < 1000; y++) {
    const f = raw[y * 1501];
    assert.ok(f === 0 || f === 2, `filter ${f}`);
    for (let i = 0; i < 1500; i++) rgb[y * 1500 + i] = (raw[y * 1501 + 1 + i] + (f === 2 ? rgb[(y - 1) * 1500 + i] : 0)) & 0xff;
  }
  for (const y of [125, 365]) {
    let coloured = 0;
    for (let x = 70; x < 480; x++) if (rgb[y * 1500 + x * 3] !== 255 || rgb[y * 1500 + x * 3 + 1] !== 255) coloured++;
    assert.ok(coloured > 400, `image panel row ${y}: ${coloured}`);
  }
}));

test('no figure is written when save_figure is false', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir, { params: { save_figure: false } });
  await stage.run(input, quietContext());
  assert.not.ok(fs.existsSync(input.depth_estimation_params.figure_location));
  assert.ok(fs.existsSync(input.common_files.probe_json));
}));

test('through the built-in host: output JSON as the module writes it; errors exit 1', timed(async () => {
  const dir = tempDir();
  const input = makeRecording(dir, { surface: 250, params: { smoothing_amount: 1, diff_thresh: -2, power_thresh: 10, save_figure: false } });
  const inputPath = path.join(dir, 'input.json');
  const outputPath = path.join(dir, 'output.json');
  fs.writeFileSync(inputPath, JSON.stringify(input));
  const host = path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js');
  const ok = spawnSync(process.execPath, [host, 'depth_estimation', '--input_json', inputPath, '--output_json', outputPath], { encoding: 'utf8' });
  assert.is(ok.status, 0, ok.stderr);
  const out = JSON.parse(fs.readFileSync(outputPath, 'utf8'));
  assert.equal(Object.keys(out), ['execution_time', 'surface_channel', 'air_channel', 'probe_json', 'input_parameters']);
  assert.is(out.surface_channel, 250);
  assert.is(out.air_channel, 275);
  input.ephys_params.ap_band_file = path.join(dir, 'missing.dat');
  fs.writeFileSync(inputPath, JSON.stringify(input));
  const bad = spawnSync(process.execPath, [host, 'depth_estimation', '--input_json', inputPath, '--output_json', outputPath], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^error: AP band file .*missing\.dat: cannot open: ENOENT\n$/);
}));

test('probe_info.json is laid out like json.dump(indent=4)', () => {
  const text = probeInfoText({ offsets: [1, -2, 3, 4, 5], mask: [true, false, true, true, true], surfaceChannel: 3.5, airChannel: 5, numChannels: 5 });
  assert.is(text, '{\n    "channel": [\n        0,\n        1,\n        2,\n        3,\n        4\n    ],\n' +
    '    "offset": [\n        1,\n        -2,\n        3,\n        4,\n        5\n    ],\n' +
    '    "scaling": [\n        1.0,\n        1.0,\n        1.0,\n        1.0,\n        1.0\n    ],\n' +
    '    "mask": [\n        true,\n        false,\n        true,\n        true,\n        true\n    ],\n' +
    '    "surface_channel": 3.5,\n    "air_channel": 5.0,\n' +
    '    "vertical_pos": [\n        20,\n        20,\n        40,\n        40,\n        60\n    ],\n' +
    '    "horizontal_pos": [\n        43,\n        11,\n        59,\n        27\n    ]\n}');
});

scipyTest('Welch PSD and Gaussian smoothing match scipy', timed(async () => {
  const rand = mulberry32(3);
  const cases = [
    { n: 2500, fs: 2500, nfft: 4096 },
    { n: 2500, fs: 2500, nfft: 1000 },
    { n: 200, fs: 1000, nfft: 256 },
    { n: 3001, fs: 30000, nfft: 512 },
  ];
  const signals = cases.map((c) => Array.from({ length: c.n }, (_, i) => Math.round(300 * Math.sin(i * 0.02) + 40 * (rand() - 0.5))));
  const profile = Array.from({ length: 60 }, (_, i) => (i < 30 ? 3 : -1) + rand() * 0.1);
  const script = [
    'import json, sys, numpy as np',
    'from scipy.signal import welch',
    'from scipy.ndimage import gaussian_filter1d',
    'd = json.load(sys.stdin)',
    'out = [welch(np.array(x, dtype=float), fs=c["fs"], nfft=c["nfft"])[1].tolist() for c, x in zip(d["cases"], d["signals"])]',
    'g = [gaussian_filter1d(np.array(d["profile"]), s).tolist() for s in (1, 5, 40)]',
    'json.dump({"welch": out, "gauss": g}, sys.stdout)',
  ].join('\n');
  const py = spawnSync(python, ['-c', script], { input: JSON.stringify({ cases, signals, profile }), encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.is(py.status, 0, py.stderr);
  const ref = JSON.parse(py.stdout);
  cases.forEach((c, k) => {
    const full = welch(signals[k], { fs: c.fs, nfft: c.nfft }).psd;
    const some = welch(signals[k], { fs: c.fs, nfft: c.nfft, bins: 17 }).psd;
    assert.is(full.length, ref.welch[k].length);
    full.forEach((v, i) => assert.ok(Math.abs(v - ref.welch[k][i]) <= 1e-9 * Math.abs(ref.welch[k][i]) + 1e-12, `case ${k} bin ${i}: ${v} vs ${ref.welch[k][i]}`));
    some.forEach((v, i) => assert.ok(Math.abs(v - ref.welch[k][i]) <= 1e-9 * Math.abs(ref.welch[k][i]) + 1e-12, `case ${k} direct bin ${i}`));
  });
  [1, 5, 40].forEach((sigma, k) => {
    gaussianFilter1d(profile, sigma).forEach((v, i) => assert.ok(Math.abs(v - ref.gauss[k][i]) < 1e-12, `sigma ${sigma} sample ${i}`));
  });
}));

test.run();
