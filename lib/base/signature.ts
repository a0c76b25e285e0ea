/**
 * A file's signature: size, mtime in nanoseconds and inode, from one stat. Deciding never reads a
 * data file; `--checksum` adds a content hash for labs whose copies do not keep mtimes, and a
 * record holding one is compared by content where its size or time changed.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';

/**
 * `size:mtimeNs:ino`; with the content hash known too, `size:mtimeNs:ino|sha256:HEX:size`. Records
 * made by --checksum before both were kept hold `sha256:HEX:size` alone.
 */
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
  return signatureOfStats(st);
}

/** The signature of a file already stat'ed (with bigint times). */
export function signatureOfStats(st: fs.BigIntStats): Signature {
  return `${st.size}:${st.mtimeNs}:${st.ino}`;
}

const hashCache = new Map<string, string>();

/** The file's sha256, read once per process for a given stat signature. */
export function contentHash(p: string): string | undefined {
  const quick = statSignature(p);
  if (!quick) return undefined;
  const key = p + '\0' + quick;
  const cached = hashCache.get(key);
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
  const hex = hash.digest('hex');
  hashCache.set(key, hex);
  return hex;
}

/** The hash if this process already read the file as it is now: known at no cost. */
export function knownContentHash(p: string, quick: Signature): string | undefined {
  return hashCache.get(p + '\0' + quick);
}

/** Both signatures (--checksum); without it the stat one, plus the hash when already known. */
export function recordSignature(p: string, checksum: boolean): Signature | undefined {
  const quick = statSignature(p);
  if (!quick) return undefined;
  const hex = checksum ? contentHash(p) : knownContentHash(p, quick);
  return hex ? `${quick}|sha256:${hex}:${quick.split(':')[0]}` : quick;
}

interface Parts { size: number; mtimeNs?: bigint; ino?: string; sha256?: string }

function parts(sig: Signature): Parts {
  const out: Parts = { size: NaN };
  for (const piece of sig.split('|')) {
    const f = piece.split(':');
    if (f[0] === 'sha256') { out.sha256 = f[1]; out.size = Number(f[2]); }
    else { out.size = Number(f[0]); out.mtimeNs = BigInt(f[1]); out.ino = f[2]; }
  }
  return out;
}

export function sizeOf(sig: Signature): number {
  return parts(sig).size;
}

export function mtimeNsOf(sig: Signature): bigint | undefined {
  return parts(sig).mtimeNs;
}

export function hashOf(sig: Signature): string | undefined {
  return parts(sig).sha256;
}

/**
 * A recorded signature against a file now (`now`: its stat signature), by the method the record
 * was made with, so switching --checksum on or off reruns nothing:
 *   - same size, time and inode: `same`, nothing read;
 *   - same size and time to the nanosecond at a new inode (cp -a, rsync -a, a restore: copies that
 *     keep times keep contents): `confirmed`, by the recorded content hash where there is one;
 *   - otherwise, a record with a content hash is compared by content (`confirmed` when equal);
 *     one without is `changed`.
 * `hashNow` reads the file; it is called only where a hash decides.
 */
export function compareWithRecord(recorded: Signature | null | undefined, now: Signature | undefined, hashNow: () => string | undefined): 'same' | 'confirmed' | 'changed' {
  if (!recorded || !now) return (recorded ?? undefined) === now ? 'same' : 'changed';
  // The common case, decided without parsing: every plan compares every file.
  if (recorded === now || (recorded.length > now.length && recorded.startsWith(now) && recorded[now.length] === '|')) return 'same';
  const r = parts(recorded), n = parts(now);
  if (r.size !== n.size) return 'changed';
  if (r.mtimeNs !== undefined && r.mtimeNs === n.mtimeNs) {
    if (r.ino === n.ino) return 'same';
    if (!r.sha256) return 'confirmed';
  }
  if (!r.sha256) return 'changed';
  return hashNow() === r.sha256 ? 'confirmed' : 'changed';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do { v /= 1024; u++; } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
