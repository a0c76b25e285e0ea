/** Worker thread of gather.ts: adds the snippets of its share of the units, one read at a time. */
import { WorkerPool, serveTasks, type TaskServer } from '../../lib/base/workerPool.js';
import { SnippetAdder, type ReadRange, type SumLayout } from './snippetAdder.js';

interface SumSetup { layout: SumLayout; module: WebAssembly.Module | undefined }
interface SumTask { range: ReadRange; slot: number }

// Worker k of n adds the units with id % n == k, so no two threads write the same sums.
const serveSums: TaskServer<SumSetup, SumTask, void> = ({ layout, module }, worker) => {
  const adder = new SnippetAdder(layout, module);
  return { run: ({ range, slot }) => adder.addRange(range, slot, worker.index, worker.count) };
};

export function startSumPool(setup: SumSetup, workers: number, signal?: AbortSignal): WorkerPool<SumSetup, SumTask, void> {
  return new WorkerPool({ name: 'mean_waveforms', script: new URL('./worker.js', import.meta.url), server: serveSums, setup, workers, signal });
}

serveTasks(import.meta.url, serveSums);
