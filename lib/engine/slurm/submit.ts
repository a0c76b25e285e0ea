/**
 * Hand a root's stale jobs to SLURM as one dependency graph, and return: one `sbatch` per job,
 * `--dependency=afterok:` on its upstream jobs (submitted now or already queued), a `gpu` pool as
 * `--gres=gpu:N`, any other pool as a limit on how many of its jobs SLURM may start at once.
 *
 * Each recording is locked while its jobs are planned again and submitted (another ephys-make may
 * have submitted or run them meanwhile: nothing is submitted twice), then its records say
 * `queued` with the SLURM job ids and the lock is released. From then on the jobs write their own
 * records on the nodes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Job } from '../job.js';
import type { Pipeline } from '../config.js';
import type { Emit } from '../events.js';
import type { InFlight } from '../plan.js';
import { workOf, type RecordingPlan, type Runnable } from '../planner.js';
import { tryLock } from '../lock.js';
import { claimRecording } from '../lifecycle.js';
import { updateState, type JobRecord } from '../record.js';
import { callError, callSlurm } from './slurmCli.js';
import { sbatchArgs } from './sbatchArgs.js';
import { jobSpecOf, jobSpecVariable } from './jobSpec.js';

export interface SubmitOptions {
  pipeline: Pipeline;
  /** Stage names in graph order: jobs are submitted upstream first. */
  stageOrder: string[];
  /** What the node runs for a job. */
  command: (job: Job, reason: string) => string[];
  env: NodeJS.ProcessEnv;
  emit: Emit;
  /** Wait for a recording another ephys-make holds (default), or leave it for later. */
  waitForLocks: boolean;
  /** Jobs already queued or running on SLURM anywhere under the root: pool limits count them. */
  inFlight: Array<{ job: Job } & InFlight>;
  /** sbatch calls at once (slurmctld answers them one by one, but each call has its own start-up). */
  concurrency?: number;
  /** Only these of the stale jobs (watch holds back failed ones); their dependents stay back too. */
  accept?: (job: Job) => boolean;
}

export interface SubmitResult {
  submitted: Array<{ job: Job; slurmJobId: string; reason: string }>;
  notSubmitted: Array<{ job: Job; message: string }>;
  blocked: Array<{ job: Job; blocked: { path: string; why?: string } }>;
  /** Found queued or running on SLURM once locked (another ephys-make submitted them). */
  inFlight: Array<{ job: Job } & InFlight>;
  /** Recordings left alone because another ephys-make holds them (--no-wait). */
  lockedOut: number;
  /** sbatch cannot be run here at all: nothing more was tried. */
  fatal?: string;
}

interface Entry {
  job: Job;
  reason: string;
  /** SLURM ids (or entries submitted in this call) it must follow. */
  afterOk: Array<string | Entry>;
  afterAny: Array<string | Entry>;
  id?: Promise<string | undefined>;
  settle?: (id: string | undefined) => void;
}

const lockPollMs = 200;

export async function submitRecordings(plans: RecordingPlan[], o: SubmitOptions): Promise<SubmitResult> {
  const result: SubmitResult = { submitted: [], notSubmitted: [], blocked: [], inFlight: [], lockedOut: 0 };
  const held: Array<{ rp: RecordingPlan; release: () => void; entries: Entry[]; pending: number }> = [];
  try {
    for (const rp of plans) {
      const release = await lockRecording(rp, o);
      if (!release) { result.lockedOut++; continue; }
      held.push({ rp, release, entries: [], pending: 0 });
    }
    const all: Entry[] = [];
    const byJob = new Map<string, Entry>();
    const inFlightIds = new Map<string, string>(o.inFlight.map((f) => [f.job.id, f.slurmJobId]));
    for (const h of held) {
      for (const text of claimRecording(h.rp.jobs).warnings) o.emit({ type: 'message', level: 'warn', text });
      // Planned again under the lock: what was submitted or done meanwhile is not submitted again.
      const work = workOf(h.rp, h.rp.plan());
      result.blocked.push(...work.blocked);
      result.inFlight.push(...work.inFlight);
      for (const f of work.inFlight) inFlightIds.set(f.job.id, f.slurmJobId);
      const stale = new Set(work.toRun.map((r) => r.job.id));
      for (const r of work.toRun) {
        // Never without its upstream: a stale upstream job left out keeps this one out too.
        if (o.accept && !o.accept(r.job)) continue;
        if (r.job.deps.some((d) => stale.has(d.id) && !byJob.has(d.id))) continue;
        const e = entryFor(r, byJob, inFlightIds);
        byJob.set(r.job.id, e);
        h.entries.push(e);
        all.push(e);
      }
      h.pending = h.entries.length;
    }
    // Upstream first, so every entry's predecessors were taken by a worker before it.
    const rank = new Map(o.stageOrder.map((s, i) => [s, i]));
    const recordingRank = new Map(held.map((h, i) => [h.rp.recording.dir, i]));
    all.sort((a, b) => (rank.get(a.job.stage.name)! - rank.get(b.job.stage.name)!) || (recordingRank.get(a.job.recording.dir)! - recordingRank.get(b.job.recording.dir)!));
    chainPools(all, o);
    for (const e of all) e.id = new Promise((resolve) => { e.settle = resolve; });

    const holderOf = new Map<string, (typeof held)[number]>(held.map((h) => [h.rp.recording.dir, h]));
    const finishRecording = (h: (typeof held)[number]) => {
      writeQueuedRecords(h.entries, result);
      h.release();
      held.splice(held.indexOf(h), 1);
    };
    for (const h of [...held]) if (!h.entries.length) finishRecording(h);

    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const e = all[next++];
        const id = await submitOne(e, o, result);
        e.settle!(id);
        const h = holderOf.get(e.job.recording.dir)!;
        if (--h.pending === 0) finishRecording(h);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 6) }, worker));
  } finally {
    for (const h of held) h.release();
  }
  return result;
}

