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
import { readNpy, readNpyHeader, writeNpy, NpyError, npyItemSize, type NpyArray, type NpyData, type NpyDtype, type NpyHeader } from './npy.js';
import { readClusterGroupTsv } from './clusterGroup.js';
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

const integerDtypes: NpyDtype[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'];
const floatDtypes: NpyDtype[] = ['float32', 'float64'];

/** Read a file's header, turning a missing or unreadable file into a StageError. */
function header(dir: string, name: string, what: string): NpyHeader {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) throw new StageError(`${file}: missing; expected ${what} in the Kilosort output folder`);
  try {
    return readNpyHeader(file);
  } catch (err) {
    if (err instanceof NpyError) throw new StageError(err.message);
    throw err;
  }
}

function read(dir: string, name: string): NpyArray {
  const file = path.join(dir, name);
  try {
    return readNpy(file);
  } catch (err) {
    if (err instanceof NpyError) throw new StageError(err.message);
    throw err;
  }
}

function shapeText(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function checkDtype(dir: string, name: string, h: NpyHeader, allowed: NpyDtype[], what: string): void {
  if (!allowed.includes(h.dtype)) {
    throw new StageError(`${path.join(dir, name)}: dtype ${h.dtype}; expected ${what} (${allowed.join(', ')})`);
  }
}

/** A per-spike vector: (N,) or (N, 1). Returns N. */
function vectorLength(dir: string, name: string, h: NpyHeader): number {
  const s = h.shape;
  if (s.length === 1) return s[0];
  if (s.length === 2 && s[1] === 1) return s[0];
  throw new StageError(`${path.join(dir, name)}: shape ${shapeText(s)}; expected a vector of shape (N,) or (N, 1)`);
}

function checkLength(dir: string, name: string, n: number, expected: number, reference: string): void {
  if (n !== expected) {
    throw new StageError(`${path.join(dir, name)}: ${n} spikes; expected ${expected}, as in ${reference}`);
  }
}

/** Integer array to Uint32Array, rejecting negatives and values past uint32 (no spike id gets there). */
function toUint32(dir: string, name: string, a: NpyArray, shared: boolean): Uint32Array {
  const d = a.data;
  if (d instanceof Uint32Array && !shared) return d;
  const out = shared ? new Uint32Array(new SharedArrayBuffer(d.length * 4)) : new Uint32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (!(v >= 0 && v <= 0xffffffff)) {
      throw new StageError(`${path.join(dir, name)}: value ${d[i]} at index ${i}; expected ids from 0 to 4294967295`);
    }
    out[i] = v;
  }
  return out;
}

function toFloat64(d: NpyData, shared: boolean): Float64Array {
  if (d instanceof Float64Array && !shared) return d;
  const out = shared ? new Float64Array(new SharedArrayBuffer(d.length * 8)) : new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}

/**
 * Read a large float array straight into one (shared) Float32Array in C order, in chunks: a single
 * read call stops at 2 GiB, and pc_features.npy of a long recording is bigger. Fortran-order files
 * (npy-matlab writes them) are transposed while reading, one contiguous axis-0 run at a time.
 */
