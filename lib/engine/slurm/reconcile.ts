/**
 * Records against SLURM's view. A job on a node writes its own record (running, then done, failed
 * or interrupted); what it cannot write is how SLURM ended it (cancelled, time limit, memory, node
 * lost) or that it never started. No daemon watches: whoever looks next (`status`, `all`, a watch,
 * `--wait`) asks SLURM about every record still open and writes what it learns, so the next plan
 * reruns those jobs with that reason.
 *
 *   queued ──▶ running ──▶ done                       (written by the job)
 *      │          │   └──▶ failed | interrupted       (written by the job; SLURM's end added here)
 *      └──────────┴──────▶ failed | interrupted       (written here: the job never got to say)
 */
import fs from 'node:fs';
import type { Job } from '../job.js';
import { hashJson } from '../inputJson.js';
import { isInFlight, readState, updateState, type JobRecord, type RecordingState } from '../record.js';
import { cancelSlurmJobs, isActive, querySlurm, type SlurmJobInfo } from './slurmView.js';

/** Records whose SLURM job has not been looked at since it ended (or that are still going). */
export function openSlurmIds(state: RecordingState): string[] {
  const ids: string[] = [];
  for (const rec of Object.values(state.jobs)) {
    if (rec.slurm && rec.slurm.state === undefined && rec.status !== 'done') ids.push(rec.slurm.jobId);
  }
  return ids;
}

/** Whether SLURM's view has anything to settle among these ids (an end, a job forgotten, a dependency never met). */
export function hasNews(ids: string[], view: Map<string, SlurmJobInfo>): boolean {
  return ids.some((id) => {
    const info = view.get(id);
    return !info || !isActive(info.state) || info.reason === 'DependencyNeverSatisfied';
  });
}

/** SLURM's end of a job, in words for `status` and `--explain`. */
export function describeSlurmEnd(jobId: string, state: string, stateReason: string, node: string | undefined, started: boolean): string {
  const job = `SLURM job ${jobId}`;
  switch (state) {
    case 'COMPLETED': return `${job} ended without ephys-make recording a result`;
    case 'FAILED': return `${job} failed${started ? '' : ' before ephys-make started on the node'}`;
    case 'CANCELLED': return `${job} was cancelled${started ? '' : ' before it started'}`;
    case 'TIMEOUT': return `${job} reached its time limit`;
    case 'OUT_OF_MEMORY': return `${job} ran out of memory`;
    case 'NODE_FAIL': return `${job} was lost with its node${node ? ` ${node}` : ''}`;
    case 'BOOT_FAIL': return `${job}'s node failed to boot`;
    case 'PREEMPTED': return `${job} was preempted`;
    case 'DEADLINE': return `${job} missed its deadline`;
    case 'UNKNOWN': return `SLURM no longer knows job ${jobId} (it ended without ephys-make recording a result)`;
    default: return `${job} ended ${state}${stateReason && stateReason !== 'None' ? ` (${stateReason})` : ''}`;
  }
}

/**
 * The record after SLURM's word, or undefined when nothing changes. `info` undefined with a
 * successful query means SLURM has forgotten the job.
 */
