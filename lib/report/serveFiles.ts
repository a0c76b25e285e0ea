/**
 * Which files the page may send: a recording's records (under `{output}/.ephys-make/`) and the
 * declared outputs of its jobs, nothing else. A path is judged after resolving `..` and every
 * symlink, so neither a crafted path nor a link planted in an output folder reaches outside the
 * recording's output or the root; files over a size cap are refused, logs are sent as a tail.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Recording } from '../engine/recordings.js';
import { stateDir } from '../engine/recordings.js';
import type { Job } from '../engine/job.js';

export type Servable =
  | { ok: true; file: string; sizeBytes: number }
  | { ok: false; status: 400 | 403 | 404 | 413; message: string };

/** Whole files larger than this are refused (a 50 GB continuous_ms.dat is a declared output too). */
export const maxServedBytes = 32 * 1024 * 1024;
/** Logs are sent as their last this many bytes. */
export const logTailBytes = 64 * 1024;

export interface ServableSource {
  root: string;
  recordings: Recording[];
  jobsOf(rec: Recording): Job[];
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function realOrUndefined(p: string): string | undefined {
  try { return fs.realpathSync(p); } catch { return undefined; }
}

/** `requested` is relative to the root (as the page shows paths) or absolute. */
export function checkServable(src: ServableSource, requested: string, maxBytes = maxServedBytes): Servable {
  if (!requested || requested.includes('\0')) return { ok: false, status: 400, message: 'no file named' };
  const abs = path.resolve(src.root, requested);
  let owner: Recording | undefined;
  let kind: 'record' | 'output' | undefined;
  for (const rec of src.recordings) {
    if (isInside(abs, stateDir(rec))) { owner = rec; kind = 'record'; break; }
    if (src.jobsOf(rec).some((j) => j.outputs.includes(abs))) { owner = rec; kind = 'output'; break; }
  }
  if (!owner) return { ok: false, status: 403, message: `${requested}: not a record or a declared output of a recording under ${src.root}` };
  const real = realOrUndefined(abs);
  if (!real) return { ok: false, status: 404, message: `${requested}: no such file` };
  // Symlinks are followed, and the file they reach must still be the recording's or the root's.
  const within = kind === 'record'
    ? [realOrUndefined(stateDir(owner))]
    : [realOrUndefined(owner.output), realOrUndefined(src.root)];
  if (!within.some((d) => d && isInside(real, d))) return { ok: false, status: 403, message: `${requested}: a link to ${real}, outside the recording's output and the root` };
  const st = fs.statSync(real);
  if (!st.isFile()) return { ok: false, status: 403, message: `${requested}: not a file` };
  if (st.size > maxBytes) return { ok: false, status: 413, message: `${requested}: ${formatSize(st.size)}, over the ${formatSize(maxBytes)} the page serves` };
  return { ok: true, file: real, sizeBytes: st.size };
}


function formatSize(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}
