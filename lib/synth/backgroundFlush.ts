import fs from 'node:fs';

/**
 * Flushes a file being written to disk on libuv's thread pool every few tens of MB, so the disk
 * works while the cores render instead of all at the end: with 20 % dirty-page limits on a big
 * machine, the kernel would otherwise hold a whole recording in memory until the commit's fsync.
 */
export class BackgroundFlush {
  private static readonly everyBytes = 64 << 20;
  private handle: Promise<fs.promises.FileHandle>;
  private running: Promise<void> | undefined;
  private sinceLast = 0;

  constructor(file: string) {
    this.handle = fs.promises.open(file, 'r');
  }

  wrote(bytes: number): void {
    this.sinceLast += bytes;
    if (this.sinceLast < BackgroundFlush.everyBytes || this.running) return;
    this.sinceLast = 0;
    this.running = this.handle.then((h) => h.datasync()).finally(() => { this.running = undefined; });
    // An error here surfaces in finish(); until then nobody awaits this promise.
    this.running.catch(() => undefined);
  }

  async finish(): Promise<void> {
    const h = await this.handle;
    try {
      await this.running;
      await h.datasync();
    } finally {
      await h.close();
    }
  }
}
