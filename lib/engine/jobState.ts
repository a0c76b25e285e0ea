/**
 * What a job is now, as every view shows it (`status`, the page, the report): one rule, so their
 * cells and counts agree. A live run comes first (here, or on SLURM as that view says), then a
 * failed record, then the plan's decision.
 */
import type { Job } from './job.js';
import type { Decision } from './plan.js';
import type { JobRecord } from './record.js';
import { describeReason } from './reason.js';
import { isAlive } from '../base/processInfo.js';

export type JobStateKind = 'done' | 'stale' | 'failed' | 'running' | 'queued' | 'cancelled' | 'blocked';

export interface JobState {
  kind: JobStateKind;
  /** Why: the stale reason, the failure, what is missing, who runs it and where. */
  detail?: string;
}

/** The words `status` prints, in the order of its closing line. */
export const jobStateWords: Record<JobStateKind, string> = {
  done: 'up to date', stale: 'stale', failed: 'failed', running: 'running', queued: 'queued', cancelled: 'cancelled', blocked: 'blocked',
};

/** A view of jobs handed elsewhere (SLURM), asked first. */
export type ElsewhereView = (record: JobRecord | undefined, job: Job) => JobState | undefined;

export function jobStateOf(job: Job, decision: Decision | undefined, record: JobRecord | undefined, elsewhere?: ElsewhereView): JobState {
  const there = elsewhere?.(record, job);
  if (there) return there;
  const r = record;
  if (r?.status === 'running' && r.pid && r.host && isAlive({ pid: r.pid, host: r.host, procStart: r.procStart })) {
    return { kind: 'running', detail: `pid ${r.pid} on ${r.host} since ${r.startedAt}` };
  }
  if (r?.status === 'failed') return { kind: 'failed', detail: describeReason({ kind: 'failed-before', exitCode: r.exitCode, signal: r.signal, why: r.stoppedBecause }) };
  if (!decision) return { kind: 'stale', detail: 'not planned' };
  if (decision.run) return { kind: 'stale', detail: describeReason(decision.reason) };
  if ('blocked' in decision) return { kind: 'blocked', detail: decision.blocked.why ?? `input missing: ${decision.blocked.path}` };
  if ('inFlight' in decision) {
    const f = decision.inFlight;
    return { kind: f.status === 'running' ? 'running' : 'queued', detail: `${f.status} on SLURM (job ${f.slurmJobId}${f.node ? ` on ${f.node}` : ''})` };
  }
  return { kind: 'done' };
}
