/**
 * Each recording's job records, in `{output}/.ephys-make/state.json`: one small file per recording,
 * so a no-op run over 1,000 recordings reads 1,000 files, not one per job. Written atomically;
 * unreadable or of an unknown version it counts as absent (everything reruns), never a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeAll, writeFileAtomic } from '../base/atomicFile.js';
import type { Signature } from '../base/signature.js';
import { hostName, isAlive } from '../base/processInfo.js';

export const stateVersion = 1;

export interface Definition {
  runner: string;
  module: string;
  command?: string[];
  python?: string;
  version?: string;
}

/** A job handed to SLURM: its job id, and once it has ended, SLURM's word for how. */
export interface SlurmRef {
  jobId: string;
  submittedAt?: string;
  /** The node it runs on, written by the job itself. */
  node?: string;
  /** SLURM's final state (COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL...), once reconciled. */
  state?: string;
  /** SLURM's reason beside that state (DependencyNeverSatisfied, TimeLimit...). */
  stateReason?: string;
}

export interface JobRecord {
  /** `queued`: submitted to SLURM, not started yet. */
  status: 'queued' | 'running' | 'done' | 'failed' | 'interrupted';
  pid?: number;
  host?: string;
  procStart?: string;
  /** The job's own process group, so a successor can stop an orphan left by a killed ephys-make. */
  childPid?: number;
  childStart?: string;
  startedAt?: string;
  endedAt?: string;
  exitCode?: number | null;
  signal?: string | null;
  reason?: string;
  /** Why an `interrupted` run was stopped, when something other than a signal stopped it (watch). */
  stoppedBecause?: string;
  definition?: Definition;
  /** The input JSON itself is the job's input.json, written before the run this record describes. */
  inputHash?: string;
  /** What that input JSON was made of (inputKey.ts): while it matches, inputHash still holds. */
  layersKey?: string;
  inputs?: Record<string, Signature | null>;
  outputs?: Record<string, Signature>;
  /** Temporary outputs removed after their consumers succeeded. */
  tempRemoved?: boolean;
  adopted?: boolean;
  outputJson?: unknown;
  slurm?: SlurmRef;
}

/** A record a SLURM job still owns (queued or running, its end not yet known): nobody else may run or submit that job. */
export function isInFlight(rec: JobRecord | undefined): rec is JobRecord & { slurm: SlurmRef } {
  return !!rec?.slurm && rec.slurm.state === undefined && (rec.status === 'queued' || rec.status === 'running');
}

export interface RecordingState {
  version: number;
  jobs: Record<string, JobRecord>;
}

export function statePath(stateDir: string): string {
  return path.join(stateDir, 'state.json');
}

export function readState(stateDir: string): RecordingState {
  let text: string;
  try {
    text = fs.readFileSync(statePath(stateDir), 'utf8');
  } catch {
    return { version: stateVersion, jobs: {} };
  }
  try {
    const parsed = JSON.parse(text);
    if (parsed?.version === stateVersion && parsed.jobs && typeof parsed.jobs === 'object') return parsed;
  } catch { /* fall through: treat as absent */ }
  return { version: stateVersion, jobs: {} };
}

export function writeState(stateDir: string, state: RecordingState): void {
  // One job per line: small to parse on every plan, still readable and diffable.
  const jobs = Object.entries(state.jobs).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',\n');
  writeFileAtomic(statePath(stateDir), `{"version":${state.version},"jobs":{\n${jobs}\n}}\n`);
}

/** Read-modify-write of one job's record. */
export function updateRecord(stateDir: string, stage: string, update: (old: JobRecord | undefined) => JobRecord | undefined): void {
  updateState(stateDir, (state) => {
    const next = update(state.jobs[stage]);
    if (next) state.jobs[stage] = next; else delete state.jobs[stage];
  });
}

/**
 * Read-modify-write of a recording's records, one writer at a time. The recording lock keeps two
 * ephys-make processes apart, but jobs of one recording running on several cluster nodes (and the
 * process submitting them) each write their own record into this one file.
 */
export function updateState(stateDir: string, update: (state: RecordingState) => boolean | void): void {
  const release = lockStateFile(stateDir);
  try {
    const state = readState(stateDir);
    // `false`: nothing changed, nothing to write.
    if (update(state) !== false) writeState(stateDir, state);
  } finally {
    release();
  }
}

/** A writer holds this for milliseconds; one older than this died holding it. */
const staleStateLockMs = 30_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function lockStateFile(stateDir: string): () => void {
  const file = path.join(stateDir, 'state.json.lock');
  fs.mkdirSync(stateDir, { recursive: true });
  const me = `${process.pid} ${hostName}`;
  for (let waited = 0; ; waited++) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'wx');
      writeAll(fd, Buffer.from(me));
      fs.closeSync(fd);
      return () => { try { if (fs.readFileSync(file, 'utf8') === me) fs.rmSync(file, { force: true }); } catch { /* gone */ } };
    } catch (err: any) {
      if (err.code !== 'EEXIST') {
        // A full disk: never leave an empty lock that every later writer would wait on.
        if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* closed */ } fs.rmSync(file, { force: true }); }
        throw err;
      }
    }
    let holder = '';
    let ageMs = 0;
    try { holder = fs.readFileSync(file, 'utf8'); ageMs = Date.now() - fs.statSync(file).mtimeMs; } catch { continue; }
    const [pid, host] = holder.split(' ');
    const deadHere = host === hostName && !isAlive({ pid: Number(pid), host });
    if (deadHere || ageMs > staleStateLockMs) {
      try { if (fs.readFileSync(file, 'utf8') === holder) fs.rmSync(file, { force: true }); } catch { /* taken meanwhile */ }
      continue;
    }
    Atomics.wait(sleeper, 0, 0, Math.min(20, 1 + waited));
  }
}
