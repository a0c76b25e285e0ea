/**
 * The chunk pipeline of streamMedian.ts: every slot of the shared memory goes round
 *
 *   free --read--> read --kernel (a worker)--> computed --write--> free
 *
 * with at most `maxReads` reads and `maxWrites` writes in flight while the workers compute, so the
 * disk always has the next write queued. Until the first worker has started (under load that can
 * take half a second), this thread runs the kernel itself, so the first write is not held back.
 * Writes may finish in any order: every chunk has its own place in the files.
 */
import type { KernelPool } from './worker.js';

export interface Chunk { firstSample: number; rows: number }
export interface Slot { rowPtr: number; residualPtr: number }

export interface PipelineSpec {
  chunks: Chunk[];
  slots: Slot[];
  /** Threads that run the kernel; the pipeline hands a chunk only to one started and idle. */
  pool: KernelPool;
  maxReads: number;
  maxWrites: number;
  read(chunk: Chunk, slot: Slot): Promise<void>;
  write(chunk: Chunk, slot: Slot): Promise<void>;
  /** Runs the kernel on this thread, for while no worker is ready. */
  computeHere(chunk: Chunk, slot: Slot): void;
  onWritten(chunk: Chunk): void;
  /** Raised when the run should stop; the pipeline then fails with it. */
  stopped: Promise<Error>;
}

/**
 * Resolves when every chunk is written. On the first error (or when `stopped` settles) it starts
 * nothing more and rejects once no read, computation or write is in flight: a file must not be
 * closed under a pending write.
 */
export function runPipeline(spec: PipelineSpec): Promise<void> {
  const { chunks, slots } = spec;
  return new Promise<void>((resolve, reject) => {
    const freeSlots = slots.map((_, i) => i);
    const toCompute: number[] = [];
    const toWrite: number[] = [];
    const chunkOfSlot = new Array<number>(slots.length).fill(-1);
    const pool = spec.pool;
    let anyWorkerReady = false, computingHere = false;
    let nextChunk = 0, reading = 0, computing = 0, writing = 0, written = 0;
    let failure: Error | undefined, settled = false;

    const finish = () => {
      settled = true;
      if (failure) reject(failure);
      else resolve();
    };
    const fail = (err: Error) => {
      failure ??= err;
      pump();
    };
    void spec.stopped.then(fail);

    const startRead = (slot: number) => {
      chunkOfSlot[slot] = nextChunk++;
      reading++;
      spec.read(chunks[chunkOfSlot[slot]], slots[slot])
        .then(() => { toCompute.push(slot); }, fail)
        .finally(() => { reading--; pump(); });
    };
    const startCompute = (slot: number) => {
      computing++;
      const { rowPtr, residualPtr } = slots[slot];
      // A worker that dies never answers for its chunk: the pool then rejects every chunk it was
      // given at once (they touch memory only; reads and writes in flight are still awaited).
      pool.run({ rows: chunks[chunkOfSlot[slot]].rows, rowPtr, residualPtr })
        .then(() => { toWrite.push(slot); }, fail)
        .finally(() => { computing--; pump(); });
    };
    const startWrite = (slot: number) => {
      writing++;
      const chunk = chunks[chunkOfSlot[slot]];
      spec.write(chunk, slots[slot])
        .then(() => {
          written++;
          spec.onWritten(chunk);
          freeSlots.push(slot);
        }, fail)
        .finally(() => { writing--; pump(); });
    };
    // One chunk at a time, yielding in between so that finished reads and writes are handled.
    const computeHereSoon = () => {
      computingHere = true;
      setImmediate(() => {
        computingHere = false;
        if (failure || anyWorkerReady || toCompute.length === 0) return pump();
        const slot = toCompute.shift()!;
        try {
          spec.computeHere(chunks[chunkOfSlot[slot]], slots[slot]);
          toWrite.push(slot);
        } catch (err) {
          failure ??= err as Error;
        }
        pump();
      });
    };

    // Starts whatever can start; called after every event.
    function pump(): void {
      if (settled) return;
      if (failure) {
        if (reading + computing + writing === 0 && !computingHere) finish();
        return;
      }
      if (written === chunks.length) return finish();
      while (toWrite.length > 0 && writing < spec.maxWrites) startWrite(toWrite.shift()!);
      while (toCompute.length > 0 && pool.idleCount > 0) startCompute(toCompute.shift()!);
      while (freeSlots.length > 0 && nextChunk < chunks.length && reading < spec.maxReads) startRead(freeSlots.shift()!);
      if (!anyWorkerReady && toCompute.length > 0 && !computingHere) computeHereSoon();
    }

    if (!pool.isInline) pool.whenReady().then(() => { anyWorkerReady = true; pump(); }, fail);
    pump();
  });
}
