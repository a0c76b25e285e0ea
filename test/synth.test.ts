import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { filesUnder, tempDir, timed, runCli, writeFile } from './rig.js';
import { synthesize, modelRecording, type SynthOptions, type SynthRecording } from '../lib/synth/generate.js';
import { runSynth } from '../lib/commands/synth.js';
import { readNpy, toNumberArray } from '../lib/formats/npy.js';

function readInt16(file: string): Int16Array {
  const buf = fs.readFileSync(file);
  const out = new Int16Array(buf.length / 2);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

function readMeta(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').trim().split('\n')) {
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function info(rec: SynthRecording): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(rec.groundTruthDir, 'info.json'), 'utf8'));
}

/** Channel values with each channel's median DC and then each sample's median across channels removed, in µV. */
function cleaned(data: Int16Array, samples: number, saved: number, channels: number, uvPerCount: number): Float64Array {
  const out = new Float64Array(samples * channels);
  for (let c = 0; c < channels; c++) {
    const col = new Float64Array(samples);
    for (let s = 0; s < samples; s++) col[s] = data[s * saved + c];
    const dc = median(col);
    for (let s = 0; s < samples; s++) out[s * channels + c] = (col[s] - dc) * uvPerCount;
  }
  const row = new Float64Array(channels);
  for (let s = 0; s < samples; s++) {
    for (let c = 0; c < channels; c++) row[c] = out[s * channels + c];
    const m = median(row);
    for (let c = 0; c < channels; c++) out[s * channels + c] -= m;
  }
  return out;
}

