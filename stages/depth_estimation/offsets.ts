/**
 * Per-channel DC offsets and the usable-channel mask from the AP band: the module's
 * `compute_channel_offsets` (reference §1.2).
 *
 * Per pass i the window [int((start_time + skip_s_per_pass*i) * fs), + int(time_interval * fs))
 * gives each channel an offset, np.median of its samples stored into an int16 array (so truncated
 * toward zero), and an RMS, sqrt(mean((x - offset)^2)) * bit_volts with the subtraction wrapping
 * in int16 as numpy's does. The offsets written are the median over passes, truncated to int16
 * again; a channel is masked when it is a reference channel or its median-over-passes RMS is
 * above hi_noise_thresh or below lo_noise_thresh.
 *
 * The module squares and averages in float32; here the sum of squares is exact (integers), so an
 * RMS can differ from the module's in the seventh digit, which matters only for a channel within
 * that distance of a threshold.
 */
import { WorkerPool, type TaskServer } from '../../lib/base/workerPool.js';
import { median } from '../../lib/numeric/median.js';
import { Int16File } from '../../lib/formats/int16File.js';
import { countedMedian } from './int16Median.js';

export interface OffsetParams {
  numChannels: number;
  sampleRateHz: number;
  bitVolts: number;
  referenceChannels: number[];
  nPasses: number;
  startTimeS: number;
  skipSPerPass: number;
  timeIntervalS: number;
  hiNoiseThresh: number;
  loNoiseThresh: number;
}

export interface ChannelOffsets {
  offsets: Int16Array;
  mask: boolean[];
  /** Median over passes of each channel's RMS, µV. */
  rmsUv: Float64Array;
}

/** First sample of pass i and the samples per pass, as the module computes them. */
export function apWindow(p: OffsetParams, pass: number): { start: number; count: number } {
  return {
    start: Math.trunc((p.startTimeS + p.skipSPerPass * pass) * p.sampleRateHz),
    count: Math.trunc(p.timeIntervalS * p.sampleRateHz),
  };
}

/** Memory for one pass's de-interleaved samples; more channels than fit are done in groups. */
const groupBytes = 128 << 20;

/** Truncate toward zero and wrap to int16, as numpy's float -> int16 store does on x86. */
function toInt16(v: number): number {
  return (Math.trunc(v) << 16) >> 16;
}

interface ColumnStats { median: number; sum: number; sumSq: number; lo: number; hi: number }

/** Median of int16 values by counting (exact, linear), with the sums the RMS needs. */
function columnStats(values: Int16Array, hist: Uint32Array): ColumnStats {
  const n = values.length;
  let lo = 32767, hi = -32768, sum = 0, sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    hist[v + 32768]++;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    sum += v;
    sumSq += v * v;
  }
  return { median: countedMedian(hist, n, lo, hi), sum, sumSq, lo, hi };
}

/** Sum of (x - offset)^2 with the subtraction in int16, as numpy does it. */
function centredSumSq(values: Int16Array, st: ColumnStats, offset: number): number {
  if (st.lo - offset >= -32768 && st.hi - offset <= 32767) {
    // No wrap-around: expand the square (all integers below 2^53, so exact).
    return st.sumSq - 2 * offset * st.sum + values.length * offset * offset;
  }
  let sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    const d = ((values[i] - offset) << 16) >> 16;
    sumSq += d * d;
  }
  return sumSq;
}

/** Rows of one read into per-channel columns, in tiles so both sides stay in cache. */
function deinterleave(rows: Int16Array, C: number, g0: number, width: number, columns: Int16Array, W: number, s0: number): void {
  const n = rows.length / C;
  const tile = 256;
  for (let sb = 0; sb < n; sb += tile) {
    const se = Math.min(n, sb + tile);
    for (let k = 0; k < width; k++) {
      const dst = k * W + s0;
      let src = sb * C + g0 + k;
      for (let s = sb; s < se; s++, src += C) columns[dst + s] = rows[src];
    }
  }
}

/** Per-pass offset and RMS of channels [g0, g1), [channel - g0][pass]. */
export interface PassStats { g0: number; g1: number; offsets: Int16Array; rmsUv: Float64Array }

