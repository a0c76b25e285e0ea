/**
 * Folder listings kept with their folder's signature, for fast-glob's walk: a folder whose
 * modification and change times, inode and size are as they were when it was listed has the same
 * entries (adding, removing or renaming an entry changes both times; a chmod the second), so it
 * is stat'ed, not read. Kept in
 * the up-to-date index: finding 10,000 recordings then costs a stat per folder.
 *
 * A listing is kept only when its folder was last changed more than two seconds before (an entry
 * added within one time stamp would go unseen otherwise); the folder is stat'ed before it is read,
 * so one changed meanwhile carries the older signature and is read again next time.
 */
import fs from 'node:fs';
import { settledBefore } from './witness.js';

/** By folder: its signature, then one string per entry: type letter (f, d, l, o) and name. */
export type Listings = Record<string, string[]>;

function signature(st: fs.BigIntStats): string {
  return `${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.size}`;
}

function typeOf(d: fs.Dirent): string {
  return d.isFile() ? 'f' : d.isDirectory() ? 'd' : d.isSymbolicLink() ? 'l' : 'o';
}

/** What fast-glob asks of an entry it did not stat. */
class ListedEntry {
  constructor(readonly name: string, private readonly type: string) {}
  isFile(): boolean { return this.type === 'f'; }
  isDirectory(): boolean { return this.type === 'd'; }
  isSymbolicLink(): boolean { return this.type === 'l'; }
  isBlockDevice(): boolean { return false; }
  isCharacterDevice(): boolean { return false; }
  isFIFO(): boolean { return false; }
  isSocket(): boolean { return false; }
}

export class ListingCache {
  /** The listings this walk used, read or kept: what to save for the next. */
  readonly used: Listings = {};
  /**
   * Every folder the walk read is in `used` and holds no symbolic link (whose target is looked up
   * afresh each walk): the walk's result then follows from these listings alone.
   */
  complete = true;
  private readonly recent = settledBefore();

  constructor(private readonly known: Listings = {}) {}

  /**
   * Are all the known folders as they were listed? Then a walk over them finds what the walk that
   * listed them found (when that one was complete), and they are kept for the next.
   */
  unchanged(): boolean {
    for (const dir in this.known) {
      let st: fs.BigIntStats | undefined;
      try { st = fs.statSync(dir, { bigint: true, throwIfNoEntry: false }); } catch { return false; }
      if (!st || signature(st) !== this.known[dir][0]) return false;
    }
    Object.assign(this.used, this.known);
    return true;
  }

  /** A file system for fast-glob's `fs` option. */
  readonly fs = {
    lstat: fs.lstat, stat: fs.stat, lstatSync: fs.lstatSync, statSync: fs.statSync, readdir: fs.readdir,
    readdirSync: ((dir: string, options?: { withFileTypes?: boolean }) => this.readdirSync(dir, options)) as typeof fs.readdirSync,
  };

  private readdirSync(dir: string, options?: { withFileTypes?: boolean }): unknown {
    if (!options?.withFileTypes) { this.complete = false; return fs.readdirSync(dir); }
    const st = fs.statSync(dir, { bigint: true });
    const sig = signature(st);
    const known = this.known[dir];
    if (known && known[0] === sig) {
      this.used[dir] = known;
      const out: ListedEntry[] = [];
      for (let i = 1; i < known.length; i++) {
        if (known[i][0] === 'l') this.complete = false;
        out.push(new ListedEntry(known[i].slice(1), known[i][0]));
      }
      return out;
    }
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    const listing = [sig, ...entries.map((d) => typeOf(d) + d.name)];
    if (st.ctimeNs < this.recent) this.used[dir] = listing; else this.complete = false;
    if (listing.some((e) => e[0] === 'l')) this.complete = false;
    return entries;
  }
}
