/**
 * A block of the recording in the form the sorter works on: channel-major float32, each channel's
 * DC level removed, and a smoothed copy for detection. Samples before the start or past the end of
 * the file read as 0 (= the channel's DC level), so a block's values depend only on the file, not
 * on where a chunk boundary falls.
 */
import fs from 'node:fs';

export interface Block {
  /** First sample (may be negative at the start of the file). */
  first: number;
  length: number;
  /** [channel][sample], counts relative to the channel's DC level. */
  raw: Float32Array;
  /** The same smoothed with the detection kernel (zero phase). */
  smooth: Float32Array;
}

/** Binomial kernel of `taps` (odd) coefficients: a Gaussian-like low-pass of unit gain. */
export function binomialKernel(taps: number): Float32Array {
  let k = [1];
  for (let i = 1; i < taps; i++) k = [...k, 0].map((v, j) => v + (j > 0 ? k[j - 1] : 0));
  const sum = k.reduce((a, b) => a + b, 0);
  return Float32Array.from(k, (v) => v / sum);
}

/**
 * Binomial smoothing of x[from .. from + n + taps - 1) into out[at .. at + n): taps - 1 passes of
 * pairwise sums (the binomial kernel is (1, 1) convolved with itself), then one scaling; about
 * three times faster than a general convolution loop.
 */
export function binomialSmooth(x: Float32Array, from: number, n: number, taps: number, out: Float32Array, at: number, scratch: Float32Array): void {
  const m = n + taps - 1;
  scratch.set(x.subarray(from, from + m), 0);
  for (let pass = 1; pass < taps; pass++) {
    const len = m - pass;
    for (let t = 0; t < len; t++) scratch[t] += scratch[t + 1];
  }
  const scale = 1 / 2 ** (taps - 1);
  for (let t = 0; t < n; t++) out[at + t] = scratch[t] * scale;
}

export interface BlockSource {
  fd: number;
  path: string;
  numChannels: number;
  totalSamples: number;
  /** Per-channel DC level, counts. */
  dc: Float32Array;
  kernel: Float32Array;
}

/** Reads rows [first, first + length) of the int16 file; rows outside the file stay 0. */
export function readRows(src: BlockSource, first: number, length: number): Int16Array {
  const C = src.numChannels;
  const rows = new Int16Array(length * C);
  const from = Math.max(0, first), to = Math.min(src.totalSamples, first + length);
  if (to <= from) return rows;
  const bytes = new Uint8Array(rows.buffer, (from - first) * C * 2, (to - from) * C * 2);
  let got = 0;
  while (got < bytes.length) {
    const n = fs.readSync(src.fd, bytes, got, bytes.length - got, from * C * 2 + got);
    if (n === 0) throw new Error(`${src.path}: file ended early (was it truncated while being read?)`);
    got += n;
  }
  return rows;
}

/** `smooth` is empty unless asked for: only detection and features need it. */
export function loadBlock(src: BlockSource, first: number, length: number, withSmooth = true): Block {
  const C = src.numChannels;
  const half = (src.kernel.length - 1) >> 1;
  // Read `half` extra samples each side so the smoothing needs no edge rule inside the block.
  const ext = length + 2 * half;
  const extFirst = first - half;
  const rows = readRows(src, extFirst, ext);
  const valid0 = Math.max(0, -extFirst), valid1 = Math.min(ext, src.totalSamples - extFirst);
  const cols = new Float32Array(C * ext);
  for (let t = valid0; t < valid1; t++) {
    const rowBase = t * C;
    for (let c = 0; c < C; c++) cols[c * ext + t] = rows[rowBase + c] - src.dc[c];
  }
  const raw = new Float32Array(C * length);
  for (let c = 0; c < C; c++) raw.set(cols.subarray(c * ext + half, c * ext + half + length), c * length);
  const smooth = new Float32Array(withSmooth ? C * length : 0);
  if (withSmooth) {
    const scratch = new Float32Array(ext);
    for (let c = 0; c < C; c++) binomialSmooth(cols, c * ext, length, src.kernel.length, smooth, c * length, scratch);
  }
  return { first, length, raw, smooth };
}
