/**
 * One pass over a source file: each chunk is hashed and written to every destination's
 * `.partial` while the next chunk is being read, so the source is read once whatever the number of
 * backup roots. The partials are made durable (fdatasync) before anyone reads them back.
 */
import fs from 'node:fs';
import { createContentHash, type HashAlgorithm } from '../../lib/base/contentHash.js';

const chunkBytes = 8 << 20;

export interface StreamResult { digest: string; sizeBytes: number }

function readAt(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

async function writeAll(fd: number, buf: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await new Promise<number>((resolve, reject) => fs.write(fd, buf, off, buf.length - off, position + off, (err, w) => (err ? reject(err) : resolve(w))));
    off += n;
  }
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export async function streamToPartials(source: string, partials: string[], algorithm: HashAlgorithm, opts: { mode: number; signal?: AbortSignal; onBytes?: (n: number) => void }): Promise<StreamResult> {
  const src = fs.openSync(source, 'r');
  const outs: number[] = [];
  // Every read and write is settled before its file is closed, whatever failed first.
  let reading: Promise<number> = Promise.resolve(0);
  let writing: Promise<void> = Promise.resolve();
  try {
    for (const p of partials) outs.push(fs.openSync(p, 'w', opts.mode));
    const hash = createContentHash(algorithm);
    const buffers = [Buffer.allocUnsafeSlow(chunkBytes), Buffer.allocUnsafeSlow(chunkBytes)];
    let which = 0;
    let position = 0;
    reading = readAt(src, buffers[0], 0);
    for (;;) {
      const n = await reading;
      if (n <= 0) break;
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const chunk = buffers[which].subarray(0, n);
      which ^= 1;
      // The other buffer is free once the previous chunk's writes are done.
      await writing;
      reading = readAt(src, buffers[which], position + n);
      reading.catch(() => {});
      hash.update(chunk);
      const at = position;
      writing = Promise.allSettled(outs.map((fd) => writeAll(fd, chunk, at))).then((rs) => {
        const failed = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      });
      writing.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
      position += n;
    }
    await writing;
    await Promise.all(outs.map(fdatasync));
    opts.onBytes?.(position);
    return { digest: hash.digest(), sizeBytes: position };
  } finally {
    await Promise.allSettled([reading, writing]);
    fs.closeSync(src);
    for (const fd of outs) fs.closeSync(fd);
  }
}
