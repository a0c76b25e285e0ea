/**
 * Streams a recording through the median kernel in bounded memory, reading, computing and
 * writing at the same time so that the disk, not the code, sets the pace.
 *
 * The file is cut into chunks of whole samples. Each slot of one shared WebAssembly memory holds
 * a chunk and goes round
 *
 *   free --read--> read --kernel, in a worker--> computed --write--> free
 *
 * with up to `maxReads` reads and `maxWrites` writes in flight (libuv's thread pool does them)
 * while the workers compute. Only this thread touches files; workers only compute. Outputs go to
 * `.partial` files that are made durable (fsync) and renamed into place when every chunk is
 * written. Chunks are independent, so the result does not depend on chunk size, slot count or
 * how many workers there are.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { PartialFile } from '../../lib/base/atomicFile.js';
import { wasmPageBytes } from '../../lib/base/wasm.js';
import { compileKernel, kernelSlackBytes } from './kernel.js';
import { groupCount, type ChannelPlan } from './channelPlan.js';
import { DirectWriter, directAlignment } from './directWriter.js';
import { readFully, writeFully } from './positionalIo.js';
import type { ComputeRequest, WorkerReply, WorkerSetup } from './worker.js';

export const defaultChunkBytes = 8 * 1024 * 1024;
const residualRowBytes = groupCount * 2;

export interface StreamOptions {
  inputPath: string;
  /** May equal inputPath: the result then replaces the input by an atomic rename. */
  outputPath: string;
  residualPath: string;
  plan: ChannelPlan;
  chunkBytes?: number;
  workers?: number;
  maxReads?: number;
  maxWrites?: number;
  signal?: AbortSignal;
  onProgress?(doneBytes: number, totalBytes: number): void;
}

export interface StreamResult {
  samples: number;
  chunks: number;
  workers: number;
  /** The code that computed the result: the WebAssembly SIMD kernel is the only one. */
  kernel: 'wasm-simd';
  /** Whether the output went straight to the disk (O_DIRECT) rather than through the page cache. */
  directWrites: boolean;
  /** Time spent making the outputs durable (fsync) and renaming them, which the disk decides. */
  commitSeconds: number;
}

/** Thrown when the signal aborts the run; the partial files are gone by then. */
export class StreamAborted extends Error {}

/** A file could not be read or written (full disk, file cut short...): not a bug. The message names the file. */
export class StreamIoError extends Error {}

/** Names the file in errors from the file system, whose messages often do not. */
function onFile(path: string): (err: Error) => never {
  return (err) => {
    if (err instanceof StreamIoError) throw err;
    const message = err.message.startsWith(path) ? err.message : `${path}: ${err.message}`;
    throw new StreamIoError(message);
  };
}

interface Chunk { firstSample: number; rows: number }

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Whole samples per chunk; a multiple of 4 KiB in bytes where possible, for O_DIRECT. */
function chunkRows(rowBytes: number, chunkBytes: number): number {
  let rows = Math.max(1, Math.floor(chunkBytes / rowBytes));
  const alignRows = directAlignment / gcd(rowBytes, directAlignment);
  if (rows >= alignRows) rows -= rows % alignRows;
  return rows;
}

