/**
 * Streams a recording through the median kernel in bounded memory, reading, computing and
 * writing at the same time so that the disk, not the code, sets the pace.
 *
 * The file is cut into chunks of whole samples; one shared WebAssembly memory holds a few of
 * them (a slot per worker computing and per read and write in flight), and pipeline.ts moves
 * every chunk through read, kernel and write. Only this thread touches files (reads and writes
 * run on libuv's thread pool); workers only compute. Both outputs are written straight to the
 * disk where the file system allows it (directWriter.ts) into `.partial` files, made durable
 * (fsync) and renamed into place when every chunk is written. Chunks are independent, so the
 * result does not depend on chunk size, slot count or how many workers there are.
 */
import fs from 'node:fs';
import os from 'node:os';
import { PartialFile } from '../../lib/base/atomicFile.js';
import { wasmPageBytes } from '../../lib/base/wasm.js';
import { compileKernel, instantiateKernel, kernelSlackBytes, runChunk } from './kernel.js';
import { groupCount, type ChannelPlan } from './channelPlan.js';
import { DirectWriter, directAlignment } from './directWriter.js';
import { runPipeline, type Chunk, type Slot } from './pipeline.js';
import { readFully } from './positionalIo.js';
import { startKernelPool, type KernelPool } from './worker.js';

export const defaultChunkBytes = 8 * 1024 * 1024;
const residualRowBytes = groupCount * 2;

