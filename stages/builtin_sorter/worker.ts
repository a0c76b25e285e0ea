/** Worker thread of builtin_sorter: runs the tasks it is sent (tasks.ts) one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { TaskRunner, type SorterSetup, type Task } from './tasks.js';
import type { WorkerReply } from './pool.js';

function transferables(result: object): ArrayBuffer[] {
  return Object.values(result).filter((v): v is ArrayBufferView => ArrayBuffer.isView(v)).map((v) => v.buffer as ArrayBuffer);
}

if (parentPort && workerData?.path) {
  const runner = new TaskRunner(workerData as SorterSetup);
  const port = parentPort;
  port.on('message', (task: Task | 'close') => {
    if (task === 'close') {
      runner.close();
      port.close();
      return;
    }
    try {
      const result = runner.run(task);
      port.postMessage({ ok: true, result } satisfies WorkerReply, transferables(result));
    } catch (err) {
      port.postMessage({ ok: false, message: (err as Error).message } satisfies WorkerReply);
    }
  });
}