function readFloat32Large(dir: string, name: string, h: NpyHeader, shared: boolean): Float32Array {
  const file = path.join(dir, name);
  const total = h.shape.reduce((a, b) => a * b, 1);
  const itemBytes = npyItemSize(h.dtype);
  const size = fs.statSync(file).size;
  if (size < h.dataOffset + total * itemBytes) {
    throw new StageError(`${file}: truncated: shape ${shapeText(h.shape)} of ${h.dtype} needs ${h.dataOffset + total * itemBytes} bytes, file has ${size}`);
  }
  const out = shared ? new Float32Array(new SharedArrayBuffer(total * 4)) : new Float32Array(total);
  const fd = fs.openSync(file, 'r');
  try {
    const chunkElems = 1 << 24;
    const buf = Buffer.allocUnsafe(chunkElems * itemBytes);
    const readRun = (elemStart: number, count: number, sink: (src: Float32Array | Float64Array, at: number) => void) => {
      for (let done = 0; done < count;) {
        const n = Math.min(chunkElems, count - done);
        const bytes = n * itemBytes;
        let got = 0;
        while (got < bytes) {
          const r = fs.readSync(fd, buf, got, bytes - got, h.dataOffset + (elemStart + done) * itemBytes + got);
          if (r === 0) throw new StageError(`${file}: truncated while reading`);
          got += r;
        }
        const src = h.dtype === 'float32'
          ? new Float32Array(buf.buffer, buf.byteOffset, n)
          : new Float64Array(buf.buffer, buf.byteOffset, n);
        sink(src, done);
        done += n;
      }
    };
    const rows = h.shape[0];
    const rest = h.shape.slice(1);
    const perRow = rest.reduce((a, b) => a * b, 1);
    const transposed = h.fortranOrder && h.shape.filter((d) => d > 1).length > 1;
    if (!transposed && h.dtype === 'float32') {
      // Straight into the destination: no staging copy of a multi-GB array.
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      const chunkBytes = 1 << 30;
      for (let done = 0; done < bytes.length;) {
        const r = fs.readSync(fd, bytes, done, Math.min(chunkBytes, bytes.length - done), h.dataOffset + done);
        if (r === 0) throw new StageError(`${file}: truncated while reading`);
        done += r;
      }
    } else if (!transposed) {
      readRun(0, total, (src, at) => { out.set(src, at); });
    } else {
      // Run m holds axis 0 for the m-th combination of the other axes, counted in Fortran order.
      const cStride = rest.map((_, k) => rest.slice(k + 1).reduce((a, b) => a * b, 1));
      const idx = rest.map(() => 0);
      for (let m = 0; m < perRow; m++) {
        let c = 0;
        for (let k = 0; k < rest.length; k++) c += idx[k] * cStride[k];
        readRun(m * rows, rows, (src, at) => {
          for (let r = 0; r < src.length; r++) out[(at + r) * perRow + c] = src[r];
        });
        for (let k = 0; k < rest.length; k++) {
          if (++idx[k] < rest[k]) break;
          idx[k] = 0;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
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

/**
 * The sorted recording's length in samples, from Phy's params.py (`dat_path`, `n_channels_dat`,
 * `dtype`, `offset`) and the binary's size; undefined when any of it is missing, unreadable or empty.
 */
export function recordingLength(dir: string): { samples: number; source: string } | undefined {
  let text: string;
  try { text = fs.readFileSync(path.join(dir, 'params.py'), 'utf8'); } catch { return undefined; }
  const value = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*$`, 'm').exec(text)?.[1];
  const channels = Number(value('n_channels_dat'));
  const offset = Number(value('offset') ?? 0);
  const dtype = /^[rb]?['"](\w+)['"]$/.exec(value('dtype') ?? "'int16'")?.[1];
  const itemBytes = dtype === 'int16' || dtype === 'uint16' ? 2 : dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'float64' ? 8 : dtype === 'int8' || dtype === 'uint8' ? 1 : 0;
  const files = [...(value('dat_path') ?? '').matchAll(/[rR]?(['"])(.*?)\1/g)].map((m) => path.resolve(dir, m[2]));
  if (!(Number.isInteger(channels) && channels > 0) || !(offset >= 0) || !itemBytes || !files.length) return undefined;
  let samples = 0;
  for (const f of files) {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    if (!st?.isFile()) return undefined;
    samples += Math.floor(Math.max(0, st.size - offset) / (channels * itemBytes));
  }
  // An empty stand-in (the binary moved away, a placeholder left) was not what was sorted.
  if (samples === 0) return undefined;
  return { samples, source: files.length === 1 ? files[0] : `${files.length} files of params.py's dat_path` };
}

/** Sorted distinct values (numpy's unique) of a uint32 array. */
export function distinctSorted(values: Uint32Array): number[] {
  if (values.length === 0) return [];
  const sorted = Uint32Array.from(values).sort();
  const out: number[] = [sorted[0]];
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1]) out.push(sorted[i]);
  return out;
}

const ctorOf = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
  uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, float32: Float32Array, float64: Float64Array,
} as const;

/**
 * Write a Kilosort array atomically under its usual name with a given dtype and shape, converting
 * numbers as numpy's astype would for in-range values (64-bit integers via BigInt). Used to write a
 * filtered copy of a folder with the names and dtypes the next module expects; pass
 * `folder.layouts[name].dtype` to keep the original dtype.
 */
export function writeKilosortArray(dir: string, name: string, values: ArrayLike<number> | ArrayLike<bigint>, dtype: NpyDtype, shape: number[]): void {
  const Ctor = ctorOf[dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length) {
    throw new Error(`internal error: ${name}: shape ${shapeText(shape)} holds ${count} values, got ${values.length}`);
  }
  let data: NpyData;
  if (values instanceof Ctor) {
    data = values as NpyData;
  } else if (dtype === 'int64' || dtype === 'uint64') {
    const out = new Ctor(values.length) as BigInt64Array | BigUint64Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      out[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
    }
    data = out;
  } else {
    const out = new Ctor(values.length) as Exclude<NpyData, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < values.length; i++) out[i] = Number(values[i]);
    data = out;
  }
  writeNpy(path.join(dir, name), { dtype, shape, data });
}

/** The shape a per-spike array of `length` gets when rewritten like `original`: (N,) or (N, 1). */
export function spikeVectorShape(original: NpyLayout | undefined, length: number): number[] {
  return original && original.shape.length === 2 ? [length, 1] : [length];
}
