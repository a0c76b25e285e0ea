/**
 * Worker thread of median_subtraction: runs the kernel over the chunks the main thread has read
 * into the shared memory, in place. It does no file I/O: the main thread keeps every read and
 * write in flight, so the disk never waits for the arithmetic.
 */
import { WorkerPool, serveTasks, type TaskServer } from '../../lib/base/workerPool.js';
import { instantiateKernel, runChunk } from './kernel.js';

export interface WorkerSetup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  rowBytes: number;
}

export interface ComputeRequest { rows: number; rowPtr: number; residualPtr: number }

export type KernelPool = WorkerPool<WorkerSetup, ComputeRequest, void>;

const serveKernel: TaskServer<WorkerSetup, ComputeRequest, void> = (setup) => {
  const run = instantiateKernel(setup.module, setup.memory);
  return { run: (req) => runChunk(run, req.rows, req.rowPtr, req.residualPtr, setup.rowBytes) };
};

export function startKernelPool(setup: WorkerSetup, workers: number): KernelPool {
  return new WorkerPool({ name: 'median_subtraction', script: new URL('./worker.js', import.meta.url), server: serveKernel, setup, workers });
}

serveTasks(import.meta.url, serveKernel);
