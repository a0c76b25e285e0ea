import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, tempDir, timed } from './rig.js';
import { StageError, type BuiltinContext } from '../lib/builtin/stage.js';
import { stage } from '../stages/median_subtraction/index.js';
import { planChannels, type ProbeValues } from '../stages/median_subtraction/channelPlan.js';
import { medianSubtractFile, planChunks } from '../stages/median_subtraction/streamMedian.js';
import { buildKernel, instantiateKernel } from '../stages/median_subtraction/kernel.js';
import { referenceMedianSubtraction } from './medianReference.js';

const hostPath = path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js');

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function quietContext(signal = new AbortController().signal): BuiltinContext & { progressCalls: number[] } {
  const progressCalls: number[] = [];
  return { signal, log: () => {}, progress: (done) => { progressCalls.push(done); }, progressCalls };
}

function writeInt16(file: string, data: Int16Array): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return file;
}

function readInt16(file: string): Int16Array {
  const b = fs.readFileSync(file);
  return new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2);
}

function writeProbe(file: string, p: ProbeValues): string {
  fs.writeFileSync(file, JSON.stringify({
    channel: Array.from({ length: p.numChannels }, (_, i) => i),
    offset: [...p.offset], scaling: [...p.scaling], mask: p.mask,
    surface_channel: p.maxChannel, air_channel: p.maxChannel,
  }));
  return file;
}

function randomProbe(rand: () => number, C: number, maxChannel: number, unitScaling: boolean): ProbeValues {
  return {
    numChannels: C,
    maxChannel,
    offset: Int16Array.from({ length: C }, () => Math.round((rand() - 0.5) * 3000)),
    scaling: Float32Array.from({ length: C }, () => (unitScaling ? 1 : 0.25 + rand() * 1.5)),
    mask: Array.from({ length: C }, () => rand() > 0.25),
  };
}

function assertSameInt16(actual: Int16Array, expected: Int16Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.unreachable(`${what}: first difference at value ${i}: ${actual[i]} != ${expected[i]}`);
  }
}

// The transcription is checked against the real program in median_subtraction-allen.test.ts;
// here it covers random masks and channel counts the stored cases do not.
for (const [C, maxChannel, unitScaling] of [[384, 384, true], [384, 331, false], [385, 385, true], [64, 50, false], [400, 390, false]] as const) {
  test(`matches the program's arithmetic bit for bit (${C} channels, max channel ${maxChannel}, ${unitScaling ? 'unit' : 'random'} scaling)`, timed(async () => {
    const dir = tempDir();
    const rand = rng(C * 7 + maxChannel);
    const samples = 3001;
    // Full int16 range, so the int16 wrap-around of the module's arithmetic is exercised too.
    const x = Int16Array.from({ length: samples * C }, () => Math.floor(rand() * 65536) - 32768);
    const probe = randomProbe(rand, C, maxChannel, unitScaling);
    const ap = writeInt16(path.join(dir, 'continuous.dat'), x);
    const input = {
      ephys_params: { ap_band_file: ap, num_channels: C, sample_rate: 30000 },
      common_files: { probe_json: writeProbe(path.join(dir, 'probe_info.json'), probe) },
      median_subtraction_params: { output_file: path.join(dir, 'out', 'ms.dat'), residuals_file: path.join(dir, 'res', 'residuals.dat') },
      directories: {},
    };
    const result = await stage.run(input, quietContext());
    const expected = referenceMedianSubtraction(x, probe);
    assertSameInt16(readInt16(path.join(dir, 'out', 'ms.dat')), expected.out, 'output');
    assertSameInt16(readInt16(path.join(dir, 'res', 'residuals.dat')), expected.residuals, 'residuals');
    assertSameInt16(readInt16(ap), x, 'input untouched');
    assert.is(result.samples, samples);
    assert.is(result.offsets_source, 'probe_json');
    assert.is(result.kernel, 'wasm-simd');
  }, 60_000));
}

