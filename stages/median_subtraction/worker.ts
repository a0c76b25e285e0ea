/**
 * Worker thread of median_subtraction: runs the kernel over the chunks the main thread has read
 * into the shared memory, in place. It does no file I/O: the main thread keeps every read and
 * write in flight, so the disk never waits for the arithmetic.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateKernel, runChunk } from './kernel.js';

export interface WorkerSetup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  rowBytes: number;
}

export interface ComputeRequest { id: number; rows: number; rowPtr: number; residualPtr: number }
export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'computed'; id: number }
  | { kind: 'failed'; id: number; message: string };

function serve(setup: WorkerSetup): void {
  const run = instantiateKernel(setup.module, setup.memory);
  parentPort!.on('message', (req: ComputeRequest) => {
    try {
      runChunk(run, req.rows, req.rowPtr, req.residualPtr, setup.rowBytes);
      parentPort!.postMessage({ kind: 'computed', id: req.id } satisfies WorkerReply);
    } catch (err) {
      parentPort!.postMessage({ kind: 'failed', id: req.id, message: (err as Error).message } satisfies WorkerReply);
    }
  });
  parentPort!.postMessage({ kind: 'ready' } satisfies WorkerReply);
}

if (parentPort && workerData?.module) serve(workerData as WorkerSetup);
