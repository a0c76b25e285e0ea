/**
 * Reading a file back from its disk, not from the page cache, to check what was really stored.
 *
 * The file is opened with O_DIRECT: reads bypass the cache and go to the device (on Linux the
 * bytes show up in /proc/self/io `read_bytes`, which a test checks). O_DIRECT needs buffers,
 * offsets and lengths aligned to the device's blocks; WebAssembly memory is page-aligned, and
 * reads of whole 4 KiB multiples are allowed to return short at the end of the file. File systems
 * without direct I/O (tmpfs, whose only copy is in memory anyway; some FUSE mounts) are read
 * through the cache, and the result says so.
 */
import fs from 'node:fs';
import { createContentHash, type HashAlgorithm } from './contentHash.js';

export interface ReadBack {
  digest: string;
  sizeBytes: number;
  /** true when every byte came through O_DIRECT. */
  direct: boolean;
}

const chunkBytes = 8 << 20;
const inFlight = 3;
const wasmPage = 65536;

function openDirect(file: string): number | undefined {
  const flag = (fs.constants as Record<string, number>).O_DIRECT;
  if (!flag) return undefined;
  try {
    return fs.openSync(file, fs.constants.O_RDONLY | flag);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}

function readAt(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Hash `file` as stored on its device. Several reads are kept in flight (a disk serves queued
 * requests faster than one at a time); they are hashed in file order.
 */
export async function hashFromDisk(file: string, algorithm: HashAlgorithm, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<ReadBack> {
  let fd = openDirect(file);
  let direct = fd !== undefined;
  fd ??= fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const memory = new WebAssembly.Memory({ initial: (chunkBytes * inFlight) / wasmPage });
    const buffers = Array.from({ length: inFlight }, (_, i) => new Uint8Array(memory.buffer, i * chunkBytes, chunkBytes));
    const hash = createContentHash(algorithm);
    const pending: Array<Promise<number> | undefined> = new Array(inFlight);
    let nextIssue = 0;
    const issue = (slot: number) => {
      const position = nextIssue * chunkBytes;
      pending[slot] = position < size ? readAt(fd!, buffers[slot], position) : undefined;
      nextIssue++;
    };
    for (let s = 0; s < inFlight; s++) issue(s);
    let done = 0;
    for (let i = 0; ; i++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const slot = i % inFlight;
      const p = pending[slot];
      if (!p) break;
      let n: number;
      try {
        n = await p;
      } catch (err) {
        // Accepted at open, refused at read (some network and FUSE file systems): start over through the cache.
        if (direct && (err as NodeJS.ErrnoException).code === 'EINVAL' && i === 0) {
          await Promise.allSettled(pending.filter(Boolean) as Promise<number>[]);
          fs.closeSync(fd);
          fd = fs.openSync(file, 'r');
          direct = false;
          return { ...(await hashBuffered(fd, algorithm, opts)), direct: false };
        }
        throw err;
      }
      if (n <= 0) break;
      hash.update(buffers[slot].subarray(0, n));
      done += n;
      opts.onBytes?.(n);
      issue(slot);
    }
    return { digest: hash.digest(), sizeBytes: done, direct };
  } finally {
    try { fs.closeSync(fd); } catch { /* already closed */ }
  }
}

async function hashBuffered(fd: number, algorithm: HashAlgorithm, opts: { signal?: AbortSignal; onBytes?: (n: number) => void }): Promise<{ digest: string; sizeBytes: number }> {
  const buf = new Uint8Array(chunkBytes);
  const hash = createContentHash(algorithm);
  let position = 0;
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    const n = await readAt(fd, buf, position);
    if (n <= 0) break;
    hash.update(buf.subarray(0, n));
    position += n;
    opts.onBytes?.(n);
  }
  return { digest: hash.digest(), sizeBytes: position };
}
