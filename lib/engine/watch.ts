/**
 * Watch mode's recording watcher: chokidar on the root's folders (it takes no globs), its events
 * mapped to recordings with the discovery pattern, and the settle rule that says when a recording
 * may start. What to run is not decided here: a ready recording is handed to `hooks.plan`.
 *
 * One recording's states:
 *
 *   first seen ──▶ settling ◀──────────────────────────── marker changed ───────────────┐
 *       │            │ markers unchanged (size, mtime) for settle_seconds,              │
 *       │            │ or a `ready.when` file is there                                   │
 *       └────────────┴──▶ ready ── plan: nothing to run ──▶ idle ─────────────────────────┤
 *                           │ ▲                               │ another file changed     │
 *                           │ └───────────────────────────────┘ (an output deleted...)   │
 *                           └── jobs queued ──▶ busy ── its jobs ended ──▶ idle           │
 *                                                │      (ready instead, if a file changed │
 *                                                │       meanwhile)                       │
 *                                                └── marker changed ──▶ stopping ─────────┘
 *                                                                        (its jobs ended)
 *   any state ── no marker left ──▶ gone: queued jobs dropped, running ones stopped
 *
 * "First seen" counts a marker's own mtime as its last change, so recordings already on the drive
 * (or moved in whole) start at once; after that only changes this process saw count, so a writer
 * whose clock is off cannot make a recording look finished early.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import type { EngineEvent } from './events.js';
import { recordingDirOf } from './recordings.js';

export type Phase = 'settling' | 'ready' | 'busy' | 'stopping' | 'idle';

export interface WatchRules {
  settleMs: number;
  /** Glob, relative to the recording folder, of a file whose presence makes the recording ready. */
  when?: string;
  /** Glob of a recording's markers relative to its folder: the discovery pattern's last segments. */
  markerTail: string;
  /** How many path segments of a marker lie inside its recording folder. */
  markerDepth: number;
}

export interface WatcherHooks {
  /** Plan a ready recording and queue its stale jobs; false when there is nothing to run. */
  plan(dir: string, announceUpToDate: boolean): boolean;
  /** Stop a recording's running jobs and forget its queued ones. */
  stop(dir: string, why: string): void;
  activeJobs(dir: string): number;
  /** Something in the recording changed (its jobs may need building again). */
  touched(dir: string): void;
  /** Declared outputs are never markers, even when they match the pattern. */
  isOutput(file: string): boolean;
  /** A marker appeared outside every known recording: the recording there, by discovery's rules. */
  discover(dir: string): { name: string; output: string } | undefined;
  emit(e: EngineEvent): void;
}

interface Tracked {
  dir: string;
  name: string;
  output: string;
  phase: Phase;
  /** Markers' (name, size, mtime), the settle rule's fingerprint; never their contents. */
  markers: string;
  /** When the fingerprint last changed, by this process's clock (or the markers' mtime when first seen). */
  quietSince: number;
  /** Which marker changed last, for messages. */
  lastChanged: string;
  /** The newest marker's mtime: a `when` file older than it does not vouch for the recording. */
  newestMtimeMs: number;
  timer?: NodeJS.Timeout;
  /** Something other than a marker changed while busy: plan again when its jobs end. */
  dirty: boolean;
}

const ignoredPart = /(^|[\\/])(\.ephys-make|\.git|node_modules)([\\/]|$)/;
/** Events are gathered this long, so a file written in many small pieces costs one look. */
const pokeDelayMs = 100;
/**
 * When a new folder's files are looked for ourselves (see lookInto): soon, and again once chokidar
 * has surely finished reading the folder and watches it (later on a busy machine).
 */
const newFolderLooksMs = [pokeDelayMs, 1000, 5000, 30_000];

export class RecordingWatcher {
  private tracked = new Map<string, Tracked>();
  /** Recording folders and output folders -> recording folder, to find the owner of a changed path. */
  private owners = new Map<string, string>();
  private pending = new Set<string>();
  private pokeTimer: NodeJS.Timeout | undefined;
  private chokidar: { close(): Promise<void> } | undefined;
  private closed = false;
  private looks = new Set<NodeJS.Timeout>();

  constructor(readonly root: string, private rules: WatchRules, private hooks: WatcherHooks,
              /** --once: nothing waits for a settle; a recording not ready now is left for later. */
              private once = false) {}

  setRules(rules: WatchRules): void { this.rules = rules; }

