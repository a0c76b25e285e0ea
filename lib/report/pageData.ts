/**
 * Everything the page shows, as JSON: the board, the table across recordings, one recording's
 * results and run history, a job's log tail. The served page asks for these one by one; the report
 * gathers all of them into one file.
 */
import path from 'node:path';
import { stateDir } from '../engine/recordings.js';
import { Board, type BoardSnapshot, type CellState } from './board.js';
import { ResultsCache, type GroundTruthScorer, type RecordingResults } from './results.js';
import { HistoryCache, slowestStages, type Run, type StageTiming } from './history.js';
import { formatThresholds, type Threshold } from './metricsTable.js';
import { checkServable, logTailBytes } from './serveFiles.js';
import { readTail } from '../base/fileTail.js';

export interface SummaryRow {
  name: string;
  /** The worst state among its jobs: failed, running, blocked, stale, done. */
  state: CellState | 'none';
  units: number | null;
  passing: number | null;
  noise: number | null;
  runSeconds: number;
  failedRuns: number;
  failedJobs: number;
}

export interface Summary {
  thresholds: string;
  rows: SummaryRow[];
  slowest: StageTiming[];
}

export interface RecordingDetail {
  results: RecordingResults;
  runs: Run[];
  /** The rules units pass by, in words. */
  thresholds: string;
}

export interface LogTail { rec: string; stage: string; path: string; text: string; cut: boolean; sizeBytes: number; missing?: boolean }

const worstFirst: CellState[] = ['failed', 'running', 'queued', 'blocked', 'cancelled', 'stale', 'done'];

export class PageData {
  readonly results: ResultsCache;
  readonly history = new HistoryCache();

  constructor(readonly board: Board, readonly thresholds: Threshold[], scoreGroundTruth?: GroundTruthScorer) {
    this.results = new ResultsCache(thresholds, scoreGroundTruth);
  }

  snapshot(): BoardSnapshot {
    return this.board.snapshot();
  }

  summary(): Summary {
    const snap = this.board.snapshot();
    const cellsByName = new Map(snap.recordings.map((r) => [r.name, r.cells]));
    const histories: Array<{ recording: string; history: ReturnType<HistoryCache['get']> }> = [];
    const rows = this.board.recordings.map((rec): SummaryRow => {
      const cells = cellsByName.get(rec.name) ?? [];
      const states = new Set(cells.map((c) => c?.s));
      const history = this.history.get(stateDir(rec));
      histories.push({ recording: rec.name, history });
      const counts = this.results.counts(rec, this.board.jobsOf(rec));
      return {
        name: rec.name,
        state: worstFirst.find((s) => states.has(s)) ?? 'none',
        units: counts.hasMetrics ? counts.units : null,
        passing: counts.hasMetrics ? counts.passing : null,
        noise: counts.hasMetrics ? counts.noise : null,
        runSeconds: Math.round(history.runSeconds * 10) / 10,
        failedRuns: history.failedRuns,
        failedJobs: cells.filter((c) => c?.s === 'failed').length,
      };
    });
    return { thresholds: formatThresholds(this.thresholds), rows, slowest: slowestStages(histories) };
  }

  detail(name: string): RecordingDetail | undefined {
    const rec = this.board.recording(name);
    if (!rec) return undefined;
    return {
      results: this.results.get(rec, this.board.jobsOf(rec), (p) => this.board.display(p)),
      runs: this.history.get(stateDir(rec)).runs,
      thresholds: formatThresholds(this.thresholds),
    };
  }

  /** The tail of a job's log.txt, through the same rules as every served file. */
  logTail(recName: string, stage: string): LogTail | { error: string; status: number } {
    const job = this.board.job(recName, stage);
    if (!job) return { error: `no job ${stage} for recording ${recName}`, status: 404 };
    const shown = this.board.display(job.logPath);
    const check = checkServable(this.servableSource(), job.logPath, Infinity);
    if (!check.ok) return check.status === 404 ? { rec: recName, stage, path: shown, text: '', cut: false, sizeBytes: 0, missing: true } : { error: check.message, status: check.status };
    return { rec: recName, stage, path: shown, ...readTail(check.file, logTailBytes) };
  }

  servableSource() {
    return { root: this.board.rootDir, recordings: this.board.recordings, jobsOf: (r: Parameters<Board['jobsOf']>[0]) => this.board.jobsOf(r) };
  }

  /** A file's path as the page names it, made absolute again. */
  resolve(shown: string): string {
    return path.resolve(this.board.rootDir, shown);
  }
}
