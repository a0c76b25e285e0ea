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
  /** Its hash with the recording and output folders as placeholders: the same at a new place. */
  placeFreeHash?: string;
  /** Keyed by `{output}/...`, `{recording}/...` or (elsewhere, and in older records) the path. */
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

export const knownStatuses: ReadonlySet<string> = new Set(['queued', 'running', 'done', 'failed', 'interrupted']);

export interface RecordingState {
  version: number;
  jobs: Record<string, JobRecord>;
  /**
   * Set once a damaged state.json was kept aside: its records are lost, so a job of this recording
   * without a record is never adopted by Make's rule (its outputs may be half-written).
   */
  recordsLost?: string;
  /** Not stored: why state.json could not be used as it is. */
  problem?: StateProblem;
}

/** A state file that is there but cannot be trusted (damaged), or one a newer ephys-make wrote. */
export type StateProblem =
  | { kind: 'damaged'; file: string; detail: string }
  | { kind: 'newer'; file: string; version: number };

export function statePath(stateDir: string): string {
  return path.join(stateDir, 'state.json');
}

function emptyState(): RecordingState {
  return { version: stateVersion, jobs: {} };
}

/**
 * The recording's records. A missing file is an empty state; one that cannot be parsed, or has
 * the wrong shape, comes back empty with `problem` set, and so does one of a newer version: the
 * plan then trusts nothing of it (and adopts nothing), and writers refuse to replace it blindly.
 */
export function readState(stateDir: string): RecordingState {
  const file = statePath(stateDir);
  // Most recordings of a first plan have no state folder yet: one stat is far cheaper than a
  // throw. Only a folder stat that finds nothing calls it missing; any other failure, the read says why.
  let dirMissing = false;
  try { dirMissing = fs.statSync(stateDir, { throwIfNoEntry: false }) === undefined; } catch { /* the read says why */ }
  if (dirMissing) return emptyState();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err: any) {
    if (err.code === 'ENOENT') return emptyState();
    const detail = err.code === 'EISDIR' ? 'is a directory' : `cannot be read (${err.code ?? err.message})`;
    return { ...emptyState(), problem: { kind: 'damaged', file, detail } };
  }
  const damaged = (detail: string): RecordingState => ({ ...emptyState(), problem: { kind: 'damaged', file, detail } });
  if (!text.trim()) return damaged('is empty');
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    return damaged(text.trimEnd().endsWith('}') ? 'is not valid JSON' : 'is truncated or not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return damaged('is not a JSON object');
  if (typeof parsed.version !== 'number' || !Number.isInteger(parsed.version) || parsed.version < 1) return damaged(`has no valid version (${JSON.stringify(parsed.version)})`);
  if (parsed.version > stateVersion) return { ...emptyState(), problem: { kind: 'newer', file, version: parsed.version } };
  if (!parsed.jobs || typeof parsed.jobs !== 'object' || Array.isArray(parsed.jobs)) return damaged('has no jobs object');
  const state: RecordingState = { version: stateVersion, jobs: parsed.jobs };
  if (typeof parsed.recordsLost === 'string') state.recordsLost = parsed.recordsLost;
  return state;
}

/** Why one record cannot be believed, or undefined when it has a shape ephys-make writes. */
export function recordProblem(rec: unknown): string | undefined {
  if (!rec || typeof rec !== 'object' || Array.isArray(rec)) return 'is not an object';
  const status = (rec as { status?: unknown }).status;
  if (typeof status !== 'string' || !knownStatuses.has(status)) return `has an unknown status ${JSON.stringify(status)}`;
  return undefined;
}

export function describeStateProblem(p: StateProblem): string {
  return p.kind === 'newer'
    ? `${p.file} was written by a newer ephys-make (state version ${p.version}; this one writes version ${stateVersion}): not read and not overwritten; run the newer ephys-make, or move the file away to rerun this recording's jobs`
    : `${p.file} ${p.detail}`;
}

export class StateRefused extends Error {}

function compactTime(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * Under the recording's lock: a damaged state.json is renamed to `state.json.damaged-<time>` (never
 * deleted) and replaced by an empty state that remembers the loss. Returns the warning to show,
 * or undefined when there was nothing to do. A newer version's file is left where it is.
 */
export function setAsideDamagedState(stateDir: string): string | undefined {
  if (readState(stateDir).problem?.kind !== 'damaged') return undefined;
  const release = lockStateFile(stateDir);
  try {
    return setAsideUnlocked(stateDir);
  } finally {
    release();
  }
}

function setAsideUnlocked(stateDir: string): string | undefined {
  const state = readState(stateDir);
  if (state.problem?.kind !== 'damaged') return undefined;
  const file = state.problem.file;
  const now = new Date();
  let aside = `${file}.damaged-${compactTime(now)}`;
  for (let i = 1; fs.existsSync(aside); i++) aside = `${file}.damaged-${compactTime(now)}-${i}`;
  fs.renameSync(file, aside);
  writeState(stateDir, { version: stateVersion, jobs: {}, recordsLost: `${now.toISOString()}: ${path.basename(file)} ${state.problem.detail}; kept as ${path.basename(aside)}` });
  return `${file} ${state.problem.detail}: kept as ${path.basename(aside)}; the recording's jobs run again (none is adopted)`;
}

export function writeState(stateDir: string, state: RecordingState): void {
  // One job per line: small to parse on every plan, still readable and diffable.
  const jobs = Object.entries(state.jobs).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',\n');
  const lost = state.recordsLost ? `"recordsLost":${JSON.stringify(state.recordsLost)},` : '';
  writeFileAtomic(statePath(stateDir), `{"version":${state.version},${lost}"jobs":{\n${jobs}\n}}\n`);
}

/**
 * Read the state to change it (under the state file's lock): a damaged file is first kept aside,
 * a newer version's is never written over.
 */
function readStateForUpdate(stateDir: string): RecordingState {
  setAsideUnlocked(stateDir);
  const state = readState(stateDir);
  if (state.problem) throw new StateRefused(describeStateProblem(state.problem));
  return state;
}

/** Read-modify-write of one job's record. */
export function updateRecord(stateDir: string, stage: string, update: (old: JobRecord | undefined) => JobRecord | undefined): void {
  updateState(stateDir, (state) => {
    const old = state.jobs[stage];
    const next = update(recordProblem(old) ? undefined : old);
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
    const state = readStateForUpdate(stateDir);
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
