/**
 * Built-in quick-look spike sorter. It is NOT a Kilosort replacement: no template matching, no
 * drift correction, no resolution of overlapping spikes. It detects threshold crossings, clusters
 * them per channel neighbourhood and writes the Kilosort/Phy file set, so that the rest of the
 * chain (postprocessing, noise templates, mean waveforms, quality metrics) and Phy can run on a
 * machine without MATLAB or a GPU, and a lab can look at a recording minutes after it ends.
 *
 * Reads ephys_params.ap_band_file (in the demo chain, the median-subtracted file), num_channels,
 * sample_rate, bit_volts, reference_channels; writes into directories.kilosort_output_directory.
 */
import fs from 'node:fs';
import { StageError, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { readParams } from './params.js';
import { sortRecording } from './sort.js';

// 2: clusters of fewer than min_unit_spikes folded into their nearest (reassign.ts).
export const version = '2';

const note = 'ephys-make built-in quick-look sorter: threshold detection, PCA features and ISO-SPLIT-style clustering per channel '
  + 'neighbourhood. Not a Kilosort replacement (no template matching, drift correction or overlap resolution); use it for a first look.';

const defaultReferenceChannels = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];

function fail(message: string): never {
  throw new StageError(message);
}

export const stage: BuiltinStage = {
  version,
  async run(input: InputJson, ctx) {
    const started = process.hrtime.bigint();
    const ephys = input.ephys_params ?? {};
    const apFile: unknown = ephys.ap_band_file;
    if (typeof apFile !== 'string' || apFile === '') fail('ephys_params.ap_band_file is required');
    const outDir: unknown = input.directories?.kilosort_output_directory;
    if (typeof outDir !== 'string' || outDir === '') fail('directories.kilosort_output_directory is required');
    const numChannels = ephys.num_channels ?? 384;
    if (!Number.isInteger(numChannels) || numChannels <= 0) fail(`ephys_params.num_channels must be a positive integer (got ${JSON.stringify(numChannels)})`);
    const sampleRateHz = ephys.sample_rate ?? 30000;
    if (typeof sampleRateHz !== 'number' || !(sampleRateHz > 0)) fail(`ephys_params.sample_rate must be a positive number (got ${JSON.stringify(sampleRateHz)})`);
    const bitVolts = ephys.bit_volts ?? 0.195;
    if (typeof bitVolts !== 'number' || !(bitVolts > 0)) fail(`ephys_params.bit_volts must be a positive number (got ${JSON.stringify(bitVolts)})`);
    const referenceChannels: number[] = Array.isArray(ephys.reference_channels) ? ephys.reference_channels : defaultReferenceChannels;
    const params = readParams(input.builtin_sorter_params);
    try {
      if (!fs.statSync(apFile).isFile()) fail(`${apFile}: not a file`);
    } catch (err) {
      if (err instanceof StageError) throw err;
      fail(`${apFile}: cannot read AP band file: ${(err as Error).message}`);
    }
    fs.mkdirSync(outDir, { recursive: true });

    const summary = await sortRecording({
      apFile, numChannels, sampleRateHz, bitVolts, referenceChannels, outDir, params,
      signal: ctx.signal, log: (m) => ctx.log(m), progress: (done, total) => ctx.progress(done, total, 'bytes'),
    });
    return {
      builtin_sorter_execution_time: Number(process.hrtime.bigint() - started) / 1e9,
      note,
      kilosort_output_directory: outDir,
      spikes: summary.spikes,
      clusters: summary.clusters,
      good_clusters: summary.goodClusters,
      sorted_channels: summary.sortedChannels,
      peak_channels: summary.peakChannels,
      median_noise_uv: summary.medianNoiseUv,
      phase_seconds: summary.phaseSeconds,
      files: summary.files,
      builtin_sorter_version: version,
    };
  },
};
