/**
 * Per-channel DC offsets estimated from the file itself, for when no probe_info.json is given.
 * Follows depth_estimation's recipe (reference §1.2) on a smaller budget: the median of each of
 * several short windows spread over the recording, then the median over windows, truncated to int16.
 */
import fs from 'node:fs';
import { medianInPlace } from '../../lib/numeric/median.js';

export interface OffsetEstimate {
  offset: Int16Array;
  windows: number;
  samplesPerWindow: number;
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
        perWindow[c][w] = Math.trunc(medianInPlace(column));
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  const offset = new Int16Array(numChannels);
  for (let c = 0; c < numChannels; c++) offset[c] = Math.trunc(medianInPlace(perWindow[c]));
  return { offset, windows: windowCount, samplesPerWindow };
}