function entryFor(r: Runnable, byJob: Map<string, Entry>, inFlightIds: Map<string, string>): Entry {
  const afterOk: Entry['afterOk'] = [];
  for (const dep of r.job.deps) {
    const submitted = byJob.get(dep.id);
    if (submitted) { afterOk.push(submitted); continue; }
    const queued = inFlightIds.get(dep.id);
    if (queued) afterOk.push(queued);
  }
  return { job: r.job, reason: r.reason, afterOk, afterAny: [] };
}

/**
 * A pool other than `gpu` (say `io: 2`) limits how many of its jobs SLURM may start at once: each
 * waits for the end (any end) of the job two places before it in the pool, so its jobs form two
 * chains, one running at a time in each. Jobs already queued head the chains.
 */
function chainPools(entries: Entry[], o: SubmitOptions): void {
  const chains = new Map<string, Array<string | Entry>>();
  const chainOf = (pool: string) => {
    let c = chains.get(pool);
    if (!c) {
      c = o.inFlight.filter((f) => (f.job.stage.resources[pool] ?? 0) > 0).map((f) => f.slurmJobId).sort((a, b) => Number(a) - Number(b));
      chains.set(pool, c);
    }
    return c;
  };
  for (const e of entries) {
    for (const pool of Object.keys(e.job.stage.resources)) {
      if (pool === 'gpu') continue;
      const size = o.pipeline.resources[pool] ?? 1;
      const chain = chainOf(pool);
      if (chain.length >= size) e.afterAny.push(chain[chain.length - size]);
      chain.push(e);
    }
  }
}

async function submitOne(e: Entry, o: SubmitOptions, result: SubmitResult): Promise<string | undefined> {
  if (result.fatal) return undefined;
  const resolve = async (list: Array<string | Entry>) => {
    const ids: string[] = [];
    for (const x of list) {
      if (typeof x === 'string') { ids.push(x); continue; }
      const id = await x.id!;
      if (id === undefined) return { missing: x };
      ids.push(id);
    }
    return { ids };
  };
  const ok = await resolve(e.afterOk);
  if (result.fatal) return undefined;
  if ('missing' in ok) {
    result.notSubmitted.push({ job: e.job, message: `not submitted: upstream ${ok.missing!.job.stage.name} was not submitted` });
    return undefined;
  }
  // A pool predecessor that could not be submitted holds nothing back.
  const anyIds: string[] = [];
  for (const x of e.afterAny) {
    const id = typeof x === 'string' ? x : await x.id!;
    if (id !== undefined) anyIds.push(id);
  }
  // SLURM opens the log before the job runs: its folder must be there.
  fs.mkdirSync(path.dirname(e.job.logPath), { recursive: true });
  const args = sbatchArgs(e.job, o.pipeline, { afterOk: ok.ids!, afterAny: anyIds, command: o.command(e.job, e.reason) });
  // The job as planned goes along in its environment, so the node need not plan it again.
  const spec = jobSpecOf(e.job);
  const call = await callSlurm('sbatch', args, spec ? { ...o.env, [jobSpecVariable]: spec } : o.env);
  // --parsable prints "id" or "id;cluster".
  const id = call.ok ? call.stdout.trim().split(/[;\s]/)[0] : undefined;
  if (!call.ok && call.missing) {
    result.fatal ??= callError('sbatch', call);
    return undefined;
  }
  if (!call.ok || !id || !/^\d+$/.test(id)) {
    result.notSubmitted.push({ job: e.job, message: call.ok ? `sbatch printed no job id: ${call.stdout.trim()}` : callError('sbatch', call) });
    return undefined;
  }
  result.submitted.push({ job: e.job, slurmJobId: id, reason: e.reason });
  o.emit({ type: 'job-submitted', job: e.job, reason: e.reason, slurmJobId: id, after: ok.ids! });
  return id;
}

/**
 * One state write per recording. A job that started already wrote `running` (or even its end)
 * with its SLURM id: that record is newer than `queued` and is kept.
 */
function writeQueuedRecords(entries: Entry[], result: SubmitResult): void {
  const mine = result.submitted.filter((s) => entries.some((e) => e.job === s.job));
  if (!mine.length) return;
  const now = new Date().toISOString();
  updateState(mine[0].job.stateDir, (state) => {
    for (const s of mine) {
      const old = state.jobs[s.job.stage.name];
      if (old?.slurm?.jobId === s.slurmJobId) continue;
      const rec: JobRecord = { status: 'queued', reason: s.reason, slurm: { jobId: s.slurmJobId, submittedAt: now } };
      state.jobs[s.job.stage.name] = rec;
    }
  });
}

async function lockRecording(rp: RecordingPlan, o: SubmitOptions): Promise<(() => void) | undefined> {
  const file = path.join(rp.jobs[0].stateDir, 'lock');
  let told = false;
  for (;;) {
    const attempt = tryLock(file, `ephys-make ${process.argv.slice(2).join(' ')}`.trim());
    if (attempt.ok) return attempt.release;
    if (!told) {
      told = true;
      o.emit({ type: 'recording-locked', recording: rp.recording.name, holder: attempt.holder, waiting: o.waitForLocks });
    }
    if (!o.waitForLocks) return undefined;
    await new Promise((r) => setTimeout(r, lockPollMs));
  }
}
