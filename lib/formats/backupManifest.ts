/**
 * A backup manifest: one JSON line per verified file, kept beside the copy it describes
 * (`<backup root>/<recording's path>/backup-manifest.jsonl`). A line is appended only after the
 * copy was read back from the destination's disk and matched the source's hash, so the manifest
 * never claims a file that is not there in full. Appending means a crash can at worst leave a torn
 * last line, which readers ignore (that file is then checked again). Later lines win.
 *
 *   {"file":"run_g0_t0.imec0.ap.bin","size":1234,"hash":"xxh3-64:…","time":"2026-…Z",
 *    "source_mtime_ns":"…","copy_mtime_ns":"…"}
 */
import fs from 'node:fs';
import path from 'node:path';
import { algorithmOf } from '../base/contentHash.js';

export const defaultManifestName = 'backup-manifest.jsonl';
/** Every manifest's name ends so, so `verify-backup --dir` finds them all. */
export const manifestSuffix = 'backup-manifest.jsonl';

export interface ManifestEntry {
  /** Path relative to the manifest's folder, '/'-separated. */
  file: string;
  size: number;
  hash: string;
  /** When the copy was verified (ISO 8601, UTC). */
  time: string;
  /** The source's mtime when it was copied: a later run skips the file only while it is unchanged. */
  source_mtime_ns: string;
  /** The copy's own mtime after the copy: a copy touched since is checked again. */
  copy_mtime_ns: string;
}

export function isManifestName(name: string): boolean {
  return name.endsWith(manifestSuffix);
}

function isEntry(v: any): v is ManifestEntry {
  return v && typeof v === 'object' && typeof v.file === 'string' && v.file !== '' && Number.isSafeInteger(v.size) && v.size >= 0
    && typeof v.hash === 'string' && algorithmOf(v.hash) !== undefined && typeof v.time === 'string'
    && typeof v.source_mtime_ns === 'string' && typeof v.copy_mtime_ns === 'string';
}

export interface Manifest {
  file: string;
  /** The last entry of each file. */
  entries: Map<string, ManifestEntry>;
  /** Lines that are not entries (a torn last line after a crash, or damage), by 1-based number. */
  unreadableLines: number[];
}

export function readManifest(file: string): Manifest {
  const entries = new Map<string, ManifestEntry>();
  const unreadableLines: number[] = [];
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try { v = JSON.parse(line); } catch { v = undefined; }
    if (isEntry(v)) entries.set(v.file, v);
    else unreadableLines.push(i + 1);
  });
  return { file, entries, unreadableLines };
}

export function formatEntry(e: ManifestEntry): string {
  // Fixed key order, so manifests of the same files read alike.
  return JSON.stringify({ file: e.file, size: e.size, hash: e.hash, time: e.time, source_mtime_ns: e.source_mtime_ns, copy_mtime_ns: e.copy_mtime_ns }) + '\n';
}

/**
 * Append one entry and make it durable. A torn line left by an earlier crash is closed with a
 * newline first, so the new entry starts a line of its own.
 */
export function appendEntry(file: string, e: ManifestEntry): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o644);
  try {
    const size = fs.fstatSync(fd).size;
    let needsNewline = false;
    if (size > 0) {
      const last = Buffer.alloc(1);
      const rfd = fs.openSync(file, 'r');
      try { fs.readSync(rfd, last, 0, 1, size - 1); } finally { fs.closeSync(rfd); }
      needsNewline = last[0] !== 0x0a;
    }
    fs.writeSync(fd, (needsNewline ? '\n' : '') + formatEntry(e));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Where a folder's copy lives under a backup root: the folder's path below `layoutRoot`, kept. */
export function copyFolderFor(backupRoot: string, layoutRoot: string, folder: string): string | undefined {
  const rel = path.relative(path.resolve(layoutRoot), path.resolve(folder));
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return path.join(backupRoot, rel);
}
