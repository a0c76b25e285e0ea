/**
 * A job's running marker, `{stateDir}/{stage}/running`: written durably before the job starts and
 * removed only once its `done` record is durable. It does not live in state.json, so a job killed
 * mid-write is recognised even when state.json is later emptied, damaged or deleted: its outputs
 * are never adopted as finished. It also names the job's process group, so the next taker of the
 * recording can stop an orphan without the records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../base/atomicFile.js';

export interface RunningMarker {
  pid: number;
  host: string;
  procStart?: string;
  startedAt: string;
  /** The job's process (its process group's leader), once spawned. */
  childPid?: number;
  childStart?: string;
  /** Written for a job without a record when its leftover `*.partial` was removed. */
  leftover?: string;
  /** Run by SLURM as this job: SLURM, not the next taker of the recording, decides its end. */
  slurmJobId?: string;
}

export function markerPath(jobDir: string): string {
  return path.join(jobDir, 'running');
}

/**
 * Durable before the job starts. The job's process group, added once it exists, need not be: it
 * matters only to processes on this machine, which a power cut stops along with the job.
 */
export function writeRunningMarker(jobDir: string, m: RunningMarker, o: { durable?: boolean } = {}): void {
  writeFileAtomic(markerPath(jobDir), JSON.stringify(m) + '\n', o);
}

/** The marker, `{}` when it is there but unreadable (it still counts), undefined when absent. */
export function readRunningMarker(jobDir: string): Partial<RunningMarker> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(markerPath(jobDir), 'utf8');
  } catch (err: any) {
    return err.code === 'ENOENT' || err.code === 'ENOTDIR' ? undefined : {};
  }
  try {
    const m = JSON.parse(text);
    return m && typeof m === 'object' ? m : {};
  } catch {
    return {};
  }
}

export function removeRunningMarker(jobDir: string): void {
  fs.rmSync(markerPath(jobDir), { force: true });
}
