/**
 * Worker thread of median_subtraction: runs the kernel over the chunks the main thread has read
 * into the shared memory, in place. It does no file I/O: the main thread keeps every read and
 * write in flight, so the disk never waits for the arithmetic.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateKernel } from './kernel.js';

export interface WorkerSetup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  rowBytes: number;
  residualRowBytes: number;
}

export interface ComputeRequest { id: number; rows: number; rowPtr: number; residualPtr: number }
export type WorkerReply =
  | { kind: 'computed'; id: number }
  | { kind: 'failed'; id: number; message: string };

/**
 * V8 first runs WebAssembly with its baseline compiler (under 1 GB/s for this kernel) and
 * switches to optimised code (5-6 GB/s) only at a later call, once that code is compiled: a chunk
 * is run in pieces so that it can switch part-way rather than at the next chunk.
 */
const rowsPerCall = 1024;

function serve(setup: WorkerSetup): void {
  const run = instantiateKernel(setup.module, setup.memory);
  parentPort!.on('message', (req: ComputeRequest) => {
    try {
      for (let done = 0; done < req.rows; done += rowsPerCall) {
        run(Math.min(rowsPerCall, req.rows - done), req.rowPtr + done * setup.rowBytes, req.residualPtr + done * setup.residualRowBytes);
      }
      parentPort!.postMessage({ kind: 'computed', id: req.id } satisfies WorkerReply);
    } catch (err) {
      parentPort!.postMessage({ kind: 'failed', id: req.id, message: (err as Error).message } satisfies WorkerReply);
    }
  });
}

if (parentPort && workerData?.module) serve(workerData as WorkerSetup);
