/**
 * Worker-thread entry for the PC metrics and the silhouette distance sums. The large arrays arrive
 * on SharedArrayBuffers (workerData), so each worker reads the same memory; a task is a unit index
 * with its subsample draws, or a share of the silhouette block pairs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { unitPcMetrics } from './pcMetrics.js';
import { distanceSums, type SilhouetteInput } from './silhouette.js';
import type { PcData, PcParams } from './pcData.js';

export type WorkerTask =
  | { type: 'unit'; unit: number; draws: Array<{ unit: number; spikes: Int32Array }> }
  | { type: 'silhouette'; share: number; shares: number; input: SilhouetteInput };

export type WorkerReply =
  | { type: 'unit'; unit: number; values: number[]; channels: number; unitsTaken: number }
  | { type: 'silhouette'; share: number; sums: Float64Array }
  | { type: 'error'; message: string };

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

if (parentPort && workerData?.qualityMetricsWorker) {
  const setup = workerData.setup as WorkerSetup;
  const port = parentPort;
  port.on('message', (task: WorkerTask) => {
    let reply: WorkerReply;
    try {
      reply = runTask(setup, task);
    } catch (err) {
      reply = { type: 'error', message: (err as Error)?.stack ?? String(err) };
    }
    const transfer = reply.type === 'silhouette' ? [reply.sums.buffer as ArrayBuffer] : [];
    port.postMessage(reply, transfer);
  });
}
