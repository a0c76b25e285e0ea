/**
 * Finding recordings: a glob for a marker file (fast-glob), the recording being the folder where
 * the part of the pattern after its last `**\/` begins.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import type { Pipeline } from './config.js';
import { fillPlaceholders, PlaceholderError } from './template.js';
import { fail, ok, type Result } from '../base/diagnostic.js';
import { relativeInside } from '../base/pathInside.js';
import type { ListingCache } from './listingCache.js';

export interface Recording {
  /** Path relative to the root, with '/' separators; what the user sees. */
  name: string;
  dir: string;
  root: string;
  marker: string;
  output: string;
}

export interface DiscoverOptions {
  root?: string;
  dirs?: string[];
  cwd?: string;
  /** Folder listings of an earlier walk, reused where a folder has not changed (listingCache.ts). */
  listings?: ListingCache;
}

const alwaysIgnored = ['**/.ephys-make/**', '**/node_modules/**', '**/.git/**'];

/** How many trailing path segments of a marker lie inside its recording folder. */
export function markerDepth(pattern: string): number {
  const p = pattern.replace(/\\/g, '/');
  const at = p.lastIndexOf('**/');
  const tail = at >= 0 ? p.slice(at + 3) : p.slice(p.lastIndexOf('/') + 1);
  return tail.split('/').filter(Boolean).length;
}

export function recordingDirOf(marker: string, depth: number): string {
  let dir = marker;
  for (let i = 0; i < depth; i++) dir = path.dirname(dir);
  return dir;
}

function toPosix(p: string): string { return p.split(path.sep).join('/'); }

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** What discovery reads of the pipeline (the up-to-date index keeps it, so a no-op run need not parse pipeline.yaml). */
export type DiscoverySpec = Pick<Pipeline, 'file' | 'dir' | 'recordings'>;

function findIn(searchDir: string, namingRoot: string, pipeline: DiscoverySpec, listings?: ListingCache): Recording[] {
  const depth = markerDepth(pipeline.recordings.match);
  const markers = fg.sync(pipeline.recordings.match, {
    cwd: searchDir,
    absolute: true,
    onlyFiles: true,
    ignore: [...alwaysIgnored, ...pipeline.recordings.exclude],
    suppressErrors: true,
    followSymbolicLinks: true,
    ...(listings ? { fs: listings.fs } : {}),
  }).map((m) => path.normalize(m)).sort();
  const byDir = new Map<string, Recording>();
  for (const marker of markers) {
    const dir = recordingDirOf(marker, depth);
    if (byDir.has(dir)) continue;
    const name = relativeInside(dir, namingRoot) ?? (toPosix(path.relative(namingRoot, dir)) || '.');
    byDir.set(dir, { name, dir, root: namingRoot, marker, output: '' });
  }
  return [...byDir.values()];
}

export function discoverRecordings(pipeline: DiscoverySpec, opts: DiscoverOptions = {}): Result<Recording[]> {
  const cwd = opts.cwd ?? process.cwd();
  const root = opts.root ? path.resolve(cwd, opts.root) : pipeline.recordings.root;
  let found: Recording[];
  if (opts.dirs?.length) {
    const wanted = new Map<string, Recording>();
    for (const d of opts.dirs) {
      const dirs = fg.isDynamicPattern(d)
        ? fg.sync(d, { cwd, absolute: true, onlyDirectories: true, suppressErrors: true }).map((x) => path.normalize(x))
        : [path.resolve(cwd, d)];
      if (!dirs.length || !dirs.some((x) => fs.existsSync(x))) return fail({ message: `--dir ${d}: no such folder` });
      for (const dir of dirs) {
        // A folder under the root keeps names relative to the root; one elsewhere is named from its parent.
        const namingRoot = isInside(dir, root) ? root : path.dirname(dir);
        const recs = findIn(dir, namingRoot, pipeline, opts.listings);
        // The folder may itself sit inside a recording (e.g. its kilosort output): take that recording.
        if (!recs.length && isInside(dir, root)) {
          for (const r of findIn(root, root, pipeline, opts.listings)) if (isInside(dir, r.dir)) recs.push(r);
        }
        for (const r of recs) wanted.set(r.dir, r);
      }
    }
    found = [...wanted.values()];
    if (!found.length) return fail({ message: `no recordings matching '${pipeline.recordings.match}' under ${opts.dirs.join(', ')}` });
  } else {
    if (!fs.existsSync(root)) return fail({ file: pipeline.file, message: `recordings root ${root} does not exist (set recordings.root in ${path.basename(pipeline.file)} or pass --root)` });
    found = findIn(root, root, pipeline, opts.listings);
  }
  for (const r of found) {
    try {
      r.output = path.resolve(pipeline.dir, fillPlaceholders(pipeline.recordings.output, (k) =>
        k === 'recording' ? r.dir : k === 'name' ? r.name : k === 'root' ? r.root : undefined));
    } catch (err) {
      if (err instanceof PlaceholderError) return fail({ file: pipeline.file, message: `recordings.output: unknown placeholder {${err.placeholder}} (use {recording}, {name} or {root})` });
      throw err;
    }
  }
  found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return ok(found);
}

export function stateDir(rec: Recording): string {
  return path.join(rec.output, '.ephys-make');
}