test('the WebAssembly kernel validates and computes the program\'s arithmetic for every plan shape, in place', timed(() => {
  const rand = rng(17);
  // Channel counts below, at and above 384, not multiples of 8 or 24; all, some or no channels usable.
  const shapes: Array<[number, number, boolean, number]> = [
    [384, 384, true, 0.9], [384, 384, false, 0.5], [384, 23, true, 1], [385, 385, false, 0.9], [1, 1, true, 1],
    [24, 24, false, 0.5], [50, 50, true, 0], [100, 77, false, 0.3], [400, 400, true, 1], [384, 200, false, 0.05],
  ];
  for (const [C, maxChannel, unitScaling, usable] of shapes) {
    const probe = { ...randomProbe(rand, C, maxChannel, unitScaling), mask: Array.from({ length: C }, () => rand() < usable) };
    const plan = planChannels(probe);
    const rows = 300;
    const pages = Math.ceil((plan.constants.length + rows * (C * 2 + 48) + 4096) / 65536);
    const bytes = buildKernel(plan, pages);
    assert.ok(WebAssembly.validate(bytes), `${C} channels: the kernel does not validate`);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    new Uint8Array(memory.buffer).set(plan.constants);
    const rowPtr = plan.constants.length + 3; // rows need no alignment
    const residualPtr = rowPtr + rows * C * 2 + 128;
    const x = Int16Array.from({ length: rows * C }, () => Math.floor(rand() * 65536) - 32768);
    new Uint8Array(memory.buffer, rowPtr, x.byteLength).set(new Uint8Array(x.buffer));
    const run = instantiateKernel(new WebAssembly.Module(bytes), memory);
    run(100, rowPtr, residualPtr); // in two calls, as the workers do
    run(rows - 100, rowPtr + 100 * C * 2, residualPtr + 100 * 48);
    const expected = referenceMedianSubtraction(x, probe);
    const view = (at: number, n: number) => new Int16Array(memory.buffer.slice(at, at + n * 2));
    assertSameInt16(view(rowPtr, rows * C), expected.out, `${C} channels, max ${maxChannel}: output`);
    assertSameInt16(view(residualPtr, rows * 24), expected.residuals, `${C} channels, max ${maxChannel}: residuals`);
  }
}, 60_000));

test('output does not depend on chunk size, worker count or reads and writes in flight', timed(async () => {
  const dir = tempDir();
  const rand = rng(99);
  const C = 384, samples = 5000;
  const x = Int16Array.from({ length: samples * C }, () => Math.round((rand() - 0.5) * 400));
  const plan = planChannels(randomProbe(rand, C, 370, false));
  const ap = writeInt16(path.join(dir, 'ap.dat'), x);
  const outputs: Buffer[] = [];
  for (const [chunkBytes, workers, maxReads, maxWrites] of [[8 << 20, 2, 1, 3], [768 * 7, 1, 1, 1], [768 * 333, 3, 3, 1], [768, 2, 1, 4], [768 * 256 * 3, 2, 2, 2], [768 * 1000, 0, 2, 2]]) {
    const out = path.join(dir, `out-${chunkBytes}-${workers}.dat`);
    const res = path.join(dir, `res-${chunkBytes}-${workers}.dat`);
    const r = await medianSubtractFile({ inputPath: ap, outputPath: out, residualPath: res, plan, chunkBytes, workers, maxReads, maxWrites });
    assert.is(r.samples, samples);
    outputs.push(Buffer.concat([fs.readFileSync(out), fs.readFileSync(res)]));
  }
  for (const o of outputs.slice(1)) assert.ok(o.equals(outputs[0]), 'outputs differ');
}, 60_000));