  phaseOf(dir: string): Phase | undefined { return this.tracked.get(dir)?.phase; }

  dirs(): string[] { return [...this.tracked.keys()]; }

  counts(): { recordings: number; settling: number } {
    let settling = 0;
    for (const t of this.tracked.values()) if (t.phase === 'settling' || t.phase === 'stopping') settling++;
    return { recordings: this.tracked.size, settling };
  }

  /** Start following a recording found by a scan or an event. */
  track(dir: string, name: string, output: string): void {
    if (this.tracked.has(dir) || this.closed) return;
    const m = this.readMarkers(dir);
    if (!m.fingerprint) return;
    const now = Date.now();
    const t: Tracked = { dir, name, output, phase: 'settling', markers: m.fingerprint, quietSince: Math.min(now, m.newestMtimeMs), lastChanged: m.newest, newestMtimeMs: m.newestMtimeMs, dirty: false };
    this.tracked.set(dir, t);
    this.owners.set(dir, dir);
    if (output !== dir) this.owners.set(output, dir);
    this.reconsider(t, 'first-seen');
  }

  /** Watch the root (and `files`, reported to `onFile`); resolves once chokidar has read the tree. */
  async start(files: string[], onFile: (file: string) => void, onError: (message: string) => void): Promise<void> {
    const { watch } = await import('chokidar');
    const w = watch([this.root, ...files], {
      ignoreInitial: true,
      persistent: true,
      // Our own state files and half-written built-in outputs say nothing about recordings.
      ignored: (p: string) => ignoredPart.test(p) || p.endsWith('.partial'),
    });
    const fileSet = new Set(files.map((f) => path.resolve(f)));
    w.on('all', (event, p) => {
      const abs = path.resolve(p);
      if (fileSet.has(abs)) { onFile(abs); return; }
      if (event === 'addDir') { this.lookInto(abs); return; }
      this.poke(abs, event === 'unlinkDir');
    });
    // A file made and removed between two of chokidar's stats (an output deleted right after its
    // job wrote it) gets no add/unlink event; the raw event still says something changed there.
    w.on('raw', (_event, name, details) => {
      const where = (details as { watchedPath?: string } | undefined)?.watchedPath;
      if (!where || !name) return;
      const abs = path.basename(where) === name ? path.resolve(where) : path.resolve(where, name);
      if (ignoredPart.test(abs) || abs.endsWith('.partial') || fileSet.has(abs)) return;
      this.poke(abs);
    });
    w.on('error', (err) => onError(`file watching: ${(err as Error).message ?? err}`));
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    this.chokidar = w;
  }

  /** A path under the root changed: look at its recording soon. */
  poke(abs: string, isFolder = false): void {
    if (this.closed) return;
    if (isFolder) for (const dir of this.tracked.keys()) if (dir === abs || dir.startsWith(abs + path.sep)) this.pending.add(dir);
    const owner = this.ownerOf(abs);
    if (owner) this.pending.add(owner);
    else if (!isFolder) this.pending.add(`?${abs}`);
    this.pokeTimer ??= setTimeout(() => this.flush(), pokeDelayMs);
  }

  /**
   * A folder appeared. chokidar reports the files in it from one read of the folder and watches it
   * only after that read: a file created between the two (a marker written a moment after its
   * folder was made, the usual way) is reported by nobody, and its recording would wait for the
   * periodic rescan. So the folder's files are looked for here too, after chokidar's read.
   */
  private lookInto(folder: string): void {
    if (this.closed || ignoredPart.test(folder)) return;
    for (const ms of newFolderLooksMs) {
      const t = setTimeout(() => {
        this.looks.delete(t);
        if (this.closed) return;
        let files: string[];
        try {
          files = fg.sync('**/*', { cwd: folder, absolute: true, onlyFiles: true, suppressErrors: true, ignore: ['**/.ephys-make/**', '**/node_modules/**', '**/.git/**', '**/*.partial'] });
        } catch {
          return;
        }
        for (const f of files) if (!this.ownerOf(path.normalize(f))) this.poke(path.normalize(f));
      }, ms);
      this.looks.add(t);
    }
  }

  /** The scheduler has nothing left queued or running for the recording. */
  jobsEnded(dir: string): void {
    const t = this.tracked.get(dir);
    if (!t || this.hooks.activeJobs(dir) > 0) return;
    if (t.phase === 'busy') {
      if (t.dirty) { t.dirty = false; this.toReady(t, undefined); } else t.phase = 'idle';
    } else if (t.phase === 'stopping') {
      this.refresh(t);
      this.reconsider(t, 'entered');
    }
  }

