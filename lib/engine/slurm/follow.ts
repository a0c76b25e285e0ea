/**
 * `--wait`: follow submitted jobs to their end by reading their records (which the jobs write on
 * the nodes) and asking SLURM about the ones that end without writing (cancelled, lost), polling
 * both. The same events as a local run come out, so the same progress line and log lines show.
 * Stopping the follow (Ctrl-C) leaves the jobs to SLURM.
 */
import type { Job } from '../job.js';
import type { Emit } from '../events.js';
import { readState, type JobRecord } from '../record.js';
import { logTail } from '../execute.js';
import { reconcilePlans } from './reconcile.js';

export interface Followed { job: Job; slurmJobId: string; reason: string }

export interface FollowSummary { done: number; failed: number; notRun: number; stopped: boolean }

export interface FollowOptions {
  env: NodeJS.ProcessEnv;
  emit: Emit;
  /** Every job of each followed recording (to name the upstream job a dependent waited for). */
  recordingJobs: (dir: string) => Job[];
  pollMs: number;
  /** Resolves when the user asks to stop following. */
  stopped: Promise<void>;
}

type Phase = 'queued' | 'running' | 'ended';

/** One poll in this many asks SLURM too. */
const slurmEvery = 4;

export async function followJobs(jobs: Followed[], o: FollowOptions): Promise<FollowSummary> {
  const summary: FollowSummary = { done: 0, failed: 0, notRun: 0, stopped: false };
  const phase = new Map<Followed, Phase>(jobs.map((f) => [f, 'queued']));
  let stop = false;
  void o.stopped.then(() => { stop = true; });
  let warned = '';
  for (let poll = 0; !stop; poll++) {
    const open = jobs.filter((f) => phase.get(f) !== 'ended');
    if (!open.length) break;
    const dirs = [...new Set(open.map((f) => f.job.recording.dir))];
    // The jobs' own records say most; SLURM is asked less often, for the ends no record tells.
    if (poll % slurmEvery === slurmEvery - 1) {
      const r = await reconcilePlans(dirs.map((dir) => ({ recording: { dir }, jobs: o.recordingJobs(dir) })), o.env);
      if (r.error && r.error !== warned) {
        warned = r.error;
        o.emit({ type: 'message', level: 'warn', text: `cannot ask SLURM about the jobs: ${r.error}` });
      }
    }
    const states = new Map(dirs.map((d) => [d, readState(open.find((f) => f.job.recording.dir === d)!.job.stateDir)]));
    for (const f of open) {
      const rec = states.get(f.job.recording.dir)!.jobs[f.job.stage.name];
      step(f, rec, phase, summary, o.emit);
    }
    if (jobs.every((f) => phase.get(f) === 'ended')) break;
    await Promise.race([new Promise((res) => setTimeout(res, o.pollMs)), o.stopped]);
  }
  summary.stopped = stop;
  return summary;
}

function step(f: Followed, rec: JobRecord | undefined, phase: Map<Followed, Phase>, summary: FollowSummary, emit: Emit): void {
  const now = phase.get(f)!;
  // Another run's record (this job was run again by someone else): its outcome is this job's.
  const ours = rec?.slurm?.jobId === f.slurmJobId;
  const status = rec?.status;
  if (now === 'queued' && (status === 'running' || (ours && status !== 'queued'))) {
    if (status === 'running' || rec?.startedAt) {
      emit({ type: 'job-started', job: f.job, reason: `${f.reason}; SLURM job ${f.slurmJobId}${rec?.slurm?.node ? ` on ${rec.slurm.node}` : ''}`, attempt: 1, slots: {} });
    }
    phase.set(f, 'running');
  }
  if (!rec || status === 'queued' || status === 'running') return;
  if (!ours && status !== 'done') return;
  phase.set(f, 'ended');
  const seconds = rec.startedAt && rec.endedAt ? (Date.parse(rec.endedAt) - Date.parse(rec.startedAt)) / 1000 : 0;
  if (status === 'done') {
    summary.done++;
    emit({ type: 'job-finished', job: f.job, status: 'done', seconds });
  } else if (!rec.startedAt && rec.slurm?.stateReason === 'DependencyNeverSatisfied') {
    summary.notRun++;
    emit({ type: 'job-skipped', job: f.job, why: 'upstream-failed', detail: rec.stoppedBecause ?? 'an upstream job did not succeed' });
  } else {
    summary.failed++;
    const what = rec.stoppedBecause ?? (rec.signal ? `killed by ${rec.signal}` : `exit status ${rec.exitCode}`);
    const tail = logTail(f.job.logPath);
    emit({ type: 'job-finished', job: f.job, status: 'failed', seconds, message: `${what}\n${tail ? tail.split('\n').map((l) => `  | ${l}`).join('\n') : '  | (log is empty)'}\n  log: ${f.job.logPath}` });
  }
}