test('chunks cover the file in order; all but the last are whole 4 KiB blocks in both outputs; the first full chunk is split into growing pieces', () => {
  const aligned = (rows: number, rowBytes: number) => (rows * rowBytes) % 4096 === 0 && (rows * 48) % 4096 === 0;
  // Rows in the smallest piece that is whole blocks in both outputs: chunks smaller than that cannot be.
  const alignRows = (rowBytes: number) => { let n = 1; while (!aligned(n, rowBytes)) n++; return n; };
  for (const [channels, samples, chunkBytes] of [[384, 100_000, 8 << 20], [384, 5000, 8 << 20], [384, 300, 8 << 20], [385, 200_000, 8 << 20], [384, 20_000, 768 * 256 * 3], [384, 1000, 768 * 7], [7, 50_000, 4096]]) {
    const rowBytes = channels * 2;
    const chunks = planChunks(samples, rowBytes, chunkBytes);
    let next = 0;
    for (const [i, c] of chunks.entries()) {
      assert.is(c.firstSample, next, `${channels} channels, ${samples} samples: chunk ${i} starts where the one before ended`);
      assert.ok(c.rows > 0 && c.rows * rowBytes <= Math.max(chunkBytes, rowBytes), `chunk ${i} has ${c.rows} rows`);
      if (i < chunks.length - 1 && alignRows(rowBytes) * rowBytes <= chunkBytes) assert.ok(aligned(c.rows, rowBytes), `${channels} channels: chunk ${i} (${c.rows} rows) is not whole 4 KiB blocks`);
      next += c.rows;
    }
    assert.is(next, samples);
  }
  // 384 channels, 8 MiB: pieces of 256, 512, ... rows up to the first full chunk's end at 10752 rows.
  assert.equal(planChunks(100_000, 768, 8 << 20).slice(0, 7).map((c) => c.rows), [256, 512, 1024, 2048, 4096, 2816, 10752]);
});

test('common-mode noise power drops to the per-channel noise plus the median estimate\'s own variance', timed(async () => {
  const dir = tempDir();
  const normal = gaussian(rng(5));
  const C = 384, samples = 20000, noiseSd = 10, commonSd = 50;
  const offset = Int16Array.from({ length: C }, (_, c) => ((c * 37) % 200) - 100);
  const x = new Int16Array(samples * C);
  for (let s = 0; s < samples; s++) {
    const common = normal() * commonSd;
    for (let c = 0; c < C; c++) x[s * C + c] = Math.round(offset[c] + common + normal() * noiseSd);
  }
  const ap = writeInt16(path.join(dir, 'ap.dat'), x);
  const out = path.join(dir, 'ms.dat');
  const result = await stage.run({
    ephys_params: { ap_band_file: ap, num_channels: C, sample_rate: 30000, reference_channels: [191] },
    median_subtraction_params: { output_file: out },
  }, quietContext());
  assert.is(result.offsets_source, 'estimated');
  const y = readInt16(out);
  const power = (v: Int16Array) => {
    let perChannel = 0, common = 0;
    const mean = new Float64Array(C);
    for (let s = 0; s < samples; s++) for (let c = 0; c < C; c++) mean[c] += v[s * C + c] / samples;
    for (let s = 0; s < samples; s++) {
      let m = 0;
      for (let c = 0; c < C; c++) { const d = v[s * C + c] - mean[c]; perChannel += d * d; m += d / C; }
      common += m * m;
    }
    return { perChannel: perChannel / (samples * C), common: common / samples };
  };
  const before = power(x), after = power(y);
  // The median of m = 15 Gaussian values has variance about pi/2 * sd^2 / m and covariance sd^2 / m
  // with each value it was taken from, so out = n - median has variance sd^2 (1 + (pi/2 - 2) / m).
  const expected = noiseSd ** 2 * (1 + (Math.PI / 2 - 2) / 15);
  console.log(`    per-channel power ${before.perChannel.toFixed(0)} -> ${after.perChannel.toFixed(1)} (expected about ${expected.toFixed(1)}); common mode ${before.common.toFixed(0)} -> ${after.common.toFixed(2)}`);
  assert.ok(Math.abs(before.perChannel - (commonSd ** 2 + noiseSd ** 2)) < 0.05 * commonSd ** 2);
  assert.ok(Math.abs(after.perChannel - expected) < 0.05 * expected, `per-channel power ${after.perChannel}`);
  assert.ok(after.common < 0.005 * before.common, `common-mode power ${after.common}`);
  // The offsets (spread over ±100 counts) were estimated from the data: every channel now sits near 0.
  for (let c = 0; c < C; c++) {
    let mean = 0;
    for (let s = 0; s < samples; s++) mean += y[s * C + c] / samples;
    assert.ok(Math.abs(mean) < 5, `channel ${c} mean ${mean.toFixed(2)}`);
  }
}, 60_000));

