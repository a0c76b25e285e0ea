/**
 * The one pool of worker threads that built-in stages (and synthetic recordings) run their
 * arithmetic on, and `serveTasks`, its worker side.
 *
 * A worker file is a few lines: a `TaskServer` (setup in, a task handler out) and
 * `serveTasks(import.meta.url, server)`. The pool starts `workers` threads of that file, each
 * given the same setup once; with zero workers it runs the same server on this thread (inline),
 * so small inputs skip thread start-up and tests can compare both modes.
 *
 * Each worker runs its tasks one at a time in the order sent (per-worker FIFO); `run` sends a
 * task to the worker with the fewest outstanding, `runAll` returns results in task order
 * whichever worker finished first, `broadcast` gives every worker the same task. The first
 * failure (a task that throws, a worker that dies, the stage's signal) rejects everything pending
 * and to come with that error and terminates every worker, so nothing waits on a dead thread.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { StageError } from './stageError.js';

export interface WorkerContext<P> {
  /** This worker's number, 0 .. count-1 (0 of 1 inline). */
  index: number;
  count: number;
  /** Sends a progress message to the pool's `onProgress`. */
  progress(message: P): void;
}

export interface TaskHandler<T, R> {
  run(task: T): R | Promise<R>;
  /** Buffers of a result to move to the pool's thread instead of copying them. */
  transfer?(result: R): ArrayBuffer[];
  /** On a clean close: release what the handler holds (open files). */
  close?(): void;
}

/** Builds a worker's task handler from the pool's setup; runs once per worker. */
export type TaskServer<S, T, R, P = never> = (setup: S, context: WorkerContext<P>) => TaskHandler<T, R>;

export interface WorkerPoolOptions<S, T, R, P> {
  /** Names the pool's work in errors: "internal error in a NAME worker: ...". */
  name: string;
  /** The worker file: a module that calls `serveTasks(import.meta.url, server)`. */
  script: URL | string;
  /** The same server the worker file serves, run on this thread when `workers` is 0. */
  server: TaskServer<S, T, R, P>;
  setup: S;
  /** Threads to start; 0 runs every task on this thread. */
  workers: number;
  onProgress?(message: P, worker: number): void;
  /** Aborting terminates the workers and rejects what is pending with StageError('stopped'). */
  signal?: AbortSignal;
}

export interface RunOptions {
  /** The worker that must run this task (default: the one with the fewest outstanding). */
  worker?: number;
  /** Buffers of the task to move to the worker instead of copying them. */
  transfer?: ArrayBuffer[];
}

type ToWorker<T> = { kind: 'task'; id: number; task: T } | { kind: 'close' };
type FromWorker<R, P> =
  | { kind: 'ready' }
  | { kind: 'done'; id: number; result: R }
  | { kind: 'failed'; id: number; message: string; stack: string | undefined; stage: boolean }
  | { kind: 'progress'; message: P };

interface PoolWorkerData<S> { workerPoolScript: string; setup: S; index: number; count: number }
interface Pending<R> { resolve(r: R): void; reject(e: Error): void; worker: number }

export class WorkerPool<S, T, R, P = never> {
  private readonly workers: Worker[] = [];
  private readonly outstanding: number[] = [];
  private readonly ready: boolean[] = [];
  private readonly pending = new Map<number, Pending<R>>();
  private nextId = 0;
  private failure: Error | undefined;
  private closing = false;
  private terminated: Promise<void> | undefined;
  private closed: Promise<void> | undefined;
  private inline: TaskHandler<T, R> | undefined;
  private readonly onAbort = () => this.fail(new StageError('stopped'));
  private readonly readyWaiters: Array<{ resolve(): void; reject(e: Error): void }> = [];

