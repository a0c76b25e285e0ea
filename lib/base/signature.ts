/**
 * A file's signature: size, mtime in nanoseconds and inode, from one stat. Deciding never reads a
 * data file; `--checksum` swaps in a content hash for labs whose copies do not keep mtimes.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';

/** `size:mtimeNs:ino`, or `sha256:HEX:size` under --checksum. */
export type Signature = string;

export function statSignature(p: string): Signature | undefined {
  let st: fs.BigIntStats | undefined;
  try {
    st = fs.statSync(p, { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    // A file where a folder of the path should be: the file cannot be there either.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
  if (!st || !st.isFile()) return undefined;
  return `${st.size}:${st.mtimeNs}:${st.ino}`;
}

const hashCache = new Map<string, Signature>();

export function checksumSignature(p: string): Signature | undefined {
  const quick = statSignature(p);
  if (!quick) return undefined;
  const cached = hashCache.get(p + '\0' + quick);
  if (cached) return cached;
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(p, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  const sig = `sha256:${hash.digest('hex')}:${quick.split(':')[0]}`;
  hashCache.set(p + '\0' + quick, sig);
  return sig;
}

export function sizeOf(sig: Signature): number {
  const parts = sig.split(':');
  return Number(sig.startsWith('sha256:') ? parts[2] : parts[0]);
}

export function mtimeNsOf(sig: Signature): bigint | undefined {
  return sig.startsWith('sha256:') ? undefined : BigInt(sig.split(':')[1]);
}

/** Signatures taken with and without --checksum are not comparable; a switch counts as a change. */
export function sameSignature(a: Signature | undefined | null, b: Signature | undefined | null): boolean {
  return (a ?? null) === (b ?? null);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do { v /= 1024; u++; } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
