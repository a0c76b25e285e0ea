/**
 * Worker thread of median_subtraction: reads the chunks it is given straight into its kernel's
 * memory, runs the kernel, and writes the output and residual rows at their positions in the
 * `.partial` files. Doing the file I/O here, not in the main thread, means no chunk is copied
 * between threads, and one worker's I/O overlaps the other's computing.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { directAlignment, instantiateKernel, type KernelLayout } from './kernel.js';

export interface WorkerSetup {
  kernelBytes: Uint8Array;
  layout: KernelLayout;
  constants: Uint8Array;
  inputPath: string;
  outputPath: string;
  residualPath: string;
}

export interface ChunkRequest { firstSample: number; sampleCount: number }
export type WorkerReply =
  | { kind: 'chunk-done'; firstSample: number; bytes: number }
  | { kind: 'failed'; message: string };

function readFully(fd: number, into: Uint8Array, position: number, path: string): void {
  let got = 0;
  while (got < into.length) {
    const n = fs.readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) throw new Error(`${path}: file ended early (was it truncated while being read?)`);
    got += n;
  }
}

function writeFully(fd: number, from: Uint8Array, position: number): void {
  let done = 0;
  while (done < from.length) done += fs.writeSync(fd, from, done, from.length - done, position + done);
}

/**
 * The output is written with O_DIRECT where the file system allows it: straight to the disk, past
 * the page cache. A buffered write of several GB competes with every other writer on the machine
 * for dirty-page budget (and then waits for the final fsync); a direct write goes at disk speed
 * while the other worker computes. Pieces that are not 4 KiB aligned (the file's last chunk) go
 * through an ordinary descriptor; the commit's fsync covers both.
 */
function openDirect(path: string): number | undefined {
  const flag = (fs.constants as Record<string, number>).O_DIRECT;
  if (!flag) return undefined;
  try {
    return fs.openSync(path, fs.constants.O_WRONLY | flag);
  } catch {
    return undefined;
  }
}

function serve(setup: WorkerSetup): void {
  const kernel = instantiateKernel(new WebAssembly.Module(new Uint8Array(setup.kernelBytes)), setup.layout, setup.constants);
  const { layout } = kernel;
  const input = fs.openSync(setup.inputPath, 'r');
  const output = fs.openSync(setup.outputPath, 'r+');
  let direct = openDirect(setup.outputPath);
  const residuals = fs.openSync(setup.residualPath, 'r+');
  let closed = false;
  parentPort!.on('message', (req: ChunkRequest | 'close') => {
    if (closed) return;
    if (req === 'close') {
      closed = true;
      for (const fd of [input, output, residuals, direct]) if (fd !== undefined) fs.closeSync(fd);
      parentPort!.close();
      return;
    }
    try {
      const bytes = req.sampleCount * layout.rowBytes;
      const memory = new Uint8Array(kernel.memory.buffer);
      readFully(input, memory.subarray(layout.inBase, layout.inBase + bytes), req.firstSample * layout.rowBytes, setup.inputPath);
      kernel.run(req.sampleCount);
      const out = memory.subarray(layout.outBase, layout.outBase + bytes);
      const position = req.firstSample * layout.rowBytes;
      const aligned = position % directAlignment === 0 ? bytes - (bytes % directAlignment) : 0;
      if (direct !== undefined && aligned > 0) {
        try {
          writeFully(direct, out.subarray(0, aligned), position);
        } catch {
          // Some file systems accept O_DIRECT at open and refuse the write: buffered from now on.
          fs.closeSync(direct);
          direct = undefined;
          writeFully(output, out.subarray(0, aligned), position);
        }
        if (aligned < bytes) writeFully(output, out.subarray(aligned), position + aligned);
      } else {
        writeFully(output, out, position);
      }
      const residualBytes = req.sampleCount * layout.residualRowBytes;
      writeFully(residuals, memory.subarray(layout.residualBase, layout.residualBase + residualBytes), req.firstSample * layout.residualRowBytes);
      parentPort!.postMessage({ kind: 'chunk-done', firstSample: req.firstSample, bytes } satisfies WorkerReply);
    } catch (err) {
      parentPort!.postMessage({ kind: 'failed', message: (err as Error).message } satisfies WorkerReply);
    }
  });
}

if (parentPort && workerData?.kernelBytes) serve(workerData as WorkerSetup);
