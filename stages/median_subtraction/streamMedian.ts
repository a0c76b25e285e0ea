/**
 * Streams a recording through the median kernel in bounded memory: the file is cut into chunks
 * of whole samples, handed out to worker threads (two queued per worker so none waits for the
 * next request), and written to `.partial` files that are renamed into place only when every
 * chunk is done. Chunks are independent, so the result does not depend on chunk size or on how
 * many workers there are.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { PartialFile } from '../../lib/base/atomicFile.js';
import { buildKernel, directAlignment } from './kernel.js';
import type { ChannelPlan } from './channelPlan.js';
import type { ChunkRequest, WorkerReply, WorkerSetup } from './worker.js';

export const defaultChunkBytes = 8 * 1024 * 1024;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export interface StreamOptions {
  inputPath: string;
  /** May equal inputPath: the result then replaces the input by an atomic rename. */
  outputPath: string;
  residualPath: string;
  plan: ChannelPlan;
  chunkBytes?: number;
  workers?: number;
  signal?: AbortSignal;
  onProgress?(doneBytes: number, totalBytes: number): void;
}

export interface StreamResult {
  samples: number;
  chunks: number;
  workers: number;
  /** The code that computed the result: the WebAssembly SIMD kernel is the only one. */
  kernel: 'wasm-simd';
  /** Time spent making the outputs durable (fsync) and renaming them, which the disk decides. */
  commitSeconds: number;
}

/** Thrown when the signal aborts the run; the partial files are gone by then. */
export class StreamAborted extends Error {}

export async function medianSubtractFile(opts: StreamOptions): Promise<StreamResult> {
  const rowBytes = opts.plan.numChannels * 2;
  const totalBytes = fs.statSync(opts.inputPath).size;
  const samples = Math.floor(totalBytes / rowBytes);
  let chunkSamples = Math.max(1, Math.floor((opts.chunkBytes ?? defaultChunkBytes) / rowBytes));
  // Chunks that start and end on 4 KiB boundaries can be written with O_DIRECT (worker.ts).
  const alignSamples = directAlignment / gcd(rowBytes, directAlignment);
  if (chunkSamples >= alignSamples) chunkSamples -= chunkSamples % alignSamples;
  const chunks: ChunkRequest[] = [];
  for (let first = 0; first < samples; first += chunkSamples) {
    chunks.push({ firstSample: first, sampleCount: Math.min(chunkSamples, samples - first) });
  }
  const workerCount = Math.max(1, Math.min(opts.workers ?? os.availableParallelism(), chunks.length || 1));

  const residualFile = new PartialFile(opts.residualPath);
  const outputFile = new PartialFile(opts.outputPath);
  const workers: Worker[] = [];
  try {
    if (chunks.length > 0) {
      const kernel = buildKernel(opts.plan, chunkSamples);
      const setup: WorkerSetup = {
        kernelBytes: kernel.bytes,
        layout: kernel.layout,
        constants: opts.plan.constants,
        inputPath: opts.inputPath,
        outputPath: outputFile.tmpPath,
        residualPath: residualFile.tmpPath,
      };
      for (let i = 0; i < workerCount; i++) workers.push(new Worker(new URL('./worker.js', import.meta.url), { workerData: setup }));
      await runChunks(workers, chunks, totalBytes, opts);
    }
    await stopWorkers(workers);
    const commitStarted = process.hrtime.bigint();
    residualFile.commit();
    outputFile.commit();
    const commitSeconds = Number(process.hrtime.bigint() - commitStarted) / 1e9;
    return { samples, chunks: chunks.length, workers: chunks.length ? workerCount : 0, kernel: 'wasm-simd', commitSeconds };
  } catch (err) {
    // Workers go first: one still writing would otherwise write into a removed file.
    await stopWorkers(workers);
    residualFile.abort();
    outputFile.abort();
    throw err;
  }
}

/**
 * Asks each worker to close its files and waits for it to exit; file descriptors belong to the
 * process, so terminating a worker outright would leak them. Terminates those that do not exit.
 */
async function stopWorkers(workers: Worker[], graceMs = 10_000): Promise<void> {
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
    if (w.threadId === -1) return resolve();
    const timer = setTimeout(() => { void w.terminate(); }, graceMs);
    w.once('exit', () => { clearTimeout(timer); resolve(); });
    w.postMessage('close');
  })));
}

function runChunks(workers: Worker[], chunks: ChunkRequest[], totalBytes: number, opts: StreamOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let next = 0, finished = 0, doneBytes = 0, settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = () => fail(new StreamAborted('median subtraction stopped'));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const feed = (w: Worker) => { if (next < chunks.length) w.postMessage(chunks[next++]); };
    for (const w of workers) {
      w.on('message', (reply: WorkerReply) => {
        if (settled) return;
        switch (reply.kind) {
          case 'chunk-done':
            finished++;
            doneBytes += reply.bytes;
            opts.onProgress?.(doneBytes, totalBytes);
            if (finished === chunks.length) {
              settled = true;
              opts.signal?.removeEventListener('abort', onAbort);
              resolve();
            } else feed(w);
            return;
          case 'failed':
            return fail(new Error(reply.message));
          default: {
            const never: never = reply;
            return fail(new Error(`internal error: unknown worker reply ${JSON.stringify(never)}`));
          }
        }
      });
      w.on('error', (err) => fail(err));
      w.on('exit', (code) => { if (!settled && code !== 0) fail(new Error(`internal error: median worker exited with ${code}`)); });
      feed(w);
      feed(w);
    }
  });
}
