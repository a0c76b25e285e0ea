/**
 * Built-in depth_estimation (reference §1.2): channel offsets and mask from the AP band
 * (offsets.ts), the brain-surface channel from the LFP band (surface.ts), probe_info.json
 * (probeJson.ts) and the figure (figure.ts). Reads only the windows the passes look at.
 *
 * Differences from the module, on purpose:
 * - a recording too short for the passes is an error that says how many seconds are needed and
 *   how many there are (the module silently works on short or empty windows);
 * - missing, unreadable or ragged binaries, reference channels outside the probe, an empty
 *   saline channel_range and reorder_lfp_channels with a channel count other than 384 are errors
 *   up front instead of crashes;
 * - smoothing_amount 0 means no smoothing (scipy's kernel is 0/0 there, making every profile
 *   value NaN and the surface channel num_channels).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StageError, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { writeFileAtomic } from '../../lib/base/atomicFile.js';
import { Int16File } from '../../lib/formats/int16File.js';
import { inputNumber, inputPath, inputSection } from '../../lib/builtin/stageInput.js';
import { apWindow, computeChannelOffsets, type OffsetParams } from './offsets.js';
import { findSurfaceChannel, lfpWindow, type SurfaceParams } from './surface.js';
import { writeProbeInfo } from './probeJson.js';
import { drawDepthFigure } from './figure.js';

const defaultReferenceChannels = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];

function fail(message: string): never {
  throw new StageError(message);
}

function pair(s: Record<string, any>, where: string, key: string, def: [number, number]): [number, number] {
  const v = s[key] ?? def;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    fail(`input JSON: ${where}.${key} must be two numbers, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

function seconds(samples: number, rate: number): string {
  return `${Number((samples / rate).toFixed(3))} s`;
}

export interface DepthSettings {
  apFile: string;
  lfpFile: string;
  probeJson: string;
  saveFigure: boolean;
  figureLocation?: string;
  offsets: OffsetParams;
  surface: SurfaceParams;
  /** Threads for the channel offsets: one per core, at most two (0 works in this thread). */
  workers: number;
}

export function readSettings(input: InputJson): DepthSettings {
  const ephys = inputSection(input, 'ephys_params');
  const params = inputSection(input, 'depth_estimation_params');
  const common = inputSection(input, 'common_files');
  const E = 'ephys_params', P = 'depth_estimation_params';
  const numChannels = inputNumber(ephys, E, 'num_channels', 384);
  if (!Number.isInteger(numChannels) || numChannels < 1) fail(`input JSON: ${E}.num_channels must be a positive integer, got ${numChannels}`);
  const referenceChannels = ephys.reference_channels ?? defaultReferenceChannels;
  if (!Array.isArray(referenceChannels) || !referenceChannels.every((c) => Number.isInteger(c))) {
    fail(`input JSON: ${E}.reference_channels must be a list of channel numbers`);
  }
  const badRef = referenceChannels.find((c: number) => c < 0 || c >= numChannels);
  if (badRef !== undefined) fail(`input JSON: ${E}.reference_channels has channel ${badRef}, outside 0..${numChannels - 1} (num_channels ${numChannels})`);
  const reorder = ephys.reorder_lfp_channels ?? true;
  if (reorder && numChannels !== 384) {
    fail(`input JSON: ${E}.reorder_lfp_channels applies the 3A NPX order of 384 LFP channels, but num_channels is ${numChannels}; set reorder_lfp_channels to false for this probe`);
  }
  const nPasses = inputNumber(params, P, 'n_passes', 10);
  if (!Number.isInteger(nPasses) || nPasses < 1) fail(`input JSON: ${P}.n_passes must be a positive integer, got ${nPasses}`);
  const offsets: OffsetParams = {
    numChannels,
    sampleRateHz: inputNumber(ephys, E, 'sample_rate', 30000),
    bitVolts: inputNumber(ephys, E, 'bit_volts', 0.195),
    referenceChannels,
    nPasses,
    startTimeS: inputNumber(params, P, 'start_time', 0),
    skipSPerPass: inputNumber(params, P, 'skip_s_per_pass', 5),
    timeIntervalS: inputNumber(params, P, 'time_interval', 5),
    hiNoiseThresh: inputNumber(params, P, 'hi_noise_thresh', 50),
    loNoiseThresh: inputNumber(params, P, 'lo_noise_thresh', 3),
  };
  const channelRange = pair(params, P, 'channel_range', [370, 380]);
  const clamp = (c: number) => Math.max(0, Math.min(numChannels, Math.trunc(c)));
  if (clamp(channelRange[1]) <= clamp(channelRange[0])) {
    fail(`input JSON: ${P}.channel_range [${channelRange.join(', ')}] selects no saline reference channels of the ${numChannels}`);
  }
  const nfft = inputNumber(params, P, 'nfft', 4096);
  const surface: SurfaceParams = {
    numChannels,
    lfpSampleRateHz: inputNumber(ephys, E, 'lfp_sample_rate', 2500),
    referenceChannels,
    reorderLfpChannels: Boolean(reorder),
    nPasses,
    skipSPerPass: offsets.skipSPerPass,
    nfft,
    freqRange: pair(params, P, 'freq_range', [0, 10]),
    channelRange,
    smoothingAmount: inputNumber(params, P, 'smoothing_amount', 5),
    powerThresh: inputNumber(params, P, 'power_thresh', 2.5),
    diffThresh: inputNumber(params, P, 'diff_thresh', -0.07),
    airGap: inputNumber(params, P, 'air_gap', 100),
    maxFreq: inputNumber(params, P, 'max_freq', 150),
  };
  const lfpSamples = Math.trunc(surface.lfpSampleRateHz);
  if (!Number.isInteger(nfft) || nfft < Math.min(256, lfpSamples)) {
    fail(`input JSON: ${P}.nfft must be an integer of at least the Welch segment length ${Math.min(256, lfpSamples)}, got ${nfft}`);
  }
  if (apWindow(offsets, 0).count < 1) fail(`input JSON: ${P}.time_interval ${offsets.timeIntervalS} s is shorter than one AP sample`);
  if (lfpSamples < 1) fail(`input JSON: ${E}.lfp_sample_rate ${surface.lfpSampleRateHz} Hz gives an empty one-second LFP chunk`);
  const saveFigure = Boolean(params.save_figure ?? true);
  const figureLocation = params.figure_location;
  if (saveFigure && (typeof figureLocation !== 'string' || figureLocation === '')) {
    fail(`input JSON: ${P}.figure_location must be a path when save_figure is true`);
  }
  return {
    apFile: inputPath(ephys, E, 'ap_band_file'),
    lfpFile: inputPath(ephys, E, 'lfp_band_file'),
    probeJson: inputPath(common, 'common_files', 'probe_json'),
    saveFigure,
    figureLocation: saveFigure ? figureLocation : undefined,
    offsets,
    surface,
    workers: Math.min(2, os.availableParallelism()),
  };
}

