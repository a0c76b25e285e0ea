/**
 * Recordings found wholly up to date, each with the signature of every file that finding rested
 * on: its records, the files its input JSONs are made of, every input and output its decisions
 * stat'ed; and, for all of them, pipeline.yaml, the stage schemas and ephys-make's own build.
 * While every one of those files keeps its signature the finding stands, so a no-op run stats
 * them and stops: no YAML parsed, no record read, no job built. Anything changed, added or
 * unreadable sends that recording through the full plan, which writes its entry anew.
 *
 * Kept in `.ephys-make/up-to-date.json` beside pipeline.yaml. It is a cache, never a record:
 * missing, damaged, of another version or unwritable, runs are only slower.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { discoverRecordings, type DiscoverOptions, type DiscoverySpec, type Recording } from './recordings.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { ok } from '../base/diagnostic.js';
import { relativeInside } from '../base/pathInside.js';
import { hostName, isAlive } from '../base/processInfo.js';
import { holds, settledBefore, witnessOf, type Witness } from './witness.js';
import { mtimeNsOf } from '../base/signature.js';
import { startChecks } from './witnessChecks.js';
import { ListingCache, type Listings } from './listingCache.js';
import { builtinVersionsPath, compiledSchemasPath, packageRoot, stagesSourceDir } from '../base/paths.js';

const indexVersion = 3;

export interface Entry { name: string; marker: string; output: string; jobs: number; files: Witness }

/**
 * The file: a sha256 of the rest, then a line of this header, then a line of the entries by
 * recording folder. The sum makes any damage a miss, never a wrong entry.
 */
interface Header {
  version: number; options: string; global: Witness; discovery: DiscoverySpec; listings: Listings;
  /** What a complete walk of those listings found (listingCache.ts), for the same root. */
  walk?: { key: string; recordings: Recording[] };
}

/** Which walk: the root and folder it started from (a walk limited by --dir is never kept). */
function walkKey(o: DiscoverOptions): string | undefined {
  return o.dirs?.length ? undefined : JSON.stringify([o.root ?? null, o.cwd ?? null]);
}

/** What a run is asked, as far as it changes which jobs exist: the targets and --set values. */
export function optionsKey(targets: string[], sets: string[] | undefined): string {
  // As graph.ts's stagesFor: no target, or `all` among them, is every stage.
  const all = !targets.length || targets.includes('all');
  return JSON.stringify({ targets: all ? ['all'] : [...new Set(targets)].sort(), sets: sets ?? [] });
}

export function indexPath(pipelineFile: string): string {
  return path.join(path.dirname(pipelineFile), '.ephys-make', 'up-to-date.json');
}

/**
 * What every decision rests on whatever the recording. This module's own file is rewritten by
 * every build, so a rebuilt ephys-make trusts no entry of an older one.
 */
const packageFiles = [
  compiledSchemasPath, builtinVersionsPath, path.join(packageRoot, 'lib', 'engine', 'pipeline.schema.json'),
  path.join(stagesSourceDir, 'common.schema.json'), fileURLToPath(import.meta.url),
];

function sumOf(bytes: Uint8Array | string): string {
  return crypto.createHash('sha256').update(bytes).digest('base64url');
}

export interface IndexCheck {
  recordings: Recording[];
  /** By recording folder: entries that still hold, the number of jobs each vouches for. */
  upToDate: Map<string, number>;
  /** Every entry read, still holding or not, to carry over those this run did not look at. */
  entries: Map<string, Entry>;
  /** The folder listings discovery used, to keep with the entries. */
  listings: ListingCache;
}

/**
 * Discover the recordings and find which entries still hold, or undefined when the index cannot
 * serve this run (none yet, damaged, another ephys-make build, another pipeline.yaml or targets).
 */
export function checkIndex(pipelineFile: string, options: string, discover: DiscoverOptions): IndexCheck | undefined {
  const bytes = readShared(indexPath(pipelineFile));
  if (!bytes) return undefined;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nl1 = bytes.indexOf(10), nl2 = bytes.indexOf(10, nl1 + 1);
  if (nl1 < 0 || nl2 < 0 || text.toString('latin1', 0, nl1) !== sumOf(bytes.subarray(nl1 + 1))) return undefined;
  let header: Header;
  try {
    header = JSON.parse(text.toString('utf8', nl1 + 1, nl2));
    if (header.version !== indexVersion || header.options !== options || header.discovery.file !== pipelineFile || !holds(header.global, '/')) return undefined;
  } catch { return undefined; }
  const checks = startChecks(bytes, nl2 + 1);
  const listings = new ListingCache(header.listings);
  let entries: Record<string, Entry> = {};
  let dirs: string[] = [];
  let found: ReturnType<typeof discoverRecordings>;
  let results: Uint8Array;
  // finish() also ends the worker, which would otherwise keep the process alive.
  try {
    try { entries = JSON.parse(text.toString('utf8', nl2 + 1)); } catch { /* the sum held: cannot be, and would cost only a full plan */ }
    dirs = Object.keys(entries);
    const walk = header.walk;
    found = walk && walk.key === walkKey(discover) && listings.unchanged() ? ok(walk.recordings) : discoverRecordings(header.discovery, { ...discover, listings });
  } finally {
    results = checks.finish(entries, dirs).results;
  }
  if (!found.ok) return undefined;
  const holding = new Set<string>();
  for (let i = 0; i < dirs.length; i++) if (results[i] === 1) holding.add(dirs[i]);
  const upToDate = new Map<string, number>();
  for (const rec of found.value) {
    const e = entries[rec.dir];
    if (e && holding.has(rec.dir) && e.name === rec.name && e.marker === rec.marker && e.output === rec.output) upToDate.set(rec.dir, e.jobs);
  }
  return { recordings: found.value, upToDate, entries: new Map(Object.entries(entries)), listings };
}

