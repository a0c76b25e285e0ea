/**
 * Records that survive a move. A processed data set copied with `cp -a` or `rsync -a` to another
 * drive or root keeps its files' sizes and times but not their paths or inodes; the records name
 * files relative to the recording's output folder or the recording itself (`{output}/a.out`,
 * `{recording}/x.ap.bin`), and besides the input JSON's own hash keep one taken with those two
 * folders written as placeholders, so the same parameters at a new place are still the same.
 */
import path from 'node:path';
import crypto from 'node:crypto';
import type { Recording } from './recordings.js';
import type { Signature } from '../base/signature.js';
import { relativeInside } from '../base/pathInside.js';
import { stableStringify } from './inputJson.js';

/** How a record names a file of this recording. */
export function recordKey(rec: Recording, p: string): string {
  // The output folder first: it may lie inside the recording (`{recording}/sorted`).
  const inOut = relativeInside(p, rec.output);
  if (inOut !== undefined) return `{output}/${inOut}`;
  const inRec = relativeInside(p, rec.dir);
  return inRec !== undefined ? `{recording}/${inRec}` : p;
}

/** The file a record's key names, here. */
export function recordPath(rec: Recording, key: string): string {
  if (key.startsWith('{output}/')) return rec.output + path.sep + key.slice(9);
  if (key.startsWith('{recording}/')) return rec.dir + path.sep + key.slice(12);
  return key;
}

/** A file's recorded signature, whether the record names it by place or (older records) by path. */
export function recorded(rec: Recording, sigs: Record<string, Signature | null> | undefined, p: string): Signature | null | undefined {
  if (!sigs) return undefined;
  const k = recordKey(rec, p);
  return k in sigs ? sigs[k] : sigs[p];
}

const placeHashes = new WeakMap<object, string>();

/** The input JSON's hash with the recording and output folders as placeholders. */
export function placeFreeHash(json: Record<string, unknown>, rec: Recording): string {
  let h = placeHashes.get(json);
  if (h !== undefined) return h;
  let text = stableStringify(json);
  const dirs: Array<[string, string]> = [[rec.output, '{output}'], [rec.dir, '{recording}']];
  dirs.sort((a, b) => b[0].length - a[0].length);
  for (const [dir, name] of dirs) {
    const escaped = JSON.stringify(dir).slice(1, -1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // Whole path components only: /data/r1 is not a prefix of /data/r10.
    text = text.replace(new RegExp(`${escaped}(?=[/"])`, 'g'), name);
  }
  h = crypto.createHash('sha256').update(text).digest('hex');
  placeHashes.set(json, h);
  return h;
}