/** Fail early, naming the seconds needed and present, when the passes run past a file's end. */
function checkLength(what: string, file: Int16File, rate: number, end: number, need: string): void {
  if (end > file.sampleCount) {
    fail(`${what} ${file.path} holds ${seconds(file.sampleCount, rate)} (${file.sampleCount} samples at ${rate} Hz); depth estimation needs ${seconds(end, rate)}: ${need}`);
  }
}

export const stage: BuiltinStage = {
  version: '1',
  async run(input, ctx) {
    const s = readSettings(input);
    const ap = new Int16File(s.apFile, s.offsets.numChannels, 'AP band file');
    let lfp: Int16File | undefined;
    try {
      lfp = new Int16File(s.lfpFile, s.surface.numChannels, 'LFP band file');
      const o = s.offsets, u = s.surface;
      const lastAp = apWindow(o, o.nPasses - 1);
      checkLength('AP band file', ap, o.sampleRateHz, lastAp.start + lastAp.count,
        `start_time ${o.startTimeS} + skip_s_per_pass ${o.skipSPerPass} x (n_passes ${o.nPasses} - 1) + time_interval ${o.timeIntervalS} s`);
      const lastLfp = lfpWindow(u, u.nPasses - 1);
      checkLength('LFP band file', lfp, u.lfpSampleRateHz, lastLfp.start + lastLfp.count,
        `skip_s_per_pass ${u.skipSPerPass} x (n_passes ${u.nPasses} - 1) + 1 s`);
      const totalBytes = 2 * (o.nPasses * lastAp.count * o.numChannels + u.nPasses * lastLfp.count * u.numChannels);
      let doneBytes = 0;
      const onBytes = (b: number) => { doneBytes += b; ctx.progress(doneBytes, totalBytes, 'bytes'); };

      const offsets = await computeChannelOffsets(ap, o, onBytes, ctx.signal, s.workers);
      const masked = offsets.mask.filter((m) => !m).length;
      ctx.log(`channel offsets: ${masked} of ${o.numChannels} channels masked (reference or RMS outside ${o.loNoiseThresh}..${o.hiNoiseThresh} µV)`);
      const surface = findSurfaceChannel(lfp, u, onBytes, ctx.signal);
      ctx.log(`surface channel ${surface.surfaceChannel} (passes: ${surface.candidates.join(', ')}), air channel ${surface.airChannel}`);

      writeProbeInfo(s.probeJson, {
        offsets: offsets.offsets,
        mask: offsets.mask,
        surfaceChannel: surface.surfaceChannel,
        airChannel: surface.airChannel,
        numChannels: o.numChannels,
      });
      if (s.saveFigure && s.figureLocation) {
        fs.mkdirSync(path.dirname(path.resolve(s.figureLocation)), { recursive: true });
        writeFileAtomic(s.figureLocation, drawDepthFigure({
          lastPass: surface.lastPass,
          numChannels: u.numChannels,
          surfaceChannel: surface.surfaceChannel,
          powerThresh: u.powerThresh,
          diffThresh: u.diffThresh,
        }));
      }
      // The output schema declares both channels Int; marshmallow serialises int(x).
      return {
        surface_channel: Math.trunc(surface.surfaceChannel),
        air_channel: Math.trunc(surface.airChannel),
        probe_json: s.probeJson,
      };
    } finally {
      ap.close();
      lfp?.close();
    }
  },
};
