/**
 * The golden fixtures' layout and the comparisons the fidelity tests make with them. Small outputs
 * are kept whole; large ones as sha256 plus sampled windows (.npy). Every fixture names the module
 * commit that made it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/bench/oracle/). */
export const repoRoot = path.resolve(here, '..', '..', '..');
export const goldenDir = path.join(repoRoot, 'test', 'fixtures', 'golden');

/** Who made a fixture: the module's repository and commit, and the Python stack it ran on. */
export interface Stamp {
  module: string;
  commit: string;
  versions: Record<string, string>;
  made: string;
}

export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** sha256 of each named file of a folder (absent files are left out). */
export function hashFiles(dir: string, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (fs.existsSync(path.join(dir, n))) out[n] = sha256File(path.join(dir, n));
  return out;
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1) + '\n');
}

/** Reads a fixture JSON; "NaN", "Infinity" and "-Infinity" strings where numbers were written come back as numbers. */
export function readJson<T = any>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8'), (_, v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v));
}

/** Evenly spread, fixed window starts over [0, total - length]. */
export function windowStarts(total: number, length: number, count: number): number[] {
  const last = Math.max(0, total - length);
  return Array.from({ length: count }, (_, i) => Math.round((last * (i + 0.5)) / count));
}

/** Rows [start, start + length) of each window from an int16 file of `channels` interleaved channels. */
export function int16Windows(file: string, channels: number, starts: number[], length: number): Int16Array {
  const out = new Int16Array(starts.length * length * channels);
  const fd = fs.openSync(file, 'r');
  try {
    starts.forEach((s, w) => {
      const bytes = Buffer.from(out.buffer, w * length * channels * 2, length * channels * 2);
      fs.readSync(fd, bytes, 0, bytes.length, s * channels * 2);
    });
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** |a - b| <= rel * max(|a|, |b|), NaN equal to NaN, infinities equal to themselves. */
export function closeRel(a: number, b: number, rel: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));
}

/** Relative difference (0 when equal or both NaN; Infinity when only one is NaN). */
export function relDiff(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}
