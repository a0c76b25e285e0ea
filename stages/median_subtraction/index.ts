/**
 * Built-in median_subtraction: the Allen module's algorithm (reference §1.3; see channelPlan.ts
 * for the arithmetic and the quirks kept) on the same input JSON, without its in-place effects.
 *
 * What differs from the module, on purpose:
 * - the input is never written: the result goes to `median_subtraction_params.output_file`, or,
 *   when that is absent, to a new file renamed over `ap_band_file` (the module's visible effect,
 *   but atomic: a crash leaves the original);
 * - `residuals.dat` is written afresh, not appended to, so a rerun does not grow it;
 * - any channel count works (the module hard-codes 384); groups are still channels g, g+24, ...;
 * - without a probe_info.json the offsets are estimated from the file (offsets.ts), every channel
 *   but the reference channels is usable, scaling is 1 and no channel is left untouched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { planChannels, type ProbeValues } from './channelPlan.js';
import { estimateOffsets } from './offsets.js';
import { medianSubtractFile, StreamAborted } from './streamMedian.js';

export const version = '1';

/** ephys_params.reference_channels' schema default (Neuropixels 3A reference sites). */
const defaultReferenceChannels = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];

/** Reported in the output JSON so a reader knows which of the module's behaviours to expect. */
const allenQuirks = {
  off_by_one_sort: 'reproduced: only the first n-1 collected values are sorted, element n/2 is taken',
  int16_wraparound: 'reproduced: offset and median subtraction wrap in int16 as the module\'s arithmetic does',
  max_channel_is_air_channel: 'reproduced: channels at or above int(air_channel) are copied unchanged',
  scaling: 'reproduced: int(float(median) * scaling[channel]) in single precision',
  empty_group: 'differs: a group with no usable channel gets residual 0 (the module reads a stale buffer)',
  in_place: 'differs: the input is not modified; the output is written to a new file and renamed',
  residuals_append: 'differs: residuals.dat is written afresh instead of appended to',
  channel_count: 'differs: any num_channels is processed (the module hard-codes 384); groups are still channels g, g+24, ...',
};