  constructor(private readonly options: WorkerPoolOptions<S, T, R, P>) {
    const count = Math.max(0, Math.floor(options.workers));
    if (count > 0) {
      const script = typeof options.script === 'string' ? options.script : fileURLToPath(options.script);
      const key = scriptKey(script);
      for (let i = 0; i < count; i++) {
        const data: PoolWorkerData<S> = { workerPoolScript: key, setup: options.setup, index: i, count };
        const w = new Worker(script, { workerData: data });
        w.on('message', (m: FromWorker<R, P>) => this.receive(i, m));
        w.on('error', (err) => this.fail(err));
        w.on('exit', (code) => {
          if (!this.closing || this.outstanding[i] > 0) this.fail(new Error(`internal error: a ${options.name} worker exited with code ${code}`));
        });
        this.workers.push(w);
        this.outstanding.push(0);
        this.ready.push(false);
      }
    }
    if (options.signal?.aborted) this.onAbort();
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Worker threads (0 inline). */
  get size(): number { return this.workers.length; }

  /** Whether tasks run on this thread. */
  get isInline(): boolean { return this.workers.length === 0; }

  /** Threads started and waiting for work (what may take a task now without queueing behind one). */
  get idleCount(): number {
    let n = 0;
    for (let i = 0; i < this.workers.length; i++) if (this.ready[i] && this.outstanding[i] === 0) n++;
    return n;
  }

  /** Resolves once a worker has started (at once inline); rejects with the pool's failure. */
  whenReady(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.isInline || this.ready.some(Boolean)) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  run(task: T, options: RunOptions = {}): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.isInline) return this.runInline(task);
    let w = options.worker ?? 0;
    if (options.worker === undefined) {
      // Fewest outstanding; between equals, one already started (a task sent to a starting
      // worker waits for its start-up).
      const load = (i: number) => 2 * this.outstanding[i] + (this.ready[i] ? 0 : 1);
      for (let i = 1; i < this.workers.length; i++) if (load(i) < load(w)) w = i;
    } else if (!(w >= 0 && w < this.workers.length)) {
      return Promise.reject(new Error(`internal error: no ${this.options.name} worker ${w}`));
    }
    const id = this.nextId++;
    this.outstanding[w]++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      this.workers[w].postMessage({ kind: 'task', id, task } satisfies ToWorker<T>, options.transfer ?? []);
    });
  }

  /**
   * Hands a task to a worker without waiting for an answer or counting it as outstanding work
   * (buffers given back for reuse); if it throws, the pool fails as for any task.
   */
  send(task: T, options: RunOptions & { worker: number }): void {
    if (this.failure || this.closing) return;
    if (this.isInline) {
      this.runInline(task).catch(() => undefined);
      return;
    }
    this.workers[options.worker]?.postMessage({ kind: 'task', id: -1, task } satisfies ToWorker<T>, options.transfer ?? []);
  }

  /**
   * Runs every task, keeping `perWorker` of them queued on each worker; the results come back in
   * task order, `onResult` sees each as it arrives.
   */
  async runAll<Q extends R = R>(tasks: readonly T[], onResult?: (result: Q, index: number) => void, perWorker = 2): Promise<Q[]> {
    const results = new Array<Q>(tasks.length);
    let next = 0;
    const lanes = this.isInline ? 1 : Math.max(1, perWorker) * this.workers.length;
    await Promise.all(Array.from({ length: Math.min(lanes, tasks.length) }, async () => {
      while (next < tasks.length && !this.failure) {
        const i = next++;
        results[i] = (await this.run(tasks[i])) as Q;
        onResult?.(results[i], i);
        // Inline, let signals and progress through between tasks.
        if (this.isInline) await new Promise((r) => setImmediate(r));
      }
      if (this.failure) throw this.failure;
    }));
    return results;
  }

  /** The same task on every worker (once inline); results by worker. */
  broadcast(task: T): Promise<R[]> {
    if (this.isInline) return this.run(task).then((r) => [r]);
    return Promise.all(this.workers.map((_, worker) => this.run(task, { worker })));
  }

  /**
   * Lets each worker finish what it was sent, close its handler and exit; one that has not exited
   * after `graceMs` is terminated. After a failure the workers are terminated at once.
   */
  close(graceMs = 10_000): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.isInline) {
      this.closing = true;
      this.inline?.close?.();
      this.inline = undefined;
      return Promise.resolve();
    }
    if (this.failure) return this.terminateAll();
    if (!this.closing) {
      this.closing = true;
      this.closed = Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
        if (w.threadId === -1) return resolve();
        const timer = setTimeout(() => { void w.terminate(); }, graceMs);
        w.once('exit', () => { clearTimeout(timer); resolve(); });
        w.postMessage({ kind: 'close' } satisfies ToWorker<T>);
      }))).then(() => undefined);
    }
    return this.closed ?? Promise.resolve();
  }

  /** Stops every worker now; whatever is pending rejects. */
  async terminate(): Promise<void> {
    this.fail(new StageError('stopped'));
    await this.close();
  }

  private async runInline(task: T): Promise<R> {
    try {
      this.inline ??= this.options.server(this.options.setup, {
        index: 0, count: 1, progress: (m) => this.options.onProgress?.(m, 0),
      });
      return await this.inline.run(task);
    } catch (err) {
      this.failure ??= err as Error;
      throw this.failure;
    }
  }

  private receive(worker: number, m: FromWorker<R, P>): void {
    switch (m.kind) {
      case 'ready':
        this.ready[worker] = true;
        for (const w of this.readyWaiters.splice(0)) w.resolve();
        return;
      case 'progress':
        if (!this.failure) this.options.onProgress?.(m.message, worker);
        return;
      case 'done': {
        const p = this.settle(worker, m.id);
        p?.resolve(m.result);
        return;
      }
      case 'failed': {
        const err = m.stage ? new StageError(m.message) : new Error(`internal error in a ${this.options.name} worker: ${m.message}`);
        if (!m.stage && m.stack) err.stack = `${err.message}\n${m.stack.split('\n').slice(1).join('\n')}`;
        const p = this.settle(worker, m.id);
        this.fail(err);
        p?.reject(this.failure!);
        return;
      }
      default: {
        const never: never = m;
        this.fail(new Error(`internal error: unknown message from a ${this.options.name} worker: ${JSON.stringify(never)}`));
      }
    }
  }

  private settle(worker: number, id: number): Pending<R> | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    this.outstanding[worker]--;
    return p;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.outstanding.fill(0);
    this.closing = true;
    void this.terminateAll();
  }

  private terminateAll(): Promise<void> {
    this.terminated ??= Promise.all(this.workers.map((w) => w.terminate())).then(() => undefined);
    return this.terminated;
  }
}