function median(a: Float64Array): number {
  const s = Float64Array.from(a).sort();
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const small: Omit<SynthOptions, 'outDir'> = { recordings: 2, seconds: 1, channels: 32, seed: 7, workers: 2 };

test('SpikeGLX layout: folders, binary sizes, and meta files a SpikeGLX reader accepts', timed(async () => {
  const out = tempDir();
  const s = await synthesize({ ...small, outDir: out });
  assert.is(s.recordings.length, 2);
  const r = s.recordings[1];
  const base = path.join(out, 'data', 'synth02_g0', 'synth02_g0_imec0', 'synth02_g0_t0.imec0');
  assert.is(r.apFile, `${base}.ap.bin`);
  assert.is(r.lfFile, `${base}.lf.bin`);
  assert.equal(r.metaFiles, [`${base}.ap.meta`, `${base}.lf.meta`]);
  assert.is(fs.statSync(r.apFile).size, 30000 * 33 * 2);
  assert.is(fs.statSync(r.lfFile!).size, 2500 * 33 * 2);
  assert.is(s.bytesWritten, 2 * (30000 + 2500) * 33 * 2);

  const ap = readMeta(`${base}.ap.meta`);
  assert.is(ap.nSavedChans, '33');
  assert.is(ap.imSampRate, '30000');
  assert.is(ap.fileSizeBytes, String(30000 * 33 * 2));
  assert.is(ap.fileTimeSecs, '1');
  assert.is(ap.snsApLfSy, '32,0,1');
  assert.is(ap.acqApLfSy, '384,384,1');
  assert.is(ap.snsSaveChanSubset, '0:31,768');
  assert.is(ap.typeThis, 'imec');
  assert.is(ap.imDatPrb_type, '0');
  assert.is(ap.imAiRangeMax, '0.6');
  assert.is(ap.imAiRangeMin, '-0.6');
  assert.is(ap.imMaxInt, '512');
  assert.is(ap.fileName, 'synth02_g0/synth02_g0_imec0/synth02_g0_t0.imec0.ap.bin');
  assert.is(ap['~imroTbl'].match(/\(\d+ 0 0 500 250 1\)/g)!.length, 384);
  assert.ok(ap['~imroTbl'].startsWith('(0,384)(0 0 0 500 250 1)(1 0 0 500 250 1)'));
  assert.ok(ap['~snsShankMap'].startsWith('(1,2,480)(0:0:0:1)(0:1:0:1)(0:0:1:1)(0:1:1:1)'));
  assert.is(ap['~snsShankMap'].match(/\(0:\d:\d+:1\)/g)!.length, 32);
  assert.ok(ap['~snsGeomMap'].startsWith('(PRB_1_4_0480_1,1,0,70)(0:27:0:1)(0:59:0:1)(0:11:20:1)(0:43:20:1)'));
  assert.ok(ap['~snsChanMap'].startsWith('(384,384,1)(AP0;0:0)(AP1;1:1)'));
  assert.ok(ap['~snsChanMap'].endsWith('(AP31;31:31)(SY0;768:768)'));
  // 1.2 V / 500 / 1024 per count: the µV/bit a reader computes from these keys.
  assert.is(Math.abs((1.2 / Number(ap.imChan0apGain) / (2 * Number(ap.imMaxInt))) * 1e6 - r.bitVolts) < 1e-9, true);
  assert.is(r.bitVolts, 2.34375);

  const lf = readMeta(`${base}.lf.meta`);
  assert.is(lf.imSampRate, '2500');
  assert.is(lf.snsApLfSy, '0,32,1');
  assert.is(lf.fileSizeBytes, String(2500 * 33 * 2));
  assert.ok(lf['~snsChanMap'].startsWith('(384,384,1)(LF0;384:384)'));
  assert.is(r.lfpBitVolts, 4.6875);

  // Meta files are written last, as SpikeGLX does when a recording closes.
  assert.ok(fs.statSync(`${base}.ap.meta`).mtimeMs >= fs.statSync(r.apFile).mtimeMs);
  // The sync channel carries a 1 Hz square wave on bit 6.
  const data = readInt16(r.apFile);
  assert.is(data[32], 64);
  assert.is(data[15000 * 33 + 32], 0);
  assert.equal(filesUnder(out).filter((f) => f.includes('.partial')), []);
}));

test('the same options and seed give byte-identical files, whatever the number of threads', timed(async () => {
  const a = tempDir(), b = tempDir(), c = tempDir();
  await synthesize({ ...small, outDir: a, driftUm: 30 });
  await synthesize({ ...small, outDir: b, driftUm: 30, workers: 0 });
  await synthesize({ ...small, outDir: c, driftUm: 30, seed: 8 });
  const fa = filesUnder(a);
  assert.equal(filesUnder(b), fa);
  assert.ok(fa.length >= 14, fa.join(' '));
  for (const f of fa) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} differs`);
  const ap = 'data/synth01_g0/synth01_g0_imec0/synth01_g0_t0.imec0.ap.bin';
  assert.not.ok(fs.readFileSync(path.join(a, ap)).equals(fs.readFileSync(path.join(c, ap))), 'another seed gave the same data');
}));

test('Open Ephys layout: continuous.dat per band, timestamps, and structure.oebin', timed(async () => {
  const out = tempDir();
  const s = await synthesize({ ...small, recordings: 1, layout: 'openephys', outDir: out });
  const r = s.recordings[0];
  const dir = path.join(out, 'data', 'synth01');
  assert.is(r.dir, dir);
  assert.is(r.apFile, path.join(dir, 'continuous', 'Neuropix-PXI-100.0', 'continuous.dat'));
  assert.is(r.lfFile, path.join(dir, 'continuous', 'Neuropix-PXI-100.1', 'continuous.dat'));
  assert.is(fs.statSync(r.apFile).size, 30000 * 32 * 2);
  assert.is(fs.statSync(r.lfFile!).size, 2500 * 32 * 2);
  const ts = readNpy(path.join(dir, 'continuous', 'Neuropix-PXI-100.0', 'timestamps.npy'));
  assert.equal([ts.dtype, ts.shape], ['int64', [30000]]);
  const oebin = JSON.parse(fs.readFileSync(path.join(dir, 'structure.oebin'), 'utf8'));
  assert.equal(r.metaFiles, [path.join(dir, 'structure.oebin')]);
  assert.is(oebin.continuous.length, 2);
  const [apStream, lfStream] = oebin.continuous;
  assert.equal([apStream.folder_name, apStream.sample_rate, apStream.num_channels], ['Neuropix-PXI-100.0/', 30000, 32]);
  assert.equal([lfStream.folder_name, lfStream.sample_rate, lfStream.num_channels], ['Neuropix-PXI-100.1/', 2500, 32]);
  assert.is(apStream.channels.length, 32);
  assert.ok(apStream.channels.every((ch: any) => ch.bit_volts === 0.195 && ch.units === 'uV'));
  assert.is(apStream.channels[5].channel_name, 'CH6');
  assert.is(r.bitVolts, 0.195);

  const noLfp = tempDir();
  const t = await synthesize({ ...small, recordings: 1, layout: 'openephys', lfp: false, outDir: noLfp });
  assert.is(t.recordings[0].lfFile, undefined);
  assert.not.ok(fs.existsSync(path.join(noLfp, 'data', 'synth01', 'continuous', 'Neuropix-PXI-100.1')));
  assert.is(JSON.parse(fs.readFileSync(path.join(noLfp, 'data', 'synth01', 'structure.oebin'), 'utf8')).continuous.length, 1);
}));

test('ground truth: Kilosort-shaped arrays and info.json', timed(async () => {
  const out = tempDir();
  const s = await synthesize({ ...small, recordings: 1, seconds: 2, units: 6, outDir: out });
  const r = s.recordings[0];
  const gt = info(r);
  const times = readNpy(path.join(r.groundTruthDir, 'spike_times.npy'));
  const clusters = readNpy(path.join(r.groundTruthDir, 'spike_clusters.npy'));
  const tpl = readNpy(path.join(r.groundTruthDir, 'templates.npy'));
  const pos = readNpy(path.join(r.groundTruthDir, 'unit_positions.npy'));
  assert.equal([times.dtype, times.shape], ['uint64', [r.spikes]]);
  assert.equal([clusters.dtype, clusters.shape], ['uint32', [r.spikes]]);
  assert.equal([tpl.dtype, tpl.shape], ['float32', [6, 61, 32]]);
  assert.equal([pos.dtype, pos.shape], ['float64', [6, 3]]);
  const t = toNumberArray(times);
  for (let i = 1; i < t.length; i++) assert.ok(t[i] >= t[i - 1], 'spike times sorted');
  assert.ok(t[0] >= 20 && t[t.length - 1] < 60000 - 41);
  assert.ok(Array.from(clusters.data as Uint32Array).every((c) => c < 6));

  assert.equal([gt.seed, gt.channel_count, gt.saved_channel_count, gt.sample_rate_hz, gt.bit_volts, gt.unit_count], [7, 32, 33, 30000, 2.34375, 6]);
  assert.is(gt.surface_channel, 26);
  assert.is(gt.noise_rms_uv.length, 32);
  assert.equal(gt.bad_channels, { noisy: gt.bad_channels.noisy, dead: gt.bad_channels.dead });
  assert.is(gt.bad_channels.noisy.length + gt.bad_channels.dead.length, 2);
  assert.is(gt.units_with_violations.length, 1);
  assert.is(gt.firing_rates_hz.length, 6);
  assert.is(gt.drift_um, 0);
  // Each template's trough sits on its peak channel, at the trough sample, at the stated amplitude.
  const T = tpl.data as Float32Array;
  for (let u = 0; u < 6; u++) {
    let min = 0, at = -1;
    for (let k = 0; k < 61; k++) for (let c = 0; c < 32; c++) if (T[(u * 61 + k) * 32 + c] < min) { min = T[(u * 61 + k) * 32 + c]; at = k * 1000 + c; }
    assert.is(at, 20 * 1000 + gt.peak_channels[u], `unit ${u}`);
    assert.ok(Math.abs(-min - gt.peak_amplitudes_uv[u]) < 0.01, `unit ${u}: ${-min} vs ${gt.peak_amplitudes_uv[u]}`);
    assert.ok(gt.peak_amplitudes_uv[u] >= 50 && gt.peak_amplitudes_uv[u] <= 300);
    assert.ok(pos.data[u * 3 + 1] < 20 * Math.floor(26 / 2), 'units below the surface');
  }
}));

test('spikes are in the data at their peak channel; noise levels and bad channels are as stated', timed(async () => {
  const out = tempDir();
  const s = await synthesize({ recordings: 1, seconds: 2, channels: 48, units: 8, seed: 3, layout: 'openephys', outDir: out, lfp: false, workers: 1 });
  const r = s.recordings[0];
  const gt = info(r);
  const x = cleaned(readInt16(r.apFile), r.samples, r.savedChannels, r.channels, r.bitVolts);
  const C = r.channels;
  // Noise after median subtraction is each channel's own noise (estimated from the median
  // absolute value, as spike detectors do, so that spikes do not count).
  for (let c = 0; c < C; c++) {
    const col = new Float64Array(r.samples);
    for (let i = 0; i < r.samples; i++) col[i] = Math.abs(x[i * C + c]);
    const rms = median(col) / 0.6745;
    if (gt.bad_channels.noisy.includes(c)) assert.ok(rms > 50, `noisy channel ${c}: ${rms}`);
    else if (gt.bad_channels.dead.includes(c)) continue; // median subtraction adds the others' common noise back
    else assert.ok(Math.abs(rms - gt.noise_rms_uv[c]) < 0.25 * gt.noise_rms_uv[c], `channel ${c}: ${rms} vs ${gt.noise_rms_uv[c]}`);
  }
  const times = toNumberArray(readNpy(path.join(r.groundTruthDir, 'spike_times.npy')));
  const units = readNpy(path.join(r.groundTruthDir, 'spike_clusters.npy')).data as Uint32Array;
  let checked = 0;
  for (let u = 0; u < 8; u++) {
    const own = times.filter((_, i) => units[i] === u);
    if (own.length < 5) continue;
    const pc = gt.peak_channels[u];
    const far = (pc + C / 2) % C;
    let trough = 0, farTrough = 0;
    for (const t of own) { trough += x[t * C + pc]; farTrough += x[t * C + far]; }
    trough /= own.length;
    farTrough /= own.length;
    const amp = gt.peak_amplitudes_uv[u];
    assert.ok(Math.abs(-trough - amp) < 0.15 * amp + 15, `unit ${u}: mean trough ${trough} µV at channel ${pc}, expected ${-amp}`);
    assert.ok(Math.abs(farTrough) < 15, `unit ${u}: ${farTrough} µV at far channel ${far}`);
    checked++;
  }
  assert.ok(checked >= 3, `only ${checked} units had enough spikes`);
}));

test('normal units respect the refractory period; the chosen units violate it', timed(() => {
  const { spikes, violators, model } = modelRecording({ outDir: 'unused', seconds: 120, channels: 64, units: 16, seed: 5, violationUnits: [2, 9] }, 0);
  assert.equal(violators, [2, 9]);
  const last = new Map<number, number>();
  const violations = new Array(16).fill(0);
  for (let i = 0; i < spikes.times.length; i++) {
    const u = spikes.units[i];
    const prev = last.get(u);
    if (prev !== undefined && spikes.times[i] - prev < 45) violations[u]++;
    last.set(u, spikes.times[i]);
  }
  for (let u = 0; u < 16; u++) {
    if (u === 2 || u === 9) assert.ok(violations[u] > 0, `unit ${u} has no violations`);
    else assert.is(violations[u], 0, `unit ${u}`);
  }
  assert.is(model.samples, 120 * 30000);
}));

test('units sharing channels have distinct shapes; regular-spiking units burst, fast-spiking ones fire faster', timed(async () => {
  const out = tempDir();
  const s = await synthesize({ recordings: 1, seconds: 30, channels: 128, seed: 1, outDir: out, lfp: false });
  const r = s.recordings[0];
  const gt = info(r);
  const tpl = readNpy(path.join(r.groundTruthDir, 'templates.npy'));
  const pos = readNpy(path.join(r.groundTruthDir, 'unit_positions.npy')).data as Float64Array;
  const [U, T, C] = tpl.shape;
  const d = tpl.data as Float32Array;
  const dot = (a: number, b: number) => { let e = 0; for (let q = 0; q < T * C; q++) e += d[a * T * C + q] * d[b * T * C + q]; return e; };
  let pairs = 0, maxCosine = 0;
  for (let a = 0; a < U; a++) {
    for (let b = a + 1; b < U; b++) {
      // Co-located: within 30 µm along the probe, so their footprints share most channels.
      if (Math.abs(pos[a * 3 + 1] - pos[b * 3 + 1]) > 30) continue;
      pairs++;
      maxCosine = Math.max(maxCosine, dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b)));
    }
  }
  assert.ok(pairs >= 20, `${pairs} co-located pairs`);
  assert.ok(maxCosine < 0.96, `largest cosine between co-located units' templates: ${maxCosine}`);

  // Bursts: intervals of 3-8 ms, beyond the refractory period, in regular-spiking units only.
  const times = toNumberArray(readNpy(path.join(r.groundTruthDir, 'spike_times.npy')));
  const units = readNpy(path.join(r.groundTruthDir, 'spike_clusters.npy')).data as Uint32Array;
  const last = new Map<number, number>();
  const short = new Array<number>(U).fill(0), tooShort = new Array<number>(U).fill(0);
  for (let i = 0; i < times.length; i++) {
    const prev = last.get(units[i]);
    if (prev !== undefined && times[i] - prev < 45) tooShort[units[i]]++;
    else if (prev !== undefined && times[i] - prev <= 240) short[units[i]]++;
    last.set(units[i], times[i]);
  }
  const classes: string[] = gt.cell_classes;
  assert.ok(classes.includes('fast') && classes.includes('regular'));
  for (let u = 0; u < U; u++) {
    if (!gt.units_with_violations.includes(u)) assert.is(tooShort[u], 0, `unit ${u}: intervals below the refractory period`);
    // Intervals of 1.5-8 ms: a few by chance at rates below 5 Hz (about 3%), many in bursts.
    const share = short[u] / gt.spike_counts[u];
    if (gt.spike_counts[u] < 50) continue;
    const text = `unit ${u} (burst probability ${gt.burst_probabilities[u]}, ${gt.firing_rates_hz[u]} Hz): ${short[u]} of ${gt.spike_counts[u]} intervals of 1.5-8 ms`;
    if (gt.burst_probabilities[u] === 0 && gt.firing_rates_hz[u] < 5) assert.ok(share < 0.08, text);
    if (gt.burst_probabilities[u] >= 0.1) assert.ok(share >= 0.08, text);
  }
  assert.ok(classes.filter((_, u) => gt.burst_probabilities[u] >= 0.1 && gt.spike_counts[u] >= 50).length >= 3);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const rates = (cls: string) => gt.firing_rates_hz.filter((_: number, u: number) => classes[u] === cls);
  assert.ok(median(rates('fast')) > median(rates('regular')));
}));

