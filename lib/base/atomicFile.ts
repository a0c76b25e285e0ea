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
 */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = partialPath(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
  syncDir(path.dirname(target));
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
