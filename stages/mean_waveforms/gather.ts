/**
 * Sum each unit's snippets straight from the AP binary without loading it. The chosen snippets,
 * in file order, are grouped into reads of up to 16 MiB (neighbours closer than 2 MiB share a
 * read, so dense spiking streams the file once and sparse spiking reads little of it). Each
 * snippet - samples_per_spike whole rows, one contiguous block of the interleaved file - is added
 * into its unit's sums by the SIMD kernel (sumKernel.ts).
 *
 * The main thread reads into one of two buffers while worker threads (one per core, at most two)
 * add the previous read; worker k takes the units with id % workers == k, so no two threads ever
 * write the same sums. Sums are kept in counts, not µV: integers add exactly, so the means and
 * the SNR's variance are exact before the one final scaling by bit_volts.
 *
 * The rows the waveform metrics read (each unit's local peak and its sites) are also summed as
 * numpy sums them: each snippet's value times bit_volts, added in float64 one snippet after the
 * other, in file order. Where two samples' means are equal, numpy's rounding decides which is the
 * trough; exact sums would always tie (metricRows.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import { StageError } from '../../lib/builtin/stage.js';
import { maxWasmPages, wasmPageBytes } from '../../lib/base/wasm.js';
import { compileSumKernel, createSharedMemory } from './sumKernel.js';
import type { ReadRange, SumLayout } from './snippetAdder.js';
import { startSumPool } from './worker.js';

export const maxReadBytes = 16 << 20;
export const mergeGapBytes = 2 << 20;

export interface SnippetList {
  /** First sample of each snippet (spike time - pre_samples), ascending; only whole snippets. */
  starts: Float64Array;
  units: Uint32Array;
}

export interface UnitSums {
  samples: number;
  channels: number;
  /** [unit][sample][channel] in counts: the file's own layout, so a snippet adds as one run. */
  sums: Int32Array | Float64Array;
  /** [unit][sample]: sum of squares on the unit's peak channel, for the SNR. */
  peakSquares: Float64Array;
  /** Whole snippets summed per unit. */
  counts: Uint32Array;
  /** [unit][row][sample]: numpy-order float64 sums in µV of the channels in `metricChannels`. */
  metricSums: Float64Array;
}

/** Group sorted snippets into reads (see the header comment). */
export function planReads(starts: Float64Array, samples: number, rowBytes: number, maxBytes = maxReadBytes): ReadRange[] {
  const maxRows = Math.max(samples, Math.floor(maxBytes / rowBytes));
  const gapRows = Math.floor(mergeGapBytes / rowBytes);
  const ranges: ReadRange[] = [];
  let i = 0;
  while (i < starts.length) {
    const start = starts[i];
    let end = start + samples;
    let j = i + 1;
    while (j < starts.length && starts[j] - end <= gapRows && starts[j] + samples - start <= maxRows) {
      end = Math.max(end, starts[j] + samples);
      j++;
    }
    ranges.push({ start, rows: end - start, first: i, end: j });
    i = j;
  }
  return ranges;
}

export interface SumOptions {
  path: string;
  fd: number;
  unitCount: number;
  samples: number;
  channels: number;
  /** Most snippets any unit can get (decides whether int32 sums are exact). */
  maxPerUnit: number;
  list: SnippetList;
  peakChannels: Int32Array;
  /** [unit][metricRowCount] channels to sum numpy-style, -1 after the last. */
  metricChannels: Int32Array;
  metricRowCount: number;
  bitVolts: number;
  /** Worker threads; 0 adds in this thread. Default: one per core, at most two. */
  workers?: number;
  onBytes?: (bytes: number, total: number) => void;
  signal?: AbortSignal;
}