export async function medianSubtractFile(opts: StreamOptions): Promise<StreamResult> {
  const rowBytes = opts.plan.numChannels * 2;
  const totalBytes = fs.statSync(opts.inputPath).size;
  const samples = Math.floor(totalBytes / rowBytes);
  const rowsPerChunk = chunkRows(rowBytes, opts.chunkBytes ?? defaultChunkBytes);
  const chunks: Chunk[] = [];
  for (let first = 0; first < samples; first += rowsPerChunk) chunks.push({ firstSample: first, rows: Math.min(rowsPerChunk, samples - first) });
  const workerCount = Math.max(1, Math.min(opts.workers ?? Math.min(2, os.availableParallelism()), chunks.length || 1));
  const maxReads = opts.maxReads ?? 2;
  const maxWrites = opts.maxWrites ?? 3;

  const residualFile = new PartialFile(opts.residualPath);
  const outputFile = new PartialFile(opts.outputPath);
  const workers: Worker[] = [];
  let io: Io | undefined;
  let residualsCommitted = false;
  const closeFiles = () => {
    if (io) closeIo(io);
    io = undefined;
  };
  try {
    if (chunks.length > 0) {
      // Slots: one per worker computing, per read and per write in flight, no more than chunks.
      const slotCount = Math.min(chunks.length, workerCount + maxReads + maxWrites);
      const constantsBytes = alignUp(opts.plan.constants.length, directAlignment);
      const slotRowBytes = alignUp(rowsPerChunk * rowBytes + kernelSlackBytes, directAlignment);
      const slotBytes = slotRowBytes + alignUp(rowsPerChunk * residualRowBytes, directAlignment);
      const pages = Math.ceil((constantsBytes + slotCount * slotBytes) / wasmPageBytes);
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      new Uint8Array(memory.buffer).set(opts.plan.constants, 0);
      const slots = Array.from({ length: slotCount }, (_, i) => ({ rowPtr: constantsBytes + i * slotBytes, residualPtr: constantsBytes + i * slotBytes + slotRowBytes }));

      const setup: WorkerSetup = { module: compileKernel(opts.plan, pages), memory, rowBytes, residualRowBytes };
      for (let i = 0; i < workerCount; i++) workers.push(new Worker(new URL('./worker.js', import.meta.url), { workerData: setup }));
      io = openIo(opts.inputPath, outputFile.tmpPath, residualFile.tmpPath);
      await runPipeline({ chunks, slots, workers, memory, io, rowBytes, maxReads, maxWrites, totalBytes, opts });
    }
    await stopWorkers(workers);
    const directWrites = io?.output.isDirect ?? false;
    closeFiles();
    const commitStarted = process.hrtime.bigint();
    // A full disk may only show here, when buffered data reaches it. The output goes last: when
    // it replaces the AP file, a failure before its rename leaves the recording as it was.
    try { residualFile.commit(); } catch (err) { onFile(opts.residualPath)(err as Error); }
    residualsCommitted = true;
    try { outputFile.commit(); } catch (err) { onFile(opts.outputPath)(err as Error); }
    const commitSeconds = Number(process.hrtime.bigint() - commitStarted) / 1e9;
    return { samples, chunks: chunks.length, workers: chunks.length ? workerCount : 0, kernel: 'wasm-simd', directWrites, commitSeconds };
  } catch (err) {
    await stopWorkers(workers);
    closeFiles();
    if (!residualsCommitted) residualFile.abort();
    outputFile.abort();
    throw err;
  }
}

interface Io { input: number; output: DirectWriter; residuals: number }

function openIo(inputPath: string, outputPath: string, residualPath: string): Io {
  const input = fs.openSync(inputPath, 'r');
  try {
    const output = new DirectWriter(outputPath);
    return { input, output, residuals: fs.openSync(residualPath, 'r+') };
  } catch (err) {
    fs.closeSync(input);
    throw err;
  }
}

function closeIo(io: Io | undefined): void {
  if (!io) return;
  for (const fd of [io.input, io.residuals]) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
  }
  io.output.close();
}

/** Workers hold no files, so terminating them is safe once nothing is being computed. */
async function stopWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.terminate()));
}

interface PipelineInput {
  chunks: Chunk[];
  slots: Array<{ rowPtr: number; residualPtr: number }>;
  workers: Worker[];
  memory: WebAssembly.Memory;
  io: Io;
  rowBytes: number;
  maxReads: number;
  maxWrites: number;
  totalBytes: number;
  opts: StreamOptions;
}

/**
 * Moves every chunk through read, compute and write. Resolves when all are written; on an error
 * or abort, stops starting work and rejects once nothing is in flight any more (a file must not
 * be closed under a pending write).
 */
