/**
 * A block of the recording in the form the sorter works on: float32 in the file's own row-major
 * order (no transposition: with hundreds of channels, writing a column per channel thrashes the
 * cache and cost more than everything else), each channel's DC level removed, and a smoothed copy
 * for detection. Samples before the start or past the end of the file read as 0 (= the channel's
 * DC level), so a block's values depend only on the file, not on where a chunk boundary falls.
 */
import fs from 'node:fs';

export interface Block {
  /** First sample (may be negative at the start of the file). */
  first: number;
  length: number;
  channels: number;
  /** Sample t of channel c is at (t - first) * channels + c. Counts relative to the channel's DC level. */
  raw: Float32Array;
  /** The same smoothed with the detection kernel (zero phase); empty when not asked for. */
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
 * Rows [from, to) of a row-major block smoothed along time: out[t][c] = sum_j kernel[j] x[t - half + j][c].
 * The common lengths are written out: a loop over the taps inside the loop over values runs
 * three times slower.
 */
export function smoothRows(x: Float32Array, channels: number, from: number, to: number, kernel: Float32Array, out: Float32Array): void {
  const taps = kernel.length, half = (taps - 1) >> 1, C = channels;
  const start = from * C, end = to * C;
  if (taps === 1) { out.set(x.subarray(start, end), start); return; }
  if (taps === 3) {
    const a = kernel[0], b = kernel[1];
    for (let i = start; i < end; i++) out[i] = a * (x[i - C] + x[i + C]) + b * x[i];
    return;
  }
  if (taps === 5) {
    const a = kernel[0], b = kernel[1], c = kernel[2], C2 = 2 * C;
    for (let i = start; i < end; i++) out[i] = a * (x[i - C2] + x[i + C2]) + b * (x[i - C] + x[i + C]) + c * x[i];
    return;
  }
  if (taps === 7) {
    const a = kernel[0], b = kernel[1], c = kernel[2], d = kernel[3], C2 = 2 * C, C3 = 3 * C;
    for (let i = start; i < end; i++) out[i] = a * (x[i - C3] + x[i + C3]) + b * (x[i - C2] + x[i + C2]) + c * (x[i - C] + x[i + C]) + d * x[i];
    return;
  }
  for (let i = start; i < end; i++) {
    let s = 0;
    for (let j = 0; j < taps; j++) s += kernel[j] * x[i + (j - half) * C];
    out[i] = s;
  }
}

/** Buffers reused from block to block: fresh 100 MB arrays per chunk cost more in page faults than the work. */
export class BlockBuffers {
  private rowBuffer = new Int16Array(0);
  private rawBuffer = new Float32Array(0);
  private smoothBuffer = new Float32Array(0);
  rows(n: number): Int16Array {
    if (this.rowBuffer.length < n) this.rowBuffer = new Int16Array(n);
    return this.rowBuffer.subarray(0, n);
  }
  raw(n: number): Float32Array {
    if (this.rawBuffer.length < n) this.rawBuffer = new Float32Array(n);
    return this.rawBuffer.subarray(0, n);
  }
  smooth(n: number): Float32Array {
    if (this.smoothBuffer.length < n) this.smoothBuffer = new Float32Array(n);
    return this.smoothBuffer.subarray(0, n);
  }
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

/** Reads rows [first, first + length) of the int16 file; rows outside the file read 0. */
export function readRows(src: BlockSource, first: number, length: number, into?: Int16Array): Int16Array {
  const C = src.numChannels;
  const rows = into ?? new Int16Array(length * C);
  const from = Math.max(0, first), to = Math.min(src.totalSamples, first + length);
  if (to <= from) { rows.fill(0); return rows; }
  rows.fill(0, 0, (from - first) * C);
  rows.fill(0, (to - first) * C);
  const bytes = new Uint8Array(rows.buffer, rows.byteOffset + (from - first) * C * 2, (to - from) * C * 2);
  let got = 0;
  while (got < bytes.length) {
    const n = fs.readSync(src.fd, bytes, got, bytes.length - got, from * C * 2 + got);
    if (n === 0) throw new Error(`${src.path}: file ended early (was it truncated while being read?)`);
    got += n;
  }
  return rows;
}

/**
 * Samples [first, first + length) of every channel, plus `half` kernel samples each side so the
 * smoothing needs no edge rule inside the block. The arrays are views into `buffers` when given:
 * valid until the next block is loaded with them.
 */
export function loadBlock(src: BlockSource, first: number, length: number, withSmooth = true, buffers = new BlockBuffers()): Block {
  const C = src.numChannels;
  const half = (src.kernel.length - 1) >> 1;
  const ext = length + 2 * half;
  const extFirst = first - half;
  const rows = readRows(src, extFirst, ext, buffers.rows(ext * C));
  const valid0 = Math.max(0, -extFirst), valid1 = Math.max(valid0, Math.min(ext, src.totalSamples - extFirst));
  const raw = buffers.raw(C * ext);
  // Outside the file a channel reads its DC level, i.e. 0 once the DC is removed.
  raw.fill(0, 0, valid0 * C);
  raw.fill(0, valid1 * C);
  const dc = src.dc;
  for (let t = valid0; t < valid1; t++) {
    const base = t * C;
    for (let c = 0; c < C; c++) raw[base + c] = rows[base + c] - dc[c];
  }
  let smooth: Float32Array = new Float32Array(0);
  if (withSmooth) {
    const all = buffers.smooth(C * ext);
    smoothRows(raw, C, half, half + length, src.kernel, all);
    smooth = all.subarray(half * C);
  }
  return { first, length, channels: C, raw: raw.subarray(half * C), smooth };
}
