/**
 * The brain-surface channel from the LFP band: the module's `find_surface_channel`
 * (reference §1.2), with its arithmetic kept:
 *
 * - pass p reads the int(lfp_rate) samples from int(lfp_rate * skip_s_per_pass * p), columns
 *   in the 3A NPX order when reorder_lfp_channels is set;
 * - the chunk stays int16, so subtracting each channel's median and then, sample by sample, the
 *   median of the saline channels channel_range[0]:channel_range[1] truncates toward zero. The
 *   saline median is taken afresh for every channel, over columns already re-referenced, so the
 *   saline channels themselves and every channel after them see a shifting reference, as in the
 *   module's loop;
 * - Welch PSD per channel (scipy defaults, nfft), log10 of its mean over freq_range (both ends
 *   included), reference channels given the value of the column before them (channel 0's
 *   neighbour being the last column, numpy's index -1), Gaussian smoothing (sigma =
 *   smoothing_amount, reflect), candidates where diff < diff_thresh and value < power_thresh,
 *   the largest one per pass or num_channels when there is none;
 * - the surface channel is the median over passes, the air channel min(surface + air_gap,
 *   num_channels).
 *
 * scipy computes the PSD of int16 input in float32; it is float64 here, so a profile value can
 * differ from the module's in the seventh digit.
 */
import { gaussianFilter1d } from '../../lib/numeric/gaussianFilter1d.js';
import { median } from '../../lib/numeric/median.js';
import { rfftFreqs, welch } from '../../lib/numeric/welch.js';
import { Int16File } from '../../lib/formats/int16File.js';
import { int16Median } from './int16Median.js';

export interface SurfaceParams {
  numChannels: number;
  lfpSampleRateHz: number;
  referenceChannels: number[];
  reorderLfpChannels: boolean;
  nPasses: number;
  skipSPerPass: number;
  nfft: number;
  freqRange: [number, number];
  channelRange: [number, number];
  smoothingAmount: number;
  powerThresh: number;
  diffThresh: number;
  airGap: number;
  /** Highest frequency kept for the figure's power image. */
  maxFreq: number;
}

/** What the figure shows: the last pass, as the module plots it. */
export interface LastPass {
  /** Re-referenced chunk, [channel][sample]. */
  chunk: Int16Array;
  samples: number;
  /** log10 PSD, [channel][bin] for the bins from 0 to maxFreq. */
  logPower: Float64Array;
  powerBins: number;
  /** Smoothed log-power profile, one value per channel. */
  values: Float64Array;
}

export interface SurfaceResult {
  surfaceChannel: number;
  airChannel: number;
  candidates: number[];
  lastPass: LastPass;
}

/** The 3A NPX extractor's LFP channel order (get_lfp_channel_order). */
export function lfpChannelOrder(): number[] {
  const pattern: number[] = [];
  for (let block = 0; block < 2; block++) {
    for (let i = 0; i < 12; i++) pattern.push(block * 24 + i, block * 24 + 12 + i);
  }
  const order: number[] = [];
  for (let k = 0; k < 8; k++) for (const c of pattern) order.push(c + 48 * k);
  return order;
}

export function lfpWindow(p: SurfaceParams, pass: number): { start: number; count: number } {
  return { start: Math.trunc(p.lfpSampleRateHz * p.skipSPerPass * pass), count: Math.trunc(p.lfpSampleRateHz) };
}

function toInt16(v: number): number {
  return (Math.trunc(v) << 16) >> 16;
}

/** Number of leading bins whose frequency is at most `hi` (find_range's upper bound). */
function binsUpTo(freqs: Float64Array, hi: number): number {
  let n = 0;
  while (n < freqs.length && freqs[n] <= hi) n++;
  return n;
}