test('a signal on one channel passes through unchanged; channels at or above the air channel are copied', timed(async () => {
  const dir = tempDir();
  const normal = gaussian(rng(11));
  const C = 384, samples = 6000, spikeChannel = 100, air = 360;
  const offset = Int16Array.from({ length: C }, (_, c) => (c % 13) * 5 - 30);
  const signal = new Int16Array(samples);
  for (let t = 50; t < samples; t += 300) for (let k = 0; k < 20; k++) signal[t + k] = Math.round(-200 * Math.sin((Math.PI * k) / 20));
  const x = new Int16Array(samples * C);
  for (let s = 0; s < samples; s++) {
    const common = Math.round(normal() * 40);
    for (let c = 0; c < C; c++) x[s * C + c] = offset[c] + common + (c === spikeChannel ? signal[s] : 0);
  }
  const probe: ProbeValues = { numChannels: C, maxChannel: air, offset, scaling: new Float32Array(C).fill(1), mask: Array.from({ length: C }, (_, c) => c !== 191) };
  const ap = writeInt16(path.join(dir, 'ap.dat'), x);
  const out = path.join(dir, 'ms.dat');
  await stage.run({
    ephys_params: { ap_band_file: ap, num_channels: C },
    common_files: { probe_json: writeProbe(path.join(dir, 'probe_info.json'), probe) },
    median_subtraction_params: { output_file: out },
  }, quietContext());
  const y = readInt16(out);
  for (let s = 0; s < samples; s++) {
    for (let c = 0; c < C; c++) {
      const want = c >= air ? x[s * C + c] : c === spikeChannel ? signal[s] : 0;
      if (y[s * C + c] !== want) assert.unreachable(`sample ${s} channel ${c}: ${y[s * C + c]} != ${want}`);
    }
  }
}, 60_000));

test('without output_file the result replaces ap_band_file atomically, residuals beside it, nothing else left', timed(async () => {
  const dir = tempDir();
  const rand = rng(3);
  const C = 48, samples = 1000;
  const x = Int16Array.from({ length: samples * C }, () => Math.round((rand() - 0.5) * 100));
  const ap = writeInt16(path.join(dir, 'continuous.dat'), x);
  const ctx = quietContext();
  const result = await stage.run({ ephys_params: { ap_band_file: ap, num_channels: C, reference_channels: [] } }, ctx);
  assert.equal(fs.readdirSync(dir).sort(), ['continuous.dat', 'residuals.dat']);
  assert.is(result.output_file, ap);
  assert.is(fs.statSync(path.join(dir, 'residuals.dat')).size, samples * 48);
  assert.not.ok(Buffer.from(readInt16(ap).buffer).equals(Buffer.from(x.buffer)), 'the AP file should now hold the result');
  assert.is(ctx.progressCalls.at(-1), samples * C * 2);
}, 60_000));

test('a truncated AP file is a StageError naming it, and nothing is written', timed(async () => {
  const dir = tempDir();
  const ap = path.join(dir, 'continuous.dat');
  fs.writeFileSync(ap, Buffer.alloc(384 * 2 * 10 + 3));
  const err = await stage.run({ ephys_params: { ap_band_file: ap, num_channels: 384 } }, quietContext()).catch((e) => e);
  assert.instance(err, StageError);
  assert.match(err.message, ap);
  assert.match(err.message, 'not a multiple of 2 x num_channels');
  assert.equal(fs.readdirSync(dir), ['continuous.dat']);
}, 60_000));

