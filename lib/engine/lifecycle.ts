/**
 * A job's life with its records, as the scheduler and the commands drive it:
 *
 *   recording locked -> claimRecording (stop orphans a killed ephys-make left running)
 *   job stale        -> an Executor starts it (locally: execute.ts: record `running`, process,
 *                       record `done`/`failed`)
 *   job done         -> jobSucceeded (temp outputs whose consumers all succeeded are removed)
 *   job adopted      -> adoptJobs (outputs made without ephys-make get a record)
 *   job up to date   -> renewKeys (a record whose layersKey is old vouches again, see inputKey.ts)
 *
 * The scheduler only orders, locks and pools; what happens to records and files is decided here.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Job } from './job.js';
import { readState, updateRecord, updateState } from './record.js';
import { tryLock } from './lock.js';
import { appendRun } from './runLog.js';
import { executeJob, signatureOf, type ExecuteOptions, type ExecutingJob } from './execute.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { hostName, isAlive, killGroup } from '../base/processInfo.js';
import type { Signature } from '../base/signature.js';
import { versions } from '../base/version.js';

/** Where a job runs. The local executor runs it in a child process of this one. */
export interface Executor {
  start(job: Job, o: Omit<ExecuteOptions, 'checksum'>): ExecutingJob;
}

export function localExecutor(checksum: boolean): Executor {
  return { start: (job, o) => executeJob(job, { ...o, checksum }) };
}

/**
 * Called by whoever has just taken a recording's lock, before it starts anything. When ephys-make
 * itself is killed (kill -9, a crash), its jobs' process groups live on; they are stopped here, so
 * an orphaned Kilosort cannot keep writing into outputs that a new run is making.
 */
export function claimRecording(stateDir: string): { reaped: number } {
  let reaped = 0;
  const state = readState(stateDir);
  for (const rec of Object.values(state.jobs)) {
    // A SLURM job on this node is not an orphan: SLURM runs it and its record is its own.
    if (rec.status !== 'running' || !rec.childPid || rec.pid === process.pid || rec.slurm) continue;
    if (rec.host && !isAlive({ pid: rec.childPid, host: rec.host, procStart: rec.childStart })) continue;
    killGroup(rec.childPid, 'SIGKILL');
    reaped++;
  }
  return { reaped };
}

/** `temp: true` outputs are removed once every job consuming them in this run succeeded. */
export function jobSucceeded(finished: Job, isSettled: (j: Job) => boolean): void {
  for (const producer of finished.deps) {
    if (!producer.stage.temp) continue;
    const consumers = producer.consumers;
    if (!consumers.length || consumers.length < producer.consumerStages || !consumers.every(isSettled)) continue;
    // Never a recording's own file, whatever the template said (makeJobs refuses those already).
    for (const out of producer.outputs) if (!producer.ownFiles.reasonFor(out)) fs.rmSync(out, { force: true });
    updateRecord(producer.stateDir, producer.stage.name, (old) => (old && old.status === 'done' ? { ...old, tempRemoved: true } : old));
  }
}

/**
 * Record jobs adopted by Make's rule (one recording's), so later runs compare signatures like any
 * other. One state write per recording, under its lock; a recording another ephys-make holds is
 * left for later (returns false), since its state file is that process's to write.
 */
export function adoptJobs(jobs: Job[], checksum: boolean): boolean {
  if (!jobs.length) return true;
  const stateDir = jobs[0].stateDir;
  const lock = tryLock(path.join(stateDir, 'lock'), 'ephys-make adoption');
  if (!lock.ok) return false;
  try {
    const now = new Date().toISOString();
    const records = jobs.map((job) => {
      const inputs: Record<string, Signature | null> = {};
      for (const inp of job.inputs) inputs[inp.path] = signatureOf(inp.path, checksum) ?? null;
      const outputs: Record<string, Signature> = {};
      for (const out of job.outputs) outputs[out] = signatureOf(out, checksum)!;
      writeFileAtomic(job.inputJsonPath, JSON.stringify(job.input.json, null, 2) + '\n');
      return { status: 'done' as const, adopted: true, startedAt: now, endedAt: now, exitCode: 0, definition: job.definition, inputHash: job.input.hash, layersKey: job.layersKey, inputs, outputs };
    });
    // Jobs of this recording on SLURM nodes write into the same file meanwhile.
    updateState(stateDir, (state) => { jobs.forEach((job, i) => { state.jobs[job.stage.name] = records[i]; }); });
    for (const job of jobs) {
      appendRun(stateDir, { stage: job.stage.name, reason: 'adopted: outputs newer than inputs, no record', start: now, end: now, status: 'adopted', host: hostName, pid: process.pid, versions: versions() });
    }
    return true;
  } finally {
    lock.release();
  }
}

/**
 * Up-to-date jobs whose records carry an old layersKey (pipeline.yaml was edited, ephys-make
 * upgraded) had their input JSON built and found unchanged; recording the new key spares later
 * plans that work. Best effort: a recording another ephys-make holds is left as it is.
 */
export function renewKeys(jobs: Job[]): void {
  if (!jobs.length) return;
  const stateDir = jobs[0].stateDir;
  const lock = tryLock(path.join(stateDir, 'lock'), 'ephys-make record keys');
  if (!lock.ok) return;
  try {
    updateState(stateDir, (state) => {
      let changed = false;
      for (const job of jobs) {
        const rec = state.jobs[job.stage.name];
        if (rec?.status !== 'done' || rec.inputHash !== job.inputHash || rec.layersKey === job.layersKey) continue;
        rec.layersKey = job.layersKey;
        changed = true;
      }
      return changed;
    });
  } finally {
    lock.release();
  }
}
