import fs from 'node:fs';
import path from 'node:path';

let counter = 0;

/** Path of the temporary sibling a writer fills before renaming it into place. */
export function partialPath(target: string): string {
  return `${target}.${process.pid}.${counter++}.partial`;
}

/**
 * Write a file so that readers see either the old content or the new, never a torn mix:
 * temp file, fsync (so the rename cannot reach disk before the data), rename, fsync the folder.
 * `durable: false` skips the fsyncs, for what only other processes need to see while this machine
 * stays up (a power cut stops those processes too).
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, o: { durable?: boolean } = {}): void {
  const durable = o.durable ?? true;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = partialPath(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (err) {
    try { fs.closeSync(fd); } catch { /* closed already */ }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    // A folder in the way, say: leave no temporary file behind.
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) syncDir(path.dirname(target));
}

/**
 * Write every byte: a disk that fills up part-way through a write returns a short count first and
 * an error only on the next call, and a short file must never be renamed into place.
 */
export function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length;) off += fs.writeSync(fd, data, off, data.length - off);
}

function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  }
}

/**
 * A file written in pieces: `write` appends to `<target>.*.partial`, `commit` renames it into
 * place, `abort` removes it. A crash leaves only a `.partial`, never a short file under the real name.
 */
export class PartialFile {
  readonly tmpPath: string;
  private fd: number;
  private position = 0;
  constructor(readonly target: string) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.tmpPath = partialPath(target);
    this.fd = fs.openSync(this.tmpPath, 'w');
  }
  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      off += fs.writeSync(this.fd, chunk, off, chunk.length - off, this.position + off);
    }
    this.position += chunk.length;
  }
  get bytesWritten(): number { return this.position; }
  commit(): void {
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    fs.renameSync(this.tmpPath, this.target);
    syncDir(path.dirname(this.target));
  }
  abort(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    fs.rmSync(this.tmpPath, { force: true });
  }
}
