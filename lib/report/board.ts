/**
 * The recordings x stages board the page and the report show: each job's cell (up to date, stale
 * with its reason, failed with its log, running with its start, blocked), classified as `status`
 * classifies them, so the page's counts and the terminal's agree. Built from the planner; one
 * recording can be planned again alone when its records or files change.
 */
import path from 'node:path';
import { openPlanner, type Planner, type PlannerOptions, type RecordingPlan } from '../engine/planner.js';
import type { Decision } from '../engine/plan.js';
import type { Job } from '../engine/job.js';
import type { Recording } from '../engine/recordings.js';
import { readState, type JobRecord } from '../engine/record.js';
import { jobStateOf, jobStateWords, type JobStateKind } from '../engine/jobState.js';
import type { Diagnostic, Result } from '../base/diagnostic.js';

export type CellState = JobStateKind;

/** One job as the page draws it; short keys because 8,000 of them go to the browser at once. */
export interface Cell {
  s: CellState;
  /** Why: the stale reason, the failure, what is missing, or who runs it. */
  r?: string;
  /** Start of the running (or last) run, ISO time. */
  t?: string;
  /** End of the last run, ISO time. */
  e?: string;
  pid?: number;
  host?: string;
}

export interface BoardRecording { name: string; cells: Array<Cell | null> }

export interface BoardSnapshot {
  root: string;
  pipeline: string;
  stages: string[];
  recordings: BoardRecording[];
  /** The same words and order as the last line of `ephys-make status`. */
  counts: Record<string, number>;
  generatedAt: string;
}

/** `status`'s words for each state, in its order. */
export const stateWords: Record<CellState, string> = jobStateWords;

export interface CellChange { rec: string; stage: string; cell: Cell | null }

export class Board {
  stages: string[] = [];
  private planner!: Planner;
  private list: Recording[] = [];
  private plans = new Map<string, RecordingPlan>();
  private rows = new Map<string, BoardRecording>();
  private root = '';
  /** Recordings left off the board because their jobs cannot be built (as `status` reports them). */
  problems: Diagnostic[] = [];
  /** Names of the recordings discovery found last, to tell whether a rescan found others. */
  private found = '';

  private constructor(private opts: PlannerOptions) {}

  /** Load the pipeline, find the recordings and plan each; a recording whose jobs cannot be built is left off, with its diagnostics in `problems`. */
  static open(opts: PlannerOptions): Result<Board> {
    const b = new Board(opts);
    const r = b.load();
    return r.ok ? { ok: true, value: b } : r;
  }

  private load(): Result<true> {
    const opened = openPlanner(this.opts);
    if (!opened.ok) return opened;
    const planner = opened.value;
    const found = planner.discover();
    if (!found.ok) return found;
    const plans = new Map<string, RecordingPlan>();
    const diags: Diagnostic[] = [];
    for (const rec of found.value) {
      const rp = planner.jobsOf(rec);
      if (rp.ok) plans.set(rec.name, rp.value); else diags.push(...rp.diagnostics);
    }
    this.problems = diags;
    this.found = found.value.map((r) => r.name).join('\n');
    this.planner = planner;
    this.list = found.value.filter((r) => plans.has(r.name));
    this.plans = plans;
    this.root = this.opts.root ? path.resolve(this.opts.cwd, this.opts.root) : planner.pipeline.recordings.root;
    this.stages = planner.stages.map((s) => s.name);
    this.rows.clear();
    for (const rec of this.list) this.rows.set(rec.name, { name: rec.name, cells: this.cellsOf(rec, plans.get(rec.name)!.plan()) });
    return { ok: true, value: true };
  }

  /**
   * Look for recordings that came or went (a file-system glob, no planning); build the board
   * again when they did, or always when `pipelineChanged`. An invalid pipeline keeps the old board.
   */
  rescan(pipelineChanged: boolean): Result<boolean> {
    if (!pipelineChanged) {
      const found = this.planner.discover();
      if (!found.ok) return found;
      if (found.value.map((r) => r.name).join('\n') === this.found) return { ok: true, value: false };
    }
    const r = this.load();
    return r.ok ? { ok: true, value: true } : r;
  }

  get pipelineFile(): string { return this.planner.pipeline.file; }
  get rootDir(): string { return this.root; }
  get recordings(): Recording[] { return this.list; }

  recording(name: string): Recording | undefined {
    return this.plans.get(name)?.recording;
  }

  jobsOf(rec: Recording): Job[] {
    return this.plans.get(rec.name)?.jobs ?? [];
  }

  job(recName: string, stage: string): Job | undefined {
    const rec = this.recording(recName);
    return rec ? this.jobsOf(rec).find((j) => j.stage.name === stage) : undefined;
  }

  /** Plan one recording again; returns the cells that changed. */
  refresh(recName: string): CellChange[] {
    const rp = this.plans.get(recName);
    const row = this.rows.get(recName);
    if (!rp || !row) return [];
    const cells = this.cellsOf(rp.recording, rp.plan());
    const changes: CellChange[] = [];
    cells.forEach((c, i) => {
      if (JSON.stringify(c) !== JSON.stringify(row.cells[i])) changes.push({ rec: recName, stage: this.stages[i], cell: c });
    });
    row.cells = cells;
    return changes;
  }

  snapshot(): BoardSnapshot {
    const recordings = [...this.rows.values()];
    return { root: this.root, pipeline: this.planner.pipeline.file, stages: this.stages, recordings, counts: countCells(recordings), generatedAt: new Date().toISOString() };
  }

  private cellsOf(rec: Recording, decisions: Map<string, Decision>): Array<Cell | null> {
    const jobs = this.jobsOf(rec);
    const state = jobs.length ? readState(jobs[0].stateDir) : { jobs: {} as Record<string, JobRecord> };
    return this.stages.map((name) => {
      const job = jobs.find((j) => j.stage.name === name);
      if (!job) return null;
      const d = decisions.get(job.id);
      const r = state.jobs[name];
      const times = { t: r?.startedAt, e: r?.status === 'running' ? undefined : r?.endedAt };
      const js = jobStateOf(job, d, r);
      const detail = js.kind === 'blocked' && d && !d.run && 'blocked' in d ? d.blocked.why ?? `input missing: ${this.display(d.blocked.path)}` : js.detail;
      const cell: Cell = { s: js.kind, ...(detail ? { r: detail } : {}), ...times };
      if (js.kind === 'running' && r?.pid && r.host && !r.slurm) { cell.pid = r.pid; cell.host = r.host; }
      return cell;
    });
  }

  /** Paths inside the root are shown relative to it. */
  display(p: string): string {
    const rel = path.relative(this.root, p);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  }
}

export function countCells(recordings: BoardRecording[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(Object.values(jobStateWords).map((w) => [w, 0]));
  for (const r of recordings) for (const c of r.cells) if (c) counts[stateWords[c.s]]++;
  return counts;
}

/** `status`'s closing line: `3 recordings: 21 up to date`. */
export function countsLine(snapshot: Pick<BoardSnapshot, 'recordings' | 'counts'>): string {
  const parts = Object.entries(snapshot.counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`);
  return `${snapshot.recordings.length} recordings: ${parts.join(', ') || 'no jobs'}`;
}
