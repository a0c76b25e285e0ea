/**
 * Noticing what other processes do (a run in another terminal, a watch, a SLURM job writing its
 * record): one `fs.watch` per folder that holds a recording's records or declared outputs, so a
 * record written, a log's job finishing or an output deleted is seen at once, and the root and the
 * folders between it and the recordings, for recordings that appear. A change plans that one recording again; nothing polls, except a
 * slow rescan for recordings (network mounts do not report other machines' writes).
 *
 *   event in a folder ──▶ its recording marked dirty ──(gathered for gatherMs)──▶ plan it ──▶ changed cells
 *   event at the root / pipeline.yaml ──(reloadMs)──▶ discover again ──▶ new board when the set changed
 */
import fs from 'node:fs';
import path from 'node:path';
import { stateDir, type Recording } from '../engine/recordings.js';
import type { Job } from '../engine/job.js';

export interface WatchTarget {
  root: string;
  pipelineFile: string;
  recordings(): Recording[];
  jobsOf(rec: Recording): Job[];
}

export interface RecordsWatcherHooks {
  /** These recordings' records or outputs changed. */
  changed(names: string[]): void;
  /** The root or the pipeline changed: recordings may have come or gone. */
  rescan(pipelineChanged: boolean): void;
}

/** Events come in bursts (a rename, then a write): one look per burst. */
const gatherMs = 30;
const reloadMs = 500;

export class RecordsWatcher {
  private watchers = new Map<string, fs.FSWatcher>();
  /** Folder -> recordings whose files live there. */
  private owners = new Map<string, Set<string>>();
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The root and the folders between it and the recordings. */
  private ancestors = new Set<string>();

  constructor(private target: WatchTarget, private hooks: RecordsWatcherHooks, private rescanMs: number) {}

  start(): void {
    this.sync();
    this.rescanTimer = setInterval(() => this.hooks.rescan(false), this.rescanMs);
    this.rescanTimer.unref();
  }

  /** Watch the folders of the current recordings (call again after the board was rebuilt). */
  sync(): void {
    if (this.closed) return;
    const wanted = new Map<string, Set<string>>();
    const add = (dir: string, name: string) => { if (!wanted.has(dir)) wanted.set(dir, new Set()); wanted.get(dir)!.add(name); };
    add(this.target.root, '');
    add(path.dirname(this.target.pipelineFile), '');
    const ancestors = new Set<string>([this.target.root]);
    for (const rec of this.target.recordings()) {
      for (const dir of this.foldersOf(rec)) add(dir, rec.name);
      // The folders between the root and a recording: a new session inside an animal's folder appears there.
      for (let d = path.dirname(rec.dir); d.startsWith(this.target.root) && d !== this.target.root; d = path.dirname(d)) { ancestors.add(d); add(d, ''); }
    }
    this.ancestors = ancestors;
    for (const [dir, w] of this.watchers) if (!wanted.has(dir)) { w.close(); this.watchers.delete(dir); }
    this.owners = wanted;
    for (const dir of wanted.keys()) if (!this.watchers.has(dir)) this.watch(dir);
  }

  /** The records folder, each declared output's folder, or the nearest of their parents that exists. */
  private foldersOf(rec: Recording): Set<string> {
    const out = new Set<string>();
    const nearest = (dir: string) => {
      let d = dir;
      // Stop at the recording's output folder (or the root): higher up is not this recording's.
      while (!fs.existsSync(d) && d !== rec.output && d !== path.dirname(d)) d = path.dirname(d);
      return d;
    };
    out.add(nearest(stateDir(rec)));
    for (const j of this.target.jobsOf(rec)) for (const o of j.outputs) out.add(nearest(path.dirname(o)));
    return out;
  }

  private watch(dir: string): void {
    let w: fs.FSWatcher;
    try {
      w = fs.watch(dir, { persistent: false }, (_event, file) => this.onEvent(dir, file?.toString()));
    } catch {
      return; // gone already; the next sync or rescan sees what is there now
    }
    w.on('error', () => { w.close(); this.watchers.delete(dir); });
    this.watchers.set(dir, w);
  }

  private onEvent(dir: string, file: string | undefined): void {
    if (this.closed) return;
    const names = this.owners.get(dir);
    const isPipeline = dir === path.dirname(this.target.pipelineFile) && file === path.basename(this.target.pipelineFile);
    if (this.ancestors.has(dir) || isPipeline) this.reloadSoon(isPipeline);
    if (!names) return;
    for (const n of names) if (n) this.dirty.add(n);
    if (this.dirty.size && !this.timer) this.timer = setTimeout(() => this.flush(), gatherMs);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    const names = [...this.dirty];
    this.dirty.clear();
    // A folder that appeared (a first run makes `.ephys-make/`) is watched itself from now on.
    const byName = new Map(this.target.recordings().map((r) => [r.name, r]));
    if (names.some((n) => { const rec = byName.get(n); return rec && [...this.foldersOf(rec)].some((d) => !this.watchers.has(d)); })) this.sync();
    if (names.length) this.hooks.changed(names);
  }

  private pipelineChanged = false;

  private reloadSoon(pipeline: boolean): void {
    this.pipelineChanged ||= pipeline;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      const p = this.pipelineChanged;
      this.pipelineChanged = false;
      if (!this.closed) this.hooks.rescan(p);
    }, reloadMs);
  }

  folders(): number {
    return this.watchers.size;
  }

  close(): void {
    this.closed = true;
    for (const t of [this.timer, this.reloadTimer]) if (t) clearTimeout(t);
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
