/**
 * Worker-thread entry for the PC metrics and the silhouette distance sums. The large arrays arrive
 * on SharedArrayBuffers (workerData), so each worker reads the same memory; a task is a unit index
 * with its subsample draws, or a share of the silhouette block pairs.
 */
import os from 'node:os';
import { WorkerPool, serveTasks, type TaskServer } from '../../lib/base/workerPool.js';
import { unitPcMetrics } from './pcMetrics.js';
import { distanceSums, type SilhouetteInput } from './silhouette.js';
import type { PcData, PcParams } from './pcData.js';

export type WorkerTask =
  | { type: 'unit'; unit: number; draws: Array<{ unit: number; spikes: Int32Array }> }
  | { type: 'silhouette'; share: number; shares: number; input: SilhouetteInput };

export type WorkerReply =
  | { type: 'unit'; unit: number; values: number[]; channels: number; unitsTaken: number }
  | { type: 'silhouette'; share: number; sums: Float64Array };

export interface WorkerSetup { pc: PcData; params: PcParams }

/** Does one task; also used directly by the main thread when it runs without workers. */
export function runTask(setup: WorkerSetup, task: WorkerTask): WorkerReply {
  switch (task.type) {
    case 'unit': {
      const { metrics: m, rows } = unitPcMetrics(setup.pc, setup.params, task.unit, task.draws);
      return {
        type: 'unit', unit: task.unit, channels: rows.channelCount, unitsTaken: rows.unitsTaken,
        values: [m.isolationDistance, m.lRatio, m.dPrime, m.nnHitRate, m.nnMissRate],
      };
    }
    case 'silhouette':
      return { type: 'silhouette', share: task.share, sums: distanceSums(task.input, (a, b) => (a + b) % task.shares === task.share) };
    default: {
      const never: never = task;
      throw new Error(`internal error: unknown task ${JSON.stringify(never)}`);
    }
  }
}

const servePcTasks: TaskServer<WorkerSetup, WorkerTask, WorkerReply> = (setup) => ({
  run: (task) => runTask(setup, task),
  transfer: (reply) => (reply.type === 'silhouette' ? [reply.sums.buffer as ArrayBuffer] : []),
});

export type PcPool = WorkerPool<WorkerSetup, WorkerTask, WorkerReply>;

/**
 * The per-unit PC metrics and the silhouette sums on `threads` worker threads, or on this thread
 * with 0. Results never depend on which thread did a task: each unit's subsample is drawn
 * beforehand, in the module's order (pcSubsamples.ts).
 */
export function startPcPool(setup: WorkerSetup, threads: number, signal?: AbortSignal): PcPool {
  return new WorkerPool({ name: 'quality_metrics', script: new URL('./worker.js', import.meta.url), server: servePcTasks, setup, workers: threads, signal });
}

/** One thread per core (EPHYS_MAKE_QM_THREADS overrides), no more than the work items; 0 for one. */
export function threadsFor(workItems: number): number {
  const env = Number(process.env.EPHYS_MAKE_QM_THREADS);
  const cores = Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
  const n = Math.min(cores, workItems);
  return n > 1 ? n : 0;
}

serveTasks(import.meta.url, servePcTasks);