function toShared<T extends Float64Array | Uint32Array | Int32Array>(a: T): T {
  const Ctor = a.constructor as { new(b: SharedArrayBuffer): T };
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

function readInto(fd: number, path: string, range: ReadRange, channels: number, into: Uint8Array): void {
  const bytes = range.rows * channels * 2;
  const at = range.start * channels * 2;
  let got = 0;
  while (got < bytes) {
    const r = fs.readSync(fd, into, got, bytes - got, at + got);
    if (r === 0) throw new StageError(`${path}: file ended at byte ${at + got} while reading snippets; was it truncated during the run?`);
    got += r;
  }
}

/**
 * Within each read, order the snippets by unit: a unit's sums (samples x channels x 4 bytes,
 * 126 KB for 82 x 384) then stay in cache across its snippets instead of being fetched from
 * memory once per snippet, which is what bounds the speed with hundreds of units.
 */
function groupByUnitWithinReads(list: SnippetList, ranges: ReadRange[]): void {
  for (const r of ranges) {
    if (r.end - r.first < 2) continue;
    const idx = Array.from({ length: r.end - r.first }, (_, i) => r.first + i);
    idx.sort((a, b) => list.units[a] - list.units[b] || list.starts[a] - list.starts[b]);
    const starts = idx.map((k) => list.starts[k]);
    const units = idx.map((k) => list.units[k]);
    list.starts.set(starts, r.first);
    list.units.set(units, r.first);
  }
}

export async function sumSnippets(o: SumOptions): Promise<UnitSums> {
  const { samples: S, channels: C, unitCount } = o;
  const rowBytes = C * 2;
  const slotBytes = Math.ceil(Math.max(maxReadBytes, S * rowBytes) / 16) * 16;
  const ranges = planReads(o.list.starts, S, rowBytes, slotBytes);
  groupByUnitWithinReads(o.list, ranges);
  const totalBytes = ranges.reduce((a, r) => a + r.rows * rowBytes, 0);
  const sumsBytes = Math.ceil((unitCount * S * C * 4) / 16) * 16;
  const module = o.maxPerUnit <= 65535 && sumsBytes + 2 * slotBytes <= maxWasmPages * wasmPageBytes ? compileSumKernel() : undefined;
  let memory: WebAssembly.Memory | undefined;
  let slots: [SharedArrayBuffer, number][];
  let fallbackSums: Int32Array | Float64Array | undefined;
  if (module) {
    memory = createSharedMemory(sumsBytes + 2 * slotBytes);
    const sab = memory.buffer as unknown as SharedArrayBuffer;
    slots = [[sab, sumsBytes], [sab, sumsBytes + slotBytes]];
  } else {
    // No SIMD, or too much for one wasm memory: plain arrays (float64 keeps any count exact).
    const n = unitCount * S * C;
    fallbackSums = o.maxPerUnit <= 65535 ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Float64Array(new SharedArrayBuffer(n * 8));
    slots = [[new SharedArrayBuffer(slotBytes), 0], [new SharedArrayBuffer(slotBytes), 0]];
  }
  const layout: SumLayout = {
    memory, fallbackSums, samples: S, channels: C, slotBytes, slots,
    starts: toShared(o.list.starts), units: toShared(o.list.units), peakChannels: toShared(o.peakChannels),
    peakSquares: new Float64Array(new SharedArrayBuffer(unitCount * S * 8)),
    counts: new Uint32Array(new SharedArrayBuffer(unitCount * 4)),
    metricChannels: toShared(o.metricChannels), metricRowCount: o.metricRowCount, bitVolts: o.bitVolts,
    metricSums: new Float64Array(new SharedArrayBuffer(Math.max(1, unitCount * o.metricRowCount * S) * 8)),
  };
  const workerCount = Math.min(o.workers ?? Math.min(2, os.availableParallelism()), unitCount, 2);
  const pool = startSumPool({ layout, module }, workerCount > 0 && ranges.length > 1 ? workerCount : 0, o.signal);
  let done = 0;
  try {
    const pending: Array<Promise<unknown>> = [Promise.resolve(), Promise.resolve()];
    for (let r = 0; r < ranges.length; r++) {
      if (o.signal?.aborted) throw new StageError('stopped');
      const slot = r % 2;
      await pending[slot];
      const [sab, off] = slots[slot];
      readInto(o.fd, o.path, ranges[r], C, new Uint8Array(sab, off, ranges[r].rows * rowBytes));
      done += ranges[r].rows * rowBytes;
      o.onBytes?.(done, totalBytes);
      // Every worker adds this read for its own units (inline: one adds it for all).
      pending[slot] = pool.broadcast({ range: ranges[r], slot });
      // A failure is thrown where this slot is awaited; until then it is not unhandled.
      pending[slot].catch(() => undefined);
    }
    await Promise.all(pending);
  } finally {
    await pool.close();
  }
  const sums = memory ? new Int32Array(memory.buffer as unknown as SharedArrayBuffer, 0, unitCount * S * C) : fallbackSums!;
  return { samples: S, channels: C, sums, peakSquares: layout.peakSquares, counts: layout.counts, metricSums: layout.metricSums };
}
