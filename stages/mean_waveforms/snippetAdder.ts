/**
 * Adding one read's snippets into the units' sums: what each thread of gather.ts does, the
 * workers each for their share of the units.
 */
import { instantiateSumKernel, type AddFunction } from './sumKernel.js';

export interface ReadRange {
  /** First sample row read. */
  start: number;
  rows: number;
  /** Snippets [first, end) of the list lie wholly inside. */
  first: number;
  end: number;
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