/**
 * The worker side: when this thread was started by a WorkerPool for the file `scriptUrl` (pass
 * `import.meta.url`), builds the handler from the pool's setup and answers its tasks in order.
 * Anywhere else (the main thread importing the file for inline mode, another pool's worker) it
 * does nothing.
 */
export function serveTasks<S, T, R, P = never>(scriptUrl: string, server: TaskServer<S, T, R, P>): void {
  const data = workerData as PoolWorkerData<S> | undefined;
  if (isMainThread || !parentPort || typeof data?.workerPoolScript !== 'string') return;
  if (data.workerPoolScript !== scriptKey(fileURLToPath(scriptUrl))) return;
  const port = parentPort;
  const post = (m: FromWorker<R, P>, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const failed = (id: number, err: unknown) => {
    const e = err as Error;
    post({ kind: 'failed', id, message: e?.message ?? String(err), stack: e?.stack, stage: err instanceof StageError });
  };
  let handler: TaskHandler<T, R>;
  try {
    handler = server(data.setup, { index: data.index, count: data.count, progress: (message) => post({ kind: 'progress', message }) });
  } catch (err) {
    failed(-1, err);
    return;
  }
  // One task at a time, in the order sent, even when the handler is asynchronous.
  let chain = Promise.resolve();
  port.on('message', (m: ToWorker<T>) => {
    chain = chain.then(async () => {
      if (m.kind === 'close') {
        handler.close?.();
        port.close();
        return;
      }
      try {
        const result = await handler.run(m.task);
        if (m.id >= 0) post({ kind: 'done', id: m.id, result }, handler.transfer?.(result) ?? []);
      } catch (err) {
        failed(m.id, err);
      }
    });
  });
  post({ kind: 'ready' });
}

/** The worker file as both sides name it (symbolic links resolved). */
function scriptKey(file: string): string {
  try { return fs.realpathSync(file); } catch { return file; }
}