test('bad probe_json values are a StageError naming the file, the key and entry, and what is valid', timed(async () => {
  const dir = tempDir();
  const ap = writeInt16(path.join(dir, 'continuous.dat'), new Int16Array(384 * 10));
  const probeJson = path.join(dir, 'probe_info.json');
  const good = { offset: new Array(384).fill(0), scaling: new Array(384).fill(1), mask: new Array(384).fill(true), air_channel: 384 };
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ offset: new Array(383).fill(0) }, `'offset' has 383 entries, expected num_channels = 384`],
    [{ mask: [...new Array(383).fill(true), 'yes'] }, `'mask'[383] must be true/false or a number (got "yes")`],
    [{ offset: [...new Array(383).fill(0), 3e9] }, `'offset'[383] = 3000000000 is outside the int range the program reads`],
    [{ air_channel: null }, `'air_channel' must be a number`],
  ];
  for (const [change, message] of cases) {
    fs.writeFileSync(probeJson, JSON.stringify({ ...good, ...change }));
    const err = await stage.run({ ephys_params: { ap_band_file: ap, num_channels: 384 }, common_files: { probe_json: probeJson }, median_subtraction_params: { output_file: path.join(dir, 'o.dat') } }, quietContext()).catch((e) => e);
    assert.instance(err, StageError);
    assert.is(err.message, `${probeJson}: ${message}`);
    assert.equal(fs.readdirSync(dir).sort(), ['continuous.dat', 'probe_info.json']);
  }
}, 60_000));

test('stopping the job removes the partial outputs', timed(async () => {
  const dir = tempDir();
  const ap = writeInt16(path.join(dir, 'continuous.dat'), new Int16Array(384 * 200_000));
  const controller = new AbortController();
  const run = stage.run({ ephys_params: { ap_band_file: ap, num_channels: 384 }, median_subtraction_params: { output_file: path.join(dir, 'o.dat') } }, quietContext(controller.signal));
  setTimeout(() => controller.abort(), 20);
  const err = await run.catch((e) => e);
  assert.instance(err, StageError);
  assert.match(err.message, 'stopped');
  assert.equal(fs.readdirSync(dir), ['continuous.dat']);
}, 60_000));

test('an input that shrinks while it is read is a StageError naming it, with reads and writes in flight, and leaves nothing', timed(async () => {
  const dir = tempDir();
  const C = 384, samples = 40_000;
  const ap = writeInt16(path.join(dir, 'continuous.dat'), new Int16Array(samples * C).fill(7));
  const run = stage.run({ ephys_params: { ap_band_file: ap, num_channels: C, reference_channels: [] }, median_subtraction_params: { output_file: path.join(dir, 'out', 'ms.dat') } }, quietContext());
  fs.truncateSync(ap, samples * C); // half the file, while the first reads are under way
  const err = await run.catch((e) => e);
  assert.instance(err, StageError);
  assert.is(err.message, `median subtraction of ${ap} failed, its output was not written: ${ap}: file ended early (was it truncated while being read?)`);
  assert.equal(fs.readdirSync(path.join(dir, 'out')), []);
}, 60_000));

test('runs in the built-in host like the Allen module: output JSON, and exit 1 with the file named on error', timed(() => {
  const dir = tempDir();
  const ap = writeInt16(path.join(dir, 'continuous.dat'), new Int16Array(384 * 3000));
  const inputJson = path.join(dir, 'input.json');
  const outputJson = path.join(dir, 'output.json');
  fs.writeFileSync(inputJson, JSON.stringify({ ephys_params: { ap_band_file: ap, num_channels: 384 }, median_subtraction_params: { output_file: path.join(dir, 'ms.dat') } }));
  const ok = spawnSync(process.execPath, [hostPath, 'median_subtraction', '--input_json', inputJson, '--output_json', outputJson], { encoding: 'utf8' });
  assert.is(ok.status, 0, ok.stderr);
  const out = JSON.parse(fs.readFileSync(outputJson, 'utf8'));
  assert.type(out.execution_time, 'number');
  assert.type(out.median_subtraction_execution_time, 'number');
  assert.is(out.input_parameters.ephys_params.ap_band_file, ap);
  fs.truncateSync(ap, 384 * 2 * 3000 - 1);
  const bad = spawnSync(process.execPath, [hostPath, 'median_subtraction', '--input_json', inputJson, '--output_json', outputJson], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, `error: ${ap}: size ${384 * 2 * 3000 - 1} bytes is not a multiple`);
}, 60_000));

test.run();