  /** Plan every idle recording again (a periodic rescan, a new pipeline.yaml). */
  replanIdle(): void {
    for (const t of this.tracked.values()) if (t.phase === 'idle') this.toReady(t, undefined);
  }

  /** Plan a busy recording again once its running jobs end (its queued ones were forgotten). */
  replanWhenDone(dir: string): void {
    const t = this.tracked.get(dir);
    if (t?.phase === 'busy') { t.dirty = true; this.jobsEnded(dir); }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pokeTimer) clearTimeout(this.pokeTimer);
    for (const t of this.looks) clearTimeout(t);
    for (const t of this.tracked.values()) if (t.timer) clearTimeout(t.timer);
    await this.chokidar?.close();
  }

  private ownerOf(abs: string): string | undefined {
    for (let d = abs; ; ) {
      const owner = this.owners.get(d);
      if (owner) return owner;
      const up = path.dirname(d);
      if (up === d || d === this.root) return undefined;
      d = up;
    }
  }

  private flush(): void {
    this.pokeTimer = undefined;
    const dirs = [...this.pending];
    this.pending.clear();
    for (const key of dirs) {
      if (this.closed) return;
      if (key.startsWith('?')) { this.maybeNew(key.slice(1)); continue; }
      const t = this.tracked.get(key);
      if (!t) continue;
      this.hooks.touched(t.dir);
      const changed = this.refresh(t);
      if (!t.markers) { this.gone(t); continue; }
      switch (t.phase) {
        case 'settling': this.reconsider(t, 'again'); break;
        case 'idle':
          if (changed) this.reconsider(t, 'entered'); else this.toReady(t, undefined);
          break;
        case 'busy':
          if (changed) this.stopBusy(t); else t.dirty = true;
          break;
        case 'stopping': case 'ready': break;
        default: assertPhase(t.phase);
      }
    }
  }

  /** A file outside every known recording: a new recording if it is a marker. */
  private maybeNew(file: string): void {
    if (!fs.existsSync(file)) return;
    const dir = recordingDirOf(file, this.rules.markerDepth);
    if (this.tracked.has(dir) || !isInsideOrSame(dir, this.root) || this.hooks.isOutput(file)) return;
    const rel = path.relative(dir, file).split(path.sep).join('/');
    if (!fg.sync(this.rules.markerTail, { cwd: dir, onlyFiles: true }).includes(rel)) return;
    const found = this.hooks.discover(dir);
    if (found) this.track(dir, found.name, found.output);
  }

  /** Re-read the markers; true when their fingerprint changed. */
  private refresh(t: Tracked): boolean {
    const m = this.readMarkers(t.dir);
    if (m.fingerprint === t.markers) return false;
    t.lastChanged = changedMarker(t.markers, m.fingerprint) ?? m.newest;
    t.markers = m.fingerprint;
    t.newestMtimeMs = m.newestMtimeMs;
    t.quietSince = Date.now();
    return true;
  }

  /** settling: ready now, or look again when the quiet period would be over. */
  private reconsider(t: Tracked, how: 'first-seen' | 'entered' | 'again'): void {
    if (t.timer) { clearTimeout(t.timer); t.timer = undefined; }
    // Recordings found ready at start (or moved in whole) start without a line each.
    const say = (why: string) => (how === 'first-seen' ? undefined : why);
    const when = this.whenFile(t, how === 'first-seen');
    if (when) return this.toReady(t, say(`${when} is there`));
    const { settleMs } = this.rules;
    const quietMs = Date.now() - t.quietSince;
    if (quietMs >= settleMs) return this.toReady(t, say(`unchanged for ${seconds(settleMs)}`));
    t.phase = 'settling';
    const detail = `${t.lastChanged || 'a marker'} is being written (changed ${seconds(Math.max(0, quietMs))} ago)`;
    if (this.once) {
      this.hooks.emit({ type: 'watch', what: 'later', recording: t.name, detail: `${detail}; left for the next run` });
      return;
    }
    if (how !== 'again') {
      this.hooks.emit({ type: 'watch', what: 'settling', recording: t.name, detail: `${detail}; starts once unchanged for ${seconds(settleMs)}${this.rules.when ? ` or when ${this.rules.when} appears` : ''}` });
    }
    t.timer = setTimeout(() => {
      t.timer = undefined;
      if (this.closed || t.phase !== 'settling') return;
      this.refresh(t);
      if (!t.markers) return this.gone(t);
      this.reconsider(t, 'again');
    }, Math.max(10, settleMs - quietMs));
  }

  private toReady(t: Tracked, why: string | undefined): void {
    if (t.timer) { clearTimeout(t.timer); t.timer = undefined; }
    if (why) this.hooks.emit({ type: 'watch', what: 'ready', recording: t.name, detail: why });
    t.phase = 'ready';
    t.dirty = false;
    t.phase = this.hooks.plan(t.dir, why !== undefined) ? 'busy' : 'idle';
    // Planning may have found every job done meanwhile by another process.
    if (t.phase === 'busy') setImmediate(() => this.jobsEnded(t.dir));
  }

  private stopBusy(t: Tracked): void {
    t.phase = 'stopping';
    const why = `${t.lastChanged || 'a marker'} changed while its jobs ran`;
    this.hooks.emit({ type: 'watch', what: 'stopping', recording: t.name, detail: `${why}; stopping them, then waiting for it to settle` });
    this.hooks.stop(t.dir, `stopped: ${why}`);
    setImmediate(() => this.jobsEnded(t.dir));
  }

  private gone(t: Tracked): void {
    if (t.timer) clearTimeout(t.timer);
    const active = this.hooks.activeJobs(t.dir);
    if (active) this.hooks.stop(t.dir, 'stopped: the recording was removed');
    this.tracked.delete(t.dir);
    for (const [k, v] of this.owners) if (v === t.dir) this.owners.delete(k);
    this.hooks.emit({ type: 'watch', what: 'gone', recording: t.name, detail: `removed${active ? `; ${active} queued or running job${active === 1 ? '' : 's'} dropped` : ''}` });
  }

  private readMarkers(dir: string): { fingerprint: string; newest: string; newestMtimeMs: number } {
    let entries: fg.Entry[];
    try {
      entries = fg.sync(this.rules.markerTail, { cwd: dir, onlyFiles: true, stats: true, suppressErrors: true });
    } catch {
      entries = [];
    }
    const parts: string[] = [];
    let newest = '', newestMtimeMs = 0;
    for (const e of entries.sort((a, b) => (a.path < b.path ? -1 : 1))) {
      if (!e.stats || this.hooks.isOutput(path.join(dir, e.path))) continue;
      parts.push(`${e.path}\t${e.stats.size}\t${e.stats.mtimeMs}`);
      if (e.stats.mtimeMs >= newestMtimeMs) { newestMtimeMs = e.stats.mtimeMs; newest = e.path; }
    }
    return { fingerprint: parts.join('\n'), newest, newestMtimeMs };
  }

  /**
   * A `when` file (a SpikeGLX .meta, an Open Ephys structure.oebin) is written when a recording
   * closes, so it vouches only if no marker changed after it: one copied ahead of its data, or a
   * recording appended to later, goes by the settle rule instead. File times are coarse (a few
   * ms), so on first sight a tie does not vouch: the .meta may have landed just before the data.
   */
  private whenFile(t: Tracked, firstSeen: boolean): string | undefined {
    if (!this.rules.when) return undefined;
    const found = fg.sync(this.rules.when, { cwd: t.dir, onlyFiles: true, stats: true, suppressErrors: true });
    return found.find((e) => e.stats && (firstSeen ? e.stats.mtimeMs > t.newestMtimeMs : e.stats.mtimeMs >= t.newestMtimeMs))?.path;
  }
}

/** The pattern's part that lies inside a recording folder, e.g. `*.ap.bin` of `**\/*.ap.bin`. */
export function markerTail(pattern: string, depth: number): string {
  return pattern.replace(/\\/g, '/').split('/').slice(-depth).join('/');
}

function isInsideOrSame(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The first marker whose line differs between two fingerprints. */
function changedMarker(before: string, after: string): string | undefined {
  const old = new Set(before.split('\n'));
  for (const line of after.split('\n')) if (line && !old.has(line)) return line.split('\t')[0];
  const now = new Set(after.split('\n'));
  for (const line of before.split('\n')) if (line && !now.has(line)) return line.split('\t')[0];
  return undefined;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return `${s < 10 ? Number(s.toFixed(1)) : Math.round(s)} s`;
}

function assertPhase(p: never): never {
  throw new Error(`internal error: unexpected watch phase ${p}`);
}
