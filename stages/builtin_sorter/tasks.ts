/**
 * The sorter's units of parallel work. Each task is a pure function of the shared setup and its
 * own message, so it runs the same in a worker thread or inline, and results do not depend on
 * which thread ran it. Chunk tasks read their own stretch of the file (plus margins), so no
 * sample data crosses between threads.
 */
import fs from 'node:fs';
import { BlockBuffers, loadBlock, readRows, type Block, type BlockSource } from './block.js';
import { detectEvents } from './detect.js';
import { neighbourhoodFeatures, peakSnippets, shiftBasis, type Window } from './features.js';
import { isoSplit, principalAxes, type IsoSplitOptions } from './isosplit.js';

/** Kilosort's template window: nt0 = 61 samples with the trough at nt0min = 20. */
export const templateWindow: Window = { pre: 20, length: 61 };

export interface SorterSetup {
  path: string;
  numChannels: number;
  totalSamples: number;
  dc: Float32Array;
  kernel: Float32Array;
  /** Detection level per channel in counts of the smoothed signal; Infinity: never a peak channel. */
  threshold: Float32Array;
  noiseSmooth: Float32Array;
  noiseRaw: Float32Array;
  /** 1 for channels that take part in sorting (channel_map), 0 for reference and sync channels. */
  sortable: Uint8Array;
  dedupSamples: number;
  radius: number;
  window: Window;
  components: number;
}

/** A stretch of the file as stored (row-major int16). */
interface RowBlock { first: number; length: number; rows: Int16Array }

/** Template sums and projections use the channels in `templateChannels` (-1 = none). */
export interface TemplateChannels {
  templateCount: number;
  perTemplate: number;
  channels: Int32Array;
}

export type Task =
  | { kind: 'snippets'; from: number; to: number }
  | { kind: 'detect'; from: number; to: number; basis: Float32Array }
  | { kind: 'cluster'; data: Float64Array; n: number; d: number; dims: number; options: IsoSplitOptions }
  | { kind: 'template-sums'; from: number; to: number; times: Float64Array; templates: Int32Array; include: Uint8Array; layout: TemplateChannels }
  | { kind: 'project'; from: number; to: number; firstSpike: number; times: Float64Array; offsets: Float32Array; templates: Int32Array; layout: TemplateChannels; templateData: Float32Array; basis: Float32Array; pcFile: string; pcOffset: number };

export type TaskResult =
  | { kind: 'snippets'; times: Float64Array; channels: Int32Array; snippets: Float32Array }
  | { kind: 'detect'; times: Float64Array; channels: Int32Array; values: Float32Array; offsets: Float32Array; features: Float32Array }
  | { kind: 'cluster'; labels: Int32Array }
  | { kind: 'template-sums'; sums: Float64Array; counts: Int32Array }
  | { kind: 'project'; amplitudes: Float64Array };

/** Per-thread state: the setup and an open file descriptor. */
export class TaskRunner {
  private fd: number | undefined;
  private readonly buffers = new BlockBuffers();
  constructor(readonly setup: SorterSetup) {}

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private block(from: number, to: number): Block {
    const s = this.setup;
    this.fd ??= fs.openSync(s.path, 'r');
    const margin = Math.max(s.dedupSamples + 2, s.window.pre, s.window.length - s.window.pre, templateWindow.pre, templateWindow.length - templateWindow.pre) + 1;
    const src: BlockSource = { fd: this.fd, path: s.path, numChannels: s.numChannels, totalSamples: s.totalSamples, dc: s.dc, kernel: s.kernel };
    return loadBlock(src, from - margin, to - from + 2 * margin, true, this.buffers);
  }

  /**
   * Rows [from - margin, to + margin) as stored: the template and projection passes read a few
   * snippets per chunk, so they skip the transposition a full block needs.
   */
  private rows(from: number, to: number): RowBlock {
    const s = this.setup;
    this.fd ??= fs.openSync(s.path, 'r');
    const margin = Math.max(s.window.pre, s.window.length - s.window.pre, templateWindow.pre, templateWindow.length - templateWindow.pre) + 1;
    const first = from - margin, length = to - from + 2 * margin;
    const src: BlockSource = { fd: this.fd, path: s.path, numChannels: s.numChannels, totalSamples: s.totalSamples, dc: s.dc, kernel: s.kernel };
    return { first, length, rows: readRows(src, first, length, this.buffers.rows(length * s.numChannels)) };
  }

  /** rows' channel c over [t - pre, t - pre + out.length), DC removed, over `scale`; 0 outside the file. */
  private snippet(rb: RowBlock, c: number, t: number, pre: number, scale: number, out: Float32Array): void {
    const s = this.setup, C = s.numChannels, dc = s.dc[c];
    const start = t - pre;
    for (let k = 0; k < out.length; k++) {
      const u = start + k;
      out[k] = u >= 0 && u < s.totalSamples ? (rb.rows[(u - rb.first) * C + c] - dc) / scale : 0;
    }
  }