test('LFP power drops above the brain surface', timed(async () => {
  const out = tempDir();
  const s = await synthesize({ recordings: 1, seconds: 2, channels: 64, units: 4, seed: 2, outDir: out, workers: 0 });
  const r = s.recordings[0];
  const lf = readInt16(r.lfFile!);
  const variance = (c: number) => {
    let sum = 0, ss = 0;
    for (let i = 0; i < r.lfSamples; i++) { const v = lf[i * r.savedChannels + c]; sum += v; ss += v * v; }
    const mean = sum / r.lfSamples;
    return ss / r.lfSamples - mean * mean;
  };
  const silent = new Set([...info(r).bad_channels.noisy, ...info(r).bad_channels.dead]);
  const below = [...Array(r.surfaceChannel - 2).keys()].filter((c) => !silent.has(c)).map(variance);
  const above = [...Array(r.channels - r.surfaceChannel - 4).keys()].map((i) => variance(r.surfaceChannel + 4 + i));
  const mid = (a: number[]) => median(Float64Array.from(a));
  assert.ok(mid(below) > 30 * mid(above), `below ${mid(below)} above ${mid(above)}`);
  assert.ok(Math.min(...below) > 5 * Math.max(...above), `below ${Math.min(...below)} above ${Math.max(...above)}`);
}));