function secondsSince(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function fail(message: string): never {
  throw new StageError(message);
}

function readProbeJson(file: string, numChannels: number): ProbeValues {
  let probe: Record<string, unknown>;
  try {
    probe = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`${file}: cannot read probe JSON: ${(err as Error).message}`);
  }
  const list = (key: string): unknown[] => {
    const v = probe[key];
    if (!Array.isArray(v)) fail(`${file}: '${key}' must be a list of ${numChannels} values`);
    if (v.length !== numChannels) fail(`${file}: '${key}' has ${v.length} entries, expected num_channels = ${numChannels}`);
    return v;
  };
  const numbers = (key: string) => list(key).map((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${file}: '${key}'[${i}] is not a number`);
    return v;
  });
  const offset = Int16Array.from(numbers('offset'), (v) => Math.trunc(v));
  const scaling = Float32Array.from(numbers('scaling'));
  const mask = list('mask').map((v) => v === true || v === 1);
  const air = probe.air_channel;
  if (typeof air !== 'number' || !Number.isFinite(air)) fail(`${file}: 'air_channel' must be a number`);
  return { numChannels, maxChannel: Math.trunc(air), offset, scaling, mask };
}

function positiveInteger(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(`${name} must be a positive integer (got ${JSON.stringify(v)})`);
  return v;
}

export const stage: BuiltinStage = {
  version,
  async run(input: InputJson, ctx) {
    const started = process.hrtime.bigint();
    const ephys = input.ephys_params ?? {};
    const params = input.median_subtraction_params ?? {};
    const apFile: unknown = ephys.ap_band_file;
    if (typeof apFile !== 'string' || apFile === '') fail('ephys_params.ap_band_file is required');
    const numChannels = positiveInteger(ephys.num_channels, 'ephys_params.num_channels', 384);
    const sampleRateHz = typeof ephys.sample_rate === 'number' && ephys.sample_rate > 0 ? ephys.sample_rate : 30000;
    const referenceChannels: number[] = Array.isArray(ephys.reference_channels) ? ephys.reference_channels : defaultReferenceChannels;

    let sizeBytes: number;
    try {
      const st = fs.statSync(apFile);
      if (!st.isFile()) fail(`${apFile}: not a file`);
      sizeBytes = st.size;
    } catch (err) {
      if (err instanceof StageError) throw err;
      fail(`${apFile}: cannot read AP band file: ${(err as Error).message}`);
    }
    if (sizeBytes % (2 * numChannels) !== 0) {
      fail(`${apFile}: size ${sizeBytes} bytes is not a multiple of 2 x num_channels (${2 * numChannels}); the file is truncated or num_channels is wrong`);
    }

    const probeJson: unknown = input.common_files?.probe_json;
    let probe: ProbeValues;
    let offsetsSource: 'probe_json' | 'estimated';
    if (typeof probeJson === 'string' && probeJson !== '' && fs.existsSync(probeJson)) {
      probe = readProbeJson(probeJson, numChannels);
      offsetsSource = 'probe_json';
    } else {
      ctx.log(probeJson ? `${probeJson} not found: estimating offsets from the data` : 'no common_files.probe_json: estimating offsets from the data');
      const estimateStarted = process.hrtime.bigint();
      const estimate = estimateOffsets(apFile, numChannels, sampleRateHz);
      ctx.log(`offsets: median of ${estimate.windows} windows of ${estimate.samplesPerWindow} samples, ${secondsSince(estimateStarted).toFixed(2)} s`);
      const reference = new Set(referenceChannels);
      probe = {
        numChannels,
        maxChannel: numChannels,
        offset: estimate.offset,
        scaling: new Float32Array(numChannels).fill(1),
        mask: Array.from({ length: numChannels }, (_, c) => !reference.has(c)),
      };
      offsetsSource = 'estimated';
    }
    const plan = planChannels(probe);

    const outputFile = typeof params.output_file === 'string' && params.output_file ? path.resolve(params.output_file) : path.resolve(apFile);
    const residualsFile = typeof params.residuals_file === 'string' && params.residuals_file
      ? path.resolve(params.residuals_file)
      : path.join(path.dirname(outputFile), 'residuals.dat');
    if (residualsFile === path.resolve(apFile)) fail(`${residualsFile}: residuals_file would overwrite the AP band file`);

    let result;
    const streamStarted = process.hrtime.bigint();
    try {
      result = await medianSubtractFile({
        inputPath: apFile,
        outputPath: outputFile,
        residualPath: residualsFile,
        plan,
        signal: ctx.signal,
        onProgress: (done, total) => ctx.progress(done, total, 'bytes'),
      });
    } catch (err) {
      if (err instanceof StreamAborted) fail(`median subtraction of ${apFile} stopped before it finished; nothing was written`);
      throw err;
    }
    ctx.log(`median subtraction of ${sizeBytes} bytes on ${result.workers} workers: ${secondsSince(streamStarted).toFixed(2)} s, of which ${result.commitSeconds.toFixed(2)} s making the output durable (fsync)`);
    const seconds = secondsSince(started);
    return {
      median_subtraction_execution_time: seconds,
      median_subtraction_commit_hash: `ephys-make built-in median_subtraction ${version}`,
      median_subtraction_commit_date: null,
      output_file: outputFile,
      residuals_file: residualsFile,
      samples: result.samples,
      num_channels: numChannels,
      max_channel: plan.maxChannel,
      offsets_source: offsetsSource,
      usable_channels_per_group: plan.usablePerGroup,
      throughput_bytes_per_second: seconds > 0 ? Math.round(sizeBytes / seconds) : null,
      allen_quirks: allenQuirks,
    };
  },
};
