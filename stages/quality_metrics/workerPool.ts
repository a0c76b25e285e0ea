/**
 * Runs the per-unit PC metrics and the silhouette sums on worker threads (one per core), or in
 * this thread when there is one core or little work. Results never depend on which thread did a
 * task: each unit's subsample is drawn beforehand, in the module's order (pcSubsamples.ts).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { runTask, type WorkerReply, type WorkerSetup, type WorkerTask } from './worker.js';

export class WorkerPool {
  private workers: Worker[] = [];

  constructor(private setup: WorkerSetup, threads: number) {
    const url = new URL('./worker.js', import.meta.url);
    for (let i = 0; i < threads; i++) {
      this.workers.push(new Worker(url, { workerData: { qualityMetricsWorker: true, setup } }));
    }
  }

  static threadsFor(workItems: number): number {
    const env = Number(process.env.EPHYS_MAKE_QM_THREADS);
    const cores = Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
    const n = Math.min(cores, workItems);
    return n > 1 ? n : 0;
  }

  get size(): number { return this.workers.length; }

  /** Run all tasks, each on the next free worker; `onReply` sees replies as they come. */
  async run(tasks: WorkerTask[], onReply: (reply: WorkerReply) => void, signal?: AbortSignal): Promise<void> {
    if (this.workers.length === 0) {
      for (const t of tasks) {
        if (signal?.aborted) throw new Error('aborted');
        onReply(check(runTask(this.setup, t)));
        await new Promise((r) => setImmediate(r)); // let progress and signals through
      }
      return;
    }
    let next = 0;
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => { cleanup(); reject(err); };
      const onExit = (code: number) => { cleanup(); reject(new Error(`internal error: quality_metrics worker exited with code ${code}`)); };
      const onMessage = (reply: WorkerReply) => {
        try { onReply(check(reply)); } catch (err) { cleanup(); reject(err); return; }
        feed();
      };
      const cleanup = () => { w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit); };
      const feed = () => {
        if (signal?.aborted) { cleanup(); reject(new Error('aborted')); return; }
        if (next >= tasks.length) { cleanup(); resolve(); return; }
        w.postMessage(tasks[next++]);
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      feed();
    })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

function check(reply: WorkerReply): WorkerReply {
  if (reply.type === 'error') throw new Error(`internal error in a quality_metrics worker: ${reply.message}`);
  return reply;
}