/** Median of a few values (the saline channels of one sample), sorting `v` in place. */
function smallMedian(v: Float64Array): number {
  for (let i = 1; i < v.length; i++) {
    const x = v[i];
    let j = i - 1;
    for (; j >= 0 && v[j] > x; j--) v[j + 1] = v[j];
    v[j + 1] = x;
  }
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

export function findSurfaceChannel(
  file: Int16File,
  p: SurfaceParams,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): SurfaceResult {
  const C = p.numChannels;
  const order = p.reorderLfpChannels ? lfpChannelOrder() : Array.from({ length: C }, (_, i) => i);
  const [cr0, cr1] = [Math.max(0, Math.min(C, p.channelRange[0])), Math.max(0, Math.min(C, p.channelRange[1]))];
  const allBins = Math.floor(p.nfft / 2) + 1;
  const freqs = rfftFreqs(p.nfft, 1.0 / p.lfpSampleRateHz);
  const profileBins = binsUpTo(freqs, p.freqRange[1]);
  const figureBins = binsUpTo(freqs, p.maxFreq);
  const candidates: number[] = [];
  const hist = new Uint32Array(65536);
  let lastPass: LastPass | undefined;
  for (let pass = 0; pass < p.nPasses; pass++) {
    const { start, count: L } = lfpWindow(p, pass);
    const chunk = new Int16Array(C * L);
    file.readRows(start, L, (rows, firstRow) => {
      const n = rows.length / C;
      const s0 = firstRow - start;
      for (let s = 0; s < n; s++) for (let ch = 0; ch < C; ch++) chunk[ch * L + s0 + s] = rows[s * C + order[ch]];
      onBytes(rows.byteLength);
    }, signal);
    for (let ch = 0; ch < C; ch++) {
      const col = chunk.subarray(ch * L, (ch + 1) * L);
      const m = int16Median(col, hist);
      for (let s = 0; s < L; s++) col[s] = toInt16(col[s] - m);
    }
    // The saline reference changes only when a saline column is rewritten, so it is recomputed
    // just then rather than for every channel.
    const ref = new Float64Array(L);
    const salineValues = new Float64Array(cr1 - cr0);
    const updateRef = () => {
      for (let s = 0; s < L; s++) {
        for (let k = cr0; k < cr1; k++) salineValues[k - cr0] = chunk[k * L + s];
        ref[s] = smallMedian(salineValues);
      }
    };
    updateRef();
    for (let ch = 0; ch < C; ch++) {
      const col = chunk.subarray(ch * L, (ch + 1) * L);
      for (let s = 0; s < L; s++) col[s] = toInt16(col[s] - ref[s]);
      if (ch >= cr0 && ch < cr1) updateRef();
    }
    const isLast = pass === p.nPasses - 1;
    const bins = Math.min(allBins, Math.max(profileBins, isLast ? figureBins : 0, 1));
    const raw = new Float64Array(C);
    const logPower = isLast ? new Float64Array(C * figureBins) : undefined;
    for (let ch = 0; ch < C; ch++) {
      const { freqs: f, psd } = welch(chunk.subarray(ch * L, (ch + 1) * L), { fs: p.lfpSampleRateHz, nfft: p.nfft, bins });
      let sum = 0, n = 0;
      for (let k = 0; k < f.length; k++) if (f[k] >= p.freqRange[0] && f[k] <= p.freqRange[1]) { sum += psd[k]; n++; }
      raw[ch] = Math.log10(sum / n);
      if (logPower) for (let k = 0; k < figureBins; k++) logPower[ch * figureBins + k] = Math.log10(psd[k]);
    }
    // numpy evaluates the right-hand side before assigning, so neighbouring reference channels
    // take the unmodified value; index -1 is the last channel.
    const replaced = Float64Array.from(raw);
    for (const rc of p.referenceChannels) replaced[rc] = raw[rc - 1 >= 0 ? rc - 1 : C - 1];
    const values = gaussianFilter1d(replaced, p.smoothingAmount);
    let best = -1;
    for (let i = 0; i + 1 < C; i++) {
      if (values[i + 1] - values[i] < p.diffThresh && values[i] < p.powerThresh) best = i;
    }
    candidates.push(best >= 0 ? best : C);
    if (logPower) lastPass = { chunk, samples: L, logPower, powerBins: figureBins, values };
  }
  const surfaceChannel = median(candidates);
  const airChannel = Math.min(surfaceChannel + p.airGap, C);
  return { surfaceChannel, airChannel, candidates, lastPass: lastPass! };
}
