/**
 * A job's life with its records, as the scheduler and the commands drive it:
 *
 *   recording locked -> claimRecording (stop orphans a killed ephys-make left running, keep a
 *                       damaged state.json aside, remove leftover partials)
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
import { isInFlight, readState, setAsideDamagedState, updateRecord, updateState } from './record.js';
import { reapOrphans } from './orphans.js';
import { removeLeftoverPartials } from './leftovers.js';
import { tryLock } from './lock.js';
import { appendRun } from './runLog.js';
import { executeJob, type ExecuteOptions, type ExecutingJob } from './execute.js';
import { placeFreeHash, recordKey } from './place.js';
import type { Decision } from './plan.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { hostName } from '../base/processInfo.js';
import { recordSignature, type Signature } from '../base/signature.js';
import { versions } from '../base/version.js';

/** Where a job runs. The local executor runs it in a child process of this one. */
export interface Executor {
  start(job: Job, o: Omit<ExecuteOptions, 'checksum'>): ExecutingJob;
}

export function localExecutor(checksum: boolean): Executor {
  return { start: (job, o) => executeJob(job, { ...o, checksum }) };
}

/**
 * Called by whoever has just taken a recording's lock, before it starts anything: clear what a
 * killed ephys-make left. Its jobs' process groups live on after it (kill -9, a crash); they are
 * stopped first, so an orphaned Kilosort cannot keep writing into outputs a new run is making.
 * Then a damaged state.json is kept aside (never deleted), and leftover `*.partial` files of the
 * recording's jobs (`jobs`: any of them; their deps and consumers are followed) are removed.
 * Returns the warnings to show.
 */
export function claimRecording(jobs: Job[]): { reaped: number; warnings: string[] } {
  if (!jobs.length) return { reaped: 0, warnings: [] };
  const stateDir = jobs[0].stateDir;
  const reaped = reapOrphans(stateDir);
  const warnings: string[] = [];
  const aside = setAsideDamagedState(stateDir);
  if (aside) warnings.push(aside);
  const all = new Set<Job>();
  const add = (j: Job) => { if (all.has(j)) return; all.add(j); for (const d of j.deps) add(d); for (const c of j.consumers) add(c); };
  for (const j of jobs) add(j);
  const records = readState(stateDir).jobs;
  // A job on SLURM (perhaps on another node, where its pid means nothing here) writes partials
  // that are its own to finish: the recording's partials wait until none is in flight.
  if (Object.values(records).some((r) => isInFlight(r))) return { reaped, warnings };
  removeLeftoverPartials([...all], (j) => records[j.stage.name] !== undefined);
  return { reaped, warnings };
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

/** A job's files as a record names them, with their signatures now. */
export function signaturesNow(job: Job, checksum: boolean): { inputs: Record<string, Signature | null>; outputs: Record<string, Signature> } {
  const inputs: Record<string, Signature | null> = {};
  for (const inp of job.inputs) inputs[recordKey(job.recording, inp.path)] = recordSignature(inp.path, checksum) ?? null;
  const outputs: Record<string, Signature> = {};
  for (const out of job.outputs) outputs[recordKey(job.recording, out)] = recordSignature(out, checksum)!;
  return { inputs, outputs };
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
      writeFileAtomic(job.inputJsonPath, JSON.stringify(job.input.json, null, 2) + '\n');
      return {
        status: 'done' as const, adopted: true, startedAt: now, endedAt: now, exitCode: 0,
        definition: job.definition, inputHash: job.input.hash, layersKey: job.layersKey, placeFreeHash: placeFreeHash(job.input.json, job.recording), ...signaturesNow(job, checksum),
      };
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

/**
 * Rewrite the records of jobs found up to date although their files are not as recorded: the
 * same content at a new place (a data set copied with cp -a or rsync -a) or at a new time (under
 * --checksum). Decided again under the recording's lock, so a file changed since the plan is never
 * written into a record; afterwards the records match and nothing is read again. Returns the jobs
 * rewritten, none when another ephys-make holds the recording (its records are its own to write).
 */
export function refreshRecords(jobs: Job[], replan: () => Map<string, Decision>, checksum: boolean): Job[] {
  if (!jobs.length) return [];
  const stateDir = jobs[0].stateDir;
  const lock = tryLock(path.join(stateDir, 'lock'), 'ephys-make record update');
  if (!lock.ok) return [];
  try {
    const decisions = replan();
    const still = jobs.filter((j) => { const d = decisions.get(j.id); return d && !d.run && 'fresh' in d && d.fresh.kind === 'confirmed'; });
    if (!still.length) return [];
    const sigs = still.map((job) => {
      writeFileAtomic(job.inputJsonPath, JSON.stringify(job.input.json, null, 2) + '\n');
      return signaturesNow(job, checksum);
    });
    updateState(stateDir, (state) => {
      still.forEach((job, i) => {
        const old = state.jobs[job.stage.name];
        if (!old) return;
        // A removed temporary output keeps being absent from its record's point of view.
        if (old.tempRemoved) sigs[i].outputs = old.outputs ?? {};
        state.jobs[job.stage.name] = { ...old, inputHash: job.input.hash, layersKey: job.layersKey, placeFreeHash: placeFreeHash(job.input.json, job.recording), ...sigs[i] };
      });
    });
    return still;
  } finally {
    lock.release();
  }
}
