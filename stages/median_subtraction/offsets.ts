/**
 * Per-channel DC offsets estimated from the file itself, for when no probe_info.json is given.
 * Follows depth_estimation's recipe (reference §1.2) on a smaller budget: the median of each of
 * several short windows spread over the recording, then the median over windows, truncated to int16.
 */
import fs from 'node:fs';

export interface OffsetEstimate {
  offset: Int16Array;
  windows: number;
  samplesPerWindow: number;
}

/** k-th smallest (0-based) by quickselect; reorders `v`. A full sort of every column was most of the estimate's time. */
function select(v: Int16Array | Float64Array, k: number): number {
  let lo = 0, hi = v.length - 1;
  while (lo < hi) {
    const pivot = v[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) { const t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else return v[k];
  }
  return v[k];
}

/** numpy's median: the middle value, or the mean of the middle two; reorders `v`. */
function median(v: Int16Array | Float64Array): number {
  const n = v.length;
  if (n === 0) return 0;
  const upper = select(v, n >> 1);
  if (n % 2) return upper;
  let lower = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (v[i] > lower) lower = v[i];
  return (lower + upper) / 2;
}

export function estimateOffsets(file: string, numChannels: number, sampleRateHz: number, windows = 10, windowSeconds = 0.2): OffsetEstimate {
  const rowBytes = 2 * numChannels;
  const totalSamples = Math.floor(fs.statSync(file).size / rowBytes);
  const samplesPerWindow = Math.max(1, Math.min(totalSamples, Math.round(windowSeconds * sampleRateHz)));
  const windowCount = totalSamples === 0 ? 0 : Math.min(windows, Math.max(1, Math.floor(totalSamples / samplesPerWindow)));
  const perWindow = Array.from({ length: numChannels }, () => new Float64Array(windowCount));
  const rows = Buffer.alloc(samplesPerWindow * rowBytes);
  const columns = new Int16Array(samplesPerWindow * numChannels);
  const fd = fs.openSync(file, 'r');
  try {
    for (let w = 0; w < windowCount; w++) {
      // Evenly spread window starts: the first at 0, the last ending at the end of the file.
      const first = windowCount === 1 ? 0 : Math.floor((w * (totalSamples - samplesPerWindow)) / (windowCount - 1));
      let got = 0;
      while (got < rows.length) {
        const n = fs.readSync(fd, rows, got, rows.length - got, first * rowBytes + got);
        if (n === 0) break;
        got += n;
      }
      const values = new Int16Array(rows.buffer, rows.byteOffset, got >> 1);
      const samples = Math.floor(got / rowBytes);
      // One sequential sweep into channel-major order; reading a column straight from the rows
      // would touch a new cache line per sample.
      for (let s = 0; s < samples; s++) for (let c = 0; c < numChannels; c++) columns[c * samplesPerWindow + s] = values[s * numChannels + c];
      for (let c = 0; c < numChannels; c++) {
        const column = columns.subarray(c * samplesPerWindow, c * samplesPerWindow + samples);
        perWindow[c][w] = Math.trunc(median(column));
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  const offset = new Int16Array(numChannels);
  for (let c = 0; c < numChannels; c++) offset[c] = Math.trunc(median(perWindow[c]));
  return { offset, windows: windowCount, samplesPerWindow };
}
