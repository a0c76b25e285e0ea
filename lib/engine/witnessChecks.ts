/**
 * Checking the up-to-date index's entries on two threads. A no-op over 10,000 recordings is
 * some 120,000 stats; a second thread takes entries while this one is still finding the
 * recordings (fast-glob, synchronous), and both then share what is left. They take blocks of
 * entries from one shared counter, so neither waits on the other beyond the block in hand.
 *
 * The worker does its whole share while it sets up (no tasks are sent: this thread is busy in
 * discovery meanwhile), from the index's bytes in shared memory. A result is only ever "holds"
 * after its files were stat'ed; an entry left unchecked (a worker that failed) counts as not
 * holding, which costs a full plan, nothing else.
 */
import path from 'node:path';
import { holds, type Witness } from './witness.js';
import { packageRoot } from '../base/paths.js';
import { WorkerPool, serveTasks, type TaskServer } from '../base/workerPool.js';

interface Entries { [dir: string]: { files: Witness } }

/** ctrl[0]: next block to take; ctrl[1]: entries finished. results[i]: 0 unchecked, 1 holds, 2 not. */
interface Shared { ctrl: Int32Array; results: Uint8Array }
interface Setup extends Shared { bytes: Uint8Array; from: number }

const block = 64;
/** Below this (some 1,400 recordings' entries) a second thread gained nothing measurable. */
export const minBytesForWorker = 1_000_000;
export const workerFile = path.join(packageRoot, 'dist', 'lib', 'engine', 'witnessChecks.js');

/** Check blocks until none is left; returns how many entries this thread checked. */
function drain(entries: Entries, dirs: string[], s: Shared): number {
  const n = dirs.length;
  let here = 0;
  for (;;) {
    const start = Atomics.add(s.ctrl, 0, 1) * block;
    if (start >= n) return here;
    const end = Math.min(n, start + block);
    here += end - start;
    for (let i = start; i < end; i++) {
      try { s.results[i] = holds(entries[dirs[i]].files, dirs[i]) ? 1 : 2; } catch { s.results[i] = 2; }
    }
    Atomics.add(s.ctrl, 1, end - start);
    Atomics.notify(s.ctrl, 1);
  }
}

export interface Checks {
  /** Entries taken so far, by either thread. */
  taken(): number;
  /**
   * Check what the other thread has not taken of `entries` (parsed from the same bytes; `dirs`
   * their keys in order). `results`, by entry: 1 held, 2 did not, 0 unchecked; `here`: how many
   * this thread checked. Also ends the worker.
   */
  finish(entries: Entries, dirs: string[]): { results: Uint8Array; here: number };
}

/**
 * Start the other thread on the entries in `bytes` (the index's text in shared memory; the
 * entries from `from` on) before this one parses them too, so it is under way sooner.
 */
export function startChecks(bytes: Uint8Array, from: number): Checks {
  // An entry takes more than 16 bytes, so this many results are room enough before anyone has counted.
  const room = Math.max(1, Math.ceil((bytes.length - from) / 16));
  const s: Shared = { ctrl: new Int32Array(new SharedArrayBuffer(8)), results: new Uint8Array(new SharedArrayBuffer(room)) };
  let pool: WorkerPool<Setup, never, never> | undefined;
  if (bytes.length - from >= minBytesForWorker && bytes.buffer instanceof SharedArrayBuffer) {
    try {
      pool = new WorkerPool({ name: 'index check', script: workerFile, server: checkAtSetup, setup: { ...s, bytes, from }, workers: 1 });
    } catch { /* this thread does it all */ }
  }
  return {
    taken: () => Atomics.load(s.ctrl, 0) * block,
    finish(entries, dirs) {
      const here = drain(entries, dirs, s);
      // Wait for the blocks the worker took; give up on one that stops making progress.
      for (let done = Atomics.load(s.ctrl, 1); done < dirs.length; done = Atomics.load(s.ctrl, 1)) {
        if (Atomics.wait(s.ctrl, 1, done, 2000) === 'timed-out' && Atomics.load(s.ctrl, 1) === done) break;
      }
      void pool?.terminate();
      return { results: s.results.subarray(0, dirs.length), here };
    },
  };
}

const checkAtSetup: TaskServer<Setup, never, never> = (setup) => {
  const { bytes, from } = setup;
  const entries = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', from)) as Entries;
  drain(entries, Object.keys(entries), setup);
  return { run: () => { throw new Error('internal error: the index check takes no tasks'); } };
};

serveTasks(import.meta.url, checkAtSetup);
