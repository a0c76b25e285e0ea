/**
 * The fixed, seeded inputs the real Allen modules were run on to make the golden fixtures
 * (test/fixtures/golden/), and the input JSON each module gets. Both `npm run golden` (which runs
 * the modules) and the fidelity tests (which run the built-ins) build the inputs here, with the
 * project's own synthetic recordings, built-in sorter and Kilosort-folder writer, so the two sides
 * always see the same bytes; each fixture records the sha256 of its inputs to prove it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { synthesize } from '../../lib/synth/generate.js';
import { stage as builtinSorter } from '../../stages/builtin_sorter/index.js';
import type { BuiltinContext, InputJson } from '../../lib/builtin/stage.js';
import { makeKsFolder, type KsFolderOptions } from '../_ksFolder.js';
import { clean, makeTemplateFolder, randomUnits, type Unit } from './templateUnits.js';

export const quietContext: BuiltinContext = { progress() {}, log() {}, signal: new AbortController().signal };

/** A synthetic Open Ephys recording (384 channels, 0.195 µV/bit, 30 kHz AP, 2.5 kHz LFP). */
export interface RecordingCase { name: string; seed: number; seconds: number; units?: number; driftUm?: number }

export const recordings: RecordingCase[] = [
  { name: 'synthA', seed: 101, seconds: 8 },
  { name: 'synthB', seed: 102, seconds: 8, units: 60, driftUm: 20 },
];

export interface RecordingFiles { ap: string; lfp: string; dir: string }

export async function makeRecording(c: RecordingCase, root: string): Promise<RecordingFiles> {
  const out = path.join(root, c.name);
  fs.rmSync(out, { recursive: true, force: true });
  const s = await synthesize({
    outDir: out, recordings: 1, seconds: c.seconds, channels: 384, layout: 'openephys', seed: c.seed,
    units: c.units, driftUm: c.driftUm, unitModel: 'varied',
  });
  const r = s.recordings[0];
  return { ap: r.apFile, lfp: r.lfFile!, dir: r.dir };
}

/** The built-in sorter's output for a recording: its raw AP band, default parameters. */
export async function sortRecording(files: RecordingFiles, outDir: string): Promise<void> {
  fs.rmSync(outDir, { recursive: true, force: true });
  await builtinSorter.run({
    ephys_params: { ap_band_file: files.ap, num_channels: 384, sample_rate: 30000, bit_volts: 0.195, reference_channels: [191] },
    directories: { kilosort_output_directory: outDir },
    // Its clusters of one or two spikes kept: cases the modules must handle.
    builtin_sorter_params: { min_unit_spikes: 1 },
  }, quietContext);
}

/** Kilosort-format folders written by bench/_ksFolder.ts, for the cases a sorter rarely gives. */
export interface KsCase { name: string; options: KsFolderOptions; note: string }

export const ksFolders: KsCase[] = [
  {
    name: 'ksEdges',
    note: '383 channels (channel 191 left out, as Kilosort 2 does), units of 1 to 4 spikes, units from two templates, '
      + 'coincident and duplicate spike times, units above max_spikes_for_unit',
    options: {
      units: 40, spikes: 30000, durationS: 600, channels: 383, skipChannels: [191], seed: 11,
      fewSpikeCounts: [1, 1, 1, 2, 2, 3, 4], coincidentSpikes: 60, duplicateSpikes: 20,
    },
  },
  {
    name: 'ksDense',
    note: 'every unit within 40 channels, so neighbourhoods exceed max_spikes_for_nn rows; one-spike units among them',
    options: {
      units: 30, spikes: 60000, durationS: 1200, channels: 384, peakChannelRange: [100, 140], seed: 12,
      fewSpikeCounts: [1, 1, 2, 5],
    },
  },
  {
    name: 'ksShort',
    note: '3,000 spikes, fewer than n_silhouette (10,000): the module raises IndexError with its default',
    options: { units: 12, spikes: 3000, durationS: 60, channels: 384, seed: 13, fewSpikeCounts: [1] },
  },
  {
    name: 'ksPostprocessing',
    note: 'one template per cluster (as the postprocessing, noise and waveform modules assume), coincident spikes on '
      + 'neighbouring units at 0 to 5 samples, duplicates within units, a channel map with gaps; spike times inside '
      + 'synthB, whose AP band the mean waveforms read',
    options: {
      units: 30, spikes: 4000, durationS: 8, channels: 382, skipChannels: [191, 200], seed: 14, clustersAreTemplates: true,
      coincidentSpikes: 80, duplicateSpikes: 30, fewSpikeCounts: [1, 2],
    },
  },
];

/** Hand-shaped templates (templateUnits.ts) for the noise-template rules, one spike each. */
export interface TemplateCase { name: string; units: Unit[]; channelMap?: number[]; note: string }

const refs3A = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];

export const templateFolders: TemplateCase[] = [
  {
    name: 'templatesHand',
    note: 'a clean spike, one on a single channel, wide ones with and without propagation delay, a late trough, two sources, and 60 random ones',
    units: [
      clean, { channel: 200, widthUm: 22, singleChannel: true }, { channel: 200, widthUm: 90 }, { channel: 200, widthUm: 48 },
      { channel: 200, widthUm: 48, delayPerUm: 0.05 }, { ...clean, troughSample: 40 },
      { channel: 200, widthUm: 14, second: { channel: 220, widthUm: 14, amplitude: 0.9 } }, ...randomUnits(3, 60),
    ],
  },
  {
    name: 'templates3A',
    note: 'the 3A reference sites left out of the channel map, units centred on them (where the triangulation has gaps), and 40 random ones',
    units: [...refs3A.map((ch) => ({ channel: ch, widthUm: 20 })), ...randomUnits(5, 40)],
    channelMap: Array.from({ length: 384 }, (_, i) => i).filter((i) => !refs3A.includes(i)),
  },
];

