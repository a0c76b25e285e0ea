/**
 * Writes the output with O_DIRECT where the file system allows it: from the chunk's memory
 * straight to the disk, past the page cache. Buffered, several GB of output would compete with
 * every other writer on the machine for the dirty-page budget and then all wait for the final
 * fsync; direct, the disk is writing from the first chunk on while the next ones are computed.
 * Pieces that are not 4 KiB aligned (the file's last chunk, or every chunk when rows do not
 * line up) go through an ordinary descriptor; the commit's fsync covers both.
 */
import fs from 'node:fs';
import { writeFully } from './positionalIo.js';

/** Buffer address, file offset and length alignment that O_DIRECT needs on common file systems. */
export const directAlignment = 4096;

export class DirectWriter {
  private readonly buffered: number;
  private readonly directFd: number | undefined;
  /** Cleared when the file system refuses a direct write; the descriptor stays open until close. */
  private useDirect: boolean;

  constructor(path: string) {
    this.buffered = fs.openSync(path, 'r+');
    const flag = (fs.constants as Record<string, number>).O_DIRECT;
    let direct: number | undefined;
    try {
      direct = flag ? fs.openSync(path, fs.constants.O_WRONLY | flag) : undefined;
    } catch {
      direct = undefined; // tmpfs and others refuse O_DIRECT at open
    }
    this.directFd = direct;
    this.useDirect = direct !== undefined;
  }

  get isDirect(): boolean {
    return this.useDirect;
  }

  /** The part of `from` that starts and ends 4 KiB-aligned in memory and in the file goes direct. */
  async write(from: Uint8Array, position: number): Promise<void> {
    const aligned = this.useDirect && position % directAlignment === 0 && from.byteOffset % directAlignment === 0
      ? from.length - (from.length % directAlignment)
      : 0;
    if (aligned > 0) {
      try {
        await writeFully(this.directFd!, from.subarray(0, aligned), position);
      } catch (err) {
        // Some file systems accept O_DIRECT at open and refuse the write: buffered from now on.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        this.useDirect = false;
        await writeFully(this.buffered, from.subarray(0, aligned), position);
      }
    }
    if (aligned < from.length) await writeFully(this.buffered, from.subarray(aligned), position + aligned);
  }

  close(): void {
    for (const fd of [this.directFd, this.buffered]) {
      if (fd === undefined) continue;
      try { fs.closeSync(fd); } catch { /* already closed */ }
    }
  }
}