  private events(block: Block, from: number, to: number) {
    const s = this.setup;
    return detectEvents(block, { threshold: s.threshold, dedupSamples: s.dedupSamples, dedupRadius: s.radius, numChannels: s.numChannels, coreFrom: from, coreTo: to });
  }

  run(task: Task): TaskResult {
    const s = this.setup;
    switch (task.kind) {
      case 'snippets': {
        const block = this.block(task.from, task.to);
        const ev = this.events(block, task.from, task.to);
        return { kind: 'snippets', times: ev.times, channels: ev.channels, snippets: peakSnippets(block, ev.times, ev.channels, s.window, s.noiseSmooth) };
      }
      case 'detect': {
        const block = this.block(task.from, task.to);
        const ev = this.events(block, task.from, task.to);
        const features = neighbourhoodFeatures(block, ev.times, ev.channels, ev.offsets, {
          window: s.window, basis: task.basis, components: s.components, radius: s.radius,
          numChannels: s.numChannels, sortable: s.sortable, noise: s.noiseSmooth,
        });
        return { kind: 'detect', times: ev.times, channels: ev.channels, values: ev.values, offsets: ev.offsets, features };
      }
      case 'cluster': {
        const reduced = principalAxes({ data: task.data, n: task.n, d: task.d }, task.dims);
        return { kind: 'cluster', labels: isoSplit(reduced, task.options) };
      }
      case 'template-sums':
        return { kind: 'template-sums', ...this.templateSums(task) };
      case 'project':
        return { kind: 'project', amplitudes: this.project(task) };
      default: {
        const never: never = task;
        throw new Error(`internal error: unknown sorter task ${JSON.stringify(never)}`);
      }
    }
  }

  /** Sum of whitened raw snippets per template, over its channels. */
  private templateSums(task: Extract<Task, { kind: 'template-sums' }>): { sums: Float64Array; counts: Int32Array } {
    const s = this.setup, L = task.layout, W = templateWindow.length;
    const sums = new Float64Array(L.templateCount * W * L.perTemplate);
    const counts = new Int32Array(L.templateCount);
    if (!task.include.some((v) => v)) return { sums, counts };
    const rb = this.rows(task.from, task.to);
    const snippet = new Float32Array(W);
    for (let i = 0; i < task.times.length; i++) {
      if (!task.include[i]) continue;
      const t = task.templates[i];
      counts[t]++;
      for (let j = 0; j < L.perTemplate; j++) {
        const c = L.channels[t * L.perTemplate + j];
        if (c < 0) continue;
        this.snippet(rb, c, task.times[i], templateWindow.pre, s.noiseRaw[c], snippet);
        const base = t * W * L.perTemplate;
        for (let k = 0; k < W; k++) sums[base + k * L.perTemplate + j] += snippet[k];
      }
    }
    return { sums, counts };
  }

  /**
   * Each spike's amplitude (its least-squares scaling of its template) and its PC features on
   * the template's channels, written straight into pc_features.npy's rows.
   */
  private project(task: Extract<Task, { kind: 'project' }>): Float64Array {
    const s = this.setup, L = task.layout, W = templateWindow.length, P = L.perTemplate, K = s.components;
    const n = task.times.length;
    const amplitudes = new Float64Array(n);
    const pc = new Float32Array(n * K * P);
    if (n > 0) {
      const rb = this.rows(task.from, task.to);
      const snippet = new Float32Array(W);
      const window = new Float32Array(s.window.length);
      const shifted = new Float32Array(task.basis.length);
      for (let i = 0; i < n; i++) {
        const t = task.templates[i];
        shiftBasis(task.basis, K, s.window, task.offsets[i], shifted);
        let dot = 0, norm = 0;
        for (let j = 0; j < P; j++) {
          const c = L.channels[t * P + j];
          if (c < 0) continue;
          this.snippet(rb, c, task.times[i], templateWindow.pre, s.noiseRaw[c], snippet);
          for (let k = 0; k < W; k++) {
            const m = task.templateData[(t * W + k) * P + j];
            dot += m * snippet[k];
            norm += m * m;
          }
          this.snippet(rb, c, task.times[i], s.window.pre, s.noiseRaw[c], window);
          for (let k = 0; k < K; k++) {
            let v = 0;
            for (let q = 0; q < window.length; q++) v += shifted[k * window.length + q] * window[q];
            pc[i * K * P + k * P + j] = v;
          }
        }
        amplitudes[i] = norm > 0 ? dot / norm : 0;
      }
      const fd = fs.openSync(task.pcFile, 'r+');
      try {
        const bytes = new Uint8Array(pc.buffer);
        let done = 0;
        const at = task.pcOffset + task.firstSpike * K * P * 4;
        while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, at + done);
      } finally {
        fs.closeSync(fd);
      }
    }
    return amplitudes;
  }
}