export function settleRecord(rec: JobRecord, info: SlurmJobInfo | undefined, upstreamFailed?: string): JobRecord | undefined {
  const ref = rec.slurm;
  if (!ref || ref.state !== undefined || rec.status === 'done') return undefined;
  if (info && isActive(info.state)) return undefined;
  const state = info?.state ?? 'UNKNOWN';
  const stateReason = info?.reason ?? '';
  const node = ref.node ?? info?.node;
  const slurm = { ...ref, state, stateReason: stateReason || undefined, node };
  // Out of time or memory happens again on a rerun with the same settings: a failure, not an interruption.
  const failure = state === 'FAILED' || state === 'TIMEOUT' || state === 'OUT_OF_MEMORY';
  if (rec.status === 'failed' || rec.status === 'interrupted') {
    // The job wrote its end; SLURM knows why it was stopped (a signal is all the job saw).
    const saysMore = ['CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'DEADLINE'].includes(state);
    if (!saysMore) return { ...rec, slurm };
    // Killed by SLURM's signal, the job may have recorded a failure: SLURM's word decides.
    return { ...rec, status: failure ? 'failed' : 'interrupted', slurm, stoppedBecause: describeSlurmEnd(ref.jobId, state, stateReason, node, true) };
  }
  const started = rec.status === 'running';
  const why = state === 'CANCELLED' && stateReason === 'DependencyNeverSatisfied'
    ? `not started: ${upstreamFailed ? `upstream ${upstreamFailed} did not succeed` : 'a job it depends on did not succeed'} (SLURM job ${ref.jobId} cancelled)`
    : describeSlurmEnd(ref.jobId, state, stateReason, node, started);
  return { ...rec, status: failure ? 'failed' : 'interrupted', slurm, stoppedBecause: why, endedAt: new Date().toISOString() };
}

export interface RecordingReconciled {
  /** Stages whose record changed. */
  settled: string[];
  /** SLURM jobs pending on a dependency that can never be met (sites without kill-on-invalid-dep). */
  hopeless: string[];
}

/**
 * Settle one recording's records against `jobs` (SLURM's view); writes once, under the state file's
 * lock, judging the records as they are at that moment.
 */
export function reconcileRecording(stateDir: string, recordingJobs: Job[], view: Map<string, SlurmJobInfo>): RecordingReconciled {
  const out: RecordingReconciled = { settled: [], hopeless: [] };
  const byStage = new Map(recordingJobs.map((j) => [j.stage.name, j]));
  const compute = (state: RecordingState) => {
    out.settled = [];
    out.hopeless = [];
    // Stage order, so an upstream failure is settled before its dependents name it.
    const names = [...new Set([...recordingJobs.map((j) => j.stage.name), ...Object.keys(state.jobs)])];
    for (const name of names) {
      const rec = state.jobs[name];
      if (!rec?.slurm || rec.slurm.state !== undefined || rec.status === 'done') continue;
      const info = view.get(rec.slurm.jobId);
      if (info?.state === 'PENDING' && info.reason === 'DependencyNeverSatisfied') out.hopeless.push(rec.slurm.jobId);
      const failedDep = byStage.get(name)?.deps.find((d) => {
        const r = state.jobs[d.stage.name];
        return r && r.status !== 'done' && r.status !== 'queued' && r.status !== 'running';
      });
      const next = settleRecord(rec, info, failedDep?.stage.name);
      if (next) { state.jobs[name] = next; out.settled.push(name); }
    }
    return out.settled.length > 0;
  };
  updateState(stateDir, compute);
  return out;
}

export interface RootReconciled {
  /** Recordings whose records changed: plan them again. */
  changed: Set<string>;
  /** SLURM could not be asked: in-flight records stay as they are. */
  error?: string;
}

/**
 * Ask SLURM once about every open record of these recordings and settle what has ended; jobs
 * pending on a dependency that can never be met are cancelled.
 */
export async function reconcilePlans(plans: Iterable<{ recording: { dir: string }; jobs: Job[] }>, env: NodeJS.ProcessEnv): Promise<RootReconciled> {
  const open: Array<{ dir: string; stateDir: string; jobs: Job[]; ids: string[] }> = [];
  const ids: string[] = [];
  for (const rp of plans) {
    if (!rp.jobs.length) continue;
    const stateDir = rp.jobs[0].stateDir;
    const found = openSlurmIds(readState(stateDir));
    if (!found.length) continue;
    open.push({ dir: rp.recording.dir, stateDir, jobs: rp.jobs, ids: found });
    ids.push(...found);
  }
  const out: RootReconciled = { changed: new Set() };
  if (!ids.length) return out;
  const view = await querySlurm(ids, env);
  if (!view.ok) return { ...out, error: view.error };
  const hopeless: string[] = [];
  for (const o of open) {
    if (!hasNews(o.ids, view.jobs)) continue;
    const r = reconcileRecording(o.stateDir, o.jobs, view.jobs);
    if (r.settled.length) out.changed.add(o.dir);
    hopeless.push(...r.hopeless);
  }
  if (hopeless.length) {
    const err = await cancelSlurmJobs(hopeless, env);
    if (err) out.error = err;
  }
  return out;
}

/**
 * A job whose last run on SLURM failed or was cancelled, with nothing it depends on changed since
 * (no input newer than that run's start, the same input JSON): a watch does not submit it again
 * by itself, as it does not retry a failed local job (the node already made its `retries:`).
 */
export function isUnchangedSlurmFailure(job: Job, rec: JobRecord | undefined): boolean {
  if (!rec?.slurm || isInFlight(rec)) return false;
  const cancelled = rec.status === 'interrupted' && rec.slurm.state === 'CANCELLED';
  if (rec.status !== 'failed' && !cancelled) return false;
  const since = Date.parse(rec.startedAt ?? rec.slurm.submittedAt ?? '');
  if (!Number.isFinite(since)) return false;
  for (const inp of job.inputs) {
    const st = fs.statSync(inp.path, { throwIfNoEntry: false });
    if (st && st.mtimeMs > since) return false;
  }
  try {
    return hashJson(JSON.parse(fs.readFileSync(job.inputJsonPath, 'utf8'))) === job.input.hash;
  } catch {
    // It never got as far as writing its input JSON (cancelled while queued): nothing to compare.
    return cancelled;
  }
}