function runPipeline(p: PipelineInput): Promise<void> {
  const { chunks, slots, workers, memory, io, rowBytes, opts } = p;
  const bytes = new Uint8Array(memory.buffer);
  return new Promise<void>((resolve, reject) => {
    const freeSlots = slots.map((_, i) => i);
    const toCompute: number[] = [];
    const toWrite: number[] = [];
    const chunkOfSlot = new Array<number>(slots.length).fill(-1);
    const idleWorkers = [...workers];
    let nextChunk = 0, reading = 0, computing = 0, writing = 0, written = 0, doneBytes = 0;
    let failure: Error | undefined, settled = false;

    const finish = () => {
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      if (failure) reject(failure);
      else resolve();
    };
    const fail = (err: Error) => {
      failure ??= err;
      pump();
    };
    const onAbort = () => fail(new StreamAborted('median subtraction stopped'));

    const startRead = (slot: number) => {
      const chunk = chunks[nextChunk];
      chunkOfSlot[slot] = nextChunk++;
      reading++;
      const { rowPtr } = slots[slot];
      readFully(io.input, bytes.subarray(rowPtr, rowPtr + chunk.rows * rowBytes), chunk.firstSample * rowBytes, opts.inputPath)
        .catch(onFile(opts.inputPath))
        .then(() => { toCompute.push(slot); }, fail)
        .finally(() => { reading--; pump(); });
    };
    const startCompute = (slot: number, worker: Worker) => {
      computing++;
      const { rowPtr, residualPtr } = slots[slot];
      worker.postMessage({ id: slot, rows: chunks[chunkOfSlot[slot]].rows, rowPtr, residualPtr } satisfies ComputeRequest);
    };
    const startWrite = (slot: number) => {
      const chunk = chunks[chunkOfSlot[slot]];
      const { rowPtr, residualPtr } = slots[slot];
      const outBytes = chunk.rows * rowBytes, resBytes = chunk.rows * residualRowBytes;
      writing++;
      Promise.all([
        io.output.write(bytes.subarray(rowPtr, rowPtr + outBytes), chunk.firstSample * rowBytes).catch(onFile(opts.outputPath)),
        writeFully(io.residuals, bytes.subarray(residualPtr, residualPtr + resBytes), chunk.firstSample * residualRowBytes).catch(onFile(opts.residualPath)),
      ]).then(() => {
        written++;
        doneBytes += outBytes;
        opts.onProgress?.(doneBytes, p.totalBytes);
        freeSlots.push(slot);
      }, fail).finally(() => { writing--; pump(); });
    };

    // Starts whatever can start; called after every event.
    function pump(): void {
      if (settled) return;
      if (failure) {
        if (reading + computing + writing === 0) finish();
        return;
      }
      if (written === chunks.length) return finish();
      while (toWrite.length > 0 && writing < p.maxWrites) startWrite(toWrite.shift()!);
      while (toCompute.length > 0 && idleWorkers.length > 0) startCompute(toCompute.shift()!, idleWorkers.shift()!);
      while (freeSlots.length > 0 && nextChunk < chunks.length && reading < p.maxReads) startRead(freeSlots.shift()!);
    }

    for (const w of workers) {
      w.on('message', (reply: WorkerReply) => {
        computing--;
        idleWorkers.push(w);
        switch (reply.kind) {
          case 'computed':
            toWrite.push(reply.id);
            break;
          case 'failed':
            failure ??= new Error(`internal error: median kernel: ${reply.message}`);
            break;
          default: {
            const never: never = reply;
            failure ??= new Error(`internal error: unknown worker reply ${JSON.stringify(never)}`);
          }
        }
        pump();
      });
      // A worker that dies never answers for its chunk: stop without waiting for the
      // computations (they touch memory only; reads and writes in flight are still awaited).
      const died = (err: Error) => {
        if (settled) return;
        computing = 0;
        fail(err);
      };
      w.on('error', died);
      w.on('exit', (code) => died(new Error(`internal error: median worker exited with ${code}`)));
    }
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    pump();
  });
}
