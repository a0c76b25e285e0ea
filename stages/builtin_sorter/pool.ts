/**
 * Runs sorter tasks on worker threads (or inline with zero workers). Each worker answers its
 * messages in order, so a per-worker queue of pending promises pairs replies with requests; new
 * tasks go to the worker with the fewest outstanding.
 */
import { Worker } from 'node:worker_threads';
import { TaskRunner, type SorterSetup, type Task, type TaskResult } from './tasks.js';

export type WorkerReply = { ok: true; result: TaskResult } | { ok: false; message: string };

interface Pending { resolve(r: TaskResult): void; reject(e: Error): void }

export class TaskPool {
  private readonly workers: Worker[] = [];
  private readonly queues: Pending[][] = [];
  private readonly inline: TaskRunner | undefined;
  private failure: Error | undefined;

  constructor(setup: SorterSetup, count: number) {
    if (count <= 0) {
      this.inline = new TaskRunner(setup);
      return;
    }
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
      const queue: Pending[] = [];
      w.on('message', (reply: WorkerReply) => {
        const p = queue.shift();
        if (!p) return;
        if (reply.ok) p.resolve(reply.result); else p.reject(new Error(reply.message));
      });
      const fail = (err: Error) => {
        this.failure ??= err;
        for (const p of queue.splice(0)) p.reject(err);
      };
      w.on('error', fail);
      w.on('exit', (code) => { if (queue.length) fail(new Error(`internal error: sorter worker exited with ${code}`)); });
      this.workers.push(w);
      this.queues.push(queue);
    }
  }

  get size(): number { return this.workers.length; }

  run(task: Task): Promise<TaskResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inline) {
      try { return Promise.resolve(this.inline.run(task)); } catch (err) { return Promise.reject(err); }
    }
    let best = 0;
    for (let i = 1; i < this.queues.length; i++) if (this.queues[i].length < this.queues[best].length) best = i;
    return new Promise<TaskResult>((resolve, reject) => {
      this.queues[best].push({ resolve, reject });
      this.workers[best].postMessage(task);
    });
  }

  /** Runs tasks keeping every worker busy; results come back in task order. */
  async runAll<T extends TaskResult>(tasks: Task[], onDone?: (index: number, result: T) => void): Promise<T[]> {
    const results = new Array<T>(tasks.length);
    let next = 0;
    const lanes = Math.max(1, 2 * this.workers.length);
    await Promise.all(Array.from({ length: Math.min(lanes, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = (await this.run(tasks[i])) as T;
        onDone?.(i, results[i]);
      }
    }));
    return results;
  }

  /** Lets workers close their files and exit; those that do not are terminated. */
  async close(graceMs = 10_000): Promise<void> {
    this.inline?.close();
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.threadId === -1) return resolve();
      const timer = setTimeout(() => { void w.terminate(); }, graceMs);
      w.once('exit', () => { clearTimeout(timer); resolve(); });
      w.postMessage('close');
    })));
  }

  /** Stops at once (the job is being stopped). */
  async terminate(): Promise<void> {
    this.inline?.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