/** The whole file in shared memory (a second thread checks entries from the same bytes), or undefined. */
function readShared(file: string): Uint8Array | undefined {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch { return undefined; }
  try {
    const size = fs.fstatSync(fd).size;
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    for (let off = 0; off < size;) {
      const n = fs.readSync(fd, bytes, off, size - off, off);
      if (n === 0) return undefined;
      off += n;
    }
    return bytes;
  } catch { return undefined; } finally { fs.closeSync(fd); }
}

/**
 * An entry for a recording whose every job was up to date, from the files its plan read: `before`
 * (records, layer files) stat'ed before their content was read, `during` as its decisions saw the
 * rest. A file that changed after that stat has another signature now, so the entry fails its
 * first check: no second stat is needed. None may have changed in the last two seconds.
 */
export function entryFor(rec: Recording, jobs: number, before: Witness, during: Map<string, string | undefined>): Entry | undefined {
  const files: Witness = [...before];
  const known = new Map<string, string>();
  for (let i = 0; i < before.length; i += 2) known.set(before[i], before[i + 1]);
  for (const [p, sig] of during) {
    const k = known.get(p);
    if (k === undefined) files.push(p, sig ?? '');
    else if (k !== (sig ?? '')) return undefined;
  }
  const recent = settledBefore();
  const short: Witness = [];
  for (let i = 0; i < files.length; i += 2) {
    const p = files[i], sig = files[i + 1];
    if (sig === 'unreadable') return undefined;
    if (sig && (mtimeNsOf(sig) ?? recent + 1n) > recent) return undefined;
    short.push(relativeInside(p, rec.dir) ?? p, sig);
  }
  return { name: rec.name, marker: rec.marker, output: rec.output, jobs, files: short };
}

/** Taken before pipeline.yaml is read, so an edit made while the run decides is never vouched for. */
export function definitionWitness(pipelineFile: string): Witness {
  return witnessOf([pipelineFile, ...packageFiles]);
}

/** Replace the index; a failure to write only costs the next run its speed. */
export interface IndexWrite {
  options: string;
  /** definitionWitness(), taken before pipeline.yaml was read. */
  before: Witness;
  /** The stage schemas the plan used (package files, stat'ed now). */
  schemaFiles: string[];
  discovery: DiscoverySpec;
  /** How the recordings were found, the listings that walk used, and what it found. */
  found: { options: DiscoverOptions; listings: ListingCache; recordings: Recording[] };
}

export function writeIndex(pipelineFile: string, w: IndexWrite, entries: Map<string, Entry>): void {
  if (!holds(w.before, '/')) return;
  const key = walkKey(w.found.options);
  const header: Header = {
    version: indexVersion, options: w.options,
    global: [...w.before, ...witnessOf(w.schemaFiles)],
    discovery: { file: w.discovery.file, dir: w.discovery.dir, recordings: w.discovery.recordings },
    listings: w.found.listings.used,
    ...(key !== undefined && w.found.listings.complete ? { walk: { key, recordings: w.found.recordings } } : {}),
  };
  const rest = `${JSON.stringify(header)}\n${JSON.stringify(Object.fromEntries(entries))}`;
  const file = indexPath(pipelineFile);
  try { writeFileAtomic(file, `${sumOf(rest)}\n${rest}`, { durable: false }); } catch { /* a cache */ }
  removeDeadWriters(file);
}

/** What a writer killed mid-write left: `up-to-date.json.<pid>.<n>.partial` (atomicFile.ts) of a process gone. */
function removeDeadWriters(file: string): void {
  const dir = path.dirname(file), prefix = `${path.basename(file)}.`;
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d+)\.\d+\.partial$/.exec(n.slice(prefix.length)) : null;
    if (m && !isAlive({ pid: Number(m[1]), host: hostName })) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/**
 * The entries after a run: those found holding, plus `made` (recordings planned and found up to
 * date now); an entry of a recording found but no longer up to date is dropped, one of a
 * recording outside `--dir` (`limited`) kept. undefined when nothing changed.
 */
export function nextEntries(check: IndexCheck | undefined, found: Recording[], made: Map<string, Entry>, limited: boolean): Map<string, Entry> | undefined {
  const out = new Map<string, Entry>(limited && check ? check.entries : []);
  for (const rec of found) {
    out.delete(rec.dir);
    const kept = check?.upToDate.has(rec.dir) ? check.entries.get(rec.dir) : undefined;
    if (kept) out.set(rec.dir, kept);
  }
  for (const [dir, e] of made) out.set(dir, e);
  if (!made.size && (!check || out.size === check.entries.size)) return undefined;
  return out;
}
