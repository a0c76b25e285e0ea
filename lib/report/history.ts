/**
 * Run history from each recording's `runs.jsonl`: the runs of one recording for its timeline, and
 * across recordings a summary row (run time, failures) and the slowest stages.
 */
import path from 'node:path';
import { readRuns, type RunLine } from '../engine/runLog.js';
import { statSignature } from '../base/signature.js';

export interface Run {
  stage: string;
  status: RunLine['status'];
  start: string;
  end: string;
  seconds: number;
  host: string;
  pid: number;
  reason: string;
  attempt?: number;
  message?: string;
}

export interface StageTiming { stage: string; runs: number; medianSeconds: number; maxSeconds: number; slowestRecording: string }

export interface RecordingHistory {
  runs: Run[];
  /** Seconds of the latest successful run of each stage, summed: what the recording costs today. */
  runSeconds: number;
  failedRuns: number;
}

function toRun(l: RunLine): Run {
  const seconds = Math.max(0, (Date.parse(l.end) - Date.parse(l.start)) / 1000) || 0;
  return { stage: l.stage, status: l.status, start: l.start, end: l.end, seconds, host: l.host, pid: l.pid, reason: l.reason, attempt: l.attempt, message: l.message };
}

export class HistoryCache {
  private cache = new Map<string, { key: string; value: RecordingHistory }>();

  get(stateDir: string): RecordingHistory {
    const key = statSignature(path.join(stateDir, 'runs.jsonl')) ?? '-';
    const hit = this.cache.get(stateDir);
    if (hit && hit.key === key) return hit.value;
    const runs = readRuns(stateDir).map(toRun);
    const latest = new Map<string, number>();
    for (const r of runs) if (r.status === 'done') latest.set(r.stage, r.seconds);
    const value = { runs, runSeconds: [...latest.values()].reduce((a, b) => a + b, 0), failedRuns: runs.filter((r) => r.status === 'failed').length };
    this.cache.set(stateDir, { key, value });
    return value;
  }
}

/** Per stage, over every recording's latest successful run: median and slowest. */
export function slowestStages(histories: Array<{ recording: string; history: RecordingHistory }>): StageTiming[] {
  const byStage = new Map<string, Array<{ seconds: number; recording: string }>>();
  for (const { recording, history } of histories) {
    const latest = new Map<string, number>();
    for (const r of history.runs) if (r.status === 'done') latest.set(r.stage, r.seconds);
    for (const [stage, seconds] of latest) {
      if (!byStage.has(stage)) byStage.set(stage, []);
      byStage.get(stage)!.push({ seconds, recording });
    }
  }
  const out: StageTiming[] = [];
  for (const [stage, list] of byStage) {
    const sorted = list.map((x) => x.seconds).sort((a, b) => a - b);
    const max = list.reduce((m, x) => (x.seconds > m.seconds ? x : m));
    out.push({ stage, runs: list.length, medianSeconds: sorted[Math.floor((sorted.length - 1) / 2)], maxSeconds: max.seconds, slowestRecording: max.recording });
  }
  return out.sort((a, b) => b.medianSeconds - a.medianSeconds);
}
