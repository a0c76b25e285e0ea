/**
 * A witness: files and the signatures they had when a finding was made on them, flattened as
 * path, signature ('' where no file was), path, ... While every file still has its signature, the
 * finding still holds. Relative paths are below a base folder (the recording's).
 */
import path from 'node:path';
import { statSignature } from '../base/signature.js';

export type Witness = string[];

/**
 * Times after this (now less two seconds, in ns) are too recent to vouch for: a file or folder
 * can change twice within one time stamp, and coarse file systems stamp whole seconds.
 */
export function settledBefore(): bigint {
  return BigInt(Date.now()) * 1_000_000n - 2_000_000_000n;
}

export function signatureOrEmpty(p: string): string {
  try { return statSignature(p) ?? ''; } catch { return 'unreadable'; }
}

/** The signatures of `files` now. */
export function witnessOf(files: Iterable<string>): Witness {
  const out: Witness = [];
  for (const f of files) out.push(f, signatureOrEmpty(f));
  return out;
}

/** Does every file still have its signature? Relative paths are clean (relativeInside made them), so a plain join will do. */
export function holds(w: Witness, base: string): boolean {
  if (!Array.isArray(w)) return false;
  for (let i = 0; i < w.length; i += 2) {
    const p = w[i];
    if (signatureOrEmpty(p.charCodeAt(0) === 47 || path.isAbsolute(p) ? p : `${base}/${p}`) !== w[i + 1]) return false;
  }
  return true;
}
