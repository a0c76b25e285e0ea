/**
 * Checking the up-to-date index's entries on two threads. A no-op over 10,000 recordings is
 * some 120,000 stats; a second thread takes entries while this one is still finding the
 * recordings (fast-glob, synchronous), and both then share what is left. They take blocks of
 * entries from one shared counter, so neither waits on the other beyond the block in hand.
 *
 * Not the stages' WorkerPool: that one hands out tasks from the event loop, and this thread is
 * busy in discovery meanwhile. The worker gets the index's bytes in shared memory and parses
 * them itself. A result is only ever "holds" after its files were stat'ed; an entry left
 * unchecked (a worker that failed) counts as not holding, which costs a full plan, nothing else.
 */
import path from 'node:path';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { holds, type Witness } from './witness.js';
import { packageRoot } from '../base/paths.js';

interface Entries { [dir: string]: { files: Witness } }

/** ctrl[0]: next block to take; ctrl[1]: entries finished. results[i]: 0 unchecked, 1 holds, 2 not. */
interface Shared { ctrl: Int32Array; results: Uint8Array }

const block = 64;
/** Below this many entries a thread costs more to start than it saves. */
const minForWorker = 500;
export const workerFile = path.join(packageRoot, 'dist', 'lib', 'engine', 'witnessChecks.js');

/** Check blocks until none is left; returns how many entries this thread checked. */
function drain(entries: Entries, dirs: string[], s: Shared): number {
  const n = dirs.length;
  let here = 0;
  for (;;) {
    const start = Atomics.add(s.ctrl, 0, 1) * block;
    if (start >= n) return here;
    here += Math.min(n, start + block) - start;
    const end = Math.min(n, start + block);
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
   * Check what the other thread has not taken. `results`, by entry in `dirs` order: 1 held, 2 did
   * not, 0 unchecked; `here`: how many this thread checked.
   */
  finish(): { results: Uint8Array; here: number };
}

/**
 * Start checking `entries` (parsed from `bytes`, the index's text from `from` on, in shared
 * memory when a worker is to share the work).
 */
export function startChecks(entries: Entries, dirs: string[], bytes: Uint8Array, from: number): Checks {
  const s: Shared = { ctrl: new Int32Array(new SharedArrayBuffer(8)), results: new Uint8Array(new SharedArrayBuffer(Math.max(1, dirs.length))) };
  if (dirs.length >= minForWorker && bytes.buffer instanceof SharedArrayBuffer) {
    try {
      const w = new Worker(workerFile, { workerData: { witnessChecks: { bytes, from, ctrl: s.ctrl, results: s.results } } });
      // Its blocks are finished or left unchecked either way; nothing to report.
      w.on('error', () => {});
      w.unref();
    } catch { /* this thread does it all */ }
  }
  return {
    taken: () => Math.min(dirs.length, Atomics.load(s.ctrl, 0) * block),
    finish() {
      const here = drain(entries, dirs, s);
      // Wait for the blocks the worker took; give up on one that stops making progress.
      for (let done = Atomics.load(s.ctrl, 1); done < dirs.length; done = Atomics.load(s.ctrl, 1)) {
        if (Atomics.wait(s.ctrl, 1, done, 2000) === 'timed-out' && Atomics.load(s.ctrl, 1) === done) break;
      }
      return { results: s.results, here };
    },
  };
}

if (!isMainThread && workerData?.witnessChecks) {
  const { bytes, from, ctrl, results } = workerData.witnessChecks as { bytes: Uint8Array; from: number; ctrl: Int32Array; results: Uint8Array };
  const entries = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', from)) as Entries;
  drain(entries, Object.keys(entries), { ctrl, results });
}
