/**
 * The built-in median_subtraction against what the real SpikeBandMedianSubtraction program wrote
 * for the same 384-channel files (test/fixtures/golden/median_subtraction/crafted/, made by its
 * make.ts from the cases in medianCases.ts): byte for byte, output and residuals.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { repoRoot, tempDir, timed } from './rig.js';
import type { BuiltinContext } from '../lib/builtin/stage.js';
import { stage } from '../stages/median_subtraction/index.js';
import { channels, craftedCases, groups, type CraftedCase, type ProbeJson } from './medianCases.js';
import { referenceMedianSubtraction } from './medianReference.js';

const goldenDir = path.join(repoRoot, 'test', 'fixtures', 'golden', 'median_subtraction', 'crafted');
const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'manifest.json'), 'utf8'));
const entryOf = (name: string) => manifest.cases.find((e: { name: string }) => e.name === name);

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const bytesOf = (x: Int16Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
const int16Of = (b: Buffer) => new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2);

function quietContext(): BuiltinContext & { lines: string[] } {
  const lines: string[] = [];
  return { signal: new AbortController().signal, log: (m) => { lines.push(m); }, progress: () => {}, lines };
}

/** The case's input, checked to be the one the program was given. */
function inputOf(c: CraftedCase): { data: Int16Array; probeFile: string; probe: ProbeJson } {
  const { data } = c.make();
  assert.is(sha256(bytesOf(data)), entryOf(c.name).input_sha256, `${c.name}: test/medianCases.ts no longer makes the input the program was run on; rerun make.ts`);
  const probeFile = path.join(goldenDir, `${c.name}.probe_info.json`);
  return { data, probeFile, probe: JSON.parse(fs.readFileSync(probeFile, 'utf8')) };
}

async function runBuiltin(data: Int16Array, probeFile: string, numChannels: number) {
  const dir = tempDir();
  const ap = path.join(dir, 'continuous.dat');
  fs.writeFileSync(ap, bytesOf(data));
  const output = path.join(dir, 'out', 'continuous_ms.dat');
  const ctx = quietContext();
  const result = await stage.run({
    ephys_params: { ap_band_file: ap, num_channels: numChannels },
    common_files: { probe_json: probeFile },
    median_subtraction_params: { output_file: output },
  }, ctx);
  return { result, lines: ctx.lines, output: fs.readFileSync(output), residuals: fs.readFileSync(path.join(dir, 'out', 'residuals.dat')) };
}

