/**
 * A Kilosort / Phy output folder, read the way ecephys_spike_sorting's `load_kilosort_data` reads
 * it (reference §0.2, file set §3.2), with every malformed file reported as a StageError that names
 * the file and what was expected. The Python helper would crash later with an IndexError, or, in
 * quality_metrics, exit 0 without output; built-in stages must not.
 *
 * Shapes follow the arrays, not MATLAB: npy-matlab writes column vectors as (N, 1) and Fortran order,
 * Python rewrites them as (N,) in C order; both are accepted and returned flat, in C order.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError } from '../base/stageError.js';
import type { NpyData, NpyDtype, NpyHeader } from './npy.js';
import { checkDtype, checkLength, floatDtypes, distinctSorted, header, integerDtypes, read, readFloat32Large, shapeText, toFloat64, toUint32, vectorLength } from './kilosortArrays.js';
import { readClusterGroupTsv } from './clusterGroup.js';
import { recordingLength } from './phyParams.js';
import { leadingZeroSamples, templateLayoutOf, type TemplateLayout } from './templateLayout.js';

export interface LoadKilosortOptions {
  /** AP-band sample rate; spike times are divided by it when `convertToSeconds`. */
  sampleRateHz: number;
  /** Default true, as in the Python helper. */
  convertToSeconds?: boolean;
  /** Read pc_features.npy and pc_feature_ind.npy (default false). */
  includePcs?: boolean;
  /**
   * Read and unwhiten templates.npy (default true). When false the file and whitening_mat_inv.npy
   * must still exist with valid headers (the Python helper always reads them), but their data is
   * not loaded: quality_metrics never uses templates.
   */
  includeTemplates?: boolean;
  /**
   * Leading zero samples cut from every template. Default: recognised from templates.npy itself
   * (`templateLayout`): 21 for Kilosort 2's layout, as the Allen code always cuts, 0 for Kilosort 4's.
   */
  templateZeroPadding?: number;
  /** Read spike_times_master_clock.npy instead of spike_times.npy. */
  useMasterClock?: boolean;
  /** Put the per-spike arrays and pc_features on SharedArrayBuffers, for worker threads. */
  shared?: boolean;
  /**
   * Samples in the recording that was sorted: no spike may lie past it. Default: from params.py's
   * dat_path and n_channels_dat when that file is there; else not checked.
   */
  recordingSamples?: { samples: number; source: string };
}

/** dtype and shape of a file as it was on disk, so a rewrite can keep them. */
export interface NpyLayout { dtype: NpyDtype; shape: number[] }

export type { TemplateLayout };

export interface KilosortFolder {
  dir: string;
  spikeCount: number;
  /** Seconds when converted (the default), else sample indices; float64 either way. */
  spikeTimes: Float64Array;
  /** spike_times as stored (uint64 from Kilosort), for lossless rewrites. */
  spikeTimesRaw: NpyData;
  spikeClusters: Uint32Array;
  spikeTemplates: Uint32Array;
  amplitudes: Float64Array;
  templateCount: number;
  /** Samples per template after the zero padding is cut. */
  templateSamples: number;
  /** Which sorter's template layout templates.npy has, and how many leading samples were cut. */
  templateLayout: TemplateLayout;
  /** Columns of the templates: channels Kilosort kept, in channel_map order. */
  channelCount: number;
  /**
   * Unwhitened templates, [templateCount][templateSamples][channelCount] in C order; absent with
   * `includeTemplates: false`. float64 as in Python; values are float32-rounded when both
   * templates.npy and whitening_mat_inv.npy are float32, because numpy multiplies those in float32.
   */
  templates?: Float64Array;
  /** whitening_mat_inv, [channelCount][channelCount]; absent with `includeTemplates: false`. */
  whiteningMatInv?: Float64Array;
  /** Original data channel of each template column. */
  channelMap: Int32Array;
  /** [spikeCount][pcCount][pcChannelCount] in C order; with `includePcs`. */
  pcFeatures?: Float32Array;
  pcCount: number;
  pcChannelCount: number;
  /** [templateCount][pcChannelCount]: indices into the channelCount sorted channels. */
  pcFeatureInd?: Uint32Array;
  /** From cluster_group.tsv, or the sorted distinct spike_clusters when that file is absent. */
  clusterIds: number[];
  /** Label per cluster id ('good', 'mua', 'noise', ...), 'unsorted' without cluster_group.tsv. */
  clusterLabels: string[];
  /** Layout of every array read, keyed by file name. */
  layouts: Record<string, NpyLayout>;
}

