/**
 * Worker thread entry: holds the current recording's model and renders the chunks it is sent,
 * handing the sample buffers back without copying.
 */
import { parentPort } from 'node:worker_threads';
import { renderChunk, type ChunkJob, type SpareBuffers } from './chunk.js';
import type { RecordingModel } from './model.js';

export type ToWorker =
  | { kind: 'model'; model: RecordingModel }
  | { kind: 'chunk'; job: ChunkJob }
  | { kind: 'recycle'; buffers: Int16Array[] };
export type FromWorker = { kind: 'done'; index: number; ap: Int16Array; lf: Int16Array | undefined } | { kind: 'failed'; index: number; message: string };

let model: RecordingModel | undefined;

// Chunk buffers come back after the main thread has written them: reusing them saves a page
// fault per 4 KiB of every new multi-MiB array.
const free: Int16Array[] = [];
const spares: SpareBuffers = {
  take(length) {
    const i = free.findIndex((b) => b.length === length);
    return i < 0 ? undefined : free.splice(i, 1)[0];
  },
};

parentPort?.on('message', (msg: ToWorker) => {
  if (msg.kind === 'model') {
    model = msg.model;
    free.length = 0;
    return;
  }
  if (msg.kind === 'recycle') {
    free.push(...msg.buffers);
    return;
  }
  try {
    if (!model) throw new Error('internal error: chunk before model');
    const r = renderChunk(model, msg.job, spares);
    const transfer: ArrayBuffer[] = [r.ap.buffer as ArrayBuffer];
    if (r.lf) transfer.push(r.lf.buffer as ArrayBuffer);
    parentPort!.postMessage({ kind: 'done', index: r.index, ap: r.ap, lf: r.lf } satisfies FromWorker, transfer);
  } catch (err) {
    parentPort!.postMessage({ kind: 'failed', index: msg.job.index, message: (err as Error).stack ?? String(err) } satisfies FromWorker);
  }
});
