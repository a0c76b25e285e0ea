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
import { Worker } from 'node:worker_threads';
import { StageError } from '../../lib/builtin/stage.js';
import { maxWasmPages, wasmPageBytes } from '../../lib/base/wasm.js';
import { compileSumKernel, createSharedMemory, instantiateSumKernel, type AddFunction } from './sumKernel.js';

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

export interface ReadRange {
  /** First sample row read. */
  start: number;
  rows: number;
  /** Snippets [first, end) of the list lie wholly inside. */
  first: number;
  end: number;
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

/** What a thread needs to add snippets; shared between the main thread and the workers. */
export interface SumLayout {
  memory: WebAssembly.Memory | undefined;
  /** Used when there is no shared wasm memory: plain shared arrays and JavaScript loops. */
  fallbackSums: Int32Array | Float64Array | undefined;
  samples: number;
  channels: number;
  /** Byte offsets of the two read buffers in `memory` (or their own SharedArrayBuffers). */
  slotBytes: number;
  slots: [SharedArrayBuffer, number][];
  starts: Float64Array;
  units: Uint32Array;
  peakChannels: Int32Array;
  peakSquares: Float64Array;
  counts: Uint32Array;
  /** [unit][metricRowCount]: channels summed numpy-style (-1: none). */
  metricChannels: Int32Array;
  metricRowCount: number;
  metricSums: Float64Array;
  bitVolts: number;
}

/** Adds one read's snippets for the units with id % stride == part. */
export class SnippetAdder {
  private readonly add: AddFunction | undefined;
  private readonly sums32: Int32Array | undefined;
  constructor(private readonly l: SumLayout, module: WebAssembly.Module | undefined) {
    if (l.memory && module) {
      this.add = instantiateSumKernel(module, l.memory);
      this.sums32 = new Int32Array(l.memory.buffer);
    }
  }

  addRange(range: ReadRange, slot: number, part: number, stride: number): void {
    const { samples: S, channels: C, starts, units, peakChannels, peakSquares, counts } = this.l;
    const [sab, byteOffset] = this.l.slots[slot];
    const buf = new Int16Array(sab, byteOffset, range.rows * C);
    const n = S * C;
    const groups = n >> 3;
    for (let k = range.first; k < range.end; k++) {
      const unit = units[k];
      if (unit % stride !== part) continue;
      const src = (starts[k] - range.start) * C;
      const dst = unit * n;
      if (this.add) {
        this.add(dst * 4, byteOffset + src * 2, groups);
        const sums = this.sums32!;
        for (let i = groups << 3; i < n; i++) sums[dst + i] += buf[src + i];
      } else {
        const sums = this.l.fallbackSums!;
        for (let i = 0; i < n; i++) sums[dst + i] += buf[src + i];
      }
      const pc = peakChannels[unit];
      counts[unit]++;
      for (let s = 0; s < S; s++) {
        const v = buf[src + s * C + pc];
        peakSquares[unit * S + s] += v * v;
      }
      const { metricChannels, metricRowCount: M, metricSums, bitVolts } = this.l;
      for (let m = 0; m < M; m++) {
        const ch = metricChannels[unit * M + m];
        if (ch < 0) break;
        const out = (unit * M + m) * S;
        for (let s = 0; s < S; s++) metricSums[out + s] += buf[src + s * C + ch] * bitVolts;
      }
    }
  }
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
  const pool = workerCount > 0 && ranges.length > 1 ? startWorkers(workerCount, layout, module) : undefined;
  const local = pool ? undefined : new SnippetAdder(layout, module);
  let done = 0;
  try {
    const pending: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    for (let r = 0; r < ranges.length; r++) {
      if (o.signal?.aborted) throw new StageError('stopped');
      const slot = r % 2;
      await pending[slot];
      const [sab, off] = slots[slot];
      readInto(o.fd, o.path, ranges[r], C, new Uint8Array(sab, off, ranges[r].rows * rowBytes));
      done += ranges[r].rows * rowBytes;
      o.onBytes?.(done, totalBytes);
      if (pool) pending[slot] = pool.run(ranges[r], slot);
      else local!.addRange(ranges[r], slot, 0, 1);
    }
    await Promise.all(pending);
  } finally {
    await pool?.close();
  }
  const sums = memory ? new Int32Array(memory.buffer as unknown as SharedArrayBuffer, 0, unitCount * S * C) : fallbackSums!;
  return { samples: S, channels: C, sums, peakSquares: layout.peakSquares, counts: layout.counts, metricSums: layout.metricSums };
}

interface WorkerPool {
  run(range: ReadRange, slot: number): Promise<void>;
  close(): Promise<void>;
}

function startWorkers(count: number, layout: SumLayout, module: WebAssembly.Module | undefined): WorkerPool {
  const workers: Worker[] = [];
  const waiting: Array<Map<number, { resolve: () => void; reject: (e: Error) => void }>> = [];
  let nextId = 0;
  let failure: Error | undefined;
  for (let k = 0; k < count; k++) {
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { layout, module, part: k, stride: count } });
    const map = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
    w.on('message', (id: number) => { map.get(id)?.resolve(); map.delete(id); });
    w.on('error', (err) => {
      failure = err;
      for (const p of map.values()) p.reject(err);
      map.clear();
    });
    workers.push(w);
    waiting.push(map);
  }
  return {
    run(range, slot) {
      if (failure) return Promise.reject(failure);
      const id = nextId++;
      return Promise.all(workers.map((w, k) => new Promise<void>((resolve, reject) => {
        waiting[k].set(id, { resolve, reject });
        w.postMessage({ id, range, slot });
      }))).then(() => undefined);
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
