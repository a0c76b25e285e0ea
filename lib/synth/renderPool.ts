/**
 * Renders chunks on worker threads (both cores of a lab workstation's spare machine), or in this
 * thread when asked for zero workers. Results come back as promises; the caller writes them in
 * order, so files are the same whichever worker finished first.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../base/paths.js';
import { renderChunk, type ChunkJob, type ChunkResult } from './chunk.js';
import type { RecordingModel } from './model.js';
import type { FromWorker, ToWorker } from './worker.js';

interface Pending { resolve: (r: ChunkResult) => void; reject: (e: Error) => void }

export class RenderPool {
  private workers: Worker[] = [];
  private load: number[] = [];
  private pending = new Map<number, Pending & { worker: number }>();
  private producedBy = new Map<number, number>();
  private model: RecordingModel | undefined;
  private broken: Error | undefined;

  constructor(workerCount: number) {
    for (let i = 0; i < workerCount; i++) {
      // By path from the package root, so a bundled caller still finds the worker's own file.
      const w = new Worker(path.join(packageRoot, 'dist', 'lib', 'synth', 'worker.js'));
      w.on('message', (msg: FromWorker) => this.settle(i, msg));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => { if (code !== 0) this.fail(new Error(`internal error: render worker exited with code ${code}`)); });
      this.workers.push(w);
      this.load.push(0);
    }
  }

  get size(): number { return this.workers.length; }

  setModel(model: RecordingModel): void {
    this.model = model;
    for (const w of this.workers) w.postMessage({ kind: 'model', model } satisfies ToWorker);
  }

  render(job: ChunkJob): Promise<ChunkResult> {
    if (this.broken) return Promise.reject(this.broken);
    if (!this.model) return Promise.reject(new Error('internal error: render before setModel'));
    if (this.workers.length === 0) {
      try { return Promise.resolve(renderChunk(this.model, job)); } catch (err) { return Promise.reject(err); }
    }
    // The least busy worker: chunks cost about the same, so this keeps both cores fed.
    let w = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i] < this.load[w]) w = i;
    this.load[w]++;
    return new Promise((resolve, reject) => {
      this.pending.set(job.index, { resolve, reject, worker: w });
      this.workers[w].postMessage({ kind: 'chunk', job } satisfies ToWorker);
    });
  }

  /** Give a written chunk's buffers back to the worker that made them; the caller drops them. */
  recycle(r: ChunkResult): void {
    const w = this.producedBy.get(r.index);
    this.producedBy.delete(r.index);
    if (w === undefined || !this.workers[w]) return;
    const buffers = r.lf ? [r.ap, r.lf] : [r.ap];
    this.workers[w].postMessage({ kind: 'recycle', buffers } satisfies ToWorker, buffers.map((b) => b.buffer as ArrayBuffer));
  }

  private settle(worker: number, msg: FromWorker): void {
    const p = this.pending.get(msg.index);
    if (!p) return;
    this.pending.delete(msg.index);
    this.load[worker]--;
    this.producedBy.set(msg.index, worker);
    if (msg.kind === 'done') p.resolve({ index: msg.index, ap: msg.ap, lf: msg.lf });
    else p.reject(new Error(`internal error: rendering chunk ${msg.index} failed: ${msg.message}`));
  }

  private fail(err: Error): void {
    this.broken ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    for (const w of ws) w.removeAllListeners('exit');
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