export function makeTemplates(c: TemplateCase, root: string): string {
  const dir = path.join(root, c.name);
  fs.rmSync(dir, { recursive: true, force: true });
  makeTemplateFolder(dir, c.units, c.channelMap);
  return dir;
}

export function makeKs(c: KsCase, root: string): string {
  const dir = path.join(root, c.name);
  fs.rmSync(dir, { recursive: true, force: true });
  makeKsFolder(dir, c.options);
  return dir;
}

/** Copies a Kilosort folder (the modules that rewrite it in place get a copy). */
export function copyFolder(from: string, to: string): void {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true });
}

// ---------------------------------------------------------------------------------------------
// Input JSON, as the shipped pipeline would write it (create_input_json.py's values where the
// module has them), with parameters shortened where the synthetic recordings are short.

const ephys = (extra: InputJson = {}): InputJson => ({
  sample_rate: 30000, lfp_sample_rate: 2500, bit_volts: 0.195, num_channels: 384, reference_channels: [191],
  vertical_site_spacing: 10e-6, reorder_lfp_channels: false, cluster_group_file_name: 'cluster_group.tsv.v2', ...extra,
});

/** Depth estimation's variants: as the shipped pipeline runs it, and as for a 3A probe (NPX LFP order, 3A references, a sharp threshold). */
export const depthVariants: Record<string, { ephys: InputJson; params: InputJson }> = {
  pipeline: { ephys: {}, params: {} },
  '3A': { ephys: { reference_channels: refs3A, reorder_lfp_channels: true }, params: { smoothing_amount: 2, diff_thresh: -0.5, hi_noise_thresh: 30, lo_noise_thresh: 5 } },
};

export function depthInput(files: RecordingFiles, probeJson: string, workDir: string, variant = 'pipeline'): InputJson {
  const v = depthVariants[variant];
  return {
    directories: { extracted_data_directory: workDir, kilosort_output_directory: workDir },
    common_files: { probe_json: probeJson, settings_json: path.join(workDir, 'open-ephys.json') },
    ephys_params: ephys({ ap_band_file: files.ap, lfp_band_file: files.lfp, ...v.ephys }),
    depth_estimation_params: {
      hi_noise_thresh: 50.0, lo_noise_thresh: 3.0, save_figure: false, figure_location: path.join(workDir, 'probe_depth.png'),
      smoothing_amount: 5, power_thresh: 2.5, diff_thresh: -0.06, freq_range: [0, 10], max_freq: 150, channel_range: [374, 384],
      // 8-s recordings: 3 passes of 2 s, 2 s apart (the Allen values need 105 s).
      n_passes: 3, skip_s_per_pass: 2, start_time: 0.5, time_interval: 2, air_gap: 25, ...v.params,
    },
  };
}

export function postprocessingInput(ksDir: string): InputJson {
  return {
    directories: { kilosort_output_directory: ksDir, extracted_data_directory: ksDir },
    ephys_params: ephys(),
    ks_postprocessing_params: { within_unit_overlap_window: 0.000166, between_unit_overlap_window: 0.000166, between_unit_channel_distance: 5 },
  };
}

export function noiseInput(ksDir: string): InputJson {
  return {
    directories: { kilosort_output_directory: ksDir, extracted_data_directory: ksDir },
    ephys_params: ephys(),
    noise_waveform_params: { classifier_path: path.join(ksDir, 'rf_classifier.pkl'), multiprocessing_worker_count: 2 },
  };
}

export function meanWaveformsInput(ksDir: string, apFile: string, spikesPerEpoch: number): InputJson {
  return {
    directories: { kilosort_output_directory: ksDir, extracted_data_directory: ksDir },
    ephys_params: ephys({ ap_band_file: apFile }),
    waveform_metrics: { waveform_metrics_file: path.join(ksDir, 'waveform_metrics.csv') },
    mean_waveform_params: {
      mean_waveforms_file: path.join(ksDir, 'mean_waveforms.npy'), samples_per_spike: 82, pre_samples: 20, num_epochs: 1,
      // At least every unit's spike count: the module then averages all spikes (it shuffles them
      // unseeded and takes the first spikes_per_epoch, which no other program can repeat).
      spikes_per_epoch: spikesPerEpoch, spread_threshold: 0.12, site_range: 16,
    },
  };
}

/** `waveformMetricsFile`: a waveform_metrics.csv to merge, as the module does when one exists. */
export function qualityInput(ksDir: string, outputFile: string, params: InputJson = {}, waveformMetricsFile?: string): InputJson {
  return {
    directories: { kilosort_output_directory: ksDir, extracted_data_directory: ksDir },
    ephys_params: ephys(),
    waveform_metrics: { waveform_metrics_file: waveformMetricsFile ?? path.join(ksDir, 'no_waveform_metrics.csv') },
    quality_metrics_params: {
      isi_threshold: 0.0015, min_isi: 0.000166, num_channels_to_compare: 7, max_spikes_for_unit: 500, max_spikes_for_nn: 10000,
      n_neighbors: 4, n_silhouette: 10000, drift_metrics_min_spikes_per_interval: 10, drift_metrics_interval_s: 51,
      include_pc_metrics: true, quality_metrics_output_file: outputFile, ...params,
    },
  };
}
