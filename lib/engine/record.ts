/**
 * Each recording's job records, in `{output}/.ephys-make/state.json`: one small file per recording,
 * so a no-op run over 1,000 recordings reads 1,000 files, not one per job. Written atomically;
 * unreadable or of an unknown version it counts as absent (everything reruns), never a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../base/atomicFile.js';
import type { Signature } from '../base/signature.js';

export const stateVersion = 1;

export interface Definition {
  runner: string;
  module: string;
  command?: string[];
  python?: string;
  version?: string;
}

export interface JobRecord {
  status: 'running' | 'done' | 'failed' | 'interrupted';
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

/** Read-modify-write of one job's record (callers hold the recording lock). */
export function updateRecord(stateDir: string, stage: string, update: (old: JobRecord | undefined) => JobRecord | undefined): void {
  const state = readState(stateDir);
  const next = update(state.jobs[stage]);
  if (next) state.jobs[stage] = next; else delete state.jobs[stage];
  writeState(stateDir, state);
}
