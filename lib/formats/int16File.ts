/**
 * A flat int16, channel-interleaved binary (reference §3.1) opened for windowed reads: its sample
 * count, and whole rows (all channels of a run of samples) read in chunks of at least 8 MiB.
 */
import fs from 'node:fs';
import { StageError } from '../base/stageError.js';

/** Large sequential reads are several times faster than small ones on the machines we run on. */
export const readChunkBytes = 8 << 20;

export class Int16File {
  readonly fd: number;
  readonly sampleCount: number;
  constructor(readonly path: string, readonly channelCount: number, what: string) {
    let size: number;
    try {
      this.fd = fs.openSync(path, 'r');
      size = fs.fstatSync(this.fd).size;
    } catch (err) {
      throw new StageError(`${what} ${path}: cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const rowBytes = 2 * channelCount;
    if (size % rowBytes !== 0) {
      fs.closeSync(this.fd);
      throw new StageError(`${what} ${path}: ${size} bytes is not a whole number of samples of ${channelCount} int16 channels (${rowBytes} bytes each); check num_channels`);
    }
    this.sampleCount = size / rowBytes;
  }

  /**
   * Rows `start .. start+count-1`, handed to `sink` in pieces of about readChunkBytes as
   * interleaved Int16Arrays together with the first row of each piece.
   */
  readRows(start: number, count: number, sink: (rows: Int16Array, firstRow: number) => void, signal?: AbortSignal): void {
    const rowBytes = 2 * this.channelCount;
    const rowsPerChunk = Math.max(1, Math.floor(readChunkBytes / rowBytes));
    const buf = Buffer.allocUnsafe(Math.min(count, rowsPerChunk) * rowBytes);
    for (let row = start; row < start + count; row += rowsPerChunk) {
      if (signal?.aborted) throw new StageError('stopped');
      const n = Math.min(rowsPerChunk, start + count - row);
      const bytes = n * rowBytes;
      let got = 0;
      while (got < bytes) {
        const r = fs.readSync(this.fd, buf, got, bytes - got, row * rowBytes + got);
        if (r === 0) throw new StageError(`${this.path}: file ended at byte ${row * rowBytes + got} while reading; was it truncated during the run?`);
        got += r;
      }
      sink(new Int16Array(buf.buffer, buf.byteOffset, n * this.channelCount), row);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