test('ephys-make synth: usage errors exit 2 with a clear message', timed(async () => {
  const cases: Array<[string[], string]> = [
    [[], 'ephys-make synth: --out DIR is required'],
    [['--out', 'x', '--layout', 'nwb'], "ephys-make synth: --layout must be spikeglx or openephys, got 'nwb'"],
    [['--out', 'x', '--channels', 'many'], "ephys-make synth: --channels must be a whole number, got 'many'"],
    [['--out', 'x', '--seconds', 'soon'], "ephys-make synth: --seconds must be a number, got 'soon'"],
    [['--out', 'x', '--bogus'], "ephys-make synth: Unknown option '--bogus'"],
  ];
  for (const [args, first] of cases) {
    let err = '';
    const code = await runSynth(args, { out: () => undefined, err: (s) => { err += s; } });
    assert.is(code, 2, args.join(' '));
    assert.is(err.split('\n')[0].replace(/\. To specify a positional.*$/, ''), first);
  }
  const d = tempDir();
  for (const [args, msg] of [
    [['--channels', '1000'], 'ephys-make synth: channels must be a whole number from 4 to 384 (one NP1.0 probe), got 1000\n'],
    [['--units', '3', '--violation-units', '5'], 'ephys-make synth: violation unit 5 does not exist (units are 0 to 2)\n'],
  ] as Array<[string[], string]>) {
    let err = '';
    const code = await runSynth(['--out', d, ...args], { out: () => undefined, err: (s) => { err += s; } });
    assert.is(code, 2);
    assert.is(err, msg);
  }
  assert.equal(fs.readdirSync(d), []);
}));