/** One thread's share: channels [g0, g1) of every pass, read from the file. */
export function channelPassStats(
  file: Int16File, p: OffsetParams, g0: number, g1: number,
  onBytes: (bytes: number) => void, signal?: AbortSignal,
): PassStats {
  const C = p.numChannels;
  const { count: W } = apWindow(p, 0);
  const out: PassStats = { g0, g1, offsets: new Int16Array((g1 - g0) * p.nPasses), rmsUv: new Float64Array((g1 - g0) * p.nPasses) };
  const perGroup = Math.max(1, Math.min(g1 - g0, Math.floor(groupBytes / (2 * Math.max(W, 1)))));
  const columns = new Int16Array(perGroup * W);
  const hist = new Uint32Array(65536);
  for (let pass = 0; pass < p.nPasses; pass++) {
    const { start } = apWindow(p, pass);
    for (let c0 = g0; c0 < g1; c0 += perGroup) {
      const width = Math.min(g1, c0 + perGroup) - c0;
      file.readRows(start, W, (rows, firstRow) => {
        deinterleave(rows, C, c0, width, columns, W, firstRow - start);
        onBytes(rows.byteLength);
      }, signal);
      for (let k = 0; k < width; k++) {
        const col = columns.subarray(k * W, (k + 1) * W);
        const st = columnStats(col, hist);
        const offset = toInt16(st.median);
        const at = (c0 - g0 + k) * p.nPasses + pass;
        out.offsets[at] = offset;
        out.rmsUv[at] = Math.sqrt(centredSumSq(col, st, offset) / W) * p.bitVolts;
      }
    }
  }
  return out;
}

/** Offsets, RMS and mask from every channel's per-pass values. */
export function combinePassStats(p: OffsetParams, parts: PassStats[]): ChannelOffsets {
  const C = p.numChannels;
  const offsets = new Int16Array(C);
  const rmsUv = new Float64Array(C);
  const mask: boolean[] = new Array(C).fill(true);
  for (const ch of p.referenceChannels) mask[ch] = false;
  for (const part of parts) {
    for (let ch = part.g0; ch < part.g1; ch++) {
      const k = ch - part.g0;
      offsets[ch] = toInt16(median(part.offsets.subarray(k * p.nPasses, (k + 1) * p.nPasses)));
      rmsUv[ch] = median(part.rmsUv.subarray(k * p.nPasses, (k + 1) * p.nPasses));
      if (rmsUv[ch] > p.hiNoiseThresh || rmsUv[ch] < p.loNoiseThresh) mask[ch] = false;
    }
  }
  return { offsets, mask, rmsUv };
}

/** A worker's part of computeChannelOffsets: channels [g0, g1) of the file; progress is bytes read. */
export const serveChannelShares: TaskServer<{ path: string; p: OffsetParams }, { g0: number; g1: number }, PassStats, number> = ({ path, p }, worker) => ({
  run({ g0, g1 }) {
    const file = new Int16File(path, p.numChannels, 'AP band file');
    try {
      return channelPassStats(file, p, g0, g1, (bytes) => worker.progress(bytes));
    } finally {
      file.close();
    }
  },
});

/**
 * compute_channel_offsets over `workers` threads (0: this thread), each taking a contiguous
 * share of the channels and reading the pass windows itself; the second reader finds the
 * window in the page cache, and the per-sample work, not the disk, is what takes the time.
 */
export async function computeChannelOffsets(
  file: Int16File, p: OffsetParams, onBytes: (bytes: number) => void, signal?: AbortSignal, workers = 0,
): Promise<ChannelOffsets> {
  const C = p.numChannels;
  if (workers < 2 || C < 2) return combinePassStats(p, [channelPassStats(file, p, 0, C, onBytes, signal)]);
  // Each thread reads whole rows; count each byte once in the progress.
  const share = (bytes: number) => onBytes(bytes / workers);
  const bounds = Array.from({ length: workers + 1 }, (_, k) => Math.round((k * C) / workers));
  const pool = new WorkerPool({
    name: 'depth_estimation', script: new URL('./offsetsWorker.js', import.meta.url), server: serveChannelShares,
    setup: { path: file.path, p }, workers, onProgress: share, signal,
  });
  try {
    // One share per worker.
    const parts = await pool.runAll(bounds.slice(0, -1).map((g0, k) => ({ g0, g1: bounds[k + 1] })), undefined, 1);
    return combinePassStats(p, parts);
  } finally {
    await pool.close();
  }
}