/**
 * Unwhiten templates: each (samples x channels) slab right-multiplied by whitening_mat_inv. The
 * padding rows are already cut, and zero entries (most of a template's channels) are skipped.
 */
function unwhiten(t: NpyData, tShape: number[], pad: number, w: Float64Array, roundToFloat32: boolean): Float64Array {
  const [nT, nS, nC] = tShape;
  const samples = nS - pad;
  const out = new Float64Array(nT * samples * nC);
  for (let ti = 0; ti < nT; ti++) {
    for (let s = 0; s < samples; s++) {
      const src = (ti * nS + s + pad) * nC;
      const dst = (ti * samples + s) * nC;
      for (let k = 0; k < nC; k++) {
        const a = Number(t[src + k]);
        if (a === 0) continue;
        const wRow = k * nC;
        for (let j = 0; j < nC; j++) out[dst + j] += a * w[wRow + j];
      }
      if (roundToFloat32) for (let j = 0; j < nC; j++) out[dst + j] = Math.fround(out[dst + j]);
    }
  }
  return out;
}

/** Read a Kilosort output folder as `load_kilosort_data` does, validating every file. */
export function loadKilosortFolder(dir: string, opts: LoadKilosortOptions): KilosortFolder {
  const convertToSeconds = opts.convertToSeconds ?? true;
  const includePcs = opts.includePcs ?? false;
  const includeTemplates = opts.includeTemplates ?? true;
  const shared = opts.shared ?? false;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new StageError(`${dir}: Kilosort output folder does not exist`);
  }
  if (convertToSeconds && !(opts.sampleRateHz > 0)) {
    throw new StageError(`sample rate ${opts.sampleRateHz} Hz; expected a positive number to convert spike times to seconds`);
  }
  const layouts: Record<string, NpyLayout> = {};
  const note = (name: string, h: NpyHeader) => { layouts[name] = { dtype: h.dtype, shape: h.shape.slice() }; };

  // Headers first, so a malformed folder fails before anything large is read.
  const timesName = opts.useMasterClock ? 'spike_times_master_clock.npy' : 'spike_times.npy';
  const hTimes = header(dir, timesName, 'spike times (sample indices, uint64)');
  checkDtype(dir, timesName, hTimes, [...integerDtypes, 'float64'], 'integer sample indices');
  const n = vectorLength(dir, timesName, hTimes);
  note(timesName, hTimes);

  const perSpike: Array<[string, NpyDtype[], string]> = [
    ['spike_clusters.npy', integerDtypes, 'integer cluster ids'],
    ['spike_templates.npy', integerDtypes, 'integer template ids'],
    ['amplitudes.npy', floatDtypes, 'floating-point template scaling factors'],
  ];
  for (const [name, allowed, what] of perSpike) {
    const h = header(dir, name, what);
    checkDtype(dir, name, h, allowed, what);
    checkLength(dir, name, vectorLength(dir, name, h), n, timesName);
    note(name, h);
  }

  const hTemplates = header(dir, 'templates.npy', 'templates (T x samples x channels, float32)');
  checkDtype(dir, 'templates.npy', hTemplates, floatDtypes, 'floating-point templates');
  if (hTemplates.shape.length !== 3) {
    throw new StageError(`${path.join(dir, 'templates.npy')}: shape ${shapeText(hTemplates.shape)}; expected 3 dimensions (templates, samples, channels)`);
  }
  const [templateCount, templateLength, channelCount] = hTemplates.shape;
  const templatesFile = path.join(dir, 'templates.npy');
  // With the data read below the layout is checked against its zeros; without, the length decides.
  let layout = opts.templateZeroPadding !== undefined
    ? { sorter: 'kilosort2' as const, paddingSamples: opts.templateZeroPadding }
    : templateLayoutOf(templatesFile, hTemplates.shape, undefined);
  let pad = layout.paddingSamples;
  if (templateLength <= pad) {
    throw new StageError(`${path.join(dir, 'templates.npy')}: ${templateLength} samples per template; expected more than the ${pad} leading zero samples`);
  }
  note('templates.npy', hTemplates);

  const hWhite = header(dir, 'whitening_mat_inv.npy', 'the inverse whitening matrix (channels x channels)');
  checkDtype(dir, 'whitening_mat_inv.npy', hWhite, floatDtypes, 'a floating-point matrix');
  if (hWhite.shape.length !== 2 || hWhite.shape[0] !== channelCount || hWhite.shape[1] !== channelCount) {
    throw new StageError(`${path.join(dir, 'whitening_mat_inv.npy')}: shape ${shapeText(hWhite.shape)}; expected (${channelCount}, ${channelCount}) to match the ${channelCount} channels of templates.npy`);
  }
  note('whitening_mat_inv.npy', hWhite);

  const hMap = header(dir, 'channel_map.npy', 'the channel map (int32)');
  checkDtype(dir, 'channel_map.npy', hMap, integerDtypes, 'integer channel numbers');
  const mapLength = hMap.shape.length === 1 ? hMap.shape[0]
    : hMap.shape.length === 2 && (hMap.shape[0] === 1 || hMap.shape[1] === 1) ? hMap.shape[0] * hMap.shape[1] : -1;
  if (mapLength < 0) {
    throw new StageError(`${path.join(dir, 'channel_map.npy')}: shape ${shapeText(hMap.shape)}; expected a vector (C,), (C, 1) or (1, C)`);
  }
  if (mapLength !== channelCount) {
    throw new StageError(`${path.join(dir, 'templates.npy')}: ${channelCount} channels; expected ${mapLength}, the length of channel_map.npy`);
  }
  note('channel_map.npy', hMap);

  let pcCount = 0;
  let pcChannelCount = 0;
  let hPc: NpyHeader | undefined;
  if (includePcs) {
    hPc = header(dir, 'pc_features.npy', 'PC features (spikes x PCs x channels, float32)');
    checkDtype(dir, 'pc_features.npy', hPc, floatDtypes, 'floating-point PC features');
    if (hPc.shape.length !== 3) {
      throw new StageError(`${path.join(dir, 'pc_features.npy')}: shape ${shapeText(hPc.shape)}; expected 3 dimensions (spikes, PCs, channels)`);
    }
    checkLength(dir, 'pc_features.npy', hPc.shape[0], n, timesName);
    [, pcCount, pcChannelCount] = hPc.shape;
    if (pcCount === 0 || pcChannelCount === 0) {
      throw new StageError(`${path.join(dir, 'pc_features.npy')}: shape ${shapeText(hPc.shape)}; expected at least one PC on at least one channel per spike (Kilosort 2: (N, 3, 32), Kilosort 4: (N, 6, 10))`);
    }
    note('pc_features.npy', hPc);
    const hInd = header(dir, 'pc_feature_ind.npy', 'PC channel indices (templates x channels)');
    checkDtype(dir, 'pc_feature_ind.npy', hInd, integerDtypes, 'integer channel indices');
    if (hInd.shape.length === 2 && hInd.shape[0] === templateCount && hInd.shape[1] === pcCount && pcCount !== pcChannelCount) {
      // Kilosort 4 holds its features as (spikes, channels, PCs) and swaps the axes only for Phy.
      throw new StageError(`${path.join(dir, 'pc_features.npy')}: shape ${shapeText(hPc.shape)} has the ${pcCount} channels of pc_feature_ind.npy ${shapeText(hInd.shape)} on its second axis: PCs and channels swapped; expected (spikes, PCs, channels), as Kilosort writes it for Phy (Kilosort 2: (N, 3, 32), Kilosort 4: (N, 6, 10))`);
    }
    if (hInd.shape.length !== 2 || hInd.shape[0] !== templateCount || hInd.shape[1] !== pcChannelCount) {
      throw new StageError(`${path.join(dir, 'pc_feature_ind.npy')}: shape ${shapeText(hInd.shape)}; expected (${templateCount}, ${pcChannelCount}): one row per template of templates.npy, one column per channel of pc_features.npy`);
    }
    note('pc_feature_ind.npy', hInd);
  }

  // Data. Every per-spike array is checked before use: a sorter's bad output must stop the stage
  // with the file and the first bad index, never turn into plausible wrong metrics.
  const timesArr = read(dir, timesName);
  const spikeTimes = toFloat64(timesArr.data, shared);
  const length = opts.recordingSamples ?? (opts.useMasterClock ? undefined : recordingLength(dir));
  for (let i = 0; i < n; i++) {
    const t = spikeTimes[i];
    if (!(t >= 0) || !Number.isFinite(t)) {
      throw new StageError(`${path.join(dir, timesName)}: value ${timesArr.data[i]} at index ${i}; expected non-negative sample indices`);
    }
    if (i > 0 && t < spikeTimes[i - 1]) {
      throw new StageError(`${path.join(dir, timesName)}: not sorted: value ${timesArr.data[i]} at index ${i} is below ${timesArr.data[i - 1]} at index ${i - 1}; expected spike times in increasing order, as Kilosort writes them`);
    }
    if (length && t >= length.samples) {
      throw new StageError(`${path.join(dir, timesName)}: value ${timesArr.data[i]} at index ${i} is past the end of the recording (${length.samples} samples in ${length.source}); is this the sorting of another recording?`);
    }
  }
  if (convertToSeconds) for (let i = 0; i < n; i++) spikeTimes[i] = spikeTimes[i] / opts.sampleRateHz;
  const spikeClusters = toUint32(dir, 'spike_clusters.npy', read(dir, 'spike_clusters.npy'), shared);
  // Kilosort numbers clusters by template; Phy adds new ids one by one. Far past that is a broken
  // file, and stages that index arrays by cluster id would try to allocate it.
  const clusterLimit = templateCount + Math.max(n, 1 << 16);
  for (let i = 0; i < n; i++) {
    if (spikeClusters[i] >= clusterLimit) {
      throw new StageError(`${path.join(dir, 'spike_clusters.npy')}: cluster id ${spikeClusters[i]} at index ${i} is out of range; expected ids below ${clusterLimit} (templates.npy has ${templateCount} templates, and Phy numbers new clusters after them)`);
    }
  }
  const spikeTemplates = toUint32(dir, 'spike_templates.npy', read(dir, 'spike_templates.npy'), shared);
  for (let i = 0; i < n; i++) {
    if (spikeTemplates[i] >= templateCount) {
      throw new StageError(`${path.join(dir, 'spike_templates.npy')}: template id ${spikeTemplates[i]} at spike ${i}; expected ids below ${templateCount}, the number of templates in templates.npy`);
    }
  }
  const amplitudes = toFloat64(read(dir, 'amplitudes.npy').data, shared);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(amplitudes[i])) {
      throw new StageError(`${path.join(dir, 'amplitudes.npy')}: value ${amplitudes[i]} at index ${i}; expected finite template scaling factors`);
    }
  }

  const mapData = read(dir, 'channel_map.npy').data;
  const channelMap = new Int32Array(mapLength);
  for (let i = 0; i < mapLength; i++) {
    const v = Number(mapData[i]);
    if (!(v >= 0 && v <= 0x7fffffff)) {
      throw new StageError(`${path.join(dir, 'channel_map.npy')}: channel ${mapData[i]} at index ${i}; expected non-negative channel numbers`);
    }
    channelMap[i] = v;
  }

  let templates: Float64Array | undefined;
  let whiteningMatInv: Float64Array | undefined;
  if (includeTemplates) {
    const t = read(dir, 'templates.npy');
    if (opts.templateZeroPadding === undefined) {
      layout = templateLayoutOf(templatesFile, t.shape, leadingZeroSamples(t.data, t.shape));
      pad = layout.paddingSamples;
    }
    const w = read(dir, 'whitening_mat_inv.npy');
    whiteningMatInv = toFloat64(w.data, false);
    templates = unwhiten(t.data, t.shape, pad, whiteningMatInv, t.dtype === 'float32' && w.dtype === 'float32');
  }

  let pcFeatures: Float32Array | undefined;
  let pcFeatureInd: Uint32Array | undefined;
  if (includePcs && hPc) {
    pcFeatureInd = toUint32(dir, 'pc_feature_ind.npy', read(dir, 'pc_feature_ind.npy'), shared);
    for (let i = 0; i < pcFeatureInd.length; i++) {
      if (pcFeatureInd[i] >= channelCount) {
        throw new StageError(`${path.join(dir, 'pc_feature_ind.npy')}: channel index ${pcFeatureInd[i]} at template ${Math.floor(i / pcChannelCount)}; expected indices below ${channelCount}, the channels of templates.npy`);
      }
    }
    pcFeatures = readFloat32Large(dir, 'pc_features.npy', hPc, shared);
  }

  let clusterIds: number[];
  let clusterLabels: string[];
  const groupFile = path.join(dir, 'cluster_group.tsv');
  if (fs.existsSync(groupFile)) {
    ({ clusterIds, labels: clusterLabels } = readClusterGroupTsv(groupFile));
  } else {
    clusterIds = distinctSorted(spikeClusters);
    clusterLabels = clusterIds.map(() => 'unsorted');
  }

  return {
    dir, spikeCount: n, spikeTimes, spikeTimesRaw: timesArr.data, spikeClusters, spikeTemplates, amplitudes,
    templateCount, templateSamples: templateLength - pad, templateLayout: layout, channelCount, templates, whiteningMatInv, channelMap,
    pcFeatures, pcCount, pcChannelCount, pcFeatureInd, clusterIds, clusterLabels, layouts,
  };
}