export interface StreamOptions {
  inputPath: string;
  /** May equal inputPath: the result then replaces the input by an atomic rename. */
  outputPath: string;
  residualPath: string;
  plan: ChannelPlan;
  chunkBytes?: number;
  /** Worker threads running the kernel; 0 runs it on this thread only. */
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

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Rows whose bytes are a multiple of 4 KiB in both outputs (rowBytes per row in the data, 48 in
 * the residuals), so that every chunk but the last can be written with O_DIRECT.
 */
function directRows(rowBytes: number): number {
  const rowsFor = (bytes: number) => directAlignment / gcd(bytes, directAlignment);
  const a = rowsFor(rowBytes), b = rowsFor(residualRowBytes);
  return (a * b) / gcd(a, b);
}

/** Whole samples per chunk, rounded down to directRows where the chunk is that big. */
function chunkRows(rowBytes: number, chunkBytes: number): number {
  const rows = Math.max(1, Math.floor(chunkBytes / rowBytes));
  const align = directRows(rowBytes);
  return rows >= align ? rows - (rows % align) : rows;
}

/**
 * The file's chunks. The first chunk's rows go in pieces doubling from directRows, so the disk
 * starts on a small first write instead of waiting for a whole chunk to be read and computed
 * (while the kernel still runs in V8's baseline tier); later boundaries are unchanged.
 */
export function planChunks(samples: number, rowBytes: number, chunkBytes: number): Chunk[] {
  const rowsPerChunk = chunkRows(rowBytes, chunkBytes);
  const chunks: Chunk[] = [];
  let first = 0;
  const push = (rows: number) => {
    rows = Math.min(rows, samples - first);
    chunks.push({ firstSample: first, rows });
    first += rows;
  };
  for (let piece = directRows(rowBytes); first + piece < rowsPerChunk && first < samples; piece *= 2) push(piece);
  if (first > 0 && first < samples) push(rowsPerChunk - first);
  while (first < samples) push(rowsPerChunk);
  return chunks;
}

export async function medianSubtractFile(opts: StreamOptions): Promise<StreamResult> {
  const rowBytes = opts.plan.numChannels * 2;
  const totalBytes = fs.statSync(opts.inputPath).size;
  const samples = Math.floor(totalBytes / rowBytes);
  const rowsPerChunk = chunkRows(rowBytes, opts.chunkBytes ?? defaultChunkBytes);
  const chunks = planChunks(samples, rowBytes, opts.chunkBytes ?? defaultChunkBytes);
  // 0 workers: this thread computes every chunk (the pipeline does so until a worker is up).
  const workerCount = Math.max(0, Math.min(opts.workers ?? Math.min(2, os.availableParallelism()), chunks.length));
  // libuv's pool has four threads: one read ahead (from the page cache it takes a millisecond),
  // and three slots being written, so that one output write waits on the file's lock while
  // another goes to the disk, which then never idles between two.
  const maxReads = opts.maxReads ?? 1;
  const maxWrites = opts.maxWrites ?? 3;

  const residualFile = new PartialFile(opts.residualPath);
  const outputFile = new PartialFile(opts.outputPath);
  let pool: KernelPool | undefined;
  let io: Io | undefined;
  let residualsCommitted = false;
  const closeFiles = () => {
    if (io) closeIo(io);
    io = undefined;
  };
  let stopListener: (() => void) | undefined;
  try {
    if (chunks.length > 0) {
      const slotCount = Math.min(chunks.length, workerCount + maxReads + maxWrites);
      const constantsBytes = alignUp(opts.plan.constants.length, directAlignment);
      const slotRowBytes = alignUp(rowsPerChunk * rowBytes + kernelSlackBytes, directAlignment);
      const slotBytes = slotRowBytes + alignUp(rowsPerChunk * residualRowBytes, directAlignment);
      const pages = Math.ceil((constantsBytes + slotCount * slotBytes) / wasmPageBytes);
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      const bytes = new Uint8Array(memory.buffer);
      bytes.set(opts.plan.constants, 0);
      const slots: Slot[] = Array.from({ length: slotCount }, (_, i) => ({ rowPtr: constantsBytes + i * slotBytes, residualPtr: constantsBytes + i * slotBytes + slotRowBytes }));

      const module = compileKernel(opts.plan, pages);
      const kernels = startKernelPool({ module, memory, rowBytes }, workerCount);
      pool = kernels;
      const runHere = instantiateKernel(module, memory);
      const files = openIo(opts.inputPath, outputFile.tmpPath, residualFile.tmpPath);
      io = files;
      const stopped = new Promise<Error>((resolve) => {
        stopListener = () => resolve(new StreamAborted('median subtraction stopped'));
        if (opts.signal?.aborted) stopListener();
        else opts.signal?.addEventListener('abort', stopListener, { once: true });
      });
      let doneBytes = 0;
      await runPipeline({
        chunks, slots, pool: kernels, maxReads, maxWrites, stopped,
        read: (chunk, slot) => readFully(files.input, bytes.subarray(slot.rowPtr, slot.rowPtr + chunk.rows * rowBytes), chunk.firstSample * rowBytes, opts.inputPath)
          .catch(onFile(opts.inputPath)),
        // One after the other, so that a slot being written holds one pool thread at a time.
        write: async (chunk, slot) => {
          await files.output.write(bytes.subarray(slot.rowPtr, slot.rowPtr + chunk.rows * rowBytes), chunk.firstSample * rowBytes).catch(onFile(opts.outputPath));
          await files.residuals.write(bytes.subarray(slot.residualPtr, slot.residualPtr + chunk.rows * residualRowBytes), chunk.firstSample * residualRowBytes).catch(onFile(opts.residualPath));
        },
        computeHere: (chunk, slot) => runChunk(runHere, chunk.rows, slot.rowPtr, slot.residualPtr, rowBytes),
        onWritten: (chunk) => {
          doneBytes += chunk.rows * rowBytes;
          opts.onProgress?.(doneBytes, totalBytes);
        },
      });
    }
    await pool?.close();
    const directWrites = io?.output.isDirect ?? false;
    closeFiles();
    const commitStarted = process.hrtime.bigint();
    // A full disk may only show here, when buffered data reaches it. The output goes last: when
    // it replaces the AP file, a failure before its rename leaves the recording as it was.
    try { residualFile.commit(); } catch (err) { onFile(opts.residualPath)(err as Error); }
    residualsCommitted = true;
    try { outputFile.commit(); } catch (err) { onFile(opts.outputPath)(err as Error); }
    const commitSeconds = Number(process.hrtime.bigint() - commitStarted) / 1e9;
    return { samples, chunks: chunks.length, workers: workerCount, kernel: 'wasm-simd', directWrites, commitSeconds };
  } catch (err) {
    await pool?.terminate();
    closeFiles();
    if (!residualsCommitted) residualFile.abort();
    outputFile.abort();
    throw err;
  } finally {
    if (stopListener) opts.signal?.removeEventListener('abort', stopListener);
  }
}

interface Io { input: number; output: DirectWriter; residuals: DirectWriter }

function openIo(inputPath: string, outputPath: string, residualPath: string): Io {
  const opened: Array<{ close(): void }> = [];
  try {
    const input = fs.openSync(inputPath, 'r');
    opened.push({ close: () => fs.closeSync(input) });
    const output = new DirectWriter(outputPath);
    opened.push(output);
    const residuals = new DirectWriter(residualPath);
    return { input, output, residuals };
  } catch (err) {
    for (const f of opened) f.close();
    throw err;
  }
}

function closeIo(io: Io): void {
  try { fs.closeSync(io.input); } catch { /* already closed */ }
  io.output.close();
  io.residuals.close();
}