/** Fails naming the first (sample, channel) that differs. */
function assertSameRows(actual: Uint8Array, expected: Uint8Array, rowValues: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: byte count`);
  if (Buffer.compare(actual, expected) === 0) return;
  const a = int16Of(Buffer.from(actual)), e = int16Of(Buffer.from(expected));
  let first = 0;
  while (a[first] === e[first]) first++;
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== e[i]) count++;
  assert.unreachable(`${what}: ${count} of ${a.length} values differ; first at sample ${Math.floor(first / rowValues)}, ${what.includes('residuals') ? 'group' : 'channel'} ${first % rowValues}: ${a[first]}, program ${e[first]}`);
}

for (const c of craftedCases.filter((k) => !k.programCrashes)) {
  test(`${c.name}: byte-identical to the Allen program (${c.about})`, timed(async () => {
    const { data, probeFile } = inputOf(c);
    const got = await runBuiltin(data, probeFile, channels);
    const entry = entryOf(c.name);
    if (c.storeWhole) {
      assertSameRows(got.output, fs.readFileSync(path.join(goldenDir, `${c.name}.output.bin`)), channels, `${c.name} output`);
      assertSameRows(got.residuals, fs.readFileSync(path.join(goldenDir, `${c.name}.residuals.bin`)), groups, `${c.name} residuals`);
    } else {
      // Windows first: they say where a difference is; the hashes then cover every byte.
      const windows = fs.readFileSync(path.join(goldenDir, `${c.name}.windows.bin`));
      let at = 0;
      for (const [a, b] of entry.windows as Array<[number, number]>) {
        const outBytes = (b - a) * channels * 2, resBytes = (b - a) * groups * 2;
        assertSameRows(got.output.subarray(a * channels * 2, b * channels * 2), windows.subarray(at, at + outBytes), channels, `${c.name} output samples ${a}..${b}`);
        at += outBytes;
        assertSameRows(got.residuals.subarray(a * groups * 2, b * groups * 2), windows.subarray(at, at + resBytes), groups, `${c.name} residuals samples ${a}..${b}`);
        at += resBytes;
      }
    }
    assert.is(sha256(got.output), entry.output_sha256, `${c.name}: output hash`);
    assert.is(sha256(got.residuals), entry.residuals_sha256, `${c.name}: residuals hash`);
    assert.is(got.result.kernel, 'wasm-simd');
  }, 60_000));
}

test('the plain transcription used for random inputs agrees with the program on every stored case', timed(() => {
  for (const c of craftedCases.filter((k) => !k.programCrashes && k.storeWhole)) {
    const { data, probe } = inputOf(c);
    const ref = referenceMedianSubtraction(data, {
      numChannels: channels, maxChannel: Math.trunc(probe.air_channel), offset: probe.offset, scaling: probe.scaling,
      mask: probe.mask.map((v) => v === true || (typeof v === 'number' && v !== 0)),
    });
    assertSameRows(bytesOf(ref.out), fs.readFileSync(path.join(goldenDir, `${c.name}.output.bin`)), channels, `${c.name} transcription output`);
    assertSameRows(bytesOf(ref.residuals), fs.readFileSync(path.join(goldenDir, `${c.name}.residuals.bin`)), groups, `${c.name} transcription residuals`);
  }
}, 60_000));

test('385 channels (SpikeGLX): the 384 neural channels as the program gives them, the sync channel copied untouched', timed(async () => {
  for (const name of ['realistic', 'group-sizes-scaled-air331']) {
    const c = craftedCases.find((k) => k.name === name)!;
    const { data, probe } = inputOf(c);
    const samples = c.samples, C = channels + 1;
    const withSync = new Int16Array(samples * C);
    for (let s = 0; s < samples; s++) {
      withSync.set(data.subarray(s * channels, (s + 1) * channels), s * C);
      withSync[s * C + channels] = (s * 7919) & 0x7fff; // a changing sync word
    }
    // depth_estimation on a 385-channel file lists 385 channels; the sync channel may look usable.
    const probe385 = { ...probe, channel: [...probe.channel, 384], offset: [...probe.offset, 1234], scaling: [...probe.scaling, 1], mask: [...probe.mask, true], air_channel: probe.air_channel === 384 ? 385 : probe.air_channel };
    const probeFile = path.join(tempDir(), 'probe_info.json');
    fs.writeFileSync(probeFile, JSON.stringify(probe385));
    const got = await runBuiltin(withSync, probeFile, C);
    const expected = int16Of(fs.readFileSync(path.join(goldenDir, `${name}.output.bin`)));
    const out = int16Of(got.output);
    for (let s = 0; s < samples; s++) {
      for (let ch = 0; ch < C; ch++) {
        const want = ch < channels ? expected[s * channels + ch] : withSync[s * C + ch];
        if (out[s * C + ch] !== want) assert.unreachable(`${name}: sample ${s} channel ${ch}: ${out[s * C + ch]} != ${want}`);
      }
    }
    assertSameRows(got.residuals, fs.readFileSync(path.join(goldenDir, `${name}.residuals.bin`)), groups, `${name} residuals (385 channels)`);
  }
}, 60_000));

test('a group with no usable channel: the program crashes; the built-in subtracts nothing there and says so', timed(async () => {
  const c = craftedCases.find((k) => k.programCrashes)!;
  const recorded = entryOf(c.name).program;
  assert.is(recorded.signal, 'SIGSEGV');
  assert.ok(recorded.input_unchanged, 'the program wrote nothing before crashing');
  const { data, probeFile, probe } = inputOf(c);
  const got = await runBuiltin(data, probeFile, channels);
  const ref = referenceMedianSubtraction(data, { numChannels: channels, maxChannel: 384, offset: probe.offset, scaling: probe.scaling, mask: probe.mask.map(Boolean) });
  assertSameRows(got.output, bytesOf(ref.out), channels, 'output');
  assertSameRows(got.residuals, bytesOf(ref.residuals), groups, 'residuals');
  for (let s = 0; s < c.samples; s++) assert.is(int16Of(got.residuals)[s * groups + 7], 0);
  assert.ok(got.lines.some((l) => l.startsWith('ADC groups 7 have no usable channel below channel 384')), got.lines.join('\n'));
}, 60_000));

test.run();
