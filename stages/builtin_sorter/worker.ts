/** Worker thread of builtin_sorter: runs the tasks it is sent (tasks.ts) one at a time. */
import { WorkerPool, serveTasks, type TaskServer } from '../../lib/base/workerPool.js';
import { TaskRunner, type SorterSetup, type Task, type TaskResult } from './tasks.js';

export type SorterPool = WorkerPool<SorterSetup, Task, TaskResult>;

const serveSorterTasks: TaskServer<SorterSetup, Task, TaskResult> = (setup) => {
  const runner = new TaskRunner(setup);
  return {
    run: (task) => runner.run(task),
    // The result's arrays move to the main thread instead of being copied.
    transfer: (result) => Object.values(result).filter((v): v is ArrayBufferView => ArrayBuffer.isView(v)).map((v) => v.buffer as ArrayBuffer),
    close: () => runner.close(),
  };
};

/** Sorter tasks on `workers` threads (0: on this thread); aborting `signal` stops them. */
export function startSorterPool(setup: SorterSetup, workers: number, signal?: AbortSignal): SorterPool {
  return new WorkerPool({ name: 'builtin_sorter', script: new URL('./worker.js', import.meta.url), server: serveSorterTasks, setup, workers, signal });
}

serveTasks(import.meta.url, serveSorterTasks);