test('ephys-make synth runs from the command line', timed(async () => {
  const d = tempDir();
  const res = await runCli(['synth', '--out', d, '--recordings', '1', '--seconds', '0.5', '--channels', '8', '--layout', 'openephys', '--seed', '4', '--drift-um', '10', '--no-lfp']);
  assert.is(res.code, 0, res.stderr);
  assert.match(res.stdout, /^synth01: 0\.5 s, 8 channels, 2 units, \d+ spikes, surface at channel 6 -> data\/synth01\n/);
  assert.match(res.stdout, /wrote 0\.2 MB of openephys data in [\d.]+ s \([\d.]+ MB\/s, [\d.]+x real time\) under /);
  assert.ok(fs.existsSync(path.join(d, 'data', 'synth01', 'ground_truth', 'info.json')));
}));

test('ephys-make synth never writes over an existing recording: it names it and exits 2', timed(async () => {
  const d = tempDir();
  const args = ['synth', '--out', d, '--recordings', '2', '--seconds', '0.2', '--channels', '8', '--no-lfp'];
  assert.is((await runCli(args)).code, 0);
  const ap = path.join(d, 'data', 'synth01_g0', 'synth01_g0_imec0', 'synth01_g0_t0.imec0.ap.bin');
  // A lab's own data under the same name.
  fs.writeFileSync(ap, 'real recording');
  fs.rmSync(path.join(d, 'data', 'synth02_g0'), { recursive: true });
  const again = await runCli([...args, '--seed', '9']);
  assert.is(again.code, 2, again.stdout + again.stderr);
  assert.is(again.stderr, `ephys-make synth: ${path.join(d, 'data', 'synth01_g0')} already exists; synth never writes over a recording (choose another --out, or remove it first)\n`);
  assert.is(fs.readFileSync(ap, 'utf8'), 'real recording');
  // Nothing at all was written: not even the recording whose name was free.
  assert.not.ok(fs.existsSync(path.join(d, 'data', 'synth02_g0')));
}));

test('ephys-make demo never writes over a data folder it did not make', timed(async () => {
  const d = tempDir();
  const ap = writeFile(d, 'data/mine/probe.ap.bin', 'real recording');
  const r = await runCli(['demo', '--out', d]);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^ephys-make demo: .*\/data already exists and was not made by demo; demo never writes over it \(give another folder with --out\)$/m);
  assert.is(fs.readFileSync(ap, 'utf8'), 'real recording');
}));

test.run();
