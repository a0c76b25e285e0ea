/**
 * Built-in median_subtraction: the Allen program's arithmetic (channelPlan.ts) on the same input
 * JSON, byte for byte on 384-channel files, without its in-place effects.
 *
 * What differs from the program, on purpose:
 * - the input is never written: the result goes to `median_subtraction_params.output_file`, or,
 *   when that is absent, to a new file renamed over `ap_band_file` (the module's visible effect,
 *   but atomic: a crash leaves the original);
 * - `residuals.dat` is written afresh, not appended to, so a rerun does not grow it;
 * - channel counts other than 384: the program reads every file as 384 channels. Here channels
 *   at or above 384 (SpikeGLX's sync channel) are copied unchanged, so a 385-channel file gives
 *   the program's result on its 384 neural channels; fewer channels keep groups g, g+24, ...;
 * - a group with no usable channel gets residual 0 (the program crashes);
 * - a file that is not whole samples is an error (the program leaves the partial sample as is);
 * - without a probe_info.json the offsets are estimated from the file (offsets.ts), every channel
 *   but the reference channels is usable, scaling is 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { planChannels, type ProbeValues } from './channelPlan.js';
import { estimateOffsets } from './offsets.js';
import { medianSubtractFile, StreamAborted, StreamIoError } from './streamMedian.js';

export const version = '2';

/** ephys_params.reference_channels' schema default (Neuropixels 3A reference sites). */
const defaultReferenceChannels = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];

/** Reported in the output JSON so a reader knows which of the module's behaviours to expect. */
const allenQuirks = {
  off_by_one_sort: 'reproduced: of n usable values only the first n-1 are sorted and element (n-1)/2 is taken',
  int16_wraparound: 'reproduced: offset and median subtraction wrap in int16 as the program\'s arithmetic does',
  max_channel_is_air_channel: 'reproduced: channels at or above int(air_channel) are copied unchanged',
  scaling: 'reproduced: int(float(median) * scaling[channel]) in single precision, INT_MIN where out of int range (x86)',
  empty_group: 'differs: a group with no usable channel gets residual 0 (the program crashes)',
  in_place: 'differs: the input is not modified; the output is written to a new file and renamed',
  residuals_append: 'differs: residuals.dat is written afresh instead of appended to',
  channel_count: 'differs: channels at or above 384 (the SpikeGLX sync channel) are copied unchanged; the program reads any file as 384 channels',
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
  // The program reads offsets as C ints (truncated toward zero) and a mask entry as a JUCE var's
  // bool: true, or any non-zero number.
  const offset = Int16Array.from(numbers('offset'), (v, i) => {
    if (Math.abs(v) >= 2 ** 31) fail(`${file}: 'offset'[${i}] = ${v} is outside the int range the program reads`);
    return Math.trunc(v);
  });
  const scaling = Float32Array.from(numbers('scaling'));
  const mask = list('mask').map((v, i) => {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    fail(`${file}: 'mask'[${i}] must be true/false or a number (got ${JSON.stringify(v)})`);
  });
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
    const emptyGroups = plan.usablePerGroup.flatMap((n, g) => (n === 0 ? [g] : []));
    if (emptyGroups.length > 0) {
      ctx.log(`ADC groups ${emptyGroups.join(', ')} have no usable channel below channel ${plan.maxChannel}: their residual is 0 (the Allen program crashes on such a probe_info.json)`);
    }

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
      if (err instanceof StreamIoError) fail(`median subtraction of ${apFile} failed, its output was not written: ${err.message}`);
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
      kernel: result.kernel,
      direct_writes: result.directWrites,
      throughput_bytes_per_second: seconds > 0 ? Math.round(sizeBytes / seconds) : null,
      allen_quirks: allenQuirks,
    };
  },
};
