/**
 * Worker thread of synthesize: holds the current recording's model and renders the chunks it is
 * sent, handing the sample buffers back without copying. With zero workers the same server runs
 * on the calling thread.
 */
import path from 'node:path';
import { packageRoot } from '../base/paths.js';
import { WorkerPool, serveTasks, type TaskServer } from '../base/workerPool.js';
import { renderChunk, type ChunkJob, type ChunkResult } from './chunk.js';
import type { RecordingModel } from './model.js';

export type RenderTask =
  | { kind: 'model'; model: RecordingModel }
  | { kind: 'chunk'; job: ChunkJob }
  | { kind: 'recycle'; buffers: Int16Array[] };
/** A rendered chunk and the worker that made it, which its buffers go back to. */
export type RenderedChunk = ChunkResult & { worker: number };
export type RenderPool = WorkerPool<undefined, RenderTask, RenderedChunk | undefined>;

const serveRendering: TaskServer<undefined, RenderTask, RenderedChunk | undefined> = (_, worker) => {
  let model: RecordingModel | undefined;
  // Chunk buffers come back after the main thread has written them: reusing them saves a page
  // fault per 4 KiB of every new multi-MiB array.
  const free: Int16Array[] = [];
  const spares = {
    take(length: number) {
      const i = free.findIndex((b) => b.length === length);
      return i < 0 ? undefined : free.splice(i, 1)[0];
    },
  };
  return {
    run(task) {
      switch (task.kind) {
        case 'model':
          model = task.model;
          free.length = 0;
          return undefined;
        case 'recycle':
          free.push(...task.buffers);
          return undefined;
        case 'chunk': {
          if (!model) throw new Error('internal error: chunk before model');
          return { ...renderChunk(model, task.job, spares), worker: worker.index };
        }
        default: {
          const never: never = task;
          throw new Error(`internal error: unknown render task ${JSON.stringify(never)}`);
        }
      }
    },
    transfer: (r) => (r ? [r.ap.buffer as ArrayBuffer, ...(r.lf ? [r.lf.buffer as ArrayBuffer] : [])] : []),
  };
};

export function startRenderPool(workers: number): RenderPool {
  // By path from the package root, so a bundled caller still finds the worker's own file.
  const script = path.join(packageRoot, 'dist', 'lib', 'synth', 'worker.js');
  return new WorkerPool({ name: 'synth', script, server: serveRendering, setup: undefined, workers });
}

/** Gives a written chunk's buffers back to the worker that made them; the caller drops them. */
export function recycleChunk(pool: RenderPool, r: RenderedChunk): void {
  const buffers = r.lf ? [r.ap, r.lf] : [r.ap];
  pool.send({ kind: 'recycle', buffers }, { worker: r.worker, transfer: buffers.map((b) => b.buffer as ArrayBuffer) });
}

serveTasks(import.meta.url, serveRendering);
